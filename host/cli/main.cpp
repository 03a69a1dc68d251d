// The `jcas` command line: generate channel sets, solve them, print and save results.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>

#include "bench.hpp"
#include "io.hpp"
#include "jcas/api.hpp"
#include "jcas/cuda_backend.hpp"
#include "montecarlo.hpp"
#include "mpi.hpp"
#include "progress.hpp"
#include "training.hpp"
#include "version.hpp"

namespace {

using namespace jcas;

/// "cpu", "cuda" or "cuda:N" -> -1 for the CPU, else the device index.
int parse_device(const std::string& s) {
  if (s == "cpu") return -1;
  if (s == "cuda") {  // under MPI: one GPU per rank on each node
    const mpi::world& w = mpi::get();
    return w.local_size > 1 ? w.local_rank % std::max(1, cuda::device_count()) : 0;
  }
  if (s.rfind("cuda:", 0) == 0) {
    try {
      size_t used = 0;
      const int n = std::stoi(s.substr(5), &used);
      if (used == s.size() - 5 && n >= 0) return n;
    } catch (const std::exception&) {
    }
  }
  throw std::invalid_argument("device = " + s + ": expected cpu, cuda or cuda:N");
}

/// CPU threads of this process: the request, or under MPI the node's cores shared
/// among its ranks (0 = all cores in a single process).
int threads_per_rank(int requested) {
  const mpi::world& w = mpi::get();
  if (requested > 0 || w.local_size == 1) return requested;
  return std::max(1, omp_get_num_procs() / w.local_size);
}

/// Integer validators whose messages name the value ("must be >= 1"), not a float range.
std::string fmt_g(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", x);
  return b;
}

/// A finite number >= 0, with a message that names the value.
CLI::Validator non_negative() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        try {
          size_t used = 0;
          const double x = std::stod(v, &used);
          if (used == v.size() && std::isfinite(x) && x >= 0) return {};
        } catch (const std::exception&) {
        }
        return "value " + v + " must be a finite number >= 0";
      },
      ">=0");
}

/// Pt = 10^(snr/10) with unit noise; refuses an SNR that is not finite or whose Pt is not
/// a positive finite double.
double pt_of_snr_db(double snr_db, const char* field = "snr-db") {
  const double pt = std::pow(10.0, snr_db / 10.0);
  if (!std::isfinite(snr_db) || !(pt > 0) || !std::isfinite(pt))
    throw std::invalid_argument(std::string(field) + " = " + fmt_g(snr_db) +
                                ": must be finite, with Pt = 10^(snr/10) positive and finite");
  return pt;
}

/// A word for /bin/sh: in single quotes, each ' written as '\''.
std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// Draws PNG figures with tools/SCRIPT (Debian's python3-matplotlib), its messages on
/// stderr. The figures are a convenience beside files already written: when Python or
/// the script is missing or fails, one line says the figures were skipped.
void draw_figures(const char* who, const std::string& script, const std::string& args) {
  const std::string path = std::string(JCAS_TOOLS_DIR) + "/" + script;
  if (!std::filesystem::exists(path) || !std::filesystem::exists("/usr/bin/python3")) {
    std::fprintf(stderr, "%s: %s or /usr/bin/python3 not found; figures skipped\n", who, path.c_str());
    return;
  }
  if (std::system(("/usr/bin/python3 " + shell_quote(path) + " " + args + " >&2").c_str()) != 0)
    std::fprintf(stderr, "%s: plotting failed (figures skipped)\n", who);
}

/// --threads: 0 (all cores) .. max_threads.
CLI::Validator thread_count() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        try {
          size_t used = 0;
          const long n = std::stol(v, &used);
          if (used == v.size() && n >= 0 && n <= max_threads) return {};
        } catch (const std::exception&) {
        }
        return "value " + v + " must be an integer in 0 .. " + std::to_string(max_threads);
      },
      "0.." + std::to_string(max_threads));
}

CLI::Validator at_least(long lo) {
  return CLI::Validator(
      [lo](std::string& v) -> std::string {
        try {
          size_t used = 0;
          const long n = std::stol(v, &used);
          if (used == v.size() && n >= lo) return {};
        } catch (const std::exception&) {
        }
        return "value " + v + " must be an integer >= " + std::to_string(lo);
      },
      ">=" + std::to_string(lo));
}

struct generate_args {
  long count = 1000, first = 0;
  std::uint64_t seed = 1;
  std::string preset = "code", out;
  double snr_db = 20;
  scenario sc;
  std::string device = "cpu";
  int threads = 0;
};

struct solve_args {
  std::string data, algo = "unfolded", params, out, device = "cpu", prec = "f64", f0 = "lapack", products = "auto",
                    simd = "on";
  io::channel_select sel;
  double delta = 1;
  std::optional<double> snr_db;
  std::optional<int> outer, inner, iw;
  bool frozen = false, json = false;
  std::optional<double> ao_mu;
  int threads = 0;
  double gpu_watchdog = 20;
  ao_settings ao;
  ascent_settings ascent;
  std::string ascent_starts = "all";
  std::string w0;  // empty: the model's (unfolded with --params), else mrt
};

void add_scenario_options(CLI::App* c, generate_args& a) {
  scenario& s = a.sc;
  c->add_option("--count", a.count, "number of realizations")->check(at_least(1));
  c->add_option("--first", a.first, "index of the first realization")->check(at_least(0));
  c->add_option("--seed", a.seed, "random seed");
  c->add_option("--preset", a.preset, "code (constants of the reference code) or paper (constants of the text)")
      ->check(CLI::IsMember({"code", "paper"}));
  c->add_option("--users", s.dims.k, "K")->check(at_least(1));
  c->add_option("--targets", s.dims.m, "M")->check(at_least(1));
  c->add_option("--clutter", s.dims.c, "C")->check(at_least(0));
  c->add_option("--nt", s.dims.nt, "transmit antennas")->check(at_least(1));
  c->add_option("--nr", s.dims.nr, "receive antennas")->check(at_least(1));
  c->add_option("--snr-db", a.snr_db, "SNR recorded with the set (solve's default Pt = 10^(snr/10))");
  c->add_option("--user-dist", s.user_dist_mean, "mean user distance [m]");
  c->add_option("--user-dist-std", s.user_dist_std, "std of user distance [m]");
  c->add_option("--sens-dist", s.sens_dist_mean, "mean target/clutter distance [m]");
  c->add_option("--sens-dist-std", s.sens_dist_std, "std of target/clutter distance [m]");
  c->add_option("--height", s.height, "height offset [m]");
  c->add_option("--zeta0-db", s.zeta0_db, "path loss at 1 m [dB]");
  c->add_option("--eps-c", s.eps_c, "user path loss exponent");
  c->add_option("--eps-s", s.eps_s, "sensing path loss exponent");
  c->add_option("--angle-min", s.angle_min, "smallest angle [rad]");
  c->add_option("--angle-max", s.angle_max, "largest angle [rad]");
  c->add_option("--rician-k", s.rician_k, "Rician factor (linear)")->check(non_negative());
  c->add_option("--noise-db", s.noise_db, "noise power [dB]");
  c->add_flag("!--independent-clutter", s.clutter_reuses_target_pathloss,
              "draw clutter path loss independently (the code reuses target i-M's)");
  c->add_option("--device", a.device, "cpu, cuda or cuda:N");
  c->add_option("--threads", a.threads, "CPU threads (0 = all)")->check(thread_count());
  c->add_option("--out", a.out, "output HDF5 file")->required();
}

int run_generate(generate_args& a, CLI::App* c) {
  if (a.preset == "paper") {
    // Preset first, then any constant given explicitly on the command line wins.
    scenario p = scenario::paper_text();
    p.dims = a.sc.dims;
    auto given = [&](const char* o) { return c->count(o) > 0; };
    if (!given("--zeta0-db")) a.sc.zeta0_db = p.zeta0_db;
    if (!given("--rician-k")) a.sc.rician_k = p.rician_k;
    if (!given("--height")) a.sc.height = p.height;
    if (!given("--independent-clutter")) a.sc.clutter_reuses_target_pathloss = p.clutter_reuses_target_pathloss;
  }
  const int dev = parse_device(a.device);
  (void)pt_of_snr_db(a.snr_db);  // recorded with the set: solve's default Pt
  host::progress_bar bar("generate");
  io::generate_channels(
      a.out, a.sc, a.seed, a.first, a.count, a.snr_db,
      [&](long first, long n) {
        return generate_batch(executor{dev, a.threads}, a.sc, a.seed, first, n);
      },
      [&](long done, long total) { bar.update(done, total); });
  bar.finish();
  const problem_dims& d = a.sc.dims;
  std::fprintf(stderr, "wrote %ld realizations (Nt %d, Nr %d, K %d, M %d, C %d) to %s\n", a.count, d.nt, d.nr, d.k, d.m,
               d.c, a.out.c_str());
  return 0;
}

/// What to take from a channel file (solve, train): each given value must be >= 1 (the
/// file's own values are the default).
void add_selection_options(CLI::App* c, io::channel_select& sel) {
  c->add_option("--users", sel.users, "K: first K users of the file")->check(at_least(1));
  c->add_option("--targets", sel.targets, "M: the first M G blocks are targets, the rest clutter")->check(at_least(1));
  c->add_option("--nr", sel.nr, "receive antennas (for .npz; default Nt)")->check(at_least(1));
  c->add_option("--limit", sel.limit, "first N realizations")->check(at_least(1));
}

void add_solve_options(CLI::App* c, solve_args& a) {
  c->add_option("--data", a.data, "channel file (.h5 or .npz)")->required();
  c->add_option("--algo", a.algo, "unfolded, ao-fixed, ao-backtracking, heuristic, ao-monotone or ascent");
  add_selection_options(c, a.sel);
  c->add_option("--delta", a.delta, "trade-off weight delta");
  c->add_option("--snr-db", a.snr_db, "Pt = 10^(snr/10) with unit noise (default: the file's, else 20)");
  c->add_option("--outer", a.outer, "unfolded: L_out (default 150)");
  c->add_option("--inner", a.inner, "unfolded: L_in (default 3)");
  c->add_option("--iw", a.iw, "unfolded: I_w (default 2)");
  c->add_flag("--frozen-gradient", a.frozen, "unfolded: evaluate D once per layer (the reference's variant)");
  c->add_option("--params", a.params, "unfolded: parameter file (jcas train); default untrained beta = 0.01");
  c->add_option("--mu", a.ao_mu, "AO: smoothing constant mu_c = mu_s (default 10)");
  c->add_option("--max-outer", a.ao.max_outer, "AO: outer iteration cap");
  c->add_option("--outer-tol", a.ao.outer_tol, "AO: relative change of h that stops the outer loop");
  c->add_option("--inner-tol", a.ao.inner_tol, "AO: relative change of g that stops the W-subproblem");
  c->add_option("--step", a.ao.fixed_step, "ao-fixed: step size");
  c->add_option("--ascent-mu", a.ascent.mu_first, "ascent: first smoothing constant (default 10)");
  c->add_option("--ascent-mu-last", a.ascent.mu_last, "ascent: last smoothing constant (default 3000)");
  c->add_option("--ascent-stages", a.ascent.stages, "ascent: number of mu stages (default 6)");
  c->add_option("--ascent-steps", a.ascent.max_steps, "ascent: step cap per stage (default 1000)");
  c->add_option("--ascent-tol", a.ascent.tol, "ascent: relative rise that ends a stage (default 1e-8)");
  c->add_option("--ascent-starts", a.ascent_starts, "ascent: given (MRT), zf, random, nulls, comma-separated, or all");
  c->add_option("--ascent-seed", a.ascent.seed, "ascent: seed of the random start");
  c->add_option("--precision", a.prec, "f64 or f32")->check(CLI::IsMember({"f64", "f32"}));
  c->add_option("--f0", a.f0, "F0 solver: lapack, lowrank or cusolver (CUDA only)")
      ->check(CLI::IsMember({"lapack", "lowrank", "cusolver"}));
  c->add_option("--w0", a.w0, "W0: mrt (the paper) or zf (zero-forcing); default: the model's, else mrt")
      ->check(CLI::IsMember({"mrt", "zf"}));
  c->add_option("--products", a.products,
                "unfolded: the products of D(W) in per-realization loops, as batched GEMMs (BLAS / cuBLAS, for "
                "large arrays), by a team of threads per realization (a GPU warp, state in shared memory), or auto")
      ->check(CLI::IsMember({"auto", "loops", "gemm", "team", "lanes"}));
  c->add_option("--simd", a.simd,
                "CPU unfolded: on = 4 (f64) or 8 (f32) realizations at once in the SIMD lanes, off = one at a time")
      ->check(CLI::IsMember({"on", "off"}));
  c->add_option("--device", a.device, "cpu, cuda or cuda:N");
  c->add_option("--threads", a.threads, "CPU threads (0 = all)")->check(thread_count());
  c->add_option("--gpu-watchdog", a.gpu_watchdog,
                "CUDA: stop a device call that runs past this many times its predicted time plus a minute (0: no "
                "limit)")
      ->check(non_negative());
  c->add_option("--out", a.out, "results HDF5 file");
  c->add_flag("--json", a.json, "print one JSON object on stdout instead of the table");
}

int run_solve(solve_args& a) {
  solve_options o;
  o.algo = parse_algorithm(a.algo);
  const int dev = parse_device(a.device);
  if (!a.out.empty()) io::refuse_overwrite("out", a.out, {{"--data", a.data}, {"--params", a.params}});
  const channel_set cs = io::read_channels(a.data, a.sel);
  o.sys.pt = pt_of_snr_db(a.snr_db ? *a.snr_db : cs.snr_db);
  o.sys.delta = a.delta;
  if (!a.params.empty()) o.model = io::read_model(a.params);
  if (a.outer || a.inner) {
    if (!a.params.empty() && ((a.outer && *a.outer != o.model.l_out) || (a.inner && *a.inner != o.model.l_in)))
      throw std::invalid_argument("outer/inner: the parameter file fixes L_out = " + std::to_string(o.model.l_out) +
                                  ", L_in = " + std::to_string(o.model.l_in));
    if (a.outer) o.model.l_out = *a.outer;
    if (a.inner) o.model.l_in = *a.inner;
    if (a.params.empty()) o.model.beta.clear();
  }
  if (a.iw) o.model.i_w = *a.iw;
  if (a.frozen) o.model.frozen = true;
  o.model.finalize();
  o.ao = a.ao;
  o.ascent = a.ascent;
  o.ascent.starts = parse_ascent_starts(a.ascent_starts);
  if (a.ao_mu) o.ao.mu_c = o.ao.mu_s = *a.ao_mu;
  o.prec = a.prec == "f32" ? precision::f32 : precision::f64;
  o.f0 = a.f0 == "lowrank" ? f0_method::lowrank : a.f0 == "cusolver" ? f0_method::cusolver : f0_method::lapack;
  if (!a.w0.empty()) o.w0 = a.w0 == "zf" ? w0_method::zf : w0_method::mrt;
  o.products = parse_products(a.products);
  o.simd = a.simd == "on";
  o.threads = a.threads;
  o.gpu_watchdog = a.gpu_watchdog;
  host::progress_bar bar("solve " + a.algo);
  o.progress = [&](long done, long total) { bar.update(done, total); };
  const solve_output out = solve_batch(executor{dev, a.threads}, cs, o);
  bar.finish();
  if (!a.out.empty()) io::write_results(a.out, out, o, {{"data", a.data}, {"device", a.device}});
  const summary s = summarize(out);
  if (a.json) {
    nlohmann::json j = {{"algo", to_string(o.algo)},
                        {"realizations", s.realizations},
                        {"mean_objective", s.mean_objective},
                        {"min_sinr_db", s.min_sinr_db},
                        {"min_scnr_db", s.min_scnr_db},
                        {"mean_iterations", s.mean_iterations},
                        {"seconds_per_realization", s.seconds_per_realization},
                        {"simd_realizations", out.simd_count}};
    std::cout << j.dump() << std::endl;
  } else {
    std::printf("%-16s %12s %14s %12s %12s %12s %14s\n", "algo", "realizations", "mean objective", "min SINR dB",
                "min SCNR dB", "iterations", "s/realization");
    std::printf("%-16s %12ld %14.4f %12.2f %12.2f %12.1f %14.3e\n", to_string(o.algo).c_str(), s.realizations,
                s.mean_objective, s.min_sinr_db, s.min_scnr_db, s.mean_iterations, s.seconds_per_realization);
  }
  return 0;
}

struct train_args {
  std::string data, validation, out;
  io::channel_select sel;
  train::settings ts;
  int outer = 150, inner = 3, iw = 2, threads = 0;
  bool frozen = false, resume = false, per_layer_mu = false, plot = true;
  std::string init;
  double delta = 1, final_weight = 0;
  std::string w0 = "mrt";
  std::optional<double> snr_db;
  std::string device = "cpu";
};

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
  c->add_option("--outer", a.outer, "L_out")->check(at_least(1));
  c->add_option("--inner", a.inner, "L_in")->check(at_least(1));
  c->add_option("--iw", a.iw, "I_w")->check(at_least(1));
  c->add_flag("--frozen-gradient", a.frozen, "train the frozen-gradient variant");
  c->add_flag("--per-layer-mu", a.per_layer_mu,
              "richer model: learn mu_c and mu_s for every layer (its own annealing schedule)");
  c->add_option("--init", a.init, "start from this model file's parameters (e.g. a trained paper model)");
  c->add_option("--w0", a.w0, "W0 the model starts from: mrt (the paper) or zf (zero-forcing)")
      ->check(CLI::IsMember({"mrt", "zf"}));
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

/// Trains and writes the model; returns it. Shared by `train` and `demo`.
unfolded_model run_train(const train_args& a, bool quiet = false) {
  const int dev = parse_device(a.device);
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
  train::checkpoint c;
  if (a.resume) {
    c = train::read_checkpoint(ckpt);
    if (c.model.l_out != a.outer || c.model.l_in != a.inner || c.model.i_w != a.iw || c.model.frozen != a.frozen ||
        c.model.per_layer_mu != a.per_layer_mu)
      throw std::invalid_argument(ckpt + ": checkpoint is L_out " + std::to_string(c.model.l_out) + ", L_in " +
                                  std::to_string(c.model.l_in) + ", I_w " + std::to_string(c.model.i_w) +
                                  "; the command asks for other settings");
  } else {
    if (!a.init.empty()) {
      c.model = io::read_model(a.init);
      if (c.model.l_out != a.outer || c.model.l_in != a.inner)
        throw std::invalid_argument("init = " + a.init + ": model has L_out " + std::to_string(c.model.l_out) +
                                    ", L_in " + std::to_string(c.model.l_in) + "; pass matching --outer/--inner");
      if (a.per_layer_mu && !c.model.per_layer_mu) {  // paper model -> richer model, same function
        c.model.mu_c_layer.assign(size_t(c.model.l_out), c.model.mu_c);
        c.model.mu_s_layer.assign(size_t(c.model.l_out), c.model.mu_s);
      }
    }
    c.model.l_out = a.outer;
    c.model.l_in = a.inner;
    c.model.i_w = a.iw;
    c.model.frozen = a.frozen;
    c.model.per_layer_mu = c.model.per_layer_mu || a.per_layer_mu;
    c.model.finalize();
  }
  // Training settings the model file does not hold: on a resume, train::run refuses them
  // where they differ from the checkpoint's run (train::check_resume).
  c.model.loss_final_weight = a.final_weight;
  c.model.w0 = a.w0 == "zf" ? w0_method::zf : w0_method::mrt;
  char prov[1024];
  std::snprintf(prov, sizeof prov,
                "trained: data=%s users=%d targets=%d realizations=%ld epochs=%d batch=%d lr=%g weight_decay=%g "
                "lr_decay=%g mu_lr_factor=%g final_weight=%g seed=%llu delta=%g pt=%g variant=%s%s w0=%s init=%s",
                a.data.c_str(), data.dims.k, data.dims.m, data.count, a.ts.epochs, a.ts.batch, a.ts.lr,
                a.ts.weight_decay, a.ts.lr_decay, a.ts.mu_lr_factor, a.final_weight, (unsigned long long)a.ts.seed,
                a.delta, sys.pt, a.frozen ? "frozen-gradient" : "paper", a.per_layer_mu ? "+per-layer-mu" : "",
                a.w0.c_str(), a.init.empty() ? "none" : a.init.c_str());
  const bool root = mpi::get().root();  // only rank 0 draws and writes
  const int threads = threads_per_rank(a.threads);
  host::progress_bar bar("train", !quiet && root);
  train::callbacks cb;
  cb.on_batch = [&](int e, int b, int nb, double loss) {
    char extra[64];
    std::snprintf(extra, sizeof extra, "epoch %d loss %.4f", e, loss);
    bar.update(long(e - 1) * nb + b, long(a.ts.epochs) * nb, extra);
  };
  if (val.count > 0)
    cb.validate = [&](const unfolded_model& m) {
      solve_options o;
      o.model = m;
      o.sys = sys;
      o.threads = threads;
      return summarize(solve_batch(executor{dev, threads}, val, o)).mean_objective;
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

struct mc_args {
  mc::settings s = [] {
    mc::settings d;
    d.checkpoint_seconds = 30;
    return d;
  }();
  bool chunk_given = false;
  std::string algos = "unfolded", params, out, device = "cpu";
  double delta = 1, snr_db = 20;
  bool json = false, resume = false, plot = true;
  // Sweeps: every combination is one Monte Carlo point on the same channels (same seed;
  // a user's channel does not depend on K).
  std::vector<int> sweep_users, sweep_layers;
  std::vector<double> sweep_delta, sweep_snr;
};

/// One Monte Carlo point: runs (or resumes) it, writes PREFIX.h5/.csv (rank 0) and
/// returns its final state. `reuse` (optional) holds the finished results of some of
/// s.algos on the same channels (a layers sweep: everything but the unfolded solver is
/// independent of L); only the others run, and the summary has them all.
/// With --resume a sweep point without a checkpoint starts afresh; a single run needs one.
mc::state run_mc_point(const mc_args& a, const mc::settings& s, const std::string& prefix, const std::string& label,
                       bool sweep_point, const std::map<algorithm, size_t>& reuse = {},
                       const mc::state* reused = nullptr) {
  validate(s.solve, s.sc.dims);
  mc::settings todo = s;  // the algorithms that run here
  todo.algos.clear();
  for (algorithm x : s.algos)
    if (!reuse.count(x)) todo.algos.push_back(x);
  mc::state st;
  if (!todo.algos.empty()) {
    const std::string ckpt = prefix + ".ckpt.h5";
    if (a.resume && (!sweep_point || std::filesystem::exists(ckpt))) st = mc::read_state(ckpt, todo);
    host::progress_bar bar(label, mpi::get().root());  // mc::run reports and checkpoints on rank 0 only
    mc::run(
        todo, st, [&](long d, long t) { bar.update(d, t); },
        [&](const mc::state& x) { mc::write_state(ckpt, todo, x); });
    bar.finish();
  }
  mc::state all;  // in the order of s.algos
  all.done = s.count;
  for (algorithm x : s.algos) {
    const auto it = reuse.find(x);
    const mc::state& from = it == reuse.end() ? st : *reused;
    const size_t i = it == reuse.end() ? size_t(std::find(todo.algos.begin(), todo.algos.end(), x) - todo.algos.begin())
                                       : it->second;
    all.algos.push_back(from.algos[i]);
  }
  if (mpi::get().root()) mc::write_summary(prefix + ".h5", prefix + ".csv", s, all);
  return all;
}

std::vector<mc::stats> summarize_all(const mc::state& st) {
  std::vector<mc::stats> r;
  for (const mc::tally& t : st.algos) r.push_back(mc::summarize(t));
  return r;
}

nlohmann::json stats_json(algorithm algo, const mc::stats& r) {
  return {{"algo", to_string(algo)},
          {"realizations", r.n},
          {"mean_objective", r.mean},
          {"ci95_objective", r.ci95},
          {"min_sinr_db", r.min_sinr_db},
          {"min_scnr_db", r.min_scnr_db},
          {"q05", r.q05},
          {"q50", r.q50},
          {"q95", r.q95}};
}

/// `jcas montecarlo`: N realizations generated on the fly, several algorithms on the same
/// channels, statistics with 95 % intervals, checkpoints (--checkpoint-seconds), resume; optionally a
/// sweep over K, delta, SNR and layers (PREFIX.sweep.csv, one row per point and algo).
int run_montecarlo(mc_args& a) {
  mc::settings& s = a.s;
  for (const char* ext : {".h5", ".csv", ".ckpt.h5", "_cdf.png", ".sweep.csv", "_sweep.png"})
    io::refuse_overwrite("out", a.out + ext, {{"--params", a.params}});
  s.algos.clear();
  std::stringstream ss(a.algos);
  for (std::string x; std::getline(ss, x, ',');) s.algos.push_back(parse_algorithm(x));
  s.device = parse_device(a.device);
  if (!a.chunk_given && s.device >= 0) s.chunk = 65536;  // a GPU needs tens of thousands in flight
  s.solve.sys.pt = pt_of_snr_db(a.snr_db);
  s.solve.sys.delta = a.delta;
  if (!a.params.empty()) s.solve.model = io::read_model(a.params);
  s.solve.model.finalize();
  s.solve.threads = threads_per_rank(s.solve.threads);
  const bool root = mpi::get().root();
  const bool sweep =
      !a.sweep_users.empty() || !a.sweep_delta.empty() || !a.sweep_snr.empty() || !a.sweep_layers.empty();
  if (!sweep) {
    const std::vector<mc::stats> r = summarize_all(run_mc_point(a, s, a.out, "montecarlo", false));
    if (!root) return 0;
    nlohmann::json j = nlohmann::json::array();
    if (!a.json)
      std::printf("%-16s %12s %14s %10s %12s %12s %9s %9s %9s\n", "algo", "realizations", "mean objective", "95% CI",
                  "min SINR dB", "min SCNR dB", "q05", "median", "q95");
    for (size_t i = 0; i < s.algos.size(); ++i) {
      if (a.json)
        j.push_back(stats_json(s.algos[i], r[i]));
      else
        std::printf("%-16s %12ld %14.4f %10.4f %12.2f %12.2f %9.3f %9.3f %9.3f\n", to_string(s.algos[i]).c_str(),
                    r[i].n, r[i].mean, r[i].ci95, r[i].min_sinr_db, r[i].min_scnr_db, r[i].q05, r[i].q50, r[i].q95);
    }
    if (a.json) std::cout << nlohmann::json{{"results", j}}.dump() << std::endl;
    if (a.plot) draw_figures("montecarlo", "plot_montecarlo.py", shell_quote(a.out));
    return 0;
  }
  const auto or_one = [](auto v, auto x) { return v.empty() ? decltype(v){x} : v; };
  const std::vector<int> users = or_one(a.sweep_users, s.sc.dims.k);
  const std::vector<double> deltas = or_one(a.sweep_delta, a.delta), snrs = or_one(a.sweep_snr, a.snr_db);
  const std::vector<int> layers = or_one(a.sweep_layers, s.solve.model.l_out);
  for (int k : users)
    if (k < 1) throw std::invalid_argument("sweep-users = " + std::to_string(k) + ": must be >= 1");
  for (double d : deltas)
    if (!(d >= 0) || !std::isfinite(d))
      throw std::invalid_argument("sweep-delta = " + fmt_g(d) + ": must be >= 0 and finite");
  for (double x : snrs) (void)pt_of_snr_db(x, a.sweep_snr.empty() ? "snr-db" : "sweep-snr");
  for (int l : layers) (void)s.solve.model.first_layers(l);  // checks the range before any work
  std::unique_ptr<io::text_output> csv = root ? std::make_unique<io::text_output>(a.out + ".sweep.csv") : nullptr;
  std::FILE* f = csv ? csv->file() : nullptr;
  if (f)
    std::fprintf(f,
                 "users,delta,snr_db,layers,algo,realizations,mean_objective,ci95_objective,min_sinr_db,"
                 "min_scnr_db,q05,q50,q95\n");
  nlohmann::json j = nlohmann::json::array();
  const size_t total = users.size() * deltas.size() * snrs.size() * layers.size();
  size_t idx = 0;
  for (int k : users)
    for (double d : deltas)
      for (double snr : snrs) {
        // Only the unfolded solver depends on L: the others run at the first L of this
        // (K, delta, SNR) and their results are reused (the same channels and settings).
        mc::state first;
        std::map<algorithm, size_t> reuse;
        for (int l : layers) {
          mc::settings p = s;
          p.sc.dims.k = k;
          p.solve.sys.delta = d;
          p.solve.sys.pt = pt_of_snr_db(snr, "sweep-snr");
          p.solve.model = s.solve.model.first_layers(l);
          char tag[160];
          std::snprintf(tag, sizeof tag, "K%d_delta%g_snr%g_L%d", k, d, snr, l);
          char label[200];
          std::snprintf(label, sizeof label, "point %zu/%zu %s", ++idx, total, tag);
          const std::string prefix = a.out + "." + tag;
          if (!a.resume) std::filesystem::remove(prefix + ".ckpt.h5");
          const mc::state st = run_mc_point(a, p, prefix, label, true, reuse, &first);
          if (reuse.empty()) {
            first = st;
            for (size_t i = 0; i < p.algos.size(); ++i)
              if (p.algos[i] != algorithm::unfolded) reuse[p.algos[i]] = i;
          }
          const std::vector<mc::stats> r = summarize_all(st);
          for (size_t i = 0; i < p.algos.size() && root; ++i) {
            std::fprintf(f, "%d,%g,%g,%d,%s,%ld,%.10g,%.10g,%.6g,%.6g,%.10g,%.10g,%.10g\n", k, d, snr, l,
                         to_string(p.algos[i]).c_str(), r[i].n, r[i].mean, r[i].ci95, r[i].min_sinr_db,
                         r[i].min_scnr_db, r[i].q05, r[i].q50, r[i].q95);
            nlohmann::json o = stats_json(p.algos[i], r[i]);
            o["users"] = k;
            o["delta"] = d;
            o["snr_db"] = snr;
            o["layers"] = l;
            j.push_back(o);
            if (!a.json)
              std::printf(
                  "K %2d delta %6g snr %5g L %3d  %-16s mean %.4f +- %.4f  min SINR %6.2f dB  min SCNR %6.2f dB\n", k,
                  d, snr, l, to_string(p.algos[i]).c_str(), r[i].mean, r[i].ci95, r[i].min_sinr_db, r[i].min_scnr_db);
          }
        }
      }
  if (!root) return 0;
  csv->commit();
  if (a.json) std::cout << nlohmann::json{{"results", j}}.dump() << std::endl;
  if (a.plot) draw_figures("montecarlo", "plot_montecarlo.py", shell_quote(a.out) + " --sweep");
  return 0;
}

struct demo_args {
  long train = 500;
  int epochs = 30;
  std::string out = "demo_out";
  long test = 100;
  std::uint64_t seed = 2;
  int threads = 0;
  std::string device = "cpu";
};

/// The main job on the built-in default scenario: held-out channels, every solver,
/// one comparison table (SPEC.md section 8 has the reference's numbers beside it).
int run_demo(const demo_args& a) {
  const int dev = parse_device(a.device);
  scenario sc;
  const channel_set test = cpu::generate_batch(sc, a.seed, 0, a.test, a.threads);
  std::filesystem::create_directories(a.out);
  const std::string train_file = a.out + "/train.h5", test_file = a.out + "/test.h5";
  io::write_channels(train_file, cpu::generate_batch(sc, 1, 0, a.train, a.threads), &sc, 1, 0);
  io::write_channels(test_file, test, &sc, a.seed, 0);
  train_args ta;
  ta.data = train_file;
  ta.out = a.out + "/model.h5";
  ta.ts.epochs = a.epochs;
  ta.threads = a.threads;
  ta.device = a.device;
  std::fprintf(stderr, "training the unfolded optimiser: %ld realizations (seed 1), %d epochs, batch 32 ...\n", a.train,
               a.epochs);
  const auto t0 = std::chrono::steady_clock::now();
  const unfolded_model trained = run_train(ta, true);
  const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "default scenario: Nt %d, Nr %d, K %d, M %d, C %d, SNR 20 dB, delta 1; %ld test realizations (seed %llu)\n",
      sc.dims.nt, sc.dims.nr, sc.dims.k, sc.dims.m, sc.dims.c, a.test, (unsigned long long)a.seed);
  std::printf("training: %.1f s on %s (%d epochs); model in %s/model.h5\n", train_s, a.device.c_str(), a.epochs,
              a.out.c_str());
  std::printf("%-28s %14s %12s %12s %12s %14s\n", "method", "mean objective", "min SINR dB", "min SCNR dB",
              "iterations", "ms/realization");
  const struct {
    const char* name;
    algorithm algo;
    bool trained;
    const char* file;
    bool plot;  // the ascent's curve is per stage, not per iteration: table only
  } methods[] = {{"unfolded (trained)", algorithm::unfolded, true, "unfolded_trained", true},
                 {"unfolded (untrained)", algorithm::unfolded, false, "unfolded_untrained", true},
                 {"AO backtracking", algorithm::ao_backtracking, false, "ao_backtracking", true},
                 {"heuristic [32]", algorithm::heuristic, false, "heuristic", true},
                 {"AO fixed step", algorithm::ao_fixed, false, "ao_fixed", true},
                 {"AO monotone (new)", algorithm::ao_monotone, false, "ao_monotone", true},
                 {"ascent (yardstick, slow)", algorithm::ascent, false, "ascent", false}};
  std::string plot_args;
  for (const auto& m : methods) {
    solve_options o;
    o.algo = m.algo;
    if (m.trained) o.model = trained;
    o.threads = a.threads;
    host::progress_bar bar(m.name);
    o.progress = [&](long d, long t) { bar.update(d, t); };
    const solve_output out = solve_batch(executor{dev, a.threads}, test, o);
    bar.finish();
    const std::string file = a.out + "/" + m.file + ".h5";
    io::write_results(file, out, o, {{"data", test_file}, {"device", a.device}});
    if (m.plot) plot_args += " " + shell_quote(std::string(m.name) + "=" + file);
    const summary s = summarize(out);
    std::printf("%-28s %14.4f %12.2f %12.2f %12.1f %14.4f\n", m.name, s.mean_objective, s.min_sinr_db, s.min_scnr_db,
                s.mean_iterations, 1e3 * s.seconds_per_realization);
    std::fflush(stdout);
  }
  draw_figures("demo", "plot_results.py", shell_quote(a.out + "/demo") + plot_args);
  std::printf("results, model and figures in %s/\n", a.out.c_str());
  return 0;
}

struct reproduce_args {
  std::string out = "reproduce_out", device = "cpu";
  bool quick = false;
};

/// `jcas reproduce`: the paper's Fig. 2, 3a, 3b and Table I (tools/reproduce.py drives
/// this binary and draws the PNGs with Debian's matplotlib).
int run_reproduce(const reproduce_args& a) {
  const std::string script = std::string(JCAS_TOOLS_DIR) + "/reproduce.py";
  if (!std::filesystem::exists(script)) throw std::runtime_error("reproduce: " + script + " not found");
  if (!std::filesystem::exists("/usr/bin/python3"))
    throw std::runtime_error("reproduce: /usr/bin/python3 not found (tools/install_deps.sh installs it)");
  const std::string self = std::filesystem::canonical("/proc/self/exe").string();
  parse_device(a.device);
  const auto quote = [](const std::string& x) {
    std::string q = "'";
    for (char c : x) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
  };
  const std::string cmd = "/usr/bin/python3 " + quote(script) + " --jcas " + quote(self) + " --out " + quote(a.out) +
                          " --device " + quote(a.device) + (a.quick ? " --quick" : "");
  const int rc = std::system(cmd.c_str());
  return rc == 0 ? 0 : 1;
}

}  // namespace

int run_cli(int argc, char** argv);

/// The x86-64 level this binary was built for (JCAS_X86_LEVEL) against the CPU it runs on:
/// one clear line instead of an illegal instruction somewhere later.
bool cpu_supports_build() {
#if defined(__AVX512F__)
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) return true;
  std::fprintf(stderr,
               "jcas: built for x86-64-v4 (AVX-512) but this CPU lacks it: rebuild with "
               "-DJCAS_X86_LEVEL=x86-64-v3\n");
#else
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return true;
  std::fprintf(stderr, "jcas: built for x86-64-v3 but this CPU lacks AVX2 / FMA\n");
#endif
  return false;
}

int main(int argc, char** argv) {
  if (!cpu_supports_build()) return 1;
  jcas::mpi::init(&argc, &argv);
  jcas::io::remove_temporaries_on_signal();  // Ctrl-C leaves no half-written file
  const int rc = run_cli(argc, argv);
  if (rc != 0 && jcas::mpi::get().size > 1) jcas::mpi::abort_all(rc);  // no rank left waiting
  jcas::mpi::finalize();
  return rc;
}

int run_cli(int argc, char** argv) {
  CLI::App app{"jcas: max-min fair beamforming for joint communications and sensing"};
  app.set_version_flag("--version", std::string("jcas ") + jcas::version() + "\n" + jcas::build_config());
  app.require_subcommand(1);
  generate_args ga;
  solve_args sa;
  CLI::App* gen = app.add_subcommand("generate", "draw channel realizations of a scenario into an HDF5 file");
  add_scenario_options(gen, ga);
  CLI::App* sol = app.add_subcommand("solve", "run a solver on a channel file");
  add_solve_options(sol, sa);
  train_args ta;
  CLI::App* trn = app.add_subcommand("train", "train the unfolded optimiser's step sizes and smoothing constants");
  add_train_options(trn, ta);
  demo_args da;
  mc_args ma;
  CLI::App* mcc = app.add_subcommand("montecarlo", "statistics over many realizations generated on the fly");
  mcc->add_option("--count", ma.s.count, "realizations")->check(at_least(1));
  mcc->add_option("--chunk", ma.s.chunk, "realizations per chunk (default 4096 on the CPU, 65536 on a GPU)")
      ->check(at_least(1));
  mcc->add_option("--checkpoint-seconds", ma.s.checkpoint_seconds,
                  "seconds between checkpoints (PREFIX.ckpt.h5; 0: after every chunk; always after the last)")
      ->check(non_negative());
  mcc->add_option("--gpu-watchdog", ma.s.solve.gpu_watchdog,
                  "CUDA: stop a device call that runs past this many times its predicted time plus a minute (0: no "
                  "limit)")
      ->check(non_negative());
  mcc->add_option("--seed", ma.s.seed, "channel seed");
  mcc->add_option("--algos", ma.algos, "comma-separated algorithms, run on the same channels");
  mcc->add_option("--params", ma.params, "unfolded parameter file");
  mcc->add_option("--users", ma.s.sc.dims.k, "K")->check(at_least(1));
  mcc->add_option("--targets", ma.s.sc.dims.m, "M")->check(at_least(1));
  mcc->add_option("--clutter", ma.s.sc.dims.c, "C")->check(at_least(0));
  mcc->add_option("--nt", ma.s.sc.dims.nt, "transmit antennas")->check(at_least(1));
  mcc->add_option("--nr", ma.s.sc.dims.nr, "receive antennas")->check(at_least(1));
  mcc->add_option("--delta", ma.delta, "trade-off weight");
  mcc->add_option("--snr-db", ma.snr_db, "Pt = 10^(snr/10)");
  mcc->add_option("--device", ma.device, "cpu, cuda or cuda:N");
  mcc->add_option("--threads", ma.s.solve.threads, "CPU threads (0 = all)")->check(thread_count());
  mcc->add_option("--out", ma.out, "output prefix: PREFIX.h5, PREFIX.csv, PREFIX.ckpt.h5")->required();
  mcc->add_flag("--resume", ma.resume, "continue from PREFIX.ckpt.h5");
  mcc->add_flag("--json", ma.json, "one JSON object on stdout");
  mcc->add_flag("!--no-plot", ma.plot, "skip the figures (PREFIX_cdf.png, or PREFIX_sweep.png for a sweep)");
  mcc->add_option("--sweep-users", ma.sweep_users, "sweep: K values (same channels: user k's channel is fixed)")
      ->delimiter(',');
  mcc->add_option("--sweep-delta", ma.sweep_delta, "sweep: delta values")->delimiter(',');
  mcc->add_option("--sweep-snr", ma.sweep_snr, "sweep: SNR values [dB]")->delimiter(',');
  mcc->add_option("--sweep-layers", ma.sweep_layers, "sweep: unfolded layers (the first L of the model)")
      ->delimiter(',');
  cli::bench_args ba;
  CLI::App* bench = app.add_subcommand("bench", "throughput of the CPU and CUDA backends side by side");
  bench->add_option("--batch", ba.batches, "batch sizes (CUDA runs each; the CPU at most 512)")->check(at_least(1));
  bench->add_option("--devices", ba.devices, "comma-separated: cpu,cuda");
  bench->add_option("--threads", ba.threads, "CPU threads (0 = all)")->check(thread_count());
  bench->add_option("--repeats", ba.repeats, "timed runs per row (the median is reported)")->check(at_least(1));
  bench->add_flag("--quick", ba.quick, "unfolded and the training step only");
  bench
      ->add_option("--max-seconds", ba.max_seconds,
                   "the most seconds of timed runs a row may take: a row whose first timing projects more runs on "
                   "fewer realizations (default 10)")
      ->check(non_negative());
  bench->add_flag("--json", ba.json, "one JSON object on stdout");
  CLI::App* demo = app.add_subcommand("demo", "the main job on the built-in default scenario");
  demo->add_option("--train", da.train, "training realizations (seed 1)")->check(at_least(1));
  demo->add_option("--epochs", da.epochs, "training epochs")->check(at_least(0));
  demo->add_option("--out", da.out, "folder for the data, model and results");
  demo->add_option("--test", da.test, "held-out realizations")->check(at_least(1));
  demo->add_option("--seed", da.seed, "seed of the held-out set");
  demo->add_option("--threads", da.threads, "CPU threads (0 = all)")->check(thread_count());
  demo->add_option("--device", da.device, "cpu, cuda or cuda:N");
  reproduce_args ra;
  CLI::App* rep = app.add_subcommand("reproduce", "the paper's Fig. 2, 3a, 3b and Table I as PNG files and markdown");
  rep->add_option("--out", ra.out, "output folder (default reproduce_out)");
  rep->add_option("--device", ra.device, "cpu, cuda or cuda:N (training and unfolded solves)");
  rep->add_flag("--quick", ra.quick, "a small configuration (minutes -> seconds)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "jcas: error: %s\n", e.what());
    return 2;
  }
  try {
    if (mpi::get().size > 1 && !*mcc && !*trn)  // the others would write the same files from every rank
      throw std::invalid_argument("mpirun: only montecarlo and train run across processes (this command: " +
                                  app.get_subcommands().front()->get_name() + ")");
    if (*gen) return run_generate(ga, gen);
    if (*sol) return run_solve(sa);
    if (*demo) return run_demo(da);
    if (*bench) return cli::run_bench(ba);
    ma.chunk_given = mcc->count("--chunk") > 0;
    if (*mcc) return run_montecarlo(ma);
    if (*trn) return run_train(ta), 0;
    if (*rep) return run_reproduce(ra);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jcas: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
