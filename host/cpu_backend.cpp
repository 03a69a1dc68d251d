// CPU backend (SIMD island, host/cpu_isa.hpp: reached through host/cpu_front.cpp): the
// shared per-realization core in an OpenMP loop over realizations,
// with per-thread scratch, LAPACK for F0; for large arrays the unfolded solver's
// batched-GEMM route (core/batched.hpp) with OpenBLAS; the GPU's team route
// (core/team.hpp) with a team of one thread.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "batch_inputs.hpp"
#include "cpu_isa.hpp"
#include "f0_lapack.hpp"
#include "jcas/api.hpp"
#include "jcas/core/dispatch.hpp"
#include "jcas/core/init.hpp"
#include "jcas/core/lanes.hpp"
#include "jcas/core/team.hpp"
#include "realization.hpp"
#include "solver_config.hpp"

extern "C" void openblas_set_num_threads(int);  // also where cblas.h is not OpenBLAS's
extern "C" int openblas_get_num_threads();

namespace jcas::cpu {

using host::realization;

namespace {

int thread_count(int requested) { return requested > 0 ? requested : omp_get_max_threads(); }

/// One OpenBLAS thread while it lives (the parallelism is over realizations), the
/// caller's setting again after: the library leaves no global state changed.
struct one_blas_thread {
  int before = openblas_get_num_threads();
  one_blas_thread() { openblas_set_num_threads(1); }
  ~one_blas_thread() { openblas_set_num_threads(before); }
  one_blas_thread(const one_blas_thread&) = delete;
  one_blas_thread& operator=(const one_blas_thread&) = delete;
};

/// A failure that names its realization inside a group of realizations.
struct realization_failure : std::runtime_error {
  long b;
  realization_failure(long index, const std::string& what) : std::runtime_error(what), b(index) {}
};

/// The caller's progress report and stop poll for a parallel loop (either may be empty).
struct loop_hooks {
  const std::function<void(long, long)>& progress;
  const std::function<bool()>& stop;
};

/// Runs body(b0, n) for the realizations b0 .. b0 + n - 1 in groups of `lanes` (the last
/// group may be shorter), in parallel. The first failure (lowest realization index) is
/// rethrown after the loop with the realization named: a realization_failure names its
/// own, any other exception the group's first. The calling thread (OpenMP's thread 0)
/// reports progress and polls stop after each of its groups; once stop says so, the
/// groups not begun are skipped and jcas::stopped is thrown.
template <class Body>
void parallel_groups(long count, int lanes, int threads, const loop_hooks& hooks, Body body) {
  std::atomic<long> done{0};
  std::atomic<bool> halt{false};
  long failed_at = -1;
  std::string failure;
  const one_blas_thread blas;
  const long groups = (count + lanes - 1) / lanes;
#pragma omp parallel num_threads(thread_count(threads))
  {
#pragma omp for schedule(dynamic, lanes == 1 ? 4 : 1)
    for (long g = 0; g < groups; ++g) {
      if (halt.load(std::memory_order_relaxed)) continue;
      const long b0 = g * lanes, n = std::min<long>(lanes, count - b0);
      long at = -1;
      std::string what;
      try {
        body(b0, n);
      } catch (const realization_failure& e) {
        at = e.b;
        what = e.what();
      } catch (const std::exception& e) {
        at = b0;
        what = e.what();
      }
      if (at >= 0) {
#pragma omp critical(jcas_failure)
        if (failed_at < 0 || at < failed_at) {
          failed_at = at;
          failure = what;
        }
      }
      const long m = done += n;
      if (omp_get_thread_num() == 0) {
        if (hooks.progress) hooks.progress(m, count);
        if (hooks.stop && hooks.stop()) halt = true;
      }
    }
  }
  if (failed_at >= 0) throw std::runtime_error("realization " + std::to_string(failed_at) + ": " + failure);
  if (halt && done < count) throw stopped(done, count);  // a stop after the last group changes nothing
  if (hooks.progress) hooks.progress(count, count);
}

/// Runs body(b) for every realization in parallel (failures as parallel_groups).
template <class Body>
void parallel_realizations(long count, int threads, const loop_hooks& hooks, Body body) {
  parallel_groups(count, 1, threads, hooks, [&](long b, long) { body(b); });
}
const std::function<void(long, long)> progress_none;
const std::function<bool()> stop_none;
const loop_hooks no_hooks{progress_none, stop_none};

void check(status s, const char* what) {
  if (s != status::ok) throw std::runtime_error(std::string(what) + ": " + to_string(s));
}

/// The batched-GEMM route's executor (core/batched.hpp): each phase in an OpenMP loop
/// over the chunk, each GEMM of a batch by single-threaded OpenBLAS, in parallel over
/// realizations.
struct cpu_exec {
  int threads;
  template <class Fn>
  void for_each(long n, const Fn& fn) const {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long b = 0; b < n; ++b) fn(b);
  }
  template <class Fn>
  void for_each_item(long n, long items, const Fn& fn) const {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long b = 0; b < n; ++b) core::phase_items(fn, b, 0, items, 1);
  }
  template <class Fn, class Store>
  void sum_each(long n, long items, const Fn& fn, const Store& store) const {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long b = 0; b < n; ++b) {
      decltype(fn(b, 0L)) s = 0;
      for (long i = 0; i < items; ++i) s += fn(b, i);
      store(b, s);
    }
  }
  template <class T>
  void gemm(const core::gemm_batch<T>& g) const {
    const cplx<T> one(T(1)), beta(g.beta);
    const CBLAS_TRANSPOSE op = g.conj_a ? CblasConjTrans : CblasNoTrans;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long b = 0; b < g.count; ++b) {
      const cplx<T>*a = g.a + b * g.stride_a, *x = g.b + b * g.stride_b;
      cplx<T>* c = g.c + b * g.stride_c;
      if constexpr (std::is_same_v<T, double>)
        cblas_zgemm(CblasColMajor, op, CblasNoTrans, g.m, g.n, g.k, &one, a, g.lda, x, g.ldb, &beta, c, g.ldc);
      else
        cblas_cgemm(CblasColMajor, op, CblasNoTrans, g.m, g.n, g.k, &one, a, g.lda, x, g.ldb, &beta, c, g.ldc);
    }
  }
};

// ---------------------------------------------------------------------------------------
// SIMD lanes: the unfolded solver on N realizations at once, the core instantiated with
// T = pack<T, N> (jcas/pack.hpp), one realization per lane of a vector register.

/// Realizations per SIMD group in precision T: one vector register, AVX-512 (8 in f64,
/// 16 in f32) when the build targets it (JCAS_X86_LEVEL), else AVX2 (4 in f64, 8 in f32).
#if defined(__AVX512F__)
constexpr int simd_bytes = 64;
#else
constexpr int simd_bytes = 32;
#endif
template <class T>
constexpr int simd_lanes = simd_bytes / int(sizeof(T));

/// Algorithm 1's parameters and the system in every lane: the model's tables in
/// precision pack<T, N>, made as for a plain T (host/solver_config.hpp). p points into
/// tables, so this is built in place and never copied.
template <class T, int N>
struct packed_params {
  using P = pack<T, N>;
  host::model_tables<P> tables;
  core::unfolded_params<P> p;
  system_params<P> sys;
  packed_params(const unfolded_model& m, const system_params<double>& s)
      : tables(m), p(host::make_unfolded<P>(m, tables)), sys{P(s.pt), P(s.sigma_c2), P(s.sigma_s2), P(s.delta)} {}
  packed_params(const packed_params&) = delete;
};

/// Realization b's outputs into out: W | F (wf, precision T), its objective curve and
/// result. Shared by the one-at-a-time and the SIMD routes.
template <class T>
void store_realization(long b, const cplx<T>* wf, const T* curve, const core::solve_result<T>& r, solve_output& out) {
  host::store_solution<T>(wf, out.dims, b, out.w, out.f);
  for (int e = 0; e < out.curve_len; ++e) out.curve[size_t(b) * out.curve_len + e] = double(curve[e]);
  out.objective[b] = double(r.objective);
  out.min_sinr[b] = double(r.min_gamma_c);
  out.min_scnr[b] = double(r.min_gamma_s);
  out.outer[b] = r.outer;
  out.inner[b] = r.inner;
}

/// Algorithm 1 on up to N realizations at once: lane i < n solves realization idx[i]
/// (channels in rc[i], rank one; start from out's W0 | F0), lanes n .. N - 1 repeat lane
/// 0 and are discarded. Results go into out unless the core reports a failure in a lane
/// (the status is returned and nothing written). A lane's arithmetic does not depend on
/// the other lanes, so a realization gets the same result in any group, which keeps
/// results independent of batch and chunk boundaries.
template <class T, int N>
status solve_packed(const channel_view& cs, const realization<T>* const* rc, const long* idx, int n,
                    const packed_params<T, N>& pp, solve_output& out) {
  using P = pack<T, N>;
  const problem_dims d = cs.dims;
  const long nw = long(d.nt) * d.k, nf = long(d.nr) * d.m;
  thread_local std::vector<cplx<P>> h, u, v, wf;
  thread_local std::vector<cplx<T>> lane;
  thread_local std::vector<T> lane_curve;
  thread_local std::vector<P> curve, scratch;
  h.resize(size_t(nw));
  u.resize(size_t(d.nr) * d.j());
  v.resize(size_t(d.nt) * d.j());
  wf.resize(size_t(nw + nf));
  lane.resize(size_t(nw + nf));
  for (int i = 0; i < N; ++i) {
    const int s = i < n ? i : 0;
    put_lane(h.data(), rc[s]->h.data(), nw, i);
    put_lane(u.data(), rc[s]->u.data(), long(u.size()), i);
    put_lane(v.data(), rc[s]->v.data(), long(v.size()), i);
    host::load_start<T>(out.w, out.f, d, idx[s], lane.data());
    put_lane(wf.data(), lane.data(), nw + nf, i);
  }
  scratch.resize(size_t(core::solver_ws<P>::bytes(d) / long(sizeof(P)) + 1));
  arena ar{reinterpret_cast<char*>(scratch.data())};
  core::solver_ws<P> ws;
  ws.carve(ar, d);
  curve.resize(size_t(out.curve_len));
  const core::rank1_channels<P> ch{core::cview<P>(h.data(), d.nt, d.k), u.data(), v.data(), d.nr, d.nt, d.j()};
  core::mview<P> w(wf.data(), d.nt, d.k), f(wf.data() + nw, d.nr, d.m);
  core::solve_result<P> res;
  const status st = core::unfolded_forward<P>(ch, d, pp.sys, pp.p, w, f, curve.data(), ws, res);
  if (st != status::ok) return st;
  lane_curve.resize(curve.size());
  for (int i = 0; i < n; ++i) {
    get_lane(wf.data(), lane.data(), nw + nf, i);
    for (size_t e = 0; e < curve.size(); ++e) lane_curve[e] = curve[e].lane(i);
    const core::solve_result<T> r{res.objective.lane(i), res.min_gamma_c.lane(i), res.min_gamma_s.lane(i), res.outer,
                                  res.inner};
    store_realization<T>(idx[i], lane.data(), lane_curve.data(), r, out);
  }
  return status::ok;
}

/// One group of up to N = simd_lanes<T> realizations b0 .. b0 + n - 1 of the unfolded
/// solver: the rank-one ones in the SIMD lanes, the others (dense G) one at a time. When
/// the packed solve fails, each realization is solved alone in the lanes, so the failure
/// is reported for the realization that has it.
template <class T, int N, class Scalar>
void solve_group(const channel_view& cs, long b0, long n, const packed_params<T, N>& pp, solve_output& out,
                 const Scalar& solve_scalar, std::atomic<long>& packed) {
  thread_local realization<T> rc[N];
  const realization<T>* lanes[N];
  long idx[N];
  int m = 0;
  for (long b = b0; b < b0 + n; ++b) {
    rc[m].load(cs, b);
    if (rc[m].rank1) {
      lanes[m] = &rc[m];
      idx[m++] = b;
    } else {
      solve_scalar(rc[m], b);  // dense G: one at a time (rc[m] is reused by the next one)
    }
  }
  if (m == 0) return;
  if (solve_packed<T, N>(cs, lanes, idx, m, pp, out) != status::ok)
    for (int i = 0; i < m; ++i) {
      const status st = solve_packed<T, N>(cs, lanes + i, idx + i, 1, pp, out);
      if (st != status::ok) throw realization_failure(idx[i], "unfolded: " + to_string(st));
    }
  packed += m;
}

/// The unfolded solver in batch phases (core/batched.hpp), chunk by chunk: products =
/// gemm runs each phase over the chunk with cpu_exec; products = team runs every
/// realization's phases by core::unfolded_team with a team of one thread (the GPU's warp
/// route, core/team.hpp, on the CPU: its reference and its test there). out holds
/// W0 | F0 on entry (init_batch) and the results on return, as solve_typed's
/// per-realization route.
template <class T>
void solve_unfolded_chunks(const channel_view& cs, const solve_options& o, const core::solver_config<T>& cfg,
                           const system_params<T>& sys, solve_output& out) {
  const problem_dims d = cs.dims;
  core::chunk<T> c;
  c.d = d;
  c.sys = sys;
  c.p = cfg.unfolded;
  c.size_scratch();
  const cpu_exec ex{thread_count(o.threads)};
  const bool team = o.products == products_route::team, lanes = o.products == products_route::lanes;
  const long slot_bytes = lanes ? core::lanes_slot<T>::bytes(d) : team ? core::team_slot_bytes(c) : c.ws_bytes;
  // Chunks of at most 256 MB of scratch; enough realizations that every thread has work.
  const long chunk_n = std::clamp((256L << 20) / slot_bytes, long(ex.threads), 1024L);
  std::vector<cplx<double>> scratch(size_t(std::min(chunk_n, cs.count) * slot_bytes / 16 + 1));  // 16-byte aligned
  const int clen = out.curve_len;
  host::chunk_outputs<T> co;
  host::reserve_results(out, long(cfg.unfolded.l_out) * cfg.unfolded.l_in * cfg.unfolded.i_w);
  const host::solve_sink<T> sink{out, "unfolded", o.threads};
  const one_blas_thread blas;
  for (long b0 = 0; b0 < cs.count; b0 += chunk_n) {
    const long n = std::min(chunk_n, cs.count - b0);
    std::vector<long> idx(static_cast<size_t>(n));
    for (long i = 0; i < n; ++i) idx[i] = b0 + i;
    host::batch_inputs<T> in(cs, out.w, out.f, idx, o.threads);
    co.reset(n, clen, T(0));
    c.count = n;
    in.attach(c);
    co.attach(c);
    c.scratch = reinterpret_cast<char*>(scratch.data());
    if (lanes) {  // the GPU's warp route with one thread (core/lanes.hpp), from init_batch's start
      if (!in.rank1) throw std::invalid_argument("products = lanes: needs line-of-sight (rank-one) channels");
      ex.for_each(n, [&](long b) {
        arena ar{c.scratch + b * slot_bytes};
        core::lanes_slot<T> sl;
        sl.carve(ar, d);
        const core::lanes_io<T> io{c.h + b * long(d.nt) * d.k,
                                   c.u + b * long(d.nr) * d.j(),
                                   c.v + b * long(d.nt) * d.j(),
                                   c.wf + b * c.wf_len(),
                                   c.curve + b * clen,
                                   c.res + 4 * b,
                                   c.st + b,
                                   false};
        core::unfolded_lanes<T>(core::serial_team{}, d, sys, cfg.unfolded, io, sl);
      });
    } else if (team) {
      ex.for_each(n, [&](long b) { core::unfolded_team(core::serial_team{}, c, b, c.scratch + b * slot_bytes); });
    } else {
      core::unfolded_batched(ex, c);
    }
    sink.status(b0, n, co.st.data());
    sink.wf(b0, n, in.wf.data());
    sink.curve(b0, n, co.curve.data());
    sink.results(b0, n, co.res.data());
    if (o.progress) o.progress(b0 + n, cs.count);
    if (o.stop && b0 + n < cs.count && o.stop()) throw stopped(b0 + n, cs.count);
  }
}

template <class T>
solve_output solve_typed(const channel_view& cs, const solve_options& o) {
  const problem_dims d = cs.dims;
  solve_output out;
  out.algo = o.algo;
  out.dims = d;
  out.count = cs.count;
  const auto t0 = std::chrono::steady_clock::now();
  isa::init_batch(cs, o.sys, o.f0, out.w, out.f, o.threads, start_of(o));
  out.init_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const unfolded_model model = o.model.run_at(d);  // its layers repeated as it runs at this K
  const host::model_tables<T> tables(model);
  const core::solver_config<T> cfg = host::make_config<T>(o, model, tables);
  out.curve_len = cfg.curve_len();
  out.curve.assign(size_t(cs.count) * out.curve_len, 0.0);
  out.objective.assign(cs.count, 0);
  out.min_sinr.assign(cs.count, 0);
  out.min_scnr.assign(cs.count, 0);
  out.outer.assign(cs.count, 0);
  out.inner.assign(cs.count, 0);
  const system_params<T> sys{T(o.sys.pt), T(o.sys.sigma_c2), T(o.sys.sigma_s2), T(o.sys.delta)};
  if (o.algo == algorithm::unfolded && (batch_phases(o.products) || o.products == products_route::lanes)) {
    // (automatic: the loops below)
    solve_unfolded_chunks<T>(cs, o, cfg, sys, out);
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
  }
  const long ws_bytes = core::solver_ws<T>::bytes(d, cfg.smooth());
  const auto solve_scalar = [&](const realization<T>& rc, long b) {
    thread_local std::vector<char> scratch;
    thread_local std::vector<T> curve;
    scratch.resize(size_t(ws_bytes));
    curve.resize(size_t(out.curve_len));
    arena ar{scratch.data()};
    core::solver_ws<T> ws;
    ws.carve(ar, d, cfg.smooth());
    // W and F in T precision, from the double W0/F0.
    thread_local std::vector<cplx<T>> wf;  // W | F in precision T
    wf.resize(size_t(d.nt) * d.k + size_t(d.nr) * d.m);
    host::load_start<T>(out.w, out.f, d, b, wf.data());
    core::mview<T> w(wf.data(), d.nt, d.k), f(wf.data() + d.nt * d.k, d.nr, d.m);
    core::solve_result<T> res;
    status st = status::ok;
    rc.visit([&](const auto& ch) { st = core::solve_one<T>(ch, d, sys, cfg, w, f, curve.data(), ws, res); });
    check(st, to_string(o.algo).c_str());
    store_realization<T>(b, wf.data(), curve.data(), res, out);
  };
  constexpr int lanes = simd_lanes<T>;
  const bool simd = o.simd && o.algo == algorithm::unfolded;
  std::optional<packed_params<T, lanes>> pp;
  if (simd) pp.emplace(model, o.sys);
  const auto solve_named = [&](const realization<T>& rc, long b) {
    try {
      solve_scalar(rc, b);
    } catch (const std::exception& e) {
      throw realization_failure(b, e.what());
    }
  };
  std::atomic<long> packed{0};
  parallel_groups(cs.count, simd ? lanes : 1, o.threads, {o.progress, o.stop}, [&](long b0, long n) {
    if (simd) {
      solve_group<T, lanes>(cs, b0, n, *pp, out, solve_named, packed);
    } else {
      thread_local realization<T> rc;
      rc.load(cs, b0);
      solve_named(rc, b0);
    }
  });
  out.simd_count = packed;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace

namespace isa {

channel_set generate_batch(const scenario& sc, std::uint64_t seed, long first, long count, int threads, bool rank_one) {
  validate_draw(sc, first, count);
  channel_set cs = sized_channels(sc.dims, count, rank_one);
  const auto at = [](std::vector<zd>& v, long offset) { return reinterpret_cast<cplx<double>*>(v.data() + offset); };
  parallel_realizations(count, threads, no_hooks, [&](long b) {
    const std::uint64_t index = std::uint64_t(first + b);
    if (rank_one)
      core::generate_realization_rank1(sc, seed, index, at(cs.h, b * cs.h_stride()), at(cs.gu, b * cs.gu_stride()),
                                       at(cs.gv, b * cs.gv_stride()));
    else
      core::generate_realization(sc, seed, index, at(cs.h, b * cs.h_stride()), at(cs.g, b * cs.g_stride()));
  });
  return cs;
}

void init_batch(const channel_view& cs, const system_params<double>& sys, f0_method how, std::vector<zd>& w,
                std::vector<zd>& f, int threads, w0_method w0) {
  const problem_dims d = cs.dims;
  w.assign(size_t(cs.count * cs.h_stride()), zd(0));
  f.assign(size_t(cs.count) * d.nr * d.m, zd(0));
  const long ws_bytes = core::f0_ws<double>::bytes(d);
  parallel_realizations(cs.count, threads, no_hooks, [&](long b) {
    thread_local realization<double> rc;
    thread_local std::vector<char> scratch;
    scratch.resize(size_t(ws_bytes));
    rc.load(cs, b);
    core::mview<double> wv(reinterpret_cast<cplx<double>*>(w.data() + b * cs.h_stride()), d.nt, d.k);
    core::mview<double> fv(reinterpret_cast<cplx<double>*>(f.data() + b * long(d.nr) * d.m), d.nr, d.m);
    arena ar{scratch.data()};
    core::f0_ws<double> ws;
    ws.carve(ar, d);
    check(core::start_w0<double>(rc.hview(), d, sys, wv, w0 == w0_method::zf, ws.gram, ws.vec.col(0)),
          "W0 (zero-forcing)");
    if (how == f0_method::cusolver) return;  // F0 on the device (cuda_dispatch.cpp)
    rc.visit([&](const auto& ch) {
      if (how == f0_method::lowrank) {
        check(core::f0_lowrank<double>(ch, d, sys, wv, fv, ws), "F0");
      } else {
        core::f0_products<double>(ch, d, wv, ws);
        host::f0_lapack(d, sys, reinterpret_cast<const zd*>(ws.p), reinterpret_cast<zd*>(fv.data));
      }
    });
  });
}

solve_output solve_batch(const channel_view& cs, const solve_options& o) {
  validate(cs);
  validate(o, cs.dims);
  validate_range(cs, o.sys, o.prec);
  require_memory("a solve of " + std::to_string(cs.count) + " realizations", solve_output_bytes(cs.dims, cs.count, o));
  if (o.f0 == f0_method::cusolver)
    throw std::invalid_argument("f0 = cusolver: runs on the CUDA backend only (--device cuda); the CPU uses lapack");
  return o.prec == precision::f64 ? solve_typed<double>(cs, o) : solve_typed<float>(cs, o);
}

}  // namespace isa

}  // namespace jcas::cpu
