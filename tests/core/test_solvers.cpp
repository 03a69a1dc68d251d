// AO baselines, initialisation and the CPU batch plumbing.
#include <gtest/gtest.h>

#include "helpers.hpp"
#include "jcas/cuda_backend.hpp"

namespace jcas::test {
namespace {

std::vector<ref::problem> problems(int n, bool rank1, int seed = 11) {
  std::mt19937_64 rng(seed);
  std::vector<ref::problem> ps;
  for (int i = 0; i < n; ++i) ps.push_back(ref::random_problem(rng, 8, 6, 3, 2, 2, rank1));
  return ps;
}

/// Sets up the W-subproblem of the first layer of problem p at (W0, F0).
struct first_layer {
  loaded L;
  cmat w, f;
  workspace<core::solver_ws<double>> ws;
  explicit first_layer(const ref::problem& p) : L(p), w(ref::project(p.h, p.pt)), f(Mat::Ones(p.nr(), p.m)), ws(L.d) {
    L.rc.visit([&](const auto& ch) {
      core::evaluate_metrics<double>(ch, w.view(), f.view(), L.d, L.sys, ws.ws.mt);
      EXPECT_EQ(core::layer_prepare<double>(ch, L.d, L.sys, 10.0, 10.0, ws.ws.mt, f.view(), ws.ws.lw), status::ok);
    });
  }
  double g() { return core::surrogate_eval<double>(ws.ws.lw.sur, w.view(), core::mview<double>()); }
};

// The CUDA backend's default route at the paper's size (Nt = Nr = 16, K = 4, M = C = 2) is
// a thread per realization with its scratch in a local-memory slot: a workspace that grew
// past it would move every solve to global memory (or the unfolded solver to the batch
// phases) without a word. Checked here, where it runs without a GPU: the solvers' scratch
// with the in-kernel start, in double and in float.
TEST(Scratch, PaperConfigurationFitsTheGpuLocalSlot) {
  const problem_dims d;  // the paper's
  const long f64 = core::solver_ws<double>::bytes(d) + core::f0_ws<double>::bytes(d),
             f32 = core::solver_ws<float>::bytes(d) + core::f0_ws<float>::bytes(d);
  EXPECT_LE(f64, cuda::local_slot_bytes);
  EXPECT_LE(f32, cuda::local_slot_bytes / 2);
}

TEST(Backtracking, NeverRaisesTheSurrogate) {
  for (const auto& p : problems(4, false)) {
    first_layer fl(p);
    core::pgd_backtracking<double> one;
    one.max_steps = 1;
    double g = fl.g();
    for (int s = 0; s < 60; ++s) {
      one.solve(fl.ws.ws.lw.sur, fl.w.view(), fl.ws.ws, p.pt);
      const double g_new = fl.g();
      EXPECT_LE(g_new, g + 1e-12 * std::abs(g)) << "step " << s;
      g = g_new;
    }
  }
}

TEST(AoSolvers, ImproveOnTheStartAndStayFeasible) {
  const auto ps = problems(3, true);
  const channel_set cs = ref::to_channels(ps);
  for (algorithm a : {algorithm::ao_fixed, algorithm::ao_backtracking, algorithm::heuristic}) {
    solve_options o;
    o.algo = a;
    o.sys = {ps[0].pt, ps[0].sc2, ps[0].ss2, ps[0].delta};
    const solve_output out = cpu::solve_batch(cs, o);
    for (long b = 0; b < cs.count; ++b) {
      const double* c = out.curve.data() + b * out.curve_len;
      EXPECT_GT(out.objective[b], c[0]) << to_string(a);
      EXPECT_LE(out.outer[b], o.ao.max_outer);
      EXPECT_DOUBLE_EQ(c[out.curve_len - 1], out.objective[b]);
      cmat w(cs.dims.nt, cs.dims.k);
      for (long i = 0; i < cs.h_stride(); ++i)
        w.v[i] = {out.w[b * cs.h_stride() + i].real(), out.w[b * cs.h_stride() + i].imag()};
      EXPECT_LE(core::power_violation<double>(w.view(), o.sys.pt), 1e-12);
      // The reported objective is the true h at the returned (W, F).
      Mat f(cs.dims.nr, cs.dims.m);
      for (long i = 0; i < f.size(); ++i) f.data()[i] = out.f[b * f.size() + i];
      EXPECT_NEAR(ref::evaluate(ps[b], w.eigen(), f).h, out.objective[b], 1e-10 * std::abs(out.objective[b]));
    }
  }
}

TEST(F0, LapackLowrankAndRank1ClosedFormAgree) {
  for (bool rank1 : {true, false}) {
    const auto ps = problems(4, rank1);
    const channel_set cs = ref::to_channels(ps);
    const system_params<double> sys{ps[0].pt, ps[0].sc2, ps[0].ss2, ps[0].delta};
    std::vector<zd> w1, f1, w2, f2;
    cpu::init_batch(cs, sys, f0_method::lapack, w1, f1);
    cpu::init_batch(cs, sys, f0_method::lowrank, w2, f2);
    ASSERT_EQ(w1, w2);
    for (long b = 0; b < cs.count; ++b) {
      loaded L(ps[b]);
      ASSERT_EQ(L.rc.rank1, rank1);
      const Mat w0 = ref::project(ps[b].h, ps[b].pt);
      for (int m = 0; m < cs.dims.m; ++m) {
        ref::Vec a(cs.dims.nr), c(cs.dims.nr);
        for (int r = 0; r < cs.dims.nr; ++r) {
          a(r) = f1[(b * cs.dims.m + m) * cs.dims.nr + r];
          c(r) = f2[(b * cs.dims.m + m) * cs.dims.nr + r];
        }
        EXPECT_NEAR(std::abs(a.dot(c)), 1.0, 1e-10) << "same direction up to phase";
      }
      if (rank1) {
        cmat wv(w0), fv(cs.dims.nr, cs.dims.m);
        workspace<core::f0_ws<double>> ws(L.d);
        const core::rank1_channels<double> ch{L.rc.hview(), L.rc.u.data(), L.rc.v.data(), L.d.nr, L.d.nt, L.d.j()};
        ASSERT_EQ(core::f0_rank1<double>(ch, L.d, L.sys, wv.view(), fv.view(), ws.ws), status::ok);
        for (int m = 0; m < cs.dims.m; ++m) {
          ref::Vec a(cs.dims.nr);
          for (int r = 0; r < cs.dims.nr; ++r) a(r) = f1[(b * cs.dims.m + m) * cs.dims.nr + r];
          EXPECT_NEAR(std::abs(a.dot(fv.eigen().col(m))), 1.0, 1e-10);
        }
      }
    }
  }
}

// W0 = zero-forcing: Pi_S(H (H^H H + K sigma_c^2 / Pt I)^{-1}) against Eigen, and F0
// computed at that W0 (the same combiner routine as for MRT).
TEST(Init, ZeroForcingStart) {
  for (bool rank1 : {true, false}) {
    const auto ps = problems(3, rank1);
    const channel_set cs = ref::to_channels(ps);
    const system_params<double> sys{ps[0].pt, ps[0].sc2, ps[0].ss2, ps[0].delta};
    std::vector<zd> w, f, wm, fm;
    cpu::init_batch(cs, sys, f0_method::lapack, w, f, 0, w0_method::zf);
    cpu::init_batch(cs, sys, f0_method::lapack, wm, fm, 0, w0_method::mrt);
    for (long b = 0; b < cs.count; ++b) {
      const ref::problem& p = ps[b];
      const Mat g = p.h.adjoint() * p.h + (double(p.k()) * p.sc2 / p.pt) * Mat::Identity(p.k(), p.k());
      const Mat expect = ref::project(p.h * g.inverse(), p.pt);
      Mat got(p.nt(), p.k());
      for (long i = 0; i < got.size(); ++i) got.data()[i] = w[b * got.size() + i];
      EXPECT_LT(rel(got, expect), 1e-12);
      // The zero-forcing start serves the weakest user better than MRT here.
      Mat f0(p.nr(), p.m), wmrt(p.nt(), p.k());
      for (long i = 0; i < f0.size(); ++i) f0.data()[i] = f[b * f0.size() + i];
      for (long i = 0; i < wmrt.size(); ++i) wmrt.data()[i] = wm[b * wmrt.size() + i];
      EXPECT_GT(ref::evaluate(p, got, f0).gc.minCoeff(), ref::evaluate(p, wmrt, f0).gc.minCoeff());
    }
  }
}

// The pencil (A_m, B_m) of SPEC.md 3 formed by core::f0_pencil (shared by the LAPACK and
// cuSOLVER routes) against Eigen, and the LAPACK F0 against Eigen's own generalised
// Hermitian eigen-solver (principal vector, up to phase).
TEST(F0, PencilAndPrincipalVectorMatchEigen) {
  for (bool rank1 : {false, true}) {
    const auto ps = problems(3, rank1, 5);
    const channel_set cs = ref::to_channels(ps);
    const system_params<double> sys{ps[0].pt, ps[0].sc2, ps[0].ss2, ps[0].delta};
    std::vector<zd> w, f;
    cpu::init_batch(cs, sys, f0_method::lapack, w, f);
    for (long b = 0; b < cs.count; ++b) {
      const ref::problem& p = ps[b];
      loaded L(p);
      const Mat w0 = ref::project(p.h, p.pt);
      workspace<core::f0_ws<double>> ws(L.d);
      cmat wv(w0), a(p.nr(), p.nr()), bm(p.nr(), p.nr());
      L.rc.visit([&](const auto& ch) { core::f0_products<double>(ch, L.d, wv.view(), ws.ws); });
      for (int m = 0; m < p.m; ++m) {
        Mat ea = p.g[m] * w0 * w0.adjoint() * p.g[m].adjoint();
        Mat eb = double(p.nr()) * p.ss2 * Mat::Identity(p.nr(), p.nr());
        for (int j = 0; j < p.j(); ++j)
          if (j != m) eb += p.g[j] * w0 * w0.adjoint() * p.g[j].adjoint();
        core::f0_pencil<double>(L.d, L.sys, ws.ws.p, m, a.view(), bm.view());
        EXPECT_LT(rel(a.eigen(), ea), 1e-13);
        EXPECT_LT(rel(bm.eigen(), eb), 1e-13);
        Eigen::GeneralizedSelfAdjointEigenSolver<Mat> ges(ea, eb);
        ASSERT_EQ(ges.info(), Eigen::Success);
        const ref::Vec x = ges.eigenvectors().col(p.nr() - 1).normalized();  // eigenvalues ascend
        ref::Vec got(p.nr());
        for (int r = 0; r < p.nr(); ++r) got(r) = f[(b * p.m + m) * p.nr() + r];
        EXPECT_NEAR(got.norm(), 1.0, 1e-12);
        EXPECT_NEAR(std::abs(got.dot(x)), 1.0, 1e-9) << "rank1 " << rank1 << " realization " << b << " target " << m;
      }
    }
  }
}

TEST(F0, BeatsRandomCombiners) {
  const auto ps = problems(5, true, 21);
  const channel_set cs = ref::to_channels(ps);
  const system_params<double> sys{ps[0].pt, ps[0].sc2, ps[0].ss2, ps[0].delta};
  std::vector<zd> w, f;
  cpu::init_batch(cs, sys, f0_method::lapack, w, f);
  std::mt19937_64 rng(8);
  std::normal_distribution<double> n(0, 1);
  for (long b = 0; b < cs.count; ++b) {
    const Mat w0 = ref::project(ps[b].h, ps[b].pt);
    Mat f0(cs.dims.nr, cs.dims.m);
    for (long i = 0; i < f0.size(); ++i) f0.data()[i] = f[b * f0.size() + i];
    const ref::eval best = ref::evaluate(ps[b], w0, f0);
    for (int trial = 0; trial < 200; ++trial) {
      Mat fr(cs.dims.nr, cs.dims.m);
      for (long i = 0; i < fr.size(); ++i) fr.data()[i] = {n(rng), n(rng)};
      const ref::eval e = ref::evaluate(ps[b], w0, fr);
      for (int m = 0; m < cs.dims.m; ++m) EXPECT_GE(best.gs(m), e.gs(m) * (1 - 1e-12));
    }
  }
}

TEST(CpuBatch, UnfoldedMatchesReferenceFromInit) {
  const auto ps = problems(5, false, 31);
  const channel_set cs = ref::to_channels(ps);
  solve_options o;
  o.sys = {ps[0].pt, ps[0].sc2, ps[0].ss2, ps[0].delta};
  o.model.l_out = 4;
  o.model.beta.clear();
  const solve_output out = cpu::solve_batch(cs, o);
  std::vector<zd> w0, f0;
  cpu::init_batch(cs, o.sys, f0_method::lapack, w0, f0);
  for (long b = 0; b < cs.count; ++b) {
    Mat w(cs.dims.nt, cs.dims.k), f(cs.dims.nr, cs.dims.m);
    for (long i = 0; i < w.size(); ++i) w.data()[i] = w0[b * w.size() + i];
    for (long i = 0; i < f.size(); ++i) f.data()[i] = f0[b * f.size() + i];
    const std::vector<double> beta(3, 0.01);
    for (int l = 0; l < 4; ++l) ref::layer(ps[b], w, f, 10, 10, beta.data(), 3, 2, false);
    EXPECT_NEAR(out.objective[b], ref::evaluate(ps[b], w, f).h, 1e-9 * std::abs(out.objective[b]));
  }
}

TEST(CpuBatch, SameResultsForOneAndTwoThreadsAndFloatCloseToDouble) {
  const channel_set cs = cpu::generate_batch(scenario{}, 5, 0, 13);
  solve_options o;
  o.model.l_out = 20;
  o.threads = 1;
  const solve_output a = cpu::solve_batch(cs, o);
  o.threads = 2;
  const solve_output b = cpu::solve_batch(cs, o);
  EXPECT_EQ(a.objective, b.objective);
  EXPECT_EQ(a.w, b.w);
  o.prec = precision::f32;
  const solve_output c = cpu::solve_batch(cs, o);
  for (long i = 0; i < cs.count; ++i) EXPECT_NEAR(c.objective[i], a.objective[i], 1e-3 * std::abs(a.objective[i]));
}

/// Realizations first .. first + n - 1 of cs as a batch of their own.
channel_set slice(const channel_set& cs, long first, long n) {
  channel_set s = cs;
  s.count = n;
  s.h.assign(cs.h.begin() + first * cs.h_stride(), cs.h.begin() + (first + n) * cs.h_stride());
  s.g.assign(cs.g.begin() + first * cs.g_stride(), cs.g.begin() + (first + n) * cs.g_stride());
  return s;
}

/// The SIMD route (4 or 8 realizations in the lanes, solve_options::simd) against one
/// realization at a time, over the full 150 layers: rounding differences (FMA
/// contraction) are amplified along the way at a few sensitive realizations, so the
/// bound is on the typical realization and, looser, on the worst one.
TEST(CpuBatch, SimdLanesAgreeWithOneRealizationAtATime) {
  const channel_set cs = cpu::generate_batch(scenario{}, 9, 0, 37);  // 9 groups of 4 and one of 1
  for (const precision p : {precision::f64, precision::f32}) {
    solve_options o;
    o.prec = p;
    o.simd = false;
    const solve_output a = cpu::solve_batch(cs, o);
    o.simd = true;
    const solve_output b = cpu::solve_batch(cs, o);
    EXPECT_EQ(a.simd_count, 0);
    EXPECT_EQ(b.simd_count, 37);
    std::vector<double> rel;
    for (long i = 0; i < cs.count; ++i) {
      rel.push_back(std::abs(a.objective[i] - b.objective[i]) / std::abs(a.objective[i]));
      EXPECT_EQ(b.curve[size_t(i) * b.curve_len + 150], b.objective[i]);
      EXPECT_EQ(b.inner[i], 150L * 3 * 2);
    }
    std::sort(rel.begin(), rel.end());
    const double eps = p == precision::f64 ? 1e-16 : 1e-7;
    EXPECT_LT(rel[rel.size() / 2], 1e3 * eps) << "median";
    EXPECT_LT(rel.back(), p == precision::f64 ? 1e-6 : 1e-2) << "worst";
  }
}

/// A realization's result does not depend on the batch around it: the lanes are filled
/// from whatever realizations a group holds (the last group padded), and a lane never
/// reads another. A dense (not rank-one) realization in a group runs one at a time.
TEST(CpuBatch, SimdResultsDoNotDependOnBatchBoundaries) {
  channel_set cs = cpu::generate_batch(scenario{}, 4, 0, 13);
  for (long e = 0; e < cs.g_stride(); e += 7) cs.g[5 * cs.g_stride() + e] += zd(0.3, -0.1);  // realization 5: dense G
  for (const precision p : {precision::f64, precision::f32}) {
    solve_options o;
    o.prec = p;
    o.model.l_out = 30;
    const solve_output all = cpu::solve_batch(cs, o);
    EXPECT_EQ(all.simd_count, 12);                                   // all but the dense one
    const solve_output part = cpu::solve_batch(slice(cs, 3, 9), o);  // groups start at 3, 7 (f64) / 3 (f32)
    for (long i = 0; i < 9; ++i) {
      EXPECT_EQ(part.objective[i], all.objective[3 + i]) << i;
      for (long e = 0; e < cs.h_stride(); ++e)
        EXPECT_EQ(part.w[i * cs.h_stride() + e], all.w[(3 + i) * cs.h_stride() + e]);
    }
    o.simd = false;  // the dense one: exactly the one-at-a-time route
    const solve_output one = cpu::solve_batch(slice(cs, 5, 1), o);
    EXPECT_EQ(one.objective[0], all.objective[5]);
  }
}

TEST(CpuBatch, ReportsTheFailingRealization) {
  channel_set cs = cpu::generate_batch(scenario{}, 5, 0, 3);
  solve_options o;
  o.sys.pt = -1;
  EXPECT_THROW(cpu::solve_batch(cs, o), std::invalid_argument);
  o.sys.pt = 100;
  cs.h[cs.h_stride() + 2] = zd(std::nan(""), 0);
  try {
    cpu::solve_batch(cs, o);
    FAIL() << "NaN accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("H of realization 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace jcas::test
