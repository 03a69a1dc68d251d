// `jcas solve`: a solver on a channel file; a table, JSON, or a results file.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli.hpp"
#include "progress.hpp"

namespace jcas::cli {

namespace {

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
  const int dev = device_of(a.device);
  if (!a.out.empty()) io::refuse_overwrite("out", a.out, {{"--data", a.data}, {"--params", a.params}});
  const channel_set cs = io::read_channels(a.data, a.sel);
  o.sys.pt = pt_of_snr_db(a.snr_db ? *a.snr_db : cs.snr_db);
  o.sys.delta = a.delta;
  model_choice mc;
  if (!a.params.empty()) mc.trained = io::read_model(a.params);
  mc.outer = a.outer;
  mc.inner = a.inner;
  mc.iw = a.iw;
  mc.frozen = a.frozen;
  o.model = resolve_model(mc);
  o.ao = a.ao;
  o.ascent = a.ascent;
  o.ascent.starts = parse_ascent_starts(a.ascent_starts);
  if (a.ao_mu) o.ao.mu_c = o.ao.mu_s = *a.ao_mu;
  o.prec = parse_precision(a.prec);
  o.f0 = parse_f0(a.f0);
  if (!a.w0.empty()) o.w0 = parse_w0(a.w0);
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

}  // namespace

command add_solve(CLI::App& app) {
  CLI::App* c = app.add_subcommand("solve", "run a solver on a channel file");
  auto a = std::make_shared<solve_args>();
  add_solve_options(c, *a);
  return {c, [a] { return run_solve(*a); }};
}

}  // namespace jcas::cli
