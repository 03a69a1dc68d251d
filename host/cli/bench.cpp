#include "bench.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "cli.hpp"
#include "flop_count.hpp"
#include "jcas/api.hpp"
#include "jcas/cuda_backend.hpp"
#include "montecarlo.hpp"
#include "training.hpp"
#include "version.hpp"

namespace jcas::cli {

namespace {
struct row {
  std::string device, workload, prec;
  long batch = 0;
  double per_second = 0;  // realizations per second
  double flop = 0;        // counted per realization (host/flop_count.hpp)
  double peak = 0;        // the device's FLOP/s ceiling in this precision (0: unknown)
  double bytes = 0;       // least DRAM traffic per realization (io_bytes)
  double dram = 0;        // the device's DRAM bytes/s (0: unknown)
  double spread = 0;      // (slowest - fastest) / median of the repeats
  double gflops() const { return per_second * flop / 1e9; }
  double percent_of_peak() const { return peak > 0 ? 100 * gflops() * 1e9 / peak : 0; }
  double percent_of_dram() const { return dram > 0 ? 100 * per_second * bytes / dram : 0; }
};

/// The least memory traffic of one solve per realization: the channels read once (H and
/// the rank-one factors of G), W|F read and written, the curve and 4 results written.
double io_bytes(const problem_dims& d, int curve_len, size_t real) {
  const double cplx_in = double(d.nt) * d.k + double(d.nr + d.nt) * d.j(), wf = double(d.nt) * d.k + double(d.nr) * d.m;
  return double(real) * (2 * cplx_in + 4 * wf + curve_len + 4) + 4;
}

/// The median of the seconds of the repeats (sorts them), and their spread relative to
/// it: a shared machine's noise shows as a spread, not as a different median.
std::pair<double, double> median_spread(std::vector<double> s) {
  std::sort(s.begin(), s.end());
  const size_t n = s.size();
  const double med = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
  return {med, (s.back() - s.front()) / med};
}

/// The first n realizations of a channel set, each prefix made once.
struct prefixes {
  const channel_set& all;
  std::map<long, channel_set> made;
  const channel_set& first(long n) {
    if (n >= all.count) return all;
    auto it = made.find(n);
    if (it != made.end()) return it->second;
    return made.emplace(n, copy_of(channel_view(all).slice(0, n))).first->second;
  }
};

/// Rows as they are measured: a table line (flushed) or a JSON line, so that a run cut
/// short by a time limit still shows everything it measured.
struct printer {
  const bench_args& a;
  void header() const {
    if (a.json) {
      std::cout << nlohmann::json{{"type", "header"},
                                  {"jcas_version", version()},
                                  {"build", build_config()},
                                  {"repeats", a.repeats},
                                  {"max_seconds", a.max_seconds}}
                       .dump()
                << std::endl;
      return;
    }
    std::printf("jcas %s (%s); median of %d runs each; spread = (slowest - fastest) / median\n", version(),
                build_config(), a.repeats);
    std::printf("%-6s %-21s %-5s %8s %16s %7s %12s %10s %7s %7s\n", "device", "workload", "prec", "batch",
                "realizations/s", "spread", "MFLOP/real", "GFLOP/s", "% peak", "% DRAM");
    std::fflush(stdout);
  }
  void print(const row& r, int repeats) const {
    if (a.json) {
      std::cout << nlohmann::json{{"type", "row"},
                                  {"device", r.device},
                                  {"workload", r.workload},
                                  {"precision", r.prec},
                                  {"batch", r.batch},
                                  {"realizations_per_second", r.per_second},
                                  {"flop_per_realization", r.flop},
                                  {"gflop_per_second", r.gflops()},
                                  {"percent_of_peak", r.percent_of_peak()},
                                  {"io_bytes_per_realization", r.bytes},
                                  {"percent_of_dram_bandwidth", r.percent_of_dram()},
                                  {"repeats", repeats},
                                  {"spread", r.spread}}
                       .dump()
                << std::endl;
      return;
    }
    std::printf("%-6s %-21s %-5s %8ld %16.1f %6.0f%% %12.2f %10.2f ", r.device.c_str(), r.workload.c_str(),
                r.prec.c_str(), r.batch, r.per_second, 100 * r.spread, r.flop / 1e6, r.gflops());
    r.peak > 0 ? std::printf("%7.2f ", r.percent_of_peak()) : std::printf("%7s ", "-");
    r.dram > 0 ? std::printf("%7.3f\n", r.percent_of_dram()) : std::printf("%7s\n", "-");
    std::fflush(stdout);
  }
  void note(const std::string& n) const {
    if (a.json)
      std::cout << nlohmann::json{{"type", "note"}, {"text", n}}.dump() << std::endl;
    else
      std::printf("note: %s\n", n.c_str());
    std::fflush(stdout);
  }
};

double seconds_of(const std::function<void()>& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Realizations run by one timed run of a row that wants `want` of them, after a first
/// timing of `probe` of them took `probe_s` seconds: all of them when a.repeats such runs
/// fit a.max_seconds at the probe's rate (a linear projection: pessimistic on a GPU, where
/// a larger batch fills the device better), else as many as do, never fewer than the probe.
long sized_batch(long want, long probe, double probe_s, const bench_args& a) {
  if (want <= probe) return want;
  const double per = probe_s / double(probe), budget = a.max_seconds / a.repeats;
  if (per * double(want) <= budget) return want;
  return std::max(probe, long(budget / std::max(per, 1e-12)));
}
}  // namespace

/// Realizations per second of unfolded inference (paper settings), each AO baseline,
/// ao-monotone, Monte Carlo end to end ("montecarlo": generation, the unfolded solve and the statistics as `jcas
/// montecarlo` runs them, with a note of its share of the solve's rate), the channel generator and a training step
/// (forward + backward, double), per device, batch size and
/// precision. Solves include W0/F0 (the CPU by LAPACK, the GPU in the solve kernel). Each row also carries the solver's
/// counted FLOP per realization (W0/F0 not counted), the GFLOP/s that makes, and on a GPU the percentage of the
/// device's peak in that precision. On a GPU, unfolded inference is timed five ways side by side: the default route
/// (for these line-of-sight channels a warp per realization with its whole state in shared memory, core/lanes.hpp), a
/// thread per realization with its scratch in local memory ("/loops") and in global memory ("/global"), the batch
/// phases by a warp per realization ("/team") and with cuBLAS GEMMs ("/gemm"); the training step two ways, a warp per
/// realization (the default) and a thread per realization ("/thread"). "train-step/b32"
/// times one step of the paper's batch of 32 (once per device, each way), and a note
/// projects the paper's whole training from it. Each row is printed as soon as it is
/// measured: first one timed run on a few realizations (the probe), then a.repeats runs
/// on as many of the batch's realizations as fit a.max_seconds at the probe's rate
/// (sized_batch), the row their median; so a run takes at most rows x max_seconds plus
/// the probes and one warm-up of half a second per device and batch, which the first
/// line states.
int run_bench(const bench_args& a) {
  std::vector<std::string> devs;
  std::stringstream ss(a.devices);
  for (std::string d; std::getline(ss, d, ',');) {
    if (d != "cpu" && d != "cuda") throw std::invalid_argument("devices = " + d + ": expected cpu and/or cuda");
    devs.push_back(d);
  }
  if (devs.empty()) throw std::invalid_argument("devices: none given (cpu, cuda or cpu,cuda)");
  for (long b : a.batches)
    if (b < 1) throw std::invalid_argument("batch = " + std::to_string(b) + ": must be >= 1");
  require_positive(a.max_seconds, "max-seconds");
  const printer out{a};
  out.header();
  // The devices that run: CUDA is skipped, with a note, where there is none.
  std::vector<std::string> run_on;
  cuda::device_peaks pk_cuda;
  for (const std::string& dev : devs) {
    if (dev == "cuda") {
      std::string why;
      if (cuda::device_count(&why) == 0) {
        out.note("cuda: skipped (" + why + ")");
        continue;
      }
      pk_cuda = cuda::peaks(0);
      out.note("cuda: " + pk_cuda.name + ", peak " + std::to_string(int(pk_cuda.fp32 / 1e9)) + " GFLOP/s f32, " +
               std::to_string(int(pk_cuda.fp64 / 1e9)) + " GFLOP/s f64, DRAM " +
               std::to_string(int(pk_cuda.dram / 1e9)) + " GB/s");
    }
    run_on.push_back(dev);
  }
  {  // the bound of the whole run, stated before it starts
    long rows = 0;
    for (const std::string& dev : run_on) {
      const bool gpu = dev != "cpu";
      const long per_batch = 2 * (a.quick ? 1 : 5) + (gpu ? 2 * 4 : 0) + 2 + (gpu ? 2 : 1) + (a.quick ? 0 : 1);
      rows += per_batch * long(a.batches.size()) + (gpu ? 2 : 1) + (gpu ? 3 : 1);  // + the training loop's
    }
    char line[240];
    std::snprintf(line, sizeof line,
                  "at most %ld rows, each at most %g s of timed runs after its probe (one run on at most 4096 "
                  "realizations on a GPU, 16 on the CPU): about %.0f s in all plus the probes",
                  rows, a.max_seconds, double(rows) * a.max_seconds);
    out.note(line);
  }
  std::map<std::string, double> flop;  // per workload, counted once on the first batch
  for (const std::string& dev : run_on) {
    const bool gpu = dev != "cpu";
    const cuda::device_peaks pk = gpu ? pk_cuda : cuda::device_peaks{};
    const executor ex{gpu ? 0 : -1, a.threads};
    const long probe = gpu ? 4096 : 16;
    for (long batch : a.batches) {
      const long n = gpu ? batch : std::min<long>(batch, a.quick ? 64 : 512);  // the CPU is timed on fewer
      const channel_set cs = cpu::generate_batch(scenario{}, 7, 0, n, a.threads);
      prefixes sets{cs, {}};
      std::map<std::string, double> solve_rate;  // the unfolded solve's realizations/s, per precision
      {  // warm-up, at least 0.5 s: device context, first touch of memory, thread pools (the
         // idle threads of OpenBLAS's pool spin for a while after the program starts)
        solve_options o;
        o.model.l_out = 2;
        o.threads = a.threads;
        const channel_set& w = sets.first(std::min(n, probe));
        const auto t0 = std::chrono::steady_clock::now();
        do solve_batch(ex, w, o);
        while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(500));
      }
      // Times run(count) -- count realizations of the batch -- as run_bench says and prints
      // the row: workload, precision, counted FLOP and least traffic per realization.
      // fixed: always `want` realizations (a latency row: the paper's batch).
      auto measure = [&](const std::string& workload, const std::string& prec, double fl, double bytes, long want,
                         const std::function<void(long)>& run, bool fixed = false) -> row {
        const long first = fixed ? want : std::min(want, probe);
        const double probe_s = seconds_of([&] { run(first); });
        const long count = sized_batch(want, first, probe_s, a);
        std::vector<double> secs;
        if (count == first) secs.push_back(probe_s);  // the probe is the first timed run
        const int repeats = count == first && probe_s * a.repeats > a.max_seconds ? 1 : a.repeats;
        while (int(secs.size()) < repeats) secs.push_back(seconds_of([&] { run(count); }));
        const auto [s, spread] = median_spread(secs);
        const row r{dev,   workload, prec,  count, double(count) / s, fl, prec == "f32" ? pk.fp32 : pk.fp64,
                    bytes, pk.dram,  spread};
        out.print(r, repeats);
        return r;
      };
      for (precision p : {precision::f32, precision::f64}) {
        const std::string ps = p == precision::f32 ? "f32" : "f64";
        for (algorithm alg : {algorithm::unfolded, algorithm::ao_backtracking, algorithm::heuristic,
                              algorithm::ao_fixed, algorithm::ao_monotone}) {
          if (a.quick && alg != algorithm::unfolded) continue;
          solve_options o;
          o.algo = alg;
          o.prec = p;
          o.threads = a.threads;
          // Each backend's own initialisation: LAPACK on the CPU, in the kernel on the GPU.
          o.f0 = gpu ? f0_method::lowrank : f0_method::lapack;
          const std::string wl = to_string(alg);
          if (!flop.count(wl)) flop[wl] = host::counted_flops(cs, o, 4);
          const double bytes = io_bytes(
              cs.dims,
              o.algo == algorithm::unfolded ? o.model.l_out * o.model.repeats_at(cs.dims.k) + 1 : o.ao.max_outer + 1,
              p == precision::f32 ? 4 : 8);
          const auto solve_on = [&](const solve_options& x) {
            return [&, x](long c) {
              gpu ? (void)cuda::solve_batch(sets.first(c), x, 0) : (void)cpu::solve_batch(sets.first(c), x);
            };
          };
          const row kernel = measure(wl, ps, flop[wl], bytes, n, solve_on(o));
          if (alg == algorithm::unfolded) solve_rate[ps] = kernel.per_second;
          if (gpu && alg == algorithm::unfolded) {
            solve_options loops = o;
            loops.products = products_route::loops;
            measure(wl + "/loops", ps, flop[wl], bytes, n, solve_on(loops));
            solve_options global = loops;
            global.scratch = scratch_placement::global;
            measure(wl + "/global", ps, flop[wl], bytes, n, solve_on(global));
            for (products_route r : {products_route::team, products_route::gemm}) {
              solve_options t = o;
              t.products = r;
              measure(wl + "/" + to_string(r), ps, flop[wl], bytes, n, solve_on(t));
            }
          }
        }
      }
      // End to end, as `jcas montecarlo` runs (issue 26): channels generated chunk by chunk,
      // the unfolded solve, the statistics; beside the solve alone above, and its share of it.
      for (precision p : {precision::f32, precision::f64}) {
        const std::string ps = p == precision::f32 ? "f32" : "f64";
        mc::settings s;
        s.device = ex.device;
        s.chunk = gpu ? 65536 : 4096;
        s.solve.prec = p;
        s.solve.threads = a.threads;
        const row r = measure("montecarlo", ps, flop["unfolded"], 0, n, [&](long c) {
          mc::settings sc = s;
          sc.count = c;
          mc::state st;
          mc::run(sc, st, nullptr, nullptr);
        });
        char line[200];
        std::snprintf(line, sizeof line,
                      "%s %s: end to end (generate + solve + statistics) at %.0f %% of the solve's rate", dev.c_str(),
                      ps.c_str(), 100 * r.per_second / solve_rate[ps]);
        out.note(line);
      }
      if (!a.quick)  // the channel generator (SPEC.md 7): the realizations' draws, downloaded to the host
        measure("generate", "f64", 0, 16.0 * double(cs.h_stride() + cs.g_stride()), n,
                [&](long c) { (void)generate_batch(ex, scenario{}, 7, 0, c); });
      std::vector<zd> w0, f0;
      cpu::init_batch(cs, system_params<double>{}, f0_method::lapack, w0, f0, a.threads);
      unfolded_model m;
      m.finalize();
      if (!flop.count("train-step")) flop["train-step"] = host::counted_train_flops(cs, m, system_params<double>{});
      // Training reads the channels and W0|F0 and writes one gradient per realization.
      const double train_bytes = io_bytes(cs.dims, 0, 8) + 8.0 * double(m.beta.size() + 2 * m.l_out);
      // The GPU's training kernels side by side: a warp per realization (the default: its
      // tape in shared memory), the same with every layer's tape in global memory, and a
      // thread per realization.
      const std::vector<std::string> train_routes =
          gpu ? std::vector<std::string>{"warp", "global", "thread"} : std::vector<std::string>{""};
      const auto route_name = [](const std::string& workload, const std::string& route) {
        return route == "warp" || route.empty() ? workload : workload + "/" + route;
      };
      const auto route_words = [](const std::string& route) {
        return route == "warp"     ? ", a warp per realization, its tape in shared memory"
               : route == "global" ? ", a warp per realization, its tapes in global memory"
               : route == "thread" ? ", a thread per realization"
                                   : "";
      };
      // One training step's loss and gradient over the first c realizations, by `route`.
      const auto train_step = [&](const std::string& route) {
        const cuda::train_kernel kernel = route == "thread"   ? cuda::train_kernel::thread
                                          : route == "global" ? cuda::train_kernel::warp_global
                                                              : cuda::train_kernel::warp;
        return [&, kernel](long c) {
          std::vector<long> which(static_cast<size_t>(c));
          for (long i = 0; i < c; ++i) which[i] = i;
          train::loss_and_gradient(ex, cs, w0, f0, which, m, system_params<double>{}, kernel);
        };
      };
      for (const std::string& route : train_routes)
        measure(route_name("train-step", route), "f64", flop["train-step"], train_bytes, n, train_step(route));
      if (batch == a.batches.front()) {
        // The paper's training is train::paper_steps steps of 32 realizations, one after the
        // other (each needs the last one's model): its time is a step's latency, which the
        // throughput above does not show when the device runs many realizations at once.
        const long nb = std::min<long>(n, train::paper_batch);
        for (const std::string& route : train_routes) {
          const row r = measure(route_name("train-step/b32", route), "f64", flop["train-step"], train_bytes, nb,
                                train_step(route), true);
          char line[320];
          std::snprintf(line, sizeof line,
                        "%s%s: the paper's training (%d steps of %ld realizations) at this step time: %.2f s",
                        dev.c_str(), route_words(route), train::paper_steps, r.batch,
                        train::paper_steps * double(r.batch) / r.per_second);
          out.note(line);
        }
        // The training loop as train::run runs it: one epoch of steps of 32 on the first
        // 512 realizations (16 steps, each on the model the last one left; fewer where
        // --max-seconds bounds the row), the start (W0, F0) included; on a GPU with its steps queued on the device (the
        // default: no host round trip between steps) and, side by side, a step at a time with Adam on the host.
        for (const bool on_device : gpu ? std::vector<bool>{true, false} : std::vector<bool>{false}) {
          const long nl = std::min<long>(n, 512);
          const row r = measure(gpu && !on_device ? "train-loop/host" : "train-loop", "f64", flop["train-step"],
                                train_bytes, nl, [&](long c) {
                                  train::settings ts;
                                  ts.epochs = 1;
                                  ts.batch = int(train::paper_batch);
                                  ts.device_steps = on_device;
                                  train::checkpoint ck;
                                  ck.model = m;
                                  train::run(sets.first(c), system_params<double>{}, ts, ck, {}, ex);
                                });
          char line[320];
          std::snprintf(line, sizeof line,
                        "%s: the paper's training (%d steps of %ld realizations) at this loop's rate%s: %.2f s",
                        dev.c_str(), train::paper_steps, train::paper_batch,
                        !gpu        ? ""
                        : on_device ? ", steps queued on the device"
                                    : ", a step at a time, Adam on the host",
                        train::paper_steps * double(train::paper_batch) / r.per_second);
          out.note(line);
        }
        if (gpu) {
          // Training at scale (issue 27): fresh epochs of nf realizations drawn on the device
          // where the steps run (their start computed there too), steps of 1024. Timed from
          // the end of the first epoch (the file's, its start on the host) to the end of the
          // third: two drawn epochs, realization-gradients a second, the median of the runs.
          const long nf = std::min<long>(n, 8192);
          std::vector<double> rates;
          for (int rep = 0; rep < a.repeats; ++rep) {
            train::settings ts;
            ts.epochs = 3;
            ts.batch = 1024;
            ts.fresh = true;
            train::checkpoint ck;
            ck.model = m;
            train::callbacks cb;
            cb.epoch_data = [&](int) -> channel_set { throw std::logic_error("bench: the epoch was not drawn"); };
            cb.epoch_draw = [&](int e) { return train::epoch_draw_spec{scenario{}, 7, long(e) * nf}; };
            std::chrono::steady_clock::time_point first_end;
            cb.on_epoch = [&](const train::checkpoint& cc) {
              const auto now = std::chrono::steady_clock::now();
              if (cc.epochs_done == 1) first_end = now;
              if (cc.epochs_done == 3)
                rates.push_back(2.0 * double(nf) / std::chrono::duration<double>(now - first_end).count());
            };
            train::run(sets.first(nf), system_params<double>{}, ts, ck, cb, ex);
          }
          std::sort(rates.begin(), rates.end());
          const double med = rates[rates.size() / 2];
          const row r{dev,     "train-scale",
                      "f64",   nf,
                      med,     flop["train-step"],
                      pk.fp64, train_bytes,
                      pk.dram, (rates.back() - rates.front()) / med};
          out.print(r, a.repeats);
        }
        if (gpu && pk.fp64_thread > 0) {
          // A step's floor at one thread's FP64 rate: a thread per realization does all of a
          // realization's step alone; a warp its counted critical path (a team of 32 counting
          // threads, host::counted_train_parts).
          const host::train_part_flops tp = host::counted_train_parts(cs, m, system_params<double>{});
          const double thread_step = flop["train-step"] / pk.fp64_thread, warp_step = tp.warp.path / pk.fp64_thread;
          char line[480];
          std::snprintf(line, sizeof line,
                        "%s: one thread retires at most %.2f GFLOP/s in f64, so a step needs at least %.1f ms with a "
                        "thread per realization (%.1f s for the paper's training) and %.2f ms with a warp (its "
                        "counted critical path, %.2f MFLOP: %.2f s), before the warp's %.0f barriers a step "
                        "(bench/RESULTS.md)",
                        dev.c_str(), pk.fp64_thread / 1e9, 1e3 * thread_step, train::paper_steps * thread_step,
                        1e3 * warp_step, tp.warp.path / 1e6, train::paper_steps * warp_step, tp.warp.barriers);
          out.note(line);
        }
      }
    }
  }
  return 0;
}

command add_bench(CLI::App& app) {
  auto a = std::make_shared<bench_args>();
  CLI::App* c = app.add_subcommand("bench", "throughput of the CPU and CUDA backends side by side");
  c->add_option("--batch", a->batches, "batch sizes (CUDA runs each; the CPU at most 512)")->check(at_least(1));
  c->add_option("--devices", a->devices, "comma-separated: cpu,cuda");
  c->add_option("--threads", a->threads, "CPU threads (0 = all)")->check(thread_count());
  c->add_option("--repeats", a->repeats, "timed runs per row (the median is reported)")->check(at_least(1));
  c->add_flag("--quick", a->quick, "unfolded and the training step only");
  c->add_option("--max-seconds", a->max_seconds,
                "the most seconds of timed runs a row may take: a row whose first timing projects more runs on "
                "fewer realizations (default 10)")
      ->check(non_negative());
  c->add_flag("--json", a->json, "one JSON object on stdout");
  return {c, [a] { return run_bench(*a); }};
}

}  // namespace jcas::cli
