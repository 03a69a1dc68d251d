// `jcas train`: the unfolded optimiser trained on a channel file, with checkpoints,
// --resume, a CSV log and its figure.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

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
  c->add_option("--iw", a.iw, "I_w: one for every model, or one a model (e.g. 2,4)")
      ->check(at_least(1))
      ->delimiter(',');
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
  c->add_option("--delta", a.delta, "trade-off weight delta: one for every model, or one a model (e.g. 1,10)")
      ->delimiter(',');
  c->add_option("--snr-db", a.snr_db, "Pt = 10^(snr/10) (default: the file's, else 20)");
  c->add_option("--validation", a.validation, "held-out channels: objective after each epoch");
  c->add_option("--out", a.out,
                "trained parameter file (HDF5); beside it FILE.ckpt.h5 and FILE.log.csv. Several files: as many "
                "models, trained side by side (on a GPU at once), the i-th with the i-th --delta and --iw")
      ->required();
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
/// took) on; --users takes the first K (a user's channel does not depend on K), --targets
/// must be the file's (clutter draws follow the targets'). Returns where they come from:
/// the scenario (the run's sizes), its seed, and the first index drawn (`first`), each
/// epoch `count` of them.
io::drawn_from fresh_source(const train_args& a, const channel_set& data) {
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
  io::drawn_from src{from->sc, from->seed, from->first + from->count, data.count};
  src.sc.dims = data.dims;
  validate_draw(src.sc, src.first, long(std::max(1, a.ts.epochs)) * src.count);  // every index the run may draw
  return src;
}

/// Sets cb.epoch_data to draw src's epochs on the executor's device and, on a GPU,
/// cb.epoch_draw (the device then draws each epoch's realizations where the run's steps
/// are: train::callbacks); in data's channel form and SNR.
void fresh_epochs(const io::drawn_from& src, const channel_set& data, const executor& ex, train::callbacks& cb) {
  const long next = src.first, n = src.count;
  cb.epoch_data = [sc = src.sc, seed = src.seed, next, n, ex, snr = data.snr_db, rank_one = data.rank_one](int e) {
    channel_set cs = generate_batch(ex, sc, seed, next + long(e - 1) * n, n, rank_one);  // in the file's form
    cs.snr_db = snr;
    return cs;
  };
  if (ex.gpu())
    cb.epoch_draw = [sc = src.sc, seed = src.seed, next, n](int e) {
      return train::epoch_draw_spec{sc, seed, next + long(e - 1) * n};
    };
}

/// Whether two paths name one file (which need not exist yet), under any spelling.
bool same_path(const std::string& a, const std::string& b) {
  std::error_code ea, eb;
  const std::filesystem::path pa = std::filesystem::weakly_canonical(a, ea),
                              pb = std::filesystem::weakly_canonical(b, eb);
  return ea || eb ? a == b : pa == pb;
}

/// One model of a run: train_args' i-th (or only) delta and I_w, and its file.
struct model_job {
  double delta;
  int iw;
  std::string out;
};

/// The run's models, one an --out file. Refuses lists of --delta or --iw whose length is
/// neither 1 nor the number of files, and a file named twice.
std::vector<model_job> model_jobs(const train_args& a) {
  const size_t n = a.out.size();
  if (n == 0) throw std::invalid_argument("out: no file");
  const auto one_or_n = [n](const char* field, size_t given) {
    if (given != 1 && given != n)
      throw std::invalid_argument(std::string(field) + ": " + std::to_string(given) + " values for " +
                                  std::to_string(n) + " models (--out): give one, or one a model");
  };
  one_or_n("delta", a.delta.size());
  one_or_n("iw", a.iw.size());
  std::vector<model_job> jobs;
  for (size_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < i; ++k)
      if (same_path(a.out[k], a.out[i]))
        throw std::invalid_argument("out: " + a.out[i] + " is named twice (as " + a.out[k] + ")");
    jobs.push_back({a.delta[a.delta.size() == 1 ? 0 : i], a.iw[a.iw.size() == 1 ? 0 : i], a.out[i]});
  }
  return jobs;
}

/// What the models of a run share as they train side by side: one progress bar over all
/// their steps, the files written one at a time (HDF5 here is not thread-safe), and, once
/// one model has failed, a stop for the others (their last checkpoints stay, for
/// --resume) and the first failure to report.
class run_hub {
 public:
  run_hub(size_t models, bool show) : bar_("train", show), done_(models, 0) {}
  /// Model i has done `done` of its `total` steps.
  void progress(size_t i, long done, long total, const std::string& extra) {
    const std::lock_guard<std::mutex> lock(m_);
    done_[i] = done;
    total_ = std::max(total_, total);
    long sum = 0;
    for (long d : done_) sum += d;
    bar_.update(sum, total_ * long(done_.size()), extra);
  }
  /// Runs f (a file's write) while no other model writes.
  template <class F>
  void write(F&& f) {
    const std::lock_guard<std::mutex> lock(m_);
    f();
  }
  /// Model `what` failed with e: the first failure is kept, and the others stop.
  void fail(const std::string& what, std::exception_ptr e) {
    const std::lock_guard<std::mutex> lock(m_);
    if (!first_) first_ = e, first_what_ = what;
    failed_ = true;
  }
  bool failed() const { return failed_; }
  /// Throws the first failure (prefixed with its model's file where the run has several).
  void rethrow(bool several) {
    bar_.finish();
    if (!first_) return;
    if (!several) std::rethrow_exception(first_);
    try {
      std::rethrow_exception(first_);
    } catch (const std::exception& e) {
      throw std::runtime_error(first_what_ + ": " + e.what());
    }
  }

 private:
  host::progress_bar bar_;
  std::mutex m_;
  std::vector<long> done_;
  long total_ = 0;
  std::atomic<bool> failed_{false};
  std::exception_ptr first_;
  std::string first_what_;
};

/// What every model of a run reads, read once before any trains: the data, the
/// validation sets, the power, the model to start from, and --fresh's source.
struct run_inputs {
  channel_set data;
  std::vector<channel_set> vals;
  double pt = 0;
  std::optional<unfolded_model> init;
  std::optional<io::drawn_from> fresh;
};

/// A model of the run, ready to train: its system, the checkpoint it starts from (read
/// where --resume), its provenance.
struct model_run {
  model_job job;
  system_params<double> sys;
  train::checkpoint c;
  std::string prov;
};

/// Model j's start, its settings checked; reads its checkpoint where --resume.
model_run plan_model(const train_args& a, const model_job& j, const run_inputs& in) {
  model_run r{j, {}, {}, {}};
  r.sys.pt = in.pt;
  r.sys.delta = j.delta;
  {
    solve_options o;
    o.sys = r.sys;
    validate(o, in.data.dims);
  }
  train::model_shape shape;
  shape.outer = a.outer;
  shape.inner = a.inner;
  shape.iw = j.iw;
  shape.frozen = a.frozen;
  shape.per_layer_mu = a.per_layer_mu;
  shape.w0 = parse_w0(a.w0);
  shape.final_weight = a.final_weight;
  shape.layer_repeat = parse_layer_repeat(a.layer_repeat);
  const unfolded_model* init = in.init ? &*in.init : nullptr;
  if (a.resume)
    r.c = train::resume_checkpoint(j.out + ".ckpt.h5", shape);  // train::run refuses changed settings
  else
    r.c.model = train::initial_model(shape, init, a.init);
  r.prov = train::provenance(a.data, in.data, a.ts, shape, r.sys, a.init, init);
  return r;
}

/// Trains model r of the run, the i-th, on ex, and writes it (its checkpoint and log on
/// every epoch); r.c is then its last checkpoint (the model and its log).
void train_model(const train_args& a, model_run& r, const run_inputs& in, const executor& ex, size_t i, run_hub& hub) {
  const std::string ckpt = r.job.out + ".ckpt.h5", log = r.job.out + ".log.csv";
  const bool root = mpi::get().root();  // only rank 0 draws and writes
  train::callbacks cb;
  cb.on_batch = [&](int e, int b, int nb, double loss) {
    char extra[64];
    std::snprintf(extra, sizeof extra, "epoch %d loss %.4f", e, loss);
    hub.progress(i, long(e - 1) * nb + b, long(a.ts.epochs) * nb, extra);
  };
  cb.stop = [&hub] { return hub.failed(); };
  if (in.fresh) fresh_epochs(*in.fresh, in.data, ex, cb);
  if (!in.vals.empty())
    cb.validate = [&](const unfolded_model& m) { return train::validation_objective(ex, in.vals, m, r.sys); };
  cb.on_epoch = [&](const train::checkpoint& cc) {
    if (!root) return;
    hub.write([&] {
      train::write_checkpoint(ckpt, cc);
      write_log_csv(log, cc.log);
    });
  };
  train::run(in.data, r.sys, a.ts, r.c, cb, ex);
  r.c.model.provenance = r.prov;
  if (root) hub.write([&] { io::write_model(r.job.out, r.c.model); });
}

/// A trained model's epochs (their losses) and where it was written, on stderr.
void report(const unfolded_model& m, const std::string& out, const std::vector<train::log_row>& log) {
  for (const auto& r : log)
    if (r.batch < 0)
      std::fprintf(stderr, "epoch %3d  mean loss %.5f%s\n", r.epoch, r.loss,
                   std::isnan(r.validation) ? "" : ("  validation objective " + std::to_string(r.validation)).c_str());
  std::fprintf(stderr, "wrote %s (mu_c %.4f, mu_s %.4f)\n", out.c_str(), m.mu_c, m.mu_s);
}

}  // namespace

std::vector<unfolded_model> run_train(const train_args& a, bool quiet) {
  const int dev = device_of(a.device);
  train::validate(a.ts);
  const std::vector<model_job> jobs = model_jobs(a);
  for (const model_job& j : jobs)
    for (const std::string& out : {j.out, j.out + ".ckpt.h5", j.out + ".log.csv", j.out + ".log.png"})
      io::refuse_overwrite("out", out, {{"--data", a.data}, {"--validation", a.validation}, {"--init", a.init}});
  run_inputs in;
  in.data = io::read_channels(a.data, a.sel);
  in.pt = pt_of_snr_db(a.snr_db ? *a.snr_db : in.data.snr_db);
  if (!a.validation.empty())
    in.vals = train::validation_sets(io::read_channels(a.validation, {a.sel.users, a.sel.targets, a.sel.nr, -1}), a.ts);
  if (!a.init.empty()) in.init = io::read_model(a.init);
  if (a.ts.fresh) in.fresh = fresh_source(a, in.data);
  std::vector<model_run> runs;  // every file read and every setting checked before any trains
  for (const model_job& j : jobs) {
    try {
      runs.push_back(plan_model(a, j, in));
    } catch (const std::exception& e) {
      if (jobs.size() == 1) throw;
      throw std::invalid_argument(j.out + ": " + e.what());  // which model's settings
    }
  }
  const bool root = mpi::get().root();
  // Side by side, each model with its share of the CPU threads (on a GPU, its stream);
  // under MPI the ranks step together, so the models train one after another.
  const size_t n = jobs.size();
  const bool side_by_side = n > 1 && mpi::get().size == 1;
  const int threads = threads_per_rank(a.threads);
  const executor ex{dev,
                    side_by_side ? std::max(1, (threads > 0 ? threads : omp_get_max_threads()) / int(n)) : threads};
  run_hub hub(n, !quiet && root);
  const auto one = [&](size_t i) {
    try {
      train_model(a, runs[i], in, ex, i, hub);
    } catch (...) {
      hub.fail(jobs[i].out, std::current_exception());
    }
  };
  if (side_by_side) {
    std::vector<std::thread> team;
    for (size_t i = 0; i < n; ++i) team.emplace_back(one, i);
    for (std::thread& t : team) t.join();
  } else {
    for (size_t i = 0; i < n && !hub.failed(); ++i) one(i);
  }
  hub.rethrow(n > 1);
  std::vector<unfolded_model> models;
  for (const model_run& r : runs) {
    models.push_back(r.c.model);
    if (!root) continue;
    const std::string& out = r.job.out;
    if (a.plot)
      draw_figures("train", "plot_training.py", shell_quote(out + ".log.csv") + " " + shell_quote(out + ".log.png"));
    if (!quiet) report(r.c.model, out, r.c.log);
  }
  return models;
}

command add_train(CLI::App& app) {
  CLI::App* c = app.add_subcommand("train", "train the unfolded optimiser's step sizes and smoothing constants");
  auto a = std::make_shared<train_args>();
  add_train_options(c, *a);
  return {c, [a] { return run_train(*a), 0; }};
}

}  // namespace jcas::cli
