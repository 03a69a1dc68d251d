// The smoothed objective, its gradient, ao-monotone and the ascent solver
// (core/smooth.hpp, core/ascent.hpp), checked against the Eigen reference.
#include <gtest/gtest.h>

#include <cmath>

#include "helpers.hpp"

namespace jcas::test {
namespace {

/// h_mu of eq. 8 from the reference's SINR/SCNR, written out without any shift.
double ref_smoothed(const ref::problem& p, const Mat& w, const Mat& f, double mu) {
  const ref::eval e = ref::evaluate(p, w, f);
  const auto smin = [mu](const ref::Vr& g) {
    double s = 0;
    for (int i = 0; i < g.size(); ++i) s += std::exp(-mu * std::log1p(g(i)));
    return -std::log(s) / mu;
  };
  return smin(e.gc) + p.delta * smin(e.gs);
}

/// solver_ws with the smoothed solvers' scratch.
struct smooth_workspace {
  std::vector<char> bytes;
  core::solver_ws<double> ws;
  explicit smooth_workspace(const problem_dims& d) {
    bytes.resize(size_t(core::solver_ws<double>::bytes(d, true)));
    arena a{bytes.data()};
    ws.carve(a, d, true);
  }
};

std::vector<ref::problem> problems(int n, bool rank1, double delta = 1, int seed = 5) {
  std::mt19937_64 rng(seed);
  std::vector<ref::problem> ps;
  for (int i = 0; i < n; ++i) {
    ps.push_back(ref::random_problem(rng, 8, 6, 3, 2, 2, rank1));
    ps.back().delta = delta;
  }
  return ps;
}

Mat random_mat(std::mt19937_64& rng, int r, int c) {
  std::normal_distribution<double> n;
  Mat m(r, c);
  for (int i = 0; i < m.size(); ++i) m.data()[i] = {n(rng), n(rng)};
  return m;
}

TEST(Smoothed, ValueMatchesTheDefinitionAndBoundsTheMinimum) {
  for (const auto& p : problems(3, false)) {
    loaded L(p);
    smooth_workspace sw(L.d);
    cmat w(ref::project(p.h, p.pt)), f(Mat::Ones(p.nr(), p.m));
    for (double mu : {0.5, 10.0, 100.0}) {
      L.rc.visit([&](const auto& ch) { core::evaluate_metrics<double>(ch, w.view(), f.view(), L.d, L.sys, sw.ws.mt); });
      const double v = core::smoothed_objective<double>(L.d, L.sys, sw.ws.mt, mu, mu);
      EXPECT_NEAR(v, ref_smoothed(p, w.eigen(), f.eigen(), mu), 1e-11 * std::abs(v)) << "mu " << mu;
      // min r - ln(n)/mu <= smin <= min r, for each of the two minima.
      const double h = sw.ws.mt.objective;
      EXPECT_LE(v, h + 1e-12);
      EXPECT_GE(v, h - (std::log(double(p.k())) + p.delta * std::log(double(p.m))) / mu - 1e-12);
    }
    // Huge mu: no overflow, the true h.
    const double v = core::smoothed_objective<double>(L.d, L.sys, sw.ws.mt, 1e8, 1e8);
    EXPECT_NEAR(v, sw.ws.mt.objective, 1e-6);
  }
}

// dh_mu = Re<grad, dW> against central differences of the reference h_mu (F fixed).
TEST(Smoothed, GradientMatchesFiniteDifferences) {
  std::mt19937_64 rng(3);
  for (bool rank1 : {false, true})
    for (const auto& p : problems(3, rank1, 3.0)) {
      loaded L(p);
      smooth_workspace sw(L.d);
      core::smooth_ws<double>& sm = sw.ws.sm;
      const Mat w0 = ref::project(p.h, p.pt) + 0.3 * random_mat(rng, p.nt(), p.k());
      const Mat f0 = random_mat(rng, p.nr(), p.m);
      const double mu = 7;
      cmat w(w0), f(f0);
      core::copy<double>(w.view(), sm.a.w);
      core::copy<double>(f.view(), sm.a.f);
      L.rc.visit([&](const auto& ch) {
        core::evaluate_metrics<double>(ch, sm.a.w, sm.a.f, L.d, L.sys, sm.a.mt);
        core::smoothed_gradient<double>(ch, L.d, L.sys, sm.a, mu, mu, sm);
      });
      for (int trial = 0; trial < 3; ++trial) {
        const Mat v = random_mat(rng, p.nt(), p.k());
        double analytic = 0;
        for (int i = 0; i < v.size(); ++i) {
          const cplx<double> g = sm.grad.data[i];
          analytic += g.re * v.data()[i].real() + g.im * v.data()[i].imag();
        }
        const double e = 1e-6;
        const double fd = (ref_smoothed(p, w0 + e * v, f0, mu) - ref_smoothed(p, w0 - e * v, f0, mu)) / (2 * e);
        EXPECT_NEAR(analytic, fd, 1e-6 * std::max(1.0, std::abs(fd))) << "rank1 " << rank1;
      }
    }
}

// With F = F*(W) re-optimised at each perturbed W, the gradient is unchanged to first
// order (envelope theorem): the ascent solver's direction is the true gradient.
TEST(Smoothed, EnvelopeGradientWithOptimalCombiners) {
  std::mt19937_64 rng(4);
  for (bool rank1 : {false, true})
    for (const auto& p : problems(2, rank1)) {
      loaded L(p);
      smooth_workspace sw(L.d);
      core::smooth_ws<double>& sm = sw.ws.sm;
      const double mu = 5;
      const auto h_opt = [&](const Mat& wm) {
        cmat w(wm), f(p.nr(), p.m);
        L.rc.visit([&](const auto& ch) {
          EXPECT_EQ(core::optimal_combiner<double>(ch, L.d, L.sys, w.view(), f.view(), sm.f0), status::ok);
        });
        return ref_smoothed(p, wm, f.eigen(), mu);
      };
      const Mat w0 = ref::project(p.h, p.pt);
      cmat w(w0);
      core::copy<double>(w.view(), sm.a.w);
      L.rc.visit([&](const auto& ch) {
        ASSERT_EQ(core::optimal_combiner<double>(ch, L.d, L.sys, sm.a.w, sm.a.f, sm.f0), status::ok);
        core::evaluate_metrics<double>(ch, sm.a.w, sm.a.f, L.d, L.sys, sm.a.mt);
        core::smoothed_gradient<double>(ch, L.d, L.sys, sm.a, mu, mu, sm);
      });
      const Mat v = random_mat(rng, p.nt(), p.k());
      double analytic = 0;
      for (int i = 0; i < v.size(); ++i)
        analytic += sm.grad.data[i].re * v.data()[i].real() + sm.grad.data[i].im * v.data()[i].imag();
      const double e = 1e-5;
      const double fd = (h_opt(w0 + e * v) - h_opt(w0 - e * v)) / (2 * e);
      EXPECT_NEAR(analytic, fd, 1e-6 * std::max(1.0, std::abs(fd)));
    }
}

// The test: the monotone AO's surrogate h_mu never decreases, for dense and
// rank-one channels and delta 1 and 10.
TEST(AoMonotone, SmoothedObjectiveNeverDecreases) {
  for (bool rank1 : {false, true})
    for (double delta : {1.0, 10.0})
      for (const auto& p : problems(3, rank1, delta)) {
        loaded L(p);
        smooth_workspace sw(L.d);
        core::ao_outer<double> o;
        o.max_outer = 60;
        o.tol = 0;  // run every iteration
        const core::climb_params<double> cp{1, 0.3, 0, 1e-4, 1000, 50};
        cmat w(ref::project(p.h, p.pt)), f(Mat::Ones(p.nr(), p.m));
        std::vector<double> curve(size_t(o.max_outer) + 1), smooth(curve.size());
        core::solve_result<double> res;
        L.rc.visit([&](const auto& ch) {
          ASSERT_EQ(core::ao_monotone_solve<double>(ch, L.d, L.sys, o, cp, w.view(), f.view(), curve.data(),
                                                    smooth.data(), sw.ws, res),
                    status::ok);
        });
        for (size_t i = 1; i < smooth.size(); ++i)
          EXPECT_GE(smooth[i], smooth[i - 1] - 1e-12 * std::abs(smooth[i - 1])) << "iteration " << i;
        EXPECT_GT(smooth.back(), smooth[0]);
        EXPECT_NEAR(ref::evaluate(p, w.eigen(), f.eigen()).h, res.objective, 1e-10 * std::abs(res.objective));
        EXPECT_NEAR(ref_smoothed(p, w.eigen(), f.eigen(), o.mu_c), smooth.back(), 1e-10 * std::abs(smooth.back()));
      }
}

solve_output run(const channel_set& cs, const ref::problem& p, algorithm a, int starts = 15) {
  solve_options o;
  o.algo = a;
  o.sys = {p.pt, p.sc2, p.ss2, p.delta};
  o.ascent.starts = starts;
  return cpu::solve_batch(cs, o);
}

// The test: the ascent solver never returns a point worse than its best start;
// with all starts it returns the best of the single-start runs.
TEST(Ascent, NeverWorseThanItsBestStart) {
  for (bool rank1 : {false, true}) {
    const auto ps = problems(4, rank1);
    const channel_set cs = ref::to_channels(ps);
    const solve_output all = run(cs, ps[0], algorithm::ascent);
    std::vector<double> best_single(size_t(cs.count), -1e300);
    for (int s : {1, 2, 4, 8}) {
      const solve_output one = run(cs, ps[0], algorithm::ascent, s);
      for (long b = 0; b < cs.count; ++b) best_single[b] = std::max(best_single[b], one.objective[b]);
    }
    // Each start itself: W built by the core's start routine, projected, F = F*(W),
    // h by the reference.
    for (long b = 0; b < cs.count; ++b) {
      loaded L(ps[b]);
      smooth_workspace sw(L.d);
      core::smooth_ws<double>& sm = sw.ws.sm;
      for (int s = 0; s < 4; ++s) {
        cmat w(ref::project(ps[b].h, ps[b].pt)), f(L.d.nr, L.d.m);
        L.rc.visit([&](const auto& ch) {
          if (s == 1) {
            ASSERT_EQ(core::zf_start<double>(ch.h, L.d, L.sys, w.view(), sm.gram, sm.kvec), status::ok);
          }
          if (s == 2) core::random_start<double>(1, w.view());
          if (s == 3) core::nulls_start<double>(ch, L.d, w.view(), sm);
          core::project_power(w.view(), L.sys.pt);
          ASSERT_EQ(core::optimal_combiner<double>(ch, L.d, L.sys, w.view(), f.view(), sm.f0), status::ok);
        });
        EXPECT_GE(all.objective[b], ref::evaluate(ps[b], w.eigen(), f.eigen()).h) << "start " << s;
      }
    }
    for (long b = 0; b < cs.count; ++b) {
      EXPECT_NEAR(all.objective[b], best_single[b], 1e-12 * std::abs(best_single[b]));
      Mat w(cs.dims.nt, cs.dims.k), f(cs.dims.nr, cs.dims.m);
      for (long i = 0; i < w.size(); ++i) w.data()[i] = all.w[b * w.size() + i];
      for (long i = 0; i < f.size(); ++i) f.data()[i] = all.f[b * f.size() + i];
      EXPECT_NEAR(ref::evaluate(ps[b], w, f).h, all.objective[b], 1e-10 * std::abs(all.objective[b]));
      cmat wc(w);
      EXPECT_LE(core::power_violation<double>(wc.view(), ps[0].pt), 1e-12);
      // The curve is the best-so-far h: non-decreasing, ending at the result.
      const double* c = all.curve.data() + b * all.curve_len;
      for (int i = 2; i < all.curve_len; ++i) EXPECT_GE(c[i], c[i - 1]);
      EXPECT_DOUBLE_EQ(c[all.curve_len - 1], all.objective[b]);
    }
  }
}

// The yardstick is strong: on average at least as good as every AO variant.
TEST(Ascent, AtLeastAsGoodAsTheAoSolversOnAverage) {
  const auto ps = problems(6, true);
  const channel_set cs = ref::to_channels(ps);
  const summary asc = summarize(run(cs, ps[0], algorithm::ascent));
  for (algorithm a : {algorithm::ao_fixed, algorithm::ao_backtracking, algorithm::heuristic, algorithm::ao_monotone})
    EXPECT_GE(asc.mean_objective, summarize(run(cs, ps[0], a)).mean_objective) << to_string(a);
}

}  // namespace
}  // namespace jcas::test
