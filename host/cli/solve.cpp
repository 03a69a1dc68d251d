// `jcas solve`: a solver on a channel file; a table, JSON, or a results file.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli.hpp"
#include "flop_count.hpp"
#include "progress.hpp"
#include "solve_file.hpp"
#include "solve_request.hpp"

namespace jcas::cli {

namespace {

struct solve_args {
  std::string data, params, out, device = "cpu", simd = "on";
  std::optional<std::string> layer_repeat;
  io::channel_select sel;
  std::optional<double> snr_db;
  bool json = false, count_flops = false, resume = false;
  long chunk = 0;   // realizations a range (0: host::file_range's)
  solve_request r;  // pt from snr_db, the model from params, simd from the word
};

void add_solve_options(CLI::App* c, solve_args& a) {
  c->add_option("--data", a.data, "channel file (.h5 or .npz)")->required();
  c->add_option("--algo", a.r.algo, "unfolded, ao-fixed, ao-backtracking, heuristic, ao-monotone or ascent");
  add_selection_options(c, a.sel);
  c->add_option("--delta", a.r.delta, "trade-off weight delta");
  c->add_option("--snr-db", a.snr_db, "Pt = 10^(snr/10) with unit noise (default: the file's, else 20)");
  c->add_option("--outer", a.r.model.outer, "unfolded: L_out (default 150)");
  c->add_option("--inner", a.r.model.inner, "unfolded: L_in (default 3)");
  c->add_option("--iw", a.r.model.iw, "unfolded: I_w (default 2)");
  c->add_flag("--frozen-gradient", a.r.model.frozen, "unfolded: evaluate D once per layer (the reference's variant)");
  c->add_option("--layer-repeat", a.layer_repeat,
                "unfolded: run each layer N times in a row, or users: by K (default: the model's; the shipped "
                "models' is users)");
  c->add_option("--params", a.params,
                "unfolded: parameter file (jcas train), or 'untrained' (every beta = 0.01); default: the model "
                "shipped for --delta (models/), untrained where --outer/--inner are given");
  c->add_option("--mu", a.r.mu, "AO: smoothing constant mu_c = mu_s (default 10)");
  c->add_option("--max-outer", a.r.ao.max_outer, "AO: outer iteration cap");
  c->add_option("--outer-tol", a.r.ao.outer_tol, "AO: relative change of h that stops the outer loop");
  c->add_option("--inner-tol", a.r.ao.inner_tol, "AO: relative change of g that stops the W-subproblem");
  c->add_option("--step", a.r.ao.fixed_step, "ao-fixed: step size");
  c->add_option("--ascent-mu", a.r.ascent.mu_first, "ascent: first smoothing constant (default 10)");
  c->add_option("--ascent-mu-last", a.r.ascent.mu_last, "ascent: last smoothing constant (default 3000)");
  c->add_option("--ascent-stages", a.r.ascent.stages, "ascent: number of mu stages (default 6)");
  c->add_option("--ascent-steps", a.r.ascent.max_steps, "ascent: step cap per stage (default 1000)");
  c->add_option("--ascent-tol", a.r.ascent.tol, "ascent: relative rise that ends a stage (default 1e-8)");
  c->add_option("--ascent-starts", a.r.ascent_starts,
                "ascent: given (MRT), zf, random, nulls, comma-separated, or all");
  c->add_option("--ascent-seed", a.r.ascent.seed, "ascent: seed of the random start");
  c->add_option("--precision", a.r.precision, "f64 or f32")->check(CLI::IsMember({"f64", "f32"}));
  c->add_option("--f0", a.r.f0,
                "F0 solver: auto (lapack on the CPU, lowrank in the solve kernel on a GPU), lapack, lowrank or "
                "cusolver (CUDA only)")
      ->check(CLI::IsMember({"auto", "lapack", "lowrank", "cusolver"}));
  c->add_option("--w0", a.r.w0, "W0: mrt (the paper) or zf (zero-forcing); default: the model's, else mrt")
      ->check(CLI::IsMember({"mrt", "zf"}));
  c->add_option("--products", a.r.products,
                "unfolded: the products of D(W) in per-realization loops, as batched GEMMs (BLAS / cuBLAS, for "
                "large arrays), by a team of threads per realization (a GPU warp, state in shared memory), or auto")
      ->check(CLI::IsMember({"auto", "loops", "gemm", "team", "lanes"}));
  c->add_option("--team-lanes", a.r.team_lanes,
                "CUDA, the lanes route: lanes of a warp a realization, 8, 16 or 32 (default: the counted model's "
                "choice)")
      ->check(CLI::IsMember({8, 16, 32}));
  c->add_option("--simd", a.simd,
                "CPU unfolded: on = 4 (f64) or 8 (f32) realizations at once in the SIMD lanes, off = one at a time")
      ->check(CLI::IsMember({"on", "off"}));
  c->add_option("--device", a.device, "cpu, cuda or cuda:N");
  c->add_option("--threads", a.r.threads, "CPU threads (0 = all)")->check(thread_count());
  c->add_option("--gpu-watchdog", a.r.gpu_watchdog,
                "CUDA: stop a device call that runs past this many times its predicted time plus a minute (0: no "
                "limit)")
      ->check(non_negative());
  c->add_option("--chunk", a.chunk,
                "realizations read, solved and written at a time, the next read and the last written while one "
                "solves (default: as many as 512 MB hold, a power of two, at most 65536; 32768 at the paper's sizes)")
      ->check(at_least(1));
  c->add_option("--out", a.out, "results HDF5 file (written as FILE.part until it is complete)");
  c->add_flag("--resume", a.resume,
              "continue the interrupted solve whose results FILE.part holds (the same data and settings), or start "
              "where there is none");
  c->add_flag("--json", a.json, "print one JSON object on stdout instead of the table");
  c->add_flag("--count-flops", a.count_flops,
              "also count the solver's arithmetic (after W0 and F0) on the first 4 realizations: MFLOP per "
              "realization in the table and the JSON (counted_mflop)");
}

int run_solve(solve_args& a) {
  (void)parse_algorithm(a.r.algo);  // a bad name before any file is read
  if (a.resume && a.out.empty()) throw std::invalid_argument("resume: continues a results file: give it with --out");
  const int dev = device_of(a.device);
  if (!a.out.empty()) io::refuse_overwrite("out", a.out, {{"--data", a.data}, {"--params", a.params}});
  io::channel_file in(a.data, a.sel);
  a.r.pt = pt_of_snr_db(a.snr_db ? *a.snr_db : in.snr_db());
  if (a.params == "untrained")
    a.r.model.untrained = true;
  else if (!a.params.empty())
    a.r.model.trained = io::read_model(a.params);
  a.r.simd = a.simd == "on";
  if (a.layer_repeat) a.r.model.layer_repeat = parse_layer_repeat(*a.layer_repeat);
  solve_options o = to_options(a.r, dev >= 0);
  validate(o, in.dims());  // before a results file is begun
  const executor ex{dev, a.r.threads};
  const long range = a.chunk > 0 ? a.chunk : host::file_range(in, o);
  // The results written range by range into OUT.part, renamed only when all are in; an
  // interrupted run's part is continued with --resume (io::results_file).
  std::optional<io::results_file> rf;
  if (!a.out.empty())
    rf.emplace(a.out, in.count(), o, std::map<std::string, std::string>{{"data", a.data}, {"device", a.device}},
               host::solve_run(ex, in, a.sel, o), a.resume);
  host::progress_bar bar("solve " + a.r.algo);
  o.progress = [&](long done, long total) { bar.update(done, total); };
  const host::file_solved solved = host::solve_file(ex, in, o, rf ? &*rf : nullptr, range);
  bar.finish();
  const summary& s = solved.s;
  if (rf) rf->commit(s);
  // The counted arithmetic (host/flop_count.hpp): every algorithm's cost in one unit.
  const long counted = std::min(4L, in.count());
  double mflop = std::nan("");
  if (a.count_flops) {
    channel_set first;
    in.read(0, counted, first);
    mflop = host::counted_flops(first, o, counted) / 1e6;
  }
  if (a.json) {
    nlohmann::json j = {{"algo", to_string(o.algo)},
                        {"realizations", s.realizations},
                        {"mean_objective", s.mean_objective},
                        {"min_sinr_db", s.min_sinr_db},
                        {"min_scnr_db", s.min_scnr_db},
                        {"mean_iterations", s.mean_iterations},
                        {"seconds_per_realization", s.seconds_per_realization},
                        {"simd_realizations", solved.simd_count},
                        {"ranges", solved.ranges},
                        {"wall_seconds", solved.wall_seconds}};
    if (o.algo == algorithm::unfolded) j["model"] = o.model.provenance;
    if (a.count_flops) j["counted_mflop"] = mflop;
    std::cout << j.dump() << std::endl;
  } else {
    std::printf("%-16s %12s %14s %12s %12s %12s %14s\n", "algo", "realizations", "mean objective", "min SINR dB",
                "min SCNR dB", "iterations", "s/realization");
    std::printf("%-16s %12ld %14.4f %12.2f %12.2f %12.1f %14.3e\n", to_string(o.algo).c_str(), s.realizations,
                s.mean_objective, s.min_sinr_db, s.min_scnr_db, s.mean_iterations, s.seconds_per_realization);
    if (a.count_flops) std::printf("counted: %.3f MFLOP a realization (the first %ld)\n", mflop, counted);
  }
  return 0;
}

}  // namespace

command add_solve(CLI::App& app) {
  CLI::App* c = app.add_subcommand("solve", "run a solver on a channel file");
  auto a = std::make_shared<solve_args>();
  add_solve_options(c, *a);
  return {c, [a] { return run_solve(*a); }};
}

}  // namespace jcas::cli
