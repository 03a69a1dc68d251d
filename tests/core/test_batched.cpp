// core/batched.hpp (unfolded inference in batch phases with the products of D(W) as
// batched GEMMs) against the per-realization unfolded_forward, with an independent
// executor: plain triple-loop GEMMs and the realizations of every phase visited in
// reverse order, so that a phase reading another realization's state would show. The
// same phases run for one realization by a team (core/team.hpp, the GPU's warp route)
// of one thread and of several std::threads.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "../random_channels.hpp"
#include "batch_inputs.hpp"
#include "helpers.hpp"
#include "jcas/api.hpp"
#include "jcas/core/team.hpp"
#include "solver_config.hpp"
#include "thread_team.hpp"

namespace jcas::test {
namespace {

struct naive_exec {
  long phases = 0, gemms = 0;
  template <class Fn>
  void for_each(long n, const Fn& fn) {
    ++phases;
    for (long b = n - 1; b >= 0; --b) fn(b);
  }
  template <class Fn>
  void for_each_item(long n, long items, const Fn& fn) {
    ++phases;
    for (long b = n - 1; b >= 0; --b)
      for (long i = items - 1; i >= 0; --i) fn(b, i);
  }
  template <class Fn, class Store>
  void sum_each(long n, long items, const Fn& fn, const Store& store) {
    ++phases;
    for (long b = n - 1; b >= 0; --b) {
      decltype(fn(b, 0L)) s = 0;
      for (long i = items - 1; i >= 0; --i) s += fn(b, i);
      store(b, s);
    }
  }
  template <class T>
  void gemm(const core::gemm_batch<T>& g) {
    ++gemms;
    for (long b = g.count - 1; b >= 0; --b) {
      const cplx<T>*a = g.a + b * g.stride_a, *x = g.b + b * g.stride_b;
      cplx<T>* c = g.c + b * g.stride_c;
      for (index_t j = 0; j < g.n; ++j)
        for (index_t i = 0; i < g.m; ++i) {
          cplx<T> s{};
          for (index_t p = 0; p < g.k; ++p)
            s += (g.conj_a ? conj(a[p + long(i) * g.lda]) : a[i + long(p) * g.lda]) * x[p + long(j) * g.ldb];
          cplx<T>& y = c[i + long(j) * g.ldc];
          y = g.beta == T(0) ? s : y * g.beta + s;
        }
    }
  }
};

/// A model with random per-layer beta and mu (the richer model of issue 6).
unfolded_model random_model(int l_out, bool frozen, std::uint64_t seed) {
  unfolded_model m;
  m.l_out = l_out;
  m.frozen = frozen;
  m.per_layer_mu = true;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> beta(0.005, 0.05), mu(5, 60);
  for (int i = 0; i < l_out * m.l_in; ++i) m.beta.push_back(beta(rng));
  for (int l = 0; l < l_out; ++l) {
    m.mu_c_layer.push_back(mu(rng));
    m.mu_s_layer.push_back(mu(rng));
  }
  m.finalize();
  return m;
}

/// Runs core::unfolded_batched on every realization of cs from the CPU backend's start;
/// returns W | F, curves and results as the CPU backend would. team = 0: the naive
/// executor over the whole chunk; team = 1: each realization by core::unfolded_team with
/// serial_team; team > 1: by a team of that many std::threads.
template <class T>
struct chunk_run {
  host::batch_inputs<T> in;
  host::chunk_outputs<T> out;
  naive_exec ex;
  chunk_run(const channel_set& cs, const solve_options& o, bool init, const std::vector<zd>& w0,
            const std::vector<zd>& f0, int team = 0, bool zf = false)
      : in(cs, w0, f0, all(cs.count)) {
    const host::model_tables<T> tables(o.model);
    core::chunk<T> c;
    c.d = cs.dims;
    c.sys = {T(o.sys.pt), T(o.sys.sigma_c2), T(o.sys.sigma_s2), T(o.sys.delta)};
    c.p = host::make_unfolded<T>(o.model, tables);
    c.init = init;
    c.zf = zf;
    c.size_scratch();
    const long slot = team > 0 ? core::team_slot_bytes(c) : c.ws_bytes;
    std::vector<cplx<double>> scratch(size_t(cs.count * slot / 16 + 1));
    out.reset(cs.count, o.model.l_out + 1, T(-1));  // -1: what no phase wrote shows
    c.count = cs.count;
    in.attach(c);
    out.attach(c);
    c.scratch = reinterpret_cast<char*>(scratch.data());
    if (team == 0) {
      core::unfolded_batched(ex, c);
      return;
    }
    for (long b = cs.count - 1; b >= 0; --b) {
      char* at = c.scratch + b * slot;
      if (team == 1) {
        core::unfolded_team(core::serial_team{}, c, b, at);
        continue;
      }
      run_team(team, [&](const thread_team& tm) { core::unfolded_team(tm, c, b, at); });
    }
  }
  static std::vector<long> all(long n) {
    std::vector<long> v(static_cast<size_t>(n));
    for (long i = 0; i < n; ++i) v[i] = i;
    return v;
  }
};

/// Compares a chunk run with the CPU backend's per-realization solve (products = loops).
template <class T>
void expect_same(const channel_set& cs, const solve_options& o, const chunk_run<T>& got, const solve_output& ref,
                 double tol) {
  const problem_dims d = cs.dims;
  const long nw = long(d.nt) * d.k, nf = long(d.nr) * d.m;
  for (long b = 0; b < cs.count; ++b) {
    ASSERT_EQ(got.out.st[b], 0) << b;
    EXPECT_NEAR(got.out.res[4 * b], ref.objective[b], tol * std::abs(ref.objective[b])) << b;
    EXPECT_NEAR(got.out.res[4 * b + 1], ref.min_sinr[b], tol * std::abs(ref.min_sinr[b])) << b;
    EXPECT_NEAR(got.out.res[4 * b + 2], ref.min_scnr[b], tol * std::abs(ref.min_scnr[b])) << b;
    EXPECT_EQ(got.out.res[4 * b + 3], T(o.model.l_out));
    for (int l = 0; l <= o.model.l_out; ++l) {
      const double h = ref.curve[size_t(b) * ref.curve_len + l];
      EXPECT_NEAR(got.out.curve[size_t(b) * ref.curve_len + l], h, tol * std::abs(h)) << b << " layer " << l;
    }
    double dw = 0, nwn = 0;
    for (long e = 0; e < nw; ++e) {
      const cplx<T> z = got.in.wf[b * (nw + nf) + e];
      dw = std::max(dw, std::abs(zd(z.re, z.im) - ref.w[b * nw + e]));
      nwn = std::max(nwn, std::abs(ref.w[b * nw + e]));
    }
    EXPECT_LT(dw, tol * nwn) << b;
  }
}

// layer_prepare by its stages as the batch phases run them (core::phase_prepare: items of
// a stage visited in reverse order, realizations too) builds the same F', L, d and A_t^H
// as layer_prepare on one thread, in the merged rank-one form and in the full (dense)
// form, and leaves L^H alone (the batch phases' GEMMs read L).
TEST(Batched, StagedPrepareMatchesLayerPrepare) {
  for (bool rank1 : {true, false}) {
    SCOPED_TRACE(rank1 ? "rank one" : "dense");
    const channel_set cs = rank1 ? cpu::generate_batch(scenario{}, 31, 0, 3) : dense_random({10, 8, 3, 2, 2}, 3, 13);
    const problem_dims d = cs.dims;
    std::vector<zd> w0, f0;
    solve_options o;
    cpu::init_batch(cs, o.sys, f0_method::lapack, w0, f0);
    host::batch_inputs<double> in(cs, w0, f0, chunk_run<double>::all(cs.count));
    ASSERT_EQ(in.rank1, rank1);
    const std::vector<cplx<double>> start = in.wf;
    core::chunk<double> c;
    c.d = d;
    c.sys = {o.sys.pt, o.sys.sigma_c2, o.sys.sigma_s2, o.sys.delta};
    const double beta[1] = {0.01}, mu_c[1] = {7}, mu_s[1] = {4};
    c.p.l_out = 1;
    c.p.beta = beta;
    c.p.mu_c_layer = mu_c;
    c.p.mu_s_layer = mu_s;
    c.size_scratch();
    c.count = cs.count;
    in.attach(c);
    std::vector<int> st(size_t(cs.count), 0);
    c.st = st.data();
    std::vector<cplx<double>> scratch(size_t(cs.count * c.ws_bytes / 16 + 1));
    c.scratch = reinterpret_cast<char*>(scratch.data());
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (long b = 0; b < cs.count; ++b) {
      core::solver_ws<double> ws = c.ws(b);
      c.visit(b, [&](const auto& ch) { core::evaluate_metrics<double>(ch, c.w(b), c.f(b), d, c.sys, ws.mt); });
      for (long e = 0; e < long(ws.lw.sur.lh.rows) * ws.lw.sur.lh.cols; ++e) ws.lw.sur.lh.data[e] = {nan, nan};
    }
    for (int s = 1; s <= core::prepare_stages; ++s) {
      const core::phase_prepare<double> prep{c, 0, s};
      for (long b = cs.count - 1; b >= 0; --b) {
        if (s == core::prepare_lead_stage) {
          prep(b);
          continue;
        }
        for (long i = prep.items() - 1; i >= 0; --i) prep(b, i);
      }
    }
    for (long b = 0; b < cs.count; ++b) {
      ASSERT_EQ(st[size_t(b)], 0) << b;
      const core::solver_ws<double> got = c.ws(b);
      workspace<core::solver_ws<double>> ref(d);
      std::vector<cplx<double>> wf(start.begin() + b * c.wf_len(), start.begin() + (b + 1) * c.wf_len());
      const core::mview<double> w(wf.data(), d.nt, d.k), f(wf.data() + long(d.nt) * d.k, d.nr, d.m);
      c.visit(b, [&](const auto& ch) {
        core::evaluate_metrics<double>(ch, w, f, d, c.sys, ref.ws.mt);
        ASSERT_EQ(core::layer_prepare<double>(ch, d, c.sys, 7.0, 4.0, ref.ws.mt, f, ref.ws.lw), status::ok);
      });
      const core::surrogate<double>&sg = got.lw.sur, &sr = ref.ws.lw.sur;
      ASSERT_EQ(sg.l.cols, sr.l.cols);
      ASSERT_EQ(sg.l.cols, core::surrogate_cols(d, rank1));
      // To rounding: the same sums, but the compiler contracts the inlined copies differently,
      // and the clutter's merged weights (u_j^H f'_m, which the receiver nulls) lose digits
      // to cancellation.
      const double tol = 1e-12;
      const auto close = [&](cplx<double> a, cplx<double> r) {
        return std::abs(zd(a.re - r.re, a.im - r.im)) <= tol * std::abs(zd(r.re, r.im)) + 1e-300;
      };
      for (long e = 0; e < long(d.nr) * d.m; ++e) EXPECT_TRUE(close(c.f(b).data[e], f.data[e])) << "F' " << e;
      for (index_t r = 0; r < sr.l.cols; ++r) {
        EXPECT_NEAR(sg.d[r], sr.d[r], tol * std::abs(sr.d[r])) << "d " << r;
        for (index_t n = 0; n < d.nt; ++n) {
          EXPECT_TRUE(close(sg.l(n, r), sr.l(n, r))) << "L " << n << ", " << r;
          EXPECT_TRUE(std::isnan(sg.lh(r, n).re)) << "the stages filled L^H at " << r << ", " << n;
        }
      }
      for (index_t k = 0; k < d.k; ++k)
        for (index_t n = 0; n < d.nt; ++n) EXPECT_TRUE(close(sg.ah(n, k), sr.ah(n, k))) << "A_t^H " << n << ", " << k;
    }
  }
}

TEST(Batched, PhasesMatchThePerRealizationSolveRankOne) {
  // The whole chunk (team 0), then each realization by core::unfolded_team with teams of
  // 1, 3 (a size that divides no item count) and 32 (the warp: more threads than most
  // phases have items) std::threads; full and frozen gradient.
  const channel_set cs = cpu::generate_batch(scenario{}, 21, 0, 13);  // LoS: rank-one G
  for (bool frozen : {false, true}) {
    solve_options o;
    o.model = random_model(12, frozen, 4);
    o.products = products_route::loops;
    const solve_output ref = cpu::solve_batch(cs, o);
    std::vector<zd> w0, f0;
    cpu::init_batch(cs, o.sys, f0_method::lapack, w0, f0);
    for (int team : {0, 1, 3, 32}) {
      SCOPED_TRACE("team of " + std::to_string(team) + (frozen ? ", frozen" : ""));
      const chunk_run<double> got(cs, o, false, w0, f0, team);
      ASSERT_TRUE(got.in.rank1);
      expect_same(cs, o, got, ref, 1e-12);
      if (team > 0) continue;
      // Status and start phases, the P_j of each of the 13 metrics, then per layer:
      // prepare's 5 stages, metrics, 6 (or 1) x (weigh and ||D||), 6 x (step and
      // projection); GEMMs: E = H^H W, V^H W and F^H P for each of the 13 metrics, 2 per D(W).
      const long dw = frozen ? 1 : 6;
      EXPECT_EQ(got.ex.phases, 2 + 13 + 12 * (core::prepare_stages + 1 + 2 * dw + 2 * 6));
      EXPECT_EQ(got.ex.gemms, 13 * 3 + 12 * 2 * dw);
    }
  }
}

TEST(Batched, PhasesMatchThePerRealizationSolveDenseAndFloat) {
  // Nt != Nr, K = 6, J = 3, Gaussian G_j (not rank one: the dense channel path, G read
  // where it lies by a team); the whole chunk, then a team of std::threads each.
  const channel_set cs = dense_random({24, 20, 6, 2, 1}, 7, 9);
  solve_options o;
  o.model = random_model(8, false, 5);
  o.products = products_route::loops;
  std::vector<zd> w0, f0;
  cpu::init_batch(cs, o.sys, f0_method::lapack, w0, f0);
  const solve_output ref = cpu::solve_batch(cs, o);
  o.prec = precision::f32;
  const solve_output ref32 = cpu::solve_batch(cs, o);
  for (int team : {0, 5}) {
    SCOPED_TRACE("team of " + std::to_string(team));
    const chunk_run<double> got(cs, o, false, w0, f0, team);
    ASSERT_FALSE(got.in.rank1);
    expect_same(cs, o, got, ref, 1e-12);
    const chunk_run<float> got32(cs, o, false, w0, f0, team);
    expect_same(cs, o, got32, ref32, 2e-4);  // float: GEMM and loops sum alike, FMA contraction may differ
  }
}

TEST(Batched, StartInTheChunkMatchesTheHostsLowRankStart) {
  // init: W0 = Pi_S(H) or Pi_S(zero-forcing) and F0 by the core's closed forms in the
  // chunk (the CUDA route's --f0 lowrank; with a team, by its rank 0); the CPU backend's
  // lowrank start from the same W0 is the same start.
  const channel_set cs = cpu::generate_batch(scenario{}, 23, 0, 5);
  for (w0_method start : {w0_method::mrt, w0_method::zf}) {
    solve_options o;
    o.model = random_model(6, false, 6);
    o.f0 = f0_method::lowrank;
    o.w0 = start;
    o.products = products_route::loops;
    const solve_output ref = cpu::solve_batch(cs, o);
    const std::vector<zd> w0(size_t(cs.count * cs.h_stride())), f0(size_t(cs.count) * cs.dims.nr * cs.dims.m);
    for (int team : {0, 6}) {
      SCOPED_TRACE(testing::Message() << (start == w0_method::zf ? "zf" : "mrt") << " team " << team);
      // Zero starts: the chunk computes its own.
      const chunk_run<double> got(cs, o, true, w0, f0, team, start == w0_method::zf);
      expect_same(cs, o, got, ref, 1e-9);
    }
  }
}

TEST(Batched, CpuGemmRouteMatchesLoops) {
  // The CPU backend's --products gemm (OpenBLAS GEMMs, OpenMP phases) on a batch larger
  // than one thread's share and not a multiple of the thread count.
  const channel_set cs = cpu::generate_batch(scenario{}, 25, 0, 37);
  for (precision p : {precision::f64, precision::f32}) {
    solve_options o;
    o.model = random_model(10, false, 7);
    o.prec = p;
    o.threads = 2;
    o.products = products_route::loops;
    const solve_output ref = cpu::solve_batch(cs, o);
    for (products_route r : {products_route::gemm, products_route::team}) {
      o.products = r;
      const solve_output got = cpu::solve_batch(cs, o);
      const double tol = p == precision::f64 ? 1e-11 : 2e-4;
      for (long b = 0; b < cs.count; ++b) {
        EXPECT_NEAR(got.objective[b], ref.objective[b], tol * std::abs(ref.objective[b])) << to_string(r) << b;
        EXPECT_EQ(got.outer[b], ref.outer[b]);
        EXPECT_EQ(got.inner[b], ref.inner[b]);
      }
    }
  }
  solve_options o;
  o.algo = algorithm::ao_backtracking;
  for (products_route r : {products_route::gemm, products_route::team}) {
    o.products = r;
    EXPECT_THROW(cpu::solve_batch(cs, o), std::invalid_argument) << to_string(r);  // unfolded only
  }
}

/// batch_convert's ranges (what a GPU solve converts as it stages each chunk) against one
/// realization at a time taken out by host::realization (an independent loader), for a
/// set of factors, dense rank-one G and dense general G, in either precision, with a
/// shuffled subset and ranges of uneven length.
template <class T>
void expect_ranges_match(const channel_set& cs, bool rank1) {
  const problem_dims d = cs.dims;
  std::vector<zd> w0(size_t(cs.count * cs.h_stride())), f0(size_t(cs.count) * d.nr * d.m);
  for (size_t i = 0; i < w0.size(); ++i) w0[i] = zd(0.5 + double(i), -double(i));
  for (size_t i = 0; i < f0.size(); ++i) f0[i] = zd(-double(i), 0.25 * double(i));
  std::vector<long> idx;
  for (long b = cs.count - 1; b >= 0; b -= 2) idx.push_back(b);  // every other one, backwards
  for (long b = 0; b < cs.count; b += 3) idx.push_back(b);       // some twice
  const host::batch_convert<T> c(cs, w0, f0, idx, 2);
  ASSERT_EQ(c.rank1(), rank1);
  const long n = c.count(), wf_len = long(d.nt) * d.k + long(d.nr) * d.m;
  const auto same = [](const cplx<T>& a, const cplx<T>& b) { return a.re == b.re && a.im == b.im; };
  for (long i0 = 0, len = 1; i0 < n; i0 += len, len = len % 4 + 2) {
    const long m = std::min(len, n - i0);
    std::vector<cplx<T>> h(size_t(m * c.hs())), g, u, v, wf(size_t(m * wf_len));
    c.h(i0, m, h.data());
    c.wf(i0, m, wf.data());
    if (rank1) {
      u.resize(size_t(m * c.nu()));
      v.resize(size_t(m * c.nv()));
      c.u(i0, m, u.data());
      c.v(i0, m, v.data());
    } else {
      g.resize(size_t(m * c.gs()));
      c.g(i0, m, g.data());
    }
    for (long i = 0; i < m; ++i) {
      const long b = idx[size_t(i0 + i)];
      host::realization<T> r;
      r.load(cs, b);
      if (rank1) {  // (in a dense batch, some may be rank one alone)
        ASSERT_TRUE(r.rank1) << b;
      }
      for (long e = 0; e < c.hs(); ++e) ASSERT_TRUE(same(h[size_t(i * c.hs() + e)], r.h[size_t(e)])) << b;
      for (long e = 0; rank1 && e < c.nu(); ++e) ASSERT_TRUE(same(u[size_t(i * c.nu() + e)], r.u[size_t(e)])) << b;
      for (long e = 0; rank1 && e < c.nv(); ++e) ASSERT_TRUE(same(v[size_t(i * c.nv() + e)], r.v[size_t(e)])) << b;
      for (long e = 0; !rank1 && e < c.gs(); ++e) {
        const zd x = cs.g[size_t(b * c.gs() + e)];
        ASSERT_TRUE(same(g[size_t(i * c.gs() + e)], cplx<T>(T(x.real()), T(x.imag())))) << b;
      }
      const long nw = cs.h_stride(), nf = long(d.nr) * d.m;
      for (long e = 0; e < nw; ++e) {
        ASSERT_EQ(double(wf[size_t(i * wf_len + e)].re), double(T(w0[size_t(b * nw + e)].real())));
        ASSERT_EQ(double(wf[size_t(i * wf_len + e)].im), double(T(w0[size_t(b * nw + e)].imag())));
      }
      for (long e = 0; e < nf; ++e)
        ASSERT_EQ(double(wf[size_t(i * wf_len + nw + e)].im), double(T(f0[size_t(b * nf + e)].imag())));
    }
  }
}

TEST(Batched, ConversionsByRangeMatchOneRealizationAtATime) {
  const channel_set factors = cpu::generate_batch(scenario{}, 41, 0, 11, 1, true);
  const channel_set los = cpu::generate_batch(scenario{}, 41, 0, 11, 1, false);  // dense, rank one
  const channel_set general = dense_random({10, 8, 3, 2, 2}, 9, 17);
  expect_ranges_match<double>(factors, true);
  expect_ranges_match<float>(factors, true);
  expect_ranges_match<double>(los, true);
  expect_ranges_match<float>(los, true);
  expect_ranges_match<double>(general, false);
  expect_ranges_match<float>(general, false);
  // One G_j that is not rank one makes the whole batch dense.
  channel_set mixed = los;
  mixed.g[size_t(6 * mixed.g_stride() + 1)] += zd(0.5, 0);  // realization 6 is in the subset
  expect_ranges_match<double>(mixed, false);
}

/// solve_sink: ranges of a batch route's outputs land in their realizations' places of a
/// solve_output, and a failed status names its realization.
TEST(Batched, OutputsByRangeLandInTheirRealizations) {
  solve_output out;
  out.dims = {4, 3, 2, 1, 1};
  out.count = 7;
  out.curve_len = 3;
  host::reserve_results(out, 12);
  const long wf_len = 4 * 2 + 3 * 1;
  const host::solve_sink<float> sink{out, "unfolded failed on the GPU", 2};
  for (long b0 = 0, len = 3; b0 < out.count; b0 += len, len = 7 - len) {
    const long n = std::min(len, out.count - b0);
    std::vector<cplx<float>> wf(size_t(n * wf_len));
    std::vector<float> curve(size_t(n * 3)), res(size_t(n * 4));
    for (long i = 0; i < n; ++i) {
      const float b = float(b0 + i);
      for (long e = 0; e < wf_len; ++e) wf[size_t(i * wf_len + e)] = cplx<float>(b, float(e));
      for (long e = 0; e < 3; ++e) curve[size_t(i * 3 + e)] = 10 * b + float(e);
      res[size_t(4 * i)] = b + 0.5f, res[size_t(4 * i + 1)] = 2 * b, res[size_t(4 * i + 2)] = 3 * b;
      res[size_t(4 * i + 3)] = b + 1;
    }
    const std::vector<int> st(size_t(n), int(status::ok));
    sink.status(b0, n, st.data());
    sink.wf(b0, n, wf.data());
    sink.curve(b0, n, curve.data());
    sink.results(b0, n, res.data());
  }
  for (long b = 0; b < out.count; ++b) {
    for (long e = 0; e < 8; ++e) EXPECT_EQ(out.w[size_t(b * 8 + e)], zd(double(b), double(e))) << b;
    for (long e = 0; e < 3; ++e) EXPECT_EQ(out.f[size_t(b * 3 + e)], zd(double(b), double(8 + e))) << b;
    for (long e = 0; e < 3; ++e) EXPECT_EQ(out.curve[size_t(b * 3 + e)], 10.0 * double(b) + double(e));
    EXPECT_EQ(out.objective[size_t(b)], double(b) + 0.5);
    EXPECT_EQ(out.min_sinr[size_t(b)], 2.0 * double(b));
    EXPECT_EQ(out.min_scnr[size_t(b)], 3.0 * double(b));
    EXPECT_EQ(out.outer[size_t(b)], int(b) + 1);
    EXPECT_EQ(out.inner[size_t(b)], 12);
  }
  const std::vector<int> st{int(status::ok), int(status::non_finite)};
  try {
    sink.status(5, 2, st.data());
    FAIL() << "a failed status must throw";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "realization 6: unfolded failed on the GPU: " + to_string(status::non_finite));
  }
}

}  // namespace
}  // namespace jcas::test
