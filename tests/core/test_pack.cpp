// jcas/pack.hpp: the SIMD lane type, and the shared core instantiated with it (N
// realizations in the lanes) against the core on one realization at a time.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "jcas/api.hpp"
#include "jcas/core/solvers.hpp"
#include "realization.hpp"

namespace jcas::test {
namespace {

using P4 = pack<double, 4>;

P4 make(double a, double b, double c, double d) {
  P4 p;
  p.set_lane(0, a);
  p.set_lane(1, b);
  p.set_lane(2, c);
  p.set_lane(3, d);
  return p;
}

TEST(Pack, LanewiseArithmeticAndFunctionsEqualTheScalarOnes) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const P4 a = make(1.5, -2, 0, 9), b = make(0.25, 3, 0, -1);
  const P4 s = a * b + a / make(2, 4, 8, 16) - b, r = sqrt(make(4, 2, 0, 1e-300));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(s.lane(i), a.lane(i) * b.lane(i) + a.lane(i) / double(2 << i) - b.lane(i));
    EXPECT_EQ(r.lane(i), std::sqrt(make(4, 2, 0, 1e-300).lane(i)));
    EXPECT_EQ(exp(a).lane(i), std::exp(a.lane(i)));
    EXPECT_EQ(log1p(make(0.5, 1, 0, 7)).lane(i), std::log1p(make(0.5, 1, 0, 7).lane(i)));
  }
  // fmin / fmax as std::fmin / fmax, NaN operands included.
  const P4 x = make(1, nan, nan, -3), y = make(2, 5, nan, -4);
  for (int i = 0; i < 4; ++i) {
    const double mn = fmin(x, y).lane(i), mx = fmax(x, y).lane(i);
    const double smn = std::fmin(x.lane(i), y.lane(i)), smx = std::fmax(x.lane(i), y.lane(i));
    EXPECT_TRUE(mn == smn || (std::isnan(mn) && std::isnan(smn))) << i;
    EXPECT_TRUE(mx == smx || (std::isnan(mx) && std::isnan(smx))) << i;
  }
}

TEST(Pack, MasksSelectPerLane) {
  const P4 a = make(1, -1, 0, 2);
  const auto pos = a > P4(0.0);
  EXPECT_TRUE(any(pos));
  EXPECT_FALSE(all(pos));
  EXPECT_FALSE(any(a > P4(5.0)));
  EXPECT_TRUE(all(a > P4(-5.0)));
  const P4 w = where(pos, a * P4(10.0), P4(-7.0));
  EXPECT_EQ(w.lane(0), 10);
  EXPECT_EQ(w.lane(1), -7);
  EXPECT_EQ(w.lane(2), -7);
  EXPECT_EQ(w.lane(3), 20);
  EXPECT_FALSE(any(!(a == a)));
  // The same helpers on a real scalar are the plain bool operations.
  EXPECT_TRUE(any(true) && all(true) && !any(false));
  EXPECT_EQ(where(false, 1.0, 2.0), 2.0);
}

TEST(Pack, ArenaAlignsPacksTo32Bytes) {
  alignas(64) char buf[1024];
  arena a{buf};
  a.take<double>(1);  // 16 bytes used
  const P4* p = a.take<P4>(3);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 32, 0u);
  arena_counter c;
  c.take<double>(1);
  c.take<P4>(3);
  EXPECT_EQ(c.used, 32 + 96);
}

/// A zero row in one lane: that lane gets the documented equal-power row, the others the
/// plain row scaling, as project_power on each realization alone.
TEST(Pack, ProjectionOfAZeroRowInOneLane) {
  const problem_dims d{4, 4, 3, 1, 1};
  std::vector<cplx<P4>> wp(size_t(d.nt) * d.k);
  std::vector<std::vector<cplx<double>>> ws(4, std::vector<cplx<double>>(wp.size()));
  for (int i = 0; i < 4; ++i)
    for (size_t e = 0; e < wp.size(); ++e)
      ws[i][e] = (i == 2 && e % 4 == 1) ? cplx<double>() : cplx<double>(0.1 * e + i, 1 - 0.3 * e);
  for (int i = 0; i < 4; ++i) put_lane(wp.data(), ws[i].data(), long(wp.size()), i);
  EXPECT_EQ(core::project_power(core::mview<P4>(wp.data(), d.nt, d.k), P4(8.0)), 1);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(core::project_power(core::mview<double>(ws[i].data(), d.nt, d.k), 8.0), i == 2 ? 1 : 0);
    std::vector<cplx<double>> got(wp.size());
    get_lane(wp.data(), got.data(), long(wp.size()), i);
    for (size_t e = 0; e < got.size(); ++e) {
      EXPECT_EQ(got[e].re, ws[i][e].re) << i << " " << e;
      EXPECT_EQ(got[e].im, ws[i][e].im) << i << " " << e;
    }
  }
}

/// Four realizations in the lanes of one unfolded_forward<pack> against unfolded_forward
/// on each alone; then the same realizations in other lanes beside other neighbours give
/// bit-identical results (no lane reads another).
struct lanes_case {
  channel_set cs;
  std::vector<zd> w0, f0;
  system_params<double> sys;
  std::vector<double> beta;
  lanes_case() : cs(cpu::generate_batch(scenario{}, 77, 0, 6)), beta(size_t(12) * 3) {
    cpu::init_batch(cs, sys, f0_method::lowrank, w0, f0, 1);
    for (size_t i = 0; i < beta.size(); ++i) beta[i] = 0.005 + 0.001 * double(i % 7);
  }
  /// Runs realizations order[0..3] in lanes 0..3; returns h per lane and the W of each.
  std::vector<double> packed(const int* order, std::vector<std::vector<cplx<double>>>* wout = nullptr) const {
    const problem_dims d = cs.dims;
    const long nw = long(d.nt) * d.k, nf = long(d.nr) * d.m;
    std::vector<cplx<P4>> h(static_cast<size_t>(nw)), u(static_cast<size_t>(d.nr * d.j())),
        v(static_cast<size_t>(d.nt * d.j())), wf(static_cast<size_t>(nw + nf));
    std::vector<cplx<double>> lane(size_t(nw + nf));
    for (int i = 0; i < 4; ++i) {
      host::realization<double> rc;
      rc.load(cs, order[i]);
      EXPECT_TRUE(rc.rank1);
      put_lane(h.data(), rc.h.data(), nw, i);
      put_lane(u.data(), rc.u.data(), long(u.size()), i);
      put_lane(v.data(), rc.v.data(), long(v.size()), i);
      host::load_start<double>(w0, f0, d, order[i], lane.data());
      put_lane(wf.data(), lane.data(), nw + nf, i);
    }
    std::vector<P4> scratch(size_t(core::solver_ws<P4>::bytes(d)) / sizeof(P4) + 1), betap(beta.begin(), beta.end()),
        curve(13);
    arena ar{reinterpret_cast<char*>(scratch.data())};
    core::solver_ws<P4> ws;
    ws.carve(ar, d);
    core::unfolded_params<P4> p;
    p.l_out = 12;
    p.beta = betap.data();
    const system_params<P4> sp{P4(sys.pt), P4(sys.sigma_c2), P4(sys.sigma_s2), P4(sys.delta)};
    const core::rank1_channels<P4> ch{core::cview<P4>(h.data(), d.nt, d.k), u.data(), v.data(), d.nr, d.nt, d.j()};
    core::solve_result<P4> res;
    EXPECT_EQ(core::unfolded_forward<P4>(ch, d, sp, p, core::mview<P4>(wf.data(), d.nt, d.k),
                                         core::mview<P4>(wf.data() + nw, d.nr, d.m), curve.data(), ws, res),
              status::ok);
    std::vector<double> hs(4);
    for (int i = 0; i < 4; ++i) {
      hs[i] = res.objective.lane(i);
      EXPECT_EQ(curve[12].lane(i), hs[i]);
      if (wout) {
        (*wout)[i].resize(size_t(nw));
        get_lane(wf.data(), (*wout)[i].data(), nw, i);
      }
    }
    return hs;
  }
  double scalar(int b, std::vector<cplx<double>>* wout) const {
    const problem_dims d = cs.dims;
    host::realization<double> rc;
    rc.load(cs, b);
    std::vector<cplx<double>> wf(size_t(d.nt) * d.k + size_t(d.nr) * d.m);
    host::load_start<double>(w0, f0, d, b, wf.data());
    std::vector<char> scratch(size_t(core::solver_ws<double>::bytes(d)));
    arena ar{scratch.data()};
    core::solver_ws<double> ws;
    ws.carve(ar, d);
    core::unfolded_params<double> p;
    p.l_out = 12;
    p.beta = beta.data();
    core::solve_result<double> res;
    rc.visit([&](const auto& ch) {
      if constexpr (std::is_same_v<std::decay_t<decltype(ch)>, core::rank1_channels<double>>) {
        EXPECT_EQ(
            core::unfolded_forward<double>(ch, d, sys, p, core::mview<double>(wf.data(), d.nt, d.k),
                                           core::mview<double>(wf.data() + d.nt * d.k, d.nr, d.m), nullptr, ws, res),
            status::ok);
      }
    });
    wout->assign(wf.begin(), wf.begin() + long(d.nt) * d.k);
    return res.objective;
  }
};

TEST(Pack, UnfoldedInTheLanesEqualsOneRealizationAtATime) {
  const lanes_case c;
  const int order[4] = {0, 1, 2, 3};
  std::vector<std::vector<cplx<double>>> wp(4);
  const std::vector<double> hp = c.packed(order, &wp);
  for (int i = 0; i < 4; ++i) {
    std::vector<cplx<double>> ws;
    const double hs = c.scalar(i, &ws);
    EXPECT_NEAR(hp[i], hs, 1e-12 * std::abs(hs)) << i;
    double dw = 0, nw = 0;
    for (size_t e = 0; e < ws.size(); ++e) {
      dw += norm2(wp[i][e] - ws[e]);
      nw += norm2(ws[e]);
    }
    EXPECT_LT(std::sqrt(dw / nw), 1e-11) << i;
  }
}

TEST(Pack, ALaneDoesNotDependOnItsNeighbours) {
  const lanes_case c;
  const int a[4] = {0, 1, 2, 3}, b[4] = {4, 2, 5, 0};
  const std::vector<double> ha = c.packed(a), hb = c.packed(b);
  EXPECT_EQ(ha[0], hb[3]);  // realization 0 in lane 0 beside 1, 2, 3 and in lane 3 beside 4, 2, 5
  EXPECT_EQ(ha[2], hb[1]);  // realization 2 in lane 2 and in lane 1
}

}  // namespace
}  // namespace jcas::test
