// SPEC.md sections 2 and 4 against the Eigen reference, on random dense and rank-one
// problems of several shapes, plus hand-checkable cases.
#include <gtest/gtest.h>

#include <array>

#include "helpers.hpp"

namespace jcas::test {
namespace {

struct shape {
  int nt, nr, k, m, c;
  bool rank1;
};
std::ostream& operator<<(std::ostream& o, const shape& s) {
  return o << s.nt << "x" << s.nr << " K" << s.k << " M" << s.m << " C" << s.c << (s.rank1 ? " rank1" : " dense");
}

class LayerTest : public ::testing::TestWithParam<shape> {
 protected:
  ref::problem make(int seed) {
    std::mt19937_64 rng(seed);
    const shape s = GetParam();
    return ref::random_problem(rng, s.nt, s.nr, s.k, s.m, s.c, s.rank1);
  }
  static Mat start_w(const ref::problem& p) { return ref::project(p.h, p.pt); }
  static Mat start_f(const ref::problem& p) {
    std::mt19937_64 rng(99);
    std::normal_distribution<double> n(0, 1);
    Mat f(p.nr(), p.m);
    for (int j = 0; j < p.m; ++j)
      for (int i = 0; i < p.nr(); ++i) f(i, j) = {n(rng), n(rng)};
    return f;
  }
};

TEST_P(LayerTest, MetricsMatchReference) {
  const ref::problem p = make(1);
  loaded L(p);
  EXPECT_EQ(L.rc.rank1, GetParam().rank1);
  cmat w(start_w(p)), f(start_f(p));
  workspace<core::solver_ws<double>> ws(L.d);
  L.rc.visit([&](const auto& ch) { core::evaluate_metrics<double>(ch, w.view(), f.view(), L.d, L.sys, ws.ws.mt); });
  const ref::eval e = ref::evaluate(p, w.eigen(), f.eigen());
  for (int k = 0; k < p.k(); ++k) EXPECT_NEAR(ws.ws.mt.gamma_c[k], e.gc(k), 1e-12 * e.gc(k));
  for (int m = 0; m < p.m; ++m) EXPECT_NEAR(ws.ws.mt.gamma_s[m], e.gs(m), 1e-12 * e.gs(m));
  EXPECT_NEAR(ws.ws.mt.objective, e.h, 1e-12 * std::abs(e.h));
}

TEST_P(LayerTest, ReceiverUpdateAndSurrogateMatchReference) {
  const ref::problem p = make(2);
  loaded L(p);
  cmat w(start_w(p)), f(start_f(p));
  const double mu_c = 7, mu_s = 4;
  const ref::subproblem s = ref::prepare(p, w.eigen(), f.eigen(), mu_c, mu_s);
  workspace<core::solver_ws<double>> ws(L.d);
  L.rc.visit([&](const auto& ch) {
    core::evaluate_metrics<double>(ch, w.view(), f.view(), L.d, L.sys, ws.ws.mt);
    ASSERT_EQ(core::layer_prepare<double>(ch, L.d, L.sys, mu_c, mu_s, ws.ws.mt, f.view(), ws.ws.lw), status::ok);
  });
  EXPECT_LT(rel(f.eigen(), s.f_new), 1e-11);
  // g and D at a point other than the expansion point.
  std::mt19937_64 rng(5);
  const Mat w2 = ref::project(Mat::Random(p.nt(), p.k()), p.pt);
  cmat w2c(w2), dir(p.nt(), p.k());
  const double g = core::surrogate_eval<double>(ws.ws.lw.sur, w2c.view(), dir.view());
  EXPECT_NEAR(g, s.g(w2), 1e-11 * std::abs(s.g(w2)));
  EXPECT_LT(rel(dir.eigen(), s.d(w2)), 1e-11);
  // D is half the Wirtinger gradient of g: a finite difference of g along V is 2 Re<D, V>.
  const Mat v = Mat::Random(p.nt(), p.k());
  const double hstep = 1e-6;
  const double fd = (s.g(w2 + hstep * v) - s.g(w2 - hstep * v)) / (2 * hstep);
  EXPECT_NEAR(fd, 2 * (s.d(w2).adjoint() * v).trace().real(), 1e-6 * std::abs(fd) + 1e-8);
}

/// For two workspaces: the metrics at (W, F) and layer_prepare (mu_c 5, mu_s 3) in the
/// form use[i], F' into f[i] (each holding F on entry).
void prepare_both(const loaded& L, cmat& w, std::array<workspace<core::solver_ws<double>>*, 2> ws,
                  std::array<cmat*, 2> f, std::array<core::surrogate_use, 2> use) {
  L.rc.visit([&](const auto& ch) {
    for (int i = 0; i < 2; ++i) {
      core::evaluate_metrics<double>(ch, w.view(), f[i]->view(), L.d, L.sys, ws[i]->ws.mt);
      ASSERT_EQ(core::layer_prepare<double>(ch, L.d, L.sys, 5.0, 3.0, ws[i]->ws.mt, f[i]->view(), ws[i]->ws.lw, use[i]),
                status::ok);
    }
  });
}

// Rank-one G: the Woodbury receiver and the merged surrogate (K + J columns) give the
// same F', g and D as the Cholesky of Q and the full layout (K + J M columns) that the
// adjoint reads.
TEST(Layer, RankOneShortcutsEqualTheGeneralRoute) {
  std::mt19937_64 rng(8);
  const ref::problem p = ref::random_problem(rng, 8, 6, 3, 2, 2, true);
  loaded L(p);
  ASSERT_TRUE(L.rc.rank1);
  const Mat f0 = Mat::Random(p.nr(), p.m);
  cmat w(ref::project(p.h, p.pt)), f1(f0), f2(f0);
  workspace<core::solver_ws<double>> merged(L.d), full(L.d);
  prepare_both(L, w, {&merged, &full}, {&f1, &f2}, {core::surrogate_use::loops, core::surrogate_use::full});
  EXPECT_LT(rel(f1.eigen(), f2.eigen()), 1e-12);  // Woodbury receiver = Cholesky of Q
  EXPECT_EQ(merged.ws.lw.sur.l.cols, L.d.k + L.d.j());
  EXPECT_EQ(full.ws.lw.sur.l.cols, L.d.rank_bt());
  for (int t = 0; t < 3; ++t) {
    cmat w2(ref::project(Mat::Random(p.nt(), p.k()), p.pt)), d1(p.nt(), p.k()), d2(p.nt(), p.k());
    const double g1 = core::surrogate_eval<double>(merged.ws.lw.sur, w2.view(), d1.view());
    const double g2 = core::surrogate_eval<double>(full.ws.lw.sur, w2.view(), d2.view());
    EXPECT_NEAR(g1, g2, 1e-12 * std::abs(g2));
    EXPECT_LT(rel(d1.eigen(), d2.eigen()), 1e-12);
  }
}

TEST_P(LayerTest, UnfoldedForwardMatchesReferenceBothVariants) {
  for (bool frozen : {false, true}) {
    const ref::problem p = make(3);
    loaded L(p);
    const int l_out = 6, l_in = 3, i_w = 2;
    std::vector<double> beta(l_out * l_in);
    for (size_t i = 0; i < beta.size(); ++i) beta[i] = 0.02 + 0.01 * double(i % 5);
    Mat wr = start_w(p), fr = start_f(p);
    cmat w(wr), f(fr);
    std::vector<double> curve(l_out + 1);
    core::unfolded_params<double> up{l_out, l_in, i_w, frozen, 8.0, 12.0, beta.data()};
    workspace<core::solver_ws<double>> ws(L.d);
    core::solve_result<double> res;
    L.rc.visit([&](const auto& ch) {
      ASSERT_EQ(core::unfolded_forward<double>(ch, L.d, L.sys, up, w.view(), f.view(), curve.data(), ws.ws, res),
                status::ok);
    });
    EXPECT_NEAR(curve[0], ref::evaluate(p, wr, fr).h, 1e-12 * std::abs(curve[0]));
    for (int l = 0; l < l_out; ++l) {
      ref::layer(p, wr, fr, 8.0, 12.0, beta.data() + l * l_in, l_in, i_w, frozen);
      const double h = ref::evaluate(p, wr, fr).h;
      EXPECT_NEAR(curve[l + 1], h, 1e-9 * std::abs(h)) << "layer " << l << " frozen " << frozen;
    }
    EXPECT_LT(rel(w.eigen(), wr), 1e-8);
    EXPECT_LT(rel(f.eigen(), fr), 1e-8);
    EXPECT_EQ(res.outer, l_out);
    EXPECT_EQ(res.inner, long(l_out) * l_in * i_w);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, LayerTest,
                         ::testing::Values(shape{16, 16, 4, 2, 2, true}, shape{16, 16, 4, 2, 2, false},
                                           shape{5, 3, 2, 1, 0, false}, shape{7, 9, 3, 2, 1, true},
                                           shape{4, 6, 6, 3, 2, false}, shape{33, 17, 5, 2, 3, true}));

// --- hand-checkable cases ---------------------------------------------------------------

TEST(Metrics, SingleUserSingleTargetByHand) {
  // Nt = Nr = 1, K = M = 1, no clutter: SINR = |h w|^2 / sc2, SCNR = |f g w|^2 / (Nr ss2 |f|^2).
  ref::problem p;
  p.h = Mat::Constant(1, 1, ref::cd(2, 0));
  p.g = {Mat::Constant(1, 1, ref::cd(0, 3))};
  p.m = 1;
  p.pt = 4;
  p.sc2 = 2;
  p.ss2 = 0.5;
  p.delta = 10;
  loaded L(p);
  cmat w(Mat::Constant(1, 1, ref::cd(2, 0))), f(Mat::Constant(1, 1, ref::cd(1, 1)));
  workspace<core::solver_ws<double>> ws(L.d);
  L.rc.visit([&](const auto& ch) { core::evaluate_metrics<double>(ch, w.view(), f.view(), L.d, L.sys, ws.ws.mt); });
  EXPECT_DOUBLE_EQ(ws.ws.mt.gamma_c[0], 16.0 / 2.0);                 // |2*2|^2 / 2
  EXPECT_DOUBLE_EQ(ws.ws.mt.gamma_s[0], (2.0 * 9 * 4) / (0.5 * 2));  // |f|^2|g|^2|w|^2 / (ss2 |f|^2)
  EXPECT_NEAR(ws.ws.mt.objective, std::log(9.0) + 10 * std::log(73.0), 1e-12);
}

TEST(Metrics, OrthogonalUsersHaveNoInterference) {
  // h_k = e_k, w_k = e_k * a: SINR_k = a^2 / sc2 exactly.
  ref::problem p;
  p.h = Mat::Identity(4, 3);
  p.g = {Mat::Identity(4, 4), Mat::Identity(4, 4)};
  p.m = 1;
  p.sc2 = 0.25;
  loaded L(p);
  cmat w(Mat(Mat::Identity(4, 3) * 3.0)), f(Mat::Ones(4, 1));
  workspace<core::solver_ws<double>> ws(L.d);
  L.rc.visit([&](const auto& ch) { core::evaluate_metrics<double>(ch, w.view(), f.view(), L.d, L.sys, ws.ws.mt); });
  for (int k = 0; k < 3; ++k) EXPECT_DOUBLE_EQ(ws.ws.mt.gamma_c[k], 9.0 / 0.25);
}

TEST(Softmin, SumsToOneAndFavoursTheMinimum) {
  const double gamma[4] = {10, 1, 100, 1e6};
  double z[4];
  core::softmin_weights(4, gamma, 10.0, z);
  EXPECT_NEAR(z[0] + z[1] + z[2] + z[3], 1.0, 1e-15);
  EXPECT_GT(z[1], 0.99);
  // Large mu and rates: still finite (the shift by the minimum rate).
  core::softmin_weights(4, gamma, 1e4, z);
  EXPECT_DOUBLE_EQ(z[1], 1.0);
}

TEST(Projection, EveryRowOnTheBoundAndZeroRowsFinite) {
  std::mt19937_64 rng(4);
  Mat w = Mat::Random(8, 3);
  w.row(2).setZero();
  cmat c(w);
  const double pt = 5;
  EXPECT_EQ(core::project_power<double>(c.view(), pt), 1);
  const Mat out = c.eigen();
  for (int n = 0; n < 8; ++n) EXPECT_NEAR(out.row(n).squaredNorm(), pt / 8, 1e-14);
  EXPECT_TRUE(out.allFinite());
  EXPECT_NEAR(core::power_violation<double>(c.view(), pt), 0.0, 1e-13);
  // Non-zero rows keep their direction.
  EXPECT_LT(rel(out.row(0) / out.row(0).norm(), w.row(0) / w.row(0).norm()), 1e-14);
}

TEST(Projection, BlockedRowNormsEqualTheRowByRowProjectionBitForBit) {
  // project_power walks the rows up to Nt = 32 and beyond sums the row norms down the
  // columns in blocks of rows; both must give the plain row-by-row form's bits (Nt = 16:
  // the row walk; Nt = 70: blocks across a boundary), with zero and NaN rows (both reset
  // to equal power).
  std::mt19937_64 rng(8);
  for (const int nt : {16, 70}) {
    Mat w = Mat::Random(nt, 5);
    w.row(3).setZero();
    w(nt - 2, 1) = std::nan("");
    cmat got(w), ref(w);
    const double pt = 7, row_norm = std::sqrt(pt / nt);
    core::mview<double> r = ref.view();
    int zero = 0;
    for (int n = 0; n < nt; ++n) {
      double s = 0;
      for (int k = 0; k < 5; ++k) s += norm2(r(n, k));
      if (s > 0) {
        for (int k = 0; k < 5; ++k) r(n, k) *= row_norm / std::sqrt(s);
      } else {
        ++zero;
        for (int k = 0; k < 5; ++k) r(n, k) = cplx<double>(row_norm / std::sqrt(5.0));
      }
    }
    EXPECT_EQ(core::project_power<double>(got.view(), pt), zero);
    EXPECT_EQ(zero, 2);
    for (size_t e = 0; e < ref.v.size(); ++e) {
      EXPECT_EQ(got.v[e].re, ref.v[e].re) << nt << " " << e;
      EXPECT_EQ(got.v[e].im, ref.v[e].im) << nt << " " << e;
    }
  }
}

}  // namespace
}  // namespace jcas::test
