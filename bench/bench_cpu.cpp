// CPU backend benchmark: time per realization of every solver on the default scenario
// with the paper's settings (Nt = Nr = 16, K = 4, M = C = 2; unfolded L_out 150, L_in 3,
// I_w 2), all measured in one run so the ratios are fair. Prints medians over repeats.
// The slow solvers run on fewer realizations: the AO ones on count/4, the ascent
// yardstick (issue 6) on count/40.
//   jcas_bench [--count N] [--repeats R] [--threads T] [--users K] [--quick]
// --large instead: the unfolded solver's routes for the products of D(W) (per-
// realization loops, batched BLAS GEMMs, the team route with a team of one thread) side
// by side from Nt = 16, K = 4 up to Nt = 256, K = 64, time per realization without
// W0 / F0, alternated in each repeat; and from counted FLOP (host/flop_count.hpp) the
// share of the batch phases' arithmetic in per-realization phases, which the team route
// runs on one thread of its team, and how much of that share is layer_prepare's
// (its Cholesky factors); then the route run by a team of 32 counting threads (the
// warp): its critical path (each phase's busiest thread, summed), its speed-up over one
// thread by that path, and its barriers a layer.
//   jcas_bench --large [--repeats R] [--threads T] [--layers L]
// --train-parts instead: a training step's counted FLOP by part (forward, recompute and
// adjoint parts), and the step run by a team of 32 and of 128 counting threads: its
// critical path and barriers, and the floor they put on a step's time.
//   jcas_bench --train-parts
// --lanes instead: the lanes route (core/lanes.hpp, the GPU's team route for line-of-sight
// channels) at K = 2 ... 12 and two larger arrays: its counted FLOP on one thread and by
// teams of 32, 16 and 8 counting threads (critical path, directly and extrapolated from
// 2 and 3 layers, barriers a layer), the model of its warp instructions and shared-memory
// wavefronts (host/gpu_model.hpp), the rate that model predicts on an H200 and the team
// size it chooses; and on this CPU its results against the per-realization loops and its
// time with one thread.
//   jcas_bench --lanes [--layers L]
// --host-parts instead: the host's side of a GPU solve of host data (host/batch_inputs.hpp)
// in the paper's configuration, per realization: the channels converted to T and laid out
// in chunks of 16384 (batch_convert, into one reused buffer, as into the pinned staging),
// and a chunk's outputs (W | F, the curve, the results) converted back into a solve_output
// (solve_sink, its arrays allocated and first touched in the timing, as a solve's are);
// beside them the first touch of those arrays by one thread alone, as a solve made it
// before the sink prefaulted them range by range; then the same channels written to a
// `generate --rank-one` file (in --dir, default the system's temporary folder) and read
// back by io::read_channels (the vetting child included), the file in the page cache;
// and as `jcas solve --data` reads it, by ranges (io::channel_file), and writes its results
// file by ranges (io::results_file).
//   jcas_bench --host-parts [--count N] [--repeats R] [--threads T] [--dir D]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "batch_inputs.hpp"
#include "flop_count.hpp"
#include "gpu_model.hpp"
#include "io.hpp"
#include "jcas/api.hpp"
#include "training.hpp"

using namespace jcas;

namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
/// The products routes of the unfolded solver at growing array sizes (M = C = 2):
/// per-realization loops, batched GEMMs, and the GPU's team route with a team of one
/// thread (its CPU form: the reference, not a speed route there).
int bench_large(int repeats, int threads, int layers) {
  const products_route routes[] = {products_route::loops, products_route::gemm, products_route::team};
  constexpr int n_routes = 3;
  std::printf("unfolded f64, L_out %d, ms per realization without W0/F0 (median of %d, alternated)\n", layers, repeats);
  std::printf("%5s %4s %6s %12s %12s %12s %12s %12s %10s %9s %10s %10s %9s %9s\n", "Nt", "K", "count", "loops ms",
              "gemm ms", "team ms", "loops/gemm", "max |dh|/h", "MFLOP", "serial %", "prepare %", "warp path", "warp x",
              "syncs/l");
  for (const int nt : {16, 32, 64, 128, 256}) {
    scenario sc;
    sc.dims.nt = sc.dims.nr = nt;
    sc.dims.k = nt / 4;
    const long count = std::max(8L, 4096L * 16 / (long(nt) * nt / 16));
    const channel_set cs = cpu::generate_batch(sc, 2024, 0, count);
    solve_options o;
    o.threads = threads;
    o.model.l_out = layers;
    std::vector<double> t[n_routes];
    double dh = 0;
    for (int rep = 0; rep < repeats; ++rep) {
      std::vector<double> h[n_routes];
      for (int route = 0; route < n_routes; ++route) {
        o.products = routes[route];
        const solve_output out = cpu::solve_batch(cs, o);
        t[route].push_back(1e3 * (out.seconds - out.init_seconds) / double(count));
        h[route] = out.objective;
      }
      for (int route = 1; route < n_routes; ++route)
        for (long b = 0; b < count; ++b) dh = std::max(dh, std::abs(h[0][b] - h[route][b]) / std::abs(h[0][b]));
    }
    const double tl = median(t[0]), tg = median(t[1]), tt = median(t[2]);
    const host::phase_flops pf = host::counted_phase_flops(cs, o);
    std::printf("%5d %4d %6ld %12.3f %12.3f %12.3f %12.2f %12.1e %10.2f %9.1f %10.1f %10.3f %9.1f %9.1f\n", nt,
                sc.dims.k, count, tl, tg, tt, tl / tg, dh, pf.total() / 1e6, 100 * pf.serial_share(),
                100 * pf.prepare / pf.per_realization, pf.warp.path / 1e6, pf.team_speedup(),
                pf.warp.barriers / layers);
    std::fflush(stdout);
  }
  return 0;
}

/// Where a training step's arithmetic goes (host::counted_train_parts), and what that
/// means for one realization's step run by a team of threads: the paper's training is 480
/// steps one after the other, so its time is a step's latency.
int bench_train_parts() {
  const channel_set cs = cpu::generate_batch(scenario{}, 2024, 0, 2);
  unfolded_model m;
  // One thread's FP64 ceiling on an H200 (data sheet: 1.98 GHz, 64 FP64 lanes an SM in 4
  // partitions: a warp's FMA every 2 cycles); on a device jcas bench reads it off the device.
  const double thread_flops = 1.98e9;
  std::printf(
      "one training step, f64, paper configuration (L_out 150, L_in 3, I_w 2), counted MFLOP per realization\n");
  const std::string steps_col = std::to_string(train::paper_steps) + " steps floor s";
  bool first = true;
  double kept_total = 0;
  struct team_cfg {
    int lanes;
    bool recompute;  // one tape, each layer recomputed in the backward (the GPU's shared-memory route)
  };
  for (const team_cfg tc : {team_cfg{32, false}, team_cfg{128, false}, team_cfg{32, true}}) {
    const int lanes = tc.lanes;
    const host::train_part_flops tp = host::counted_train_parts(cs, m, system_params<double>{}, 2, lanes, tc.recompute);
    const double total = tp.total();
    if (first) {
      kept_total = total;
      std::printf("%-18s %10s %8s %16s\n", "part", "MFLOP", "share", "warp path MFLOP");
      for (int p = 0; p < host::train_part_flops::parts; ++p)
        std::printf("%-18s %10.2f %7.1f%% %16.3f\n", host::train_part_flops::names[p], tp.part[p] / 1e6,
                    100 * tp.part[p] / total, tp.warp.by_mark[size_t(p)] / 1e6);
      std::printf("%-18s %10.2f %8s %16.3f\n", "total", total / 1e6, "", tp.warp.path / 1e6);
      std::printf("%-24s %14s %12s %10s %14s %20s\n", "threads per realization", "path MFLOP", "vs one", "barriers",
                  "step floor ms", steps_col.c_str());
      std::printf("%-24d %14.2f %12.1f %10s %14.2f %20.2f\n", 1, total / 1e6, 1.0, "-", 1e3 * total / thread_flops,
                  train::paper_steps * total / thread_flops);
      first = false;
    }
    const double step = tp.warp.path / thread_flops;
    const std::string who = std::to_string(lanes) + (tc.recompute ? ", recomputed" : "");
    std::printf("%-24s %14.2f %12.1f %10.0f %14.2f %20.2f\n", who.c_str(), tp.warp.path / 1e6, total / tp.warp.path,
                tp.warp.barriers, 1e3 * step, train::paper_steps * step);
    if (tc.recompute)
      std::printf("  recomputed: %.2f MFLOP a step on one thread, %.0f %% more than with every tape kept\n",
                  total / 1e6, 100 * (total / kept_total - 1));
    else if (lanes == 32)
      std::printf(
          "  a warp's barriers (%.0f a layer) at 0.1 to 0.5 us each (an assumption: an L1 to L2 round trip or two "
          "after each) add %.2f to %.2f s to the paper's training\n",
          tp.warp.barriers / m.l_out, train::paper_steps * tp.warp.barriers * 0.1e-6,
          train::paper_steps * tp.warp.barriers * 0.5e-6);
  }
  std::printf(
      "(path: the step run by a team of that many counting threads, each phase's busiest thread summed; floors at "
      "an H200 thread's FP64 peak of %.2f GFLOP/s, every operation an FMA, memory free)\n",
      thread_flops / 1e9);
  return 0;
}
}  // namespace

/// The lanes route counted, modelled and checked (see the top).
int bench_lanes(int layers) {
  std::printf(
      "lanes route, unfolded L_out %d; FLOP per realization counted on one thread and by a team of g lanes "
      "(critical path; a warp holds 32 / g realizations); * = the team size choose_lanes_group takes\n",
      layers);
  std::printf("%4s %4s %3s %10s %3s %10s %10s %9s %9s %6s %12s %10s %12s %10s %10s %10s %12s\n", "Nt", "K", "J",
              "MFLOP", "g", "path MF", "extrap MF", "syncs/l", "slot KB", "blk/SM", "warp Minstr", "Mwavefr",
              "f32 pred/s", "f64 pred/s", "bound", "CPU ms", "max |dh|/h");
  struct cfg {
    int nt, k;
  };
  for (const cfg c : {cfg{16, 2}, cfg{16, 4}, cfg{16, 8}, cfg{16, 12}, cfg{32, 8}, cfg{64, 16}}) {
    scenario sc;
    sc.dims.nt = sc.dims.nr = c.nt;
    sc.dims.k = c.k;
    const channel_set cs = cpu::generate_batch(sc, 2024, 0, 16);
    solve_options o;
    o.model.l_out = layers;
    o.threads = 1;
    const int chosen32 = host::choose_lanes_group(cs, o, false).group,
              chosen64 = host::choose_lanes_group(cs, o, true).group;
    o.products = products_route::lanes;
    const solve_output lanes = cpu::solve_batch(cs, o);
    o.products = products_route::loops;
    o.simd = false;
    const solve_output loops = cpu::solve_batch(cs, o);
    double dh = 0;
    for (long b = 0; b < cs.count; ++b)
      dh = std::max(dh, std::abs(lanes.objective[b] - loops.objective[b]) / std::abs(loops.objective[b]));
    for (const int g : {32, 16, 8}) {
      const host::lanes_flops lf = host::counted_lanes(cs, o, g), lx = host::counted_lanes_extrapolated(cs, o, g);
      const host::lanes_model m32 = host::model_lanes(sc.dims, layers, lf, false),
                              m64 = host::model_lanes(sc.dims, layers, lf, true);
      std::printf("%4d %4d %3d %10.3f %3d %10.3f %10.3f %9.1f %9.2f %3d/%-2.0f %12.3f %10.3f %11.3g%s %9.3g%s %10s",
                  c.nt, c.k, sc.dims.j(), lf.serial / 1e6, g, lf.warp.path / 1e6, lx.warp.path / 1e6,
                  lf.warp.barriers / layers, m32.slot_bytes / 1e3, m32.block_warps, m32.warps_per_sm,
                  m32.instructions / 1e6, m32.wavefronts / 1e6, m32.per_second, g == chosen32 ? "*" : " ",
                  m64.per_second, g == chosen64 ? "*" : " ", m32.bound);
      if (g == 32)
        std::printf(" %10.3f %12.1e\n", 1e3 * (lanes.seconds - lanes.init_seconds) / double(cs.count), dh);
      else
        std::printf("\n");
    }
    std::fflush(stdout);
  }
  return 0;
}

/// Seconds of fn().
template <class Fn>
double timed(const Fn& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// The host's conversions of a GPU solve of `count` line-of-sight realizations (as a file
/// from generate --rank-one holds them), the start computed on the device: us a
/// realization in and out, median of `repeats`, in precision T.
template <class T>
void host_parts_row(const channel_set& cs, int repeats, int threads) {
  constexpr long chunk = 16384;
  const problem_dims d = cs.dims;
  const long wf_len = long(d.nt) * d.k + long(d.nr) * d.m, clen = 151;
  std::vector<long> all(static_cast<size_t>(cs.count));
  for (long i = 0; i < cs.count; ++i) all[size_t(i)] = i;
  const std::vector<zd> none;
  std::vector<double> tin, tout;
  for (int rep = 0; rep < repeats; ++rep) {
    std::vector<cplx<T>> h(size_t(chunk * cs.h_stride())), u(size_t(chunk * cs.gu_stride())),
        v(size_t(chunk * cs.gv_stride())), wf(size_t(chunk * wf_len), cplx<T>(T(0.5), T(-0.5)));
    std::vector<T> curve(size_t(chunk * clen), T(1.25)), res(size_t(chunk * 4), T(2));
    std::vector<int> st(size_t(chunk), 0);
    tin.push_back(timed([&] {
      const host::batch_convert<T> c(cs, none, none, all, threads);
      for (long b0 = 0; b0 < cs.count; b0 += chunk) {
        const long n = std::min(chunk, cs.count - b0);
        c.h(b0, n, h.data());
        c.u(b0, n, u.data());
        c.v(b0, n, v.data());
      }
    }));
    solve_output out;
    tout.push_back(timed([&] {
      out.dims = d;
      out.count = cs.count;
      out.curve_len = int(clen);
      host::reserve_results(out, 900);
      const host::solve_sink<T> sink{out, "unfolded", threads};
      for (long b0 = 0; b0 < cs.count; b0 += chunk) {
        const long n = std::min(chunk, cs.count - b0);
        sink.status(b0, n, st.data());
        sink.wf(b0, n, wf.data());
        sink.curve(b0, n, curve.data());
        sink.results(b0, n, res.data());
      }
    }));
  }
  // What a solve paid before the sink prefaulted its outputs in ranges: W, F and the curves
  // of the whole batch value-initialised by one thread, page faults included.
  std::vector<double> touch;
  for (int rep = 0; rep < repeats; ++rep) {
    solve_output o;
    touch.push_back(timed([&] {
      o.w.resize(size_t(cs.count * cs.h_stride()));
      o.f.resize(size_t(cs.count) * d.nr * d.m);
      o.curve.resize(size_t(cs.count * clen));
    }));
  }
  const double in = 1e6 * median(tin) / double(cs.count), out = 1e6 * median(tout) / double(cs.count);
  std::printf("%-4s %9ld %8d %12.4f %12.4f %12.4f %12.4f\n", sizeof(T) == 4 ? "f32" : "f64", cs.count,
              threads > 0 ? threads : omp_get_max_threads(), in, out, in + out, 1e6 * median(touch) / double(cs.count));
  std::fflush(stdout);
}

/// io::read_channels of cs written as a rank-one file in dir: us a realization, median of
/// `repeats` (a first read warms the page cache).
void file_read_row(const channel_set& cs, int repeats, int threads, const std::string& dir) {
  const std::string path = dir + "/jcas_bench_read." + std::to_string(::getpid()) + ".h5";
  scenario sc;
  io::write_channels(path, cs, &sc, 2024, 0, io::g_form::rank_one);
  const double mb = double(std::filesystem::file_size(path)) / 1e6;
  std::vector<double> t;
  for (int rep = 0; rep <= repeats; ++rep) {
    const double s = timed([&] { (void)io::read_channels(path, {}); });
    if (rep > 0) t.push_back(s);
  }
  std::printf("file read (io::read_channels, %.0f MB, page cache): %.4f us/real, %.0f ms (median of %d)\n", mb,
              1e6 * median(t) / double(cs.count), 1e3 * median(t), repeats);
  // By range, as `jcas solve` reads it (host/solve_file.hpp): the file opened (and vetted)
  // once, then ranges of `range` into one reused set, by one thread (a CPU solve's reader)
  // and by `threads` (a GPU solve's), the two alternating.
  constexpr long range = 16384;
  const int all = threads > 0 ? threads : omp_get_max_threads();
  std::vector<double> open_t, read_t[2];
  for (int rep = 0; rep <= repeats; ++rep)
    for (int k = 0; k < 2; ++k) {
      std::optional<io::channel_file> f;
      const double so = timed([&] { f.emplace(path); });
      channel_set part;
      const double sr = timed([&] {
        for (long b0 = 0; b0 < f->count(); b0 += range)
          f->read(b0, std::min(range, f->count() - b0), part, k == 0 ? 1 : all);
      });
      if (rep > 0) open_t.push_back(so), read_t[k].push_back(sr);
    }
  std::filesystem::remove(path);
  for (int k = 0; k < 2; ++k)
    std::printf(
        "file read by ranges of %ld (io::channel_file, %d thread%s): open %.0f ms, then %.4f us/real, %.0f ms "
        "(median of %d)\n",
        range, k == 0 ? 1 : all, k == 0 && all > 1 ? "" : "s", 1e3 * median(open_t),
        1e6 * median(read_t[k]) / double(cs.count), 1e3 * median(read_t[k]), repeats);
  // A results file written by the same ranges (io::results_file), as `jcas solve --out`
  // writes it: W, F, a 151-point curve and the per-realization numbers, then the commit.
  const problem_dims& d = cs.dims;
  solve_output part;
  part.algo = algorithm::unfolded;
  part.dims = d;
  part.count = range;
  part.curve_len = 151;
  part.w.assign(size_t(range * cs.h_stride()), zd(0.5, -0.5));
  part.f.assign(size_t(range) * d.nr * d.m, zd(0.25, 0.75));
  part.curve.assign(size_t(range * part.curve_len), 1.25);
  part.objective.assign(size_t(range), 2);
  part.min_sinr.assign(size_t(range), 3);
  part.min_scnr.assign(size_t(range), 4);
  part.outer.assign(size_t(range), 150);
  part.inner.assign(size_t(range), 450);
  const std::string out_path = dir + "/jcas_bench_write." + std::to_string(::getpid()) + ".h5";
  const long whole = cs.count / range * range;
  std::vector<double> write_t[2];
  for (int rep = 0; rep <= repeats; ++rep)
    for (int k = 0; k < 2; ++k) {
      const double sw = timed([&] {
        io::results_file r(out_path, whole, solve_options{});
        for (long b0 = 0; b0 < whole; b0 += range) r.write(b0, part, k == 0 ? 1 : all);
        r.commit(summary{});
      });
      std::filesystem::remove(out_path);
      if (rep > 0) write_t[k].push_back(sw);
    }
  for (int k = 0; k < 2; ++k)
    std::printf(
        "results written by ranges of %ld (io::results_file, %d thread%s, page cache): %.4f us/real, %.0f ms "
        "(median of %d)\n",
        range, k == 0 ? 1 : all, k == 0 && all > 1 ? "" : "s", 1e6 * median(write_t[k]) / double(whole),
        1e3 * median(write_t[k]), repeats);
  std::fflush(stdout);
}

int bench_host_parts(long count, int repeats, int threads, const std::string& dir) {
  const channel_set cs = cpu::generate_batch(scenario{}, 2024, 0, count, threads, true);
  std::printf("host side of a GPU solve of host data, paper configuration, rank-one channels, chunks of 16384\n");
  std::printf("%-4s %9s %8s %12s %12s %12s %12s\n", "prec", "count", "threads", "in us/real", "out us/real",
              "sum us/real", "1-thr touch");
  host_parts_row<float>(cs, repeats, threads);
  host_parts_row<double>(cs, repeats, threads);
  file_read_row(cs, repeats, threads, dir);
  return 0;
}

int main(int argc, char** argv) {
  long count = 400;
  int repeats = 5, threads = 0, users = 4;
  bool quick = false, large = false, train_parts = false, lanes = false, host_parts = false;
  int layers = 10;
  std::string dir = std::filesystem::temp_directory_path().string();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--count" && i + 1 < argc)
      count = std::stol(argv[++i]);
    else if (a == "--repeats" && i + 1 < argc)
      repeats = std::stoi(argv[++i]);
    else if (a == "--threads" && i + 1 < argc)
      threads = std::stoi(argv[++i]);
    else if (a == "--users" && i + 1 < argc)
      users = std::stoi(argv[++i]);
    else if (a == "--quick")
      quick = true;
    else if (a == "--large")
      large = true;
    else if (a == "--lanes")
      lanes = true;
    else if (a == "--train-parts")
      train_parts = true;
    else if (a == "--host-parts")
      host_parts = true;
    else if (a == "--layers" && i + 1 < argc)
      layers = std::stoi(argv[++i]);
    else if (a == "--dir" && i + 1 < argc)
      dir = argv[++i];
    else {
      std::fprintf(stderr, "jcas_bench: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (large) return bench_large(repeats, threads, layers);
  if (lanes) return bench_lanes(layers);
  if (train_parts) return bench_train_parts();
  if (host_parts) return bench_host_parts(count, repeats, threads, dir);
  scenario sc;
  sc.dims.k = users;
  const channel_set cs = cpu::generate_batch(sc, 2024, 0, count);
  struct row {
    std::string name;
    solve_options o;
    long n;
  };
  std::vector<row> rows;
  auto add = [&](const std::string& name, algorithm a, bool frozen, precision p, long n, bool simd = true) {
    solve_options o;
    o.algo = a;
    o.model.frozen = frozen;
    o.prec = p;
    o.simd = simd;
    o.threads = threads;
    rows.push_back({name, o, n});
  };
  add("unfolded f64", algorithm::unfolded, false, precision::f64, count);
  add("unfolded f64 frozen", algorithm::unfolded, true, precision::f64, count);
  add("unfolded f32", algorithm::unfolded, false, precision::f32, count);
  add("unfolded f32 frozen", algorithm::unfolded, true, precision::f32, count);
  add("unfolded f64 no-simd", algorithm::unfolded, false, precision::f64, count, false);
  add("unfolded f32 no-simd", algorithm::unfolded, false, precision::f32, count, false);
  if (!quick) {
    add("ao-fixed f64", algorithm::ao_fixed, false, precision::f64, count / 4);
    add("ao-backtracking f64", algorithm::ao_backtracking, false, precision::f64, count / 4);
    add("heuristic f64", algorithm::heuristic, false, precision::f64, count / 4);
    add("ao-monotone f64", algorithm::ao_monotone, false, precision::f64, count / 4);
    add("ascent f64", algorithm::ascent, false, precision::f64, std::max(4L, count / 40));
  }
  std::printf("%-22s %8s %14s %14s %12s\n", "solver", "count", "median ms/real", "min ms/real", "mean h");
  for (const row& r : rows) {
    const channel_set sub = copy_of(channel_view(cs).slice(0, r.n));
    std::vector<double> t;
    double h = 0;
    for (int rep = 0; rep < repeats; ++rep) {
      const solve_output out = cpu::solve_batch(sub, r.o);
      t.push_back(1e3 * out.seconds / double(r.n));
      h = summarize(out).mean_objective;
    }
    std::printf("%-22s %8ld %14.4f %14.4f %12.4f\n", r.name.c_str(), r.n, median(t),
                *std::min_element(t.begin(), t.end()), h);
    std::fflush(stdout);
  }
  return 0;
}
