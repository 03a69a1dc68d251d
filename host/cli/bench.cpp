#include "bench.hpp"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "jcas/api.hpp"
#include "jcas/cuda_backend.hpp"
#include "training.hpp"

namespace jcas::cli {

namespace {
struct row {
  std::string device, workload, prec;
  long batch = 0;
  double per_second = 0;  // realizations per second
};
}  // namespace

/// Realizations per second of unfolded inference (paper settings), each AO baseline and
/// a training step (forward + backward, double), per device, batch size and precision.
/// Solves include W0/F0 (the CPU by LAPACK, the GPU in the solve kernel).
int run_bench(const bench_args& a) {
  std::vector<std::string> devs;
  std::stringstream ss(a.devices);
  for (std::string d; std::getline(ss, d, ',');) devs.push_back(d);
  std::vector<row> rows;
  std::vector<std::string> notes;
  for (const std::string& dev : devs) {
    const bool gpu = dev != "cpu";
    if (gpu) {
      std::string why;
      if (cuda::device_count(&why) == 0) {
        notes.push_back("cuda: skipped (" + why + ")");
        continue;
      }
    }
    for (long batch : a.batches) {
      const long n = gpu ? batch : std::min<long>(batch, a.quick ? 64 : 512);  // the CPU is timed on fewer
      const channel_set cs = cpu::generate_batch(scenario{}, 7, 0, n, a.threads);
      {  // warm-up: thread pools, device context, first-touch of memory
        solve_options o;
        o.model.l_out = 2;
        o.threads = a.threads;
        gpu ? cuda::solve_batch(cs, o, 0) : cpu::solve_batch(cs, o);
      }
      auto timed = [&](const std::string& workload, const std::string& prec, auto&& fn) {
        const auto t0 = std::chrono::steady_clock::now();
        fn();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        rows.push_back({dev, workload, prec, batch, double(n) / s});
      };
      for (precision p : {precision::f32, precision::f64}) {
        const std::string ps = p == precision::f32 ? "f32" : "f64";
        for (algorithm alg :
             {algorithm::unfolded, algorithm::ao_backtracking, algorithm::heuristic, algorithm::ao_fixed}) {
          if (a.quick && alg != algorithm::unfolded) continue;
          solve_options o;
          o.algo = alg;
          o.prec = p;
          o.threads = a.threads;
          // Each backend's own initialisation: LAPACK on the CPU, in the kernel on the GPU.
          o.f0 = gpu ? f0_method::lowrank : f0_method::lapack;
          timed(to_string(alg), ps, [&] { gpu ? cuda::solve_batch(cs, o, 0) : cpu::solve_batch(cs, o); });
        }
      }
      std::vector<zd> w0, f0;
      cpu::init_batch(cs, system_params<double>{}, f0_method::lapack, w0, f0, a.threads);
      unfolded_model m;
      m.finalize();
      std::vector<long> idx(static_cast<size_t>(n));
      for (long i = 0; i < n; ++i) idx[i] = i;
      timed("train-step", "f64", [&] {
        std::vector<double> g;
        if (gpu)
          cuda::loss_and_gradient(cs, w0, f0, idx, m, system_params<double>{}, g, 0);
        else
          train::cpu_loss_and_gradient(cs, w0, f0, idx, m, system_params<double>{}, a.threads);
      });
    }
  }
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const row& r : rows)
      j.push_back({{"device", r.device},
                   {"workload", r.workload},
                   {"precision", r.prec},
                   {"batch", r.batch},
                   {"realizations_per_second", r.per_second}});
    std::cout << nlohmann::json{{"results", j}, {"notes", notes}}.dump() << std::endl;
    return 0;
  }
  std::printf("%-6s %-16s %-5s %8s %16s\n", "device", "workload", "prec", "batch", "realizations/s");
  for (const row& r : rows)
    std::printf("%-6s %-16s %-5s %8ld %16.1f\n", r.device.c_str(), r.workload.c_str(), r.prec.c_str(), r.batch,
                r.per_second);
  for (const auto& n : notes) std::printf("note: %s\n", n.c_str());
  return 0;
}

}  // namespace jcas::cli
