// `jcas train`: the unfolded optimiser trained on a channel file, with checkpoints,
// --resume, a CSV log and its figure.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli.hpp"
#include "mpi.hpp"
#include "progress.hpp"

namespace jcas::cli {

namespace {

void add_train_options(CLI::App* c, train_args& a) {
  c->add_option("--data", a.data, "training channels (.h5 or .npz)")->required();
  add_selection_options(c, a.sel);
  c->add_option("--epochs", a.ts.epochs, "epochs (default 30)")->check(at_least(0));
  c->add_option("--batch", a.ts.batch, "batch size (default 32)")->check(at_least(1));
  c->add_option("--lr", a.ts.lr, "Adam learning rate (default 3e-4)");
  c->add_option("--weight-decay", a.ts.weight_decay, "L2 weight decay added to the gradient (default 1e-2)");
  c->add_option("--lr-decay", a.ts.lr_decay, "learning-rate factor after each epoch (default 0.97)");
  c->add_option("--mu-lr-factor", a.ts.mu_lr_factor, "learning rate of mu_c, mu_s relative to --lr (default 1)");
  c->add_option("--seed", a.ts.seed, "shuffling seed");
  c->add_flag("--fresh", a.ts.fresh,
              "every epoch after the first trains on new realizations of the data file's scenario (as jcas "
              "generate recorded it: its seed, the indices after the file's), as many as the first epoch's; on a GPU "
              "drawn on the device");
  c->add_option("--users-mix", a.ts.users_mix,
                "mixed K: train on the first K users of each realization for every K of this list (e.g. "
                "2,4,6,8,10,12; at most the data's users), all of them in every batch; the validation objective is "
                "then the mean over these K")
      ->delimiter(',');
  c->add_option("--outer", a.outer, "L_out")->check(at_least(1));
  c->add_option("--inner", a.inner, "L_in")->check(at_least(1));
  c->add_option("--iw", a.iw, "I_w")->check(at_least(1));
  c->add_flag("--frozen-gradient", a.frozen, "train the frozen-gradient variant");
  c->add_flag("--per-layer-mu", a.per_layer_mu,
              "richer model: learn mu_c and mu_s for every layer (its own annealing schedule)");
  c->add_option("--init", a.init, "start from this model file's parameters (e.g. a trained paper model)");
  c->add_option("--w0", a.w0, "W0 the model starts from: mrt (the paper) or zf (zero-forcing)")
      ->check(CLI::IsMember({"mrt", "zf"}));
  c->add_option(
      "--layer-repeat", a.layer_repeat,
      "how the trained model runs: each layer N times in a row, or users: by the number of users K, "
      "max(ceil(K/4), floor(4/K)); training runs it so too, each layer's gradient summed over its runs (default 1)");
  c->add_option("--final-weight", a.final_weight,
                "extra loss weight of the last layer's objective (0 = eq. 19; emphasises the end result)")
      ->check(non_negative());
  c->add_option("--delta", a.delta, "trade-off weight delta");
  c->add_option("--snr-db", a.snr_db, "Pt = 10^(snr/10) (default: the file's, else 20)");
  c->add_option("--validation", a.validation, "held-out channels: objective after each epoch");
  c->add_option("--out", a.out, "trained parameter file (HDF5); beside it FILE.ckpt.h5 and FILE.log.csv")->required();
  c->add_flag("--resume", a.resume, "continue from FILE.ckpt.h5");
  c->add_option("--threads", a.threads, "CPU threads (0 = all)")->check(thread_count());
  c->add_option("--device", a.device, "cpu, cuda or cuda:N");
  c->add_flag("!--no-plot", a.plot, "skip the figure of the loss and validation curves (FILE.log.png)");
}

void write_log_csv(const std::string& path, const std::vector<train::log_row>& log) {
  io::text_output out(path);
  std::FILE* f = out.file();
  std::fprintf(f, "epoch,batch,train_loss,validation_objective\n");
  for (const auto& r : log) {
    if (r.batch < 0)
      std::fprintf(f, "%d,end,%.10g,%s\n", r.epoch, r.loss,
                   std::isnan(r.validation) ? "" : std::to_string(r.validation).c_str());
    else
      std::fprintf(f, "%d,%d,%.10g,\n", r.epoch, r.batch, r.loss);
  }
  out.commit();
}

/// --fresh: epoch e >= 1 (0-based) draws data.count new realizations of the file's
/// scenario, from the index after the file's own (its first + count, whatever --limit
/// took) on, on the executor's device; --users takes the first K (a user's channel does
/// not depend on K), --targets must be the file's (clutter draws follow the targets').
/// Sets cb.epoch_data and, on a GPU, cb.epoch_draw (the device then draws each epoch's
/// realizations where the run's steps are: train::callbacks).
void fresh_epochs(const train_args& a, const channel_set& data, const executor& ex, train::callbacks& cb) {
  const std::optional<io::drawn_from> from = io::read_drawn_from(a.data);
  if (!from)
    throw std::invalid_argument("fresh: " + a.data + " does not record how it was drawn (make it with jcas generate)");
  if (data.dims.m != from->sc.dims.m)
    throw std::invalid_argument("fresh: targets = " + std::to_string(data.dims.m) + ", but " + a.data +
                                " was drawn with " + std::to_string(from->sc.dims.m) +
                                " (fresh draws keep the file's)");
  if (data.dims.nr != from->sc.dims.nr)
    throw std::invalid_argument("fresh: nr = " + std::to_string(data.dims.nr) + ", but " + a.data + " was drawn with " +
                                std::to_string(from->sc.dims.nr));
  scenario sc = from->sc;
  sc.dims = data.dims;
  const long next = from->first + from->count, n = data.count;
  validate_draw(sc, next, long(std::max(1, a.ts.epochs)) * n);  // every index the run may draw
  cb.epoch_data = [sc, seed = from->seed, next, n, ex, snr = data.snr_db, rank_one = data.rank_one](int e) {
    channel_set cs = generate_batch(ex, sc, seed, next + long(e - 1) * n, n, rank_one);  // in the file's form
    cs.snr_db = snr;
    return cs;
  };
  if (ex.gpu())
    cb.epoch_draw = [sc, seed = from->seed, next, n](int e) {
      return train::epoch_draw_spec{sc, seed, next + long(e - 1) * n};
    };
}

}  // namespace

unfolded_model run_train(const train_args& a, bool quiet) {
  const int dev = device_of(a.device);
  train::validate(a.ts);
  for (const std::string& out : {a.out, a.out + ".ckpt.h5", a.out + ".log.csv", a.out + ".log.png"})
    io::refuse_overwrite("out", out, {{"--data", a.data}, {"--validation", a.validation}, {"--init", a.init}});
  const channel_set data = io::read_channels(a.data, a.sel);
  system_params<double> sys;
  sys.pt = pt_of_snr_db(a.snr_db ? *a.snr_db : data.snr_db);
  sys.delta = a.delta;
  {
    solve_options o;
    o.sys = sys;
    validate(o, data.dims);
  }
  channel_set val;
  if (!a.validation.empty()) val = io::read_channels(a.validation, {a.sel.users, a.sel.targets, a.sel.nr, -1});
  const std::string ckpt = a.out + ".ckpt.h5", log = a.out + ".log.csv";
  train::model_shape shape;
  shape.outer = a.outer;
  shape.inner = a.inner;
  shape.iw = a.iw;
  shape.frozen = a.frozen;
  shape.per_layer_mu = a.per_layer_mu;
  shape.w0 = parse_w0(a.w0);
  shape.final_weight = a.final_weight;
  shape.layer_repeat = parse_layer_repeat(a.layer_repeat);
  const std::optional<unfolded_model> init =
      a.init.empty() ? std::nullopt : std::optional<unfolded_model>(io::read_model(a.init));
  train::checkpoint c;
  if (a.resume)
    c = train::resume_checkpoint(ckpt, shape);  // train::run refuses changed settings
  else
    c.model = train::initial_model(shape, init ? &*init : nullptr, a.init);
  const std::string prov = train::provenance(a.data, data, a.ts, shape, sys, a.init, init ? &*init : nullptr);
  const bool root = mpi::get().root();  // only rank 0 draws and writes
  const int threads = threads_per_rank(a.threads);
  host::progress_bar bar("train", !quiet && root);
  train::callbacks cb;
  cb.on_batch = [&](int e, int b, int nb, double loss) {
    char extra[64];
    std::snprintf(extra, sizeof extra, "epoch %d loss %.4f", e, loss);
    bar.update(long(e - 1) * nb + b, long(a.ts.epochs) * nb, extra);
  };
  if (a.ts.fresh) fresh_epochs(a, data, executor{dev, threads}, cb);
  const std::vector<channel_set> vals = train::validation_sets(val, a.ts);
  if (!vals.empty())
    cb.validate = [&](const unfolded_model& m) {
      return train::validation_objective(executor{dev, threads}, vals, m, sys);
    };
  cb.on_epoch = [&](const train::checkpoint& cc) {
    if (!root) return;
    train::write_checkpoint(ckpt, cc);
    write_log_csv(log, cc.log);
  };
  train::run(data, sys, a.ts, c, cb, executor{dev, threads});
  bar.finish();
  c.model.provenance = prov;
  if (root) io::write_model(a.out, c.model);
  if (root && a.plot)
    draw_figures("train", "plot_training.py", shell_quote(log) + " " + shell_quote(a.out + ".log.png"));
  if (!quiet && root) {
    for (const auto& r : c.log)
      if (r.batch < 0)
        std::fprintf(
            stderr, "epoch %3d  mean loss %.5f%s\n", r.epoch, r.loss,
            std::isnan(r.validation) ? "" : ("  validation objective " + std::to_string(r.validation)).c_str());
    std::fprintf(stderr, "wrote %s (mu_c %.4f, mu_s %.4f)\n", a.out.c_str(), c.model.mu_c, c.model.mu_s);
  }
  return c.model;
}

command add_train(CLI::App& app) {
  CLI::App* c = app.add_subcommand("train", "train the unfolded optimiser's step sizes and smoothing constants");
  auto a = std::make_shared<train_args>();
  add_train_options(c, *a);
  return {c, [a] { return run_train(*a), 0; }};
}

}  // namespace jcas::cli
