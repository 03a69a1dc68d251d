// Every adjoint against central finite differences in double precision: for a random
// output weight wbar, the adjoint gives J^H wbar, and <J v, wbar> (by differences of
// Re<wbar, F(x)>) must equal Re<v, J^H wbar> for random directions v -- the dot-product
// test with the Jacobian-vector product taken numerically.
#include <gtest/gtest.h>

#include <functional>

#include "helpers.hpp"
#include "jcas/core/training.hpp"
#include "thread_team.hpp"

namespace jcas::test {
namespace {

Mat randm(std::mt19937_64& rng, long r, long c) {
  std::normal_distribution<double> n(0, 1);
  Mat a(r, c);
  for (long j = 0; j < c; ++j)
    for (long i = 0; i < r; ++i) a(i, j) = {n(rng), n(rng)};
  return a;
}
double re_dot(const Mat& a, const Mat& b) { return (a.adjoint() * b).trace().real(); }

/// Central difference of phi along v, with step h relative to ||x||.
double fd(const std::function<double(const Mat&)>& phi, const Mat& x, const Mat& v, double h) {
  return (phi(x + h * v) - phi(x - h * v)) / (2 * h);
}

#define EXPECT_REL(a, b, tol) EXPECT_NEAR(a, b, (tol)*std::max({std::abs(a), std::abs(b), 1e-12}))

TEST(Adjoint, Projection) {
  std::mt19937_64 rng(1);
  const Mat v = randm(rng, 6, 3), ybar = randm(rng, 6, 3), dir = randm(rng, 6, 3);
  const double pt = 7;
  auto phi = [&](const Mat& x) {
    cmat c(x);
    core::project_power<double>(c.view(), pt);
    return re_dot(ybar, c.eigen());
  };
  cmat vc(v), yc(ybar), vb(6, 3);
  core::project_power_adjoint<double>(vc.view(), yc.view(), vb.view(), pt);
  EXPECT_REL(fd(phi, v, dir, 1e-6), re_dot(vb.eigen(), dir), 1e-7);
}

TEST(Adjoint, NormalizedStep) {
  std::mt19937_64 rng(2);
  const Mat w = randm(rng, 6, 3), dir = randm(rng, 6, 3), ybar = randm(rng, 6, 3);
  const Mat dw = randm(rng, 6, 3), dd = randm(rng, 6, 3);
  const double pt = 5, beta = 0.3;
  auto step = [&](const Mat& w_, const Mat& d_, double b) {
    cmat wc(w_), dc(d_);
    core::normalized_step<double>(wc.view(), dc.view(), b, pt);
    return re_dot(ybar, wc.eigen());
  };
  const Mat v = w - beta * dir / dir.norm();
  cmat vc(v), dc(dir), yc(ybar), vb(6, 3), wb(6, 3), db(6, 3);
  const double bbar =
      core::normalized_step_adjoint<double>(vc.view(), dc.view(), beta, pt, yc.view(), vb.view(), wb.view(), db.view());
  EXPECT_REL(fd([&](const Mat& x) { return step(x, dir, beta); }, w, dw, 1e-6), re_dot(wb.eigen(), dw), 1e-7);
  EXPECT_REL(fd([&](const Mat& x) { return step(w, x, beta); }, dir, dd, 1e-6), re_dot(db.eigen(), dd), 1e-7);
  const double h = 1e-6;
  EXPECT_REL((step(w, dir, beta + h) - step(w, dir, beta - h)) / (2 * h), bbar, 1e-7);
}

/// A prepared layer on a random problem, to test the adjoints of its pieces.
struct prepared {
  ref::problem p;
  loaded L;
  cmat w, f;
  workspace<core::solver_ws<double>> ws;
  double mu_c = 6, mu_s = 9;
  prepared(const ref::problem& pp, std::mt19937_64& rng)
      : p(pp), L(pp), w(ref::project(randm(rng, pp.nt(), pp.k()), pp.pt)), f(randm(rng, pp.nr(), pp.m)), ws(L.d) {}
  /// Runs metrics + layer_prepare at (W, F, mu); returns F'.
  Mat run(const Mat& wm, const Mat& fm, double mc, double ms) {
    cmat wc(wm);
    f = cmat(fm);
    w = wc;
    L.rc.visit([&](const auto& ch) {
      core::evaluate_metrics<double>(ch, w.view(), f.view(), L.d, L.sys, ws.ws.mt);
      core::layer_prepare<double>(ch, L.d, L.sys, mc, ms, ws.ws.mt, f.view(), ws.ws.lw);  // the training's form
    });
    return f.eigen();
  }
};

class AdjointShapes : public ::testing::TestWithParam<bool> {};

TEST_P(AdjointShapes, MetricsAndObjective) {
  std::mt19937_64 rng(3);
  const ref::problem p = ref::random_problem(rng, 6, 5, 3, 2, 1, GetParam());
  loaded L(p);
  const int K = p.k(), M = p.m;
  std::vector<double> gc(K), tc(K), gs(M), ts(M);
  for (auto* v : {&gc, &tc, &gs, &ts})
    for (double& x : *v) x = std::normal_distribution<double>(0, 1)(rng);
  const Mat eb = randm(rng, K, 1), qb = randm(rng, K, M), pb = randm(rng, p.nr() * K * p.j(), 1);
  const double hbar = 0.7;
  workspace<core::solver_ws<double>> ws(L.d);
  auto phi = [&](const Mat& wm, const Mat& fm) {
    cmat wc(wm), fc(fm);
    core::metrics<double>& mt = ws.ws.mt;
    L.rc.visit([&](const auto& ch) { core::evaluate_metrics<double>(ch, wc.view(), fc.view(), L.d, L.sys, mt); });
    double s = hbar * mt.objective;
    for (int k = 0; k < K; ++k)
      s += gc[k] * mt.gamma_c[k] + tc[k] * mt.t_c[k] + (std::conj(eb(k)) * zd(mt.e[k].re, mt.e[k].im)).real();
    for (int m = 0; m < M; ++m) {
      s += gs[m] * mt.gamma_s[m] + ts[m] * mt.t_s[m];
      for (int k = 0; k < K; ++k) s += (std::conj(qb(k, m)) * zd(mt.q[m * K + k].re, mt.q[m * K + k].im)).real();
    }
    for (long i = 0; i < pb.size(); ++i) s += (std::conj(pb(i)) * zd(mt.p[i].re, mt.p[i].im)).real();
    return s;
  };
  const Mat w0 = ref::project(randm(rng, p.nt(), K), p.pt), f0 = randm(rng, p.nr(), M);
  phi(w0, f0);
  std::vector<char> mbytes(1 << 16);
  arena a{mbytes.data()};
  core::metrics_bar<double> mb;
  mb.carve(a, L.d);
  mb.zero(L.d);
  for (int k = 0; k < K; ++k) {
    mb.gamma_c[k] = gc[k];
    mb.t_c[k] = tc[k];
    mb.e[k] = {eb(k).real(), eb(k).imag()};
  }
  for (int m = 0; m < M; ++m) {
    mb.gamma_s[m] = gs[m];
    mb.t_s[m] = ts[m];
    for (int k = 0; k < K; ++k) mb.q[m * K + k] = {qb(k, m).real(), qb(k, m).imag()};
  }
  for (long i = 0; i < pb.size(); ++i) mb.p[i] = {pb(i).real(), pb(i).imag()};
  core::objective_adjoint<double>(L.d, L.sys, ws.ws.mt, hbar, mb);
  cmat wc(w0), fc(f0), wb(p.nt(), K), fb(p.nr(), M);
  L.rc.visit([&](const auto& ch) {
    core::metrics_adjoint<double>(ch, wc.view(), fc.view(), L.d, L.sys, ws.ws.mt, mb, wb.view(), fb.view());
  });
  for (int t = 0; t < 3; ++t) {
    const Mat dw = randm(rng, p.nt(), K), df = randm(rng, p.nr(), M);
    EXPECT_REL(fd([&](const Mat& x) { return phi(x, f0); }, w0, dw, 1e-6), re_dot(wb.eigen(), dw), 1e-6);
    EXPECT_REL(fd([&](const Mat& x) { return phi(w0, x); }, f0, df, 1e-6), re_dot(fb.eigen(), df), 1e-6);
  }
}

TEST_P(AdjointShapes, LayerPrepareAndSurrogateDirection) {
  std::mt19937_64 rng(4);
  const ref::problem p = ref::random_problem(rng, 6, 5, 3, 2, 1, GetParam());
  prepared pr(p, rng);
  const problem_dims d = pr.L.d;
  const Mat w0 = pr.w.eigen(), f0 = pr.f.eigen();
  pr.run(w0, f0, 6, 9);
  const int R = pr.ws.ws.lw.sur.l.cols;  // the merged form's K + J for rank-one G, else K + J M
  ASSERT_EQ(R, core::surrogate_cols(d, GetParam()));
  const Mat wd = ref::project(randm(rng, d.nt, d.k), p.pt);  // the point D is evaluated at
  const Mat lbar = randm(rng, d.nt, R), ahbar = randm(rng, d.nt, d.k), fnbar = randm(rng, d.nr, d.m),
            dirbar = randm(rng, d.nt, d.k);
  std::vector<double> dbar(R);
  for (double& x : dbar) x = std::normal_distribution<double>(0, 1)(rng);
  // phi = <Lbar, L> + dbar.d + <Ahbar, Ah> + <Fbar, F'> + <Dirbar, D(wd)>.
  auto phi = [&](const Mat& wm, const Mat& fm, double mc, double ms, const Mat& wdm) {
    const Mat fnew = pr.run(wm, fm, mc, ms);
    const core::surrogate<double>& s = pr.ws.ws.lw.sur;
    cmat l(d.nt, R), ah(d.nt, d.k);
    core::copy<double>(s.l, l.view());
    core::copy<double>(s.ah, ah.view());
    double v = re_dot(lbar, l.eigen()) + re_dot(ahbar, ah.eigen()) + re_dot(fnbar, fnew);
    for (int r = 0; r < R; ++r) v += dbar[r] * s.d[r];
    cmat wdc(wdm), dir(d.nt, d.k);
    core::surrogate_eval<double>(pr.ws.ws.lw.sur, wdc.view(), dir.view());
    return v + re_dot(dirbar, dir.eigen());
  };
  const double mc = 6, ms = 9;
  const Mat fnew = pr.run(w0, f0, mc, ms);
  // Adjoint.
  std::vector<char> bytes(1 << 18);
  arena a{bytes.data()};
  core::metrics_bar<double> mb;
  core::surrogate_bar<double> sb;
  core::layer_bar<double> lb;
  mb.carve(a, d);
  sb.carve(a, d);
  lb.carve(a, d);
  mb.zero(d);
  sb.zero();
  cmat wdc(wd), dbc(dirbar), wdbar(d.nt, d.k);
  core::surrogate<double>& sur = pr.ws.ws.lw.sur;
  cmat n(R, d.k), nodir(d.nt, d.k);
  core::surrogate_eval<double>(sur, wdc.view(), nodir.view(), n.view());  // N = L^H W at wd, as the forward tapes it
  core::surrogate_direction_adjoint<double>(sur, wdc.view(), n.view(), dbc.view(), wdbar.view(), sb);
  for (int r = 0; r < R; ++r) {
    sb.d[r] += dbar[r];
    for (int n = 0; n < d.nt; ++n) sb.l(n, r) += cplx<double>(lbar(n, r).real(), lbar(n, r).imag());
  }
  for (int k = 0; k < d.k; ++k)
    for (int n = 0; n < d.nt; ++n) sb.ah(n, k) += cplx<double>(ahbar(n, k).real(), ahbar(n, k).imag());
  for (int m = 0; m < d.m; ++m)
    for (int r = 0; r < d.nr; ++r) lb.fnew(r, m) = cplx<double>(fnbar(r, m).real(), fnbar(r, m).imag());
  cmat fnc(fnew), wb(d.nt, d.k), fb(d.nr, d.m), w0c(w0), f0c(f0);
  double mcb = 0, msb = 0;
  pr.L.rc.visit([&](const auto& ch) {
    core::team_layer_prepare_adjoint<double>(core::serial_team{}, ch, d, pr.L.sys, mc, ms, pr.ws.ws.mt, pr.ws.ws.lw,
                                             fnc.view(), sb, lb, mb, fb.view(), &mcb, &msb, core::no_marks{});
    core::metrics_adjoint<double>(ch, w0c.view(), f0c.view(), d, pr.L.sys, pr.ws.ws.mt, mb, wb.view(), fb.view());
  });
  for (int t = 0; t < 3; ++t) {
    const Mat dw = randm(rng, d.nt, d.k), df = randm(rng, d.nr, d.m), dwd = randm(rng, d.nt, d.k);
    EXPECT_REL(fd([&](const Mat& x) { return phi(x, f0, mc, ms, wd); }, w0, dw, 1e-6), re_dot(wb.eigen(), dw), 2e-6);
    EXPECT_REL(fd([&](const Mat& x) { return phi(w0, x, mc, ms, wd); }, f0, df, 1e-6), re_dot(fb.eigen(), df), 2e-6);
    EXPECT_REL(fd([&](const Mat& x) { return phi(w0, f0, mc, ms, x); }, wd, dwd, 1e-6), re_dot(wdbar.eigen(), dwd),
               2e-6);
  }
  const double h = 1e-6;
  EXPECT_REL((phi(w0, f0, mc + h, ms, wd) - phi(w0, f0, mc - h, ms, wd)) / (2 * h), mcb, 2e-6);
  EXPECT_REL((phi(w0, f0, mc, ms + h, wd) - phi(w0, f0, mc, ms - h, wd)) / (2 * h), msb, 2e-6);
}

/// Full loss gradient vs finite differences for every parameter kind.
/// i_w = 1 makes an odd number of W steps a layer (the backward's adjoint buffers swap
/// roles every step, core/training.hpp).
void check_full_gradient(bool rank1, bool frozen, int seed, bool per_layer = false, double final_weight = 0,
                         int i_w = 2) {
  std::mt19937_64 rng(seed);
  const ref::problem p = ref::random_problem(rng, 6, 5, 3, 2, 1, rank1);
  loaded L(p);
  const problem_dims d = L.d;
  core::unfolded_params<double> up;
  up.l_out = 5;
  up.l_in = i_w == 2 ? 2 : 3;
  up.i_w = i_w;
  up.frozen = frozen;
  up.mu_c = 8;
  up.mu_s = 5;
  up.loss_final_weight = final_weight;
  std::vector<double> beta(up.l_out * up.l_in);
  for (size_t i = 0; i < beta.size(); ++i) beta[i] = 0.05 + 0.02 * double(i % 3);
  up.beta = beta.data();
  std::vector<double> muc = {8, 6, 11, 9, 4}, mus = {5, 7, 3, 12, 6};
  if (per_layer) {
    up.mu_c_layer = muc.data();
    up.mu_s_layer = mus.data();
  }
  const int nmu = up.mu_count();
  std::vector<zd> w0v, f0v;
  cpu::init_batch(L.cs, L.sys, f0_method::lapack, w0v, f0v);
  cmat w0(d.nt, d.k), f0(d.nr, d.m);
  for (size_t i = 0; i < w0.v.size(); ++i) w0.v[i] = {w0v[i].real(), w0v[i].imag()};
  for (size_t i = 0; i < f0.v.size(); ++i) f0.v[i] = {f0v[i].real(), f0v[i].imag()};
  std::vector<char> bytes(size_t(core::training_ws<double>::bytes(d, up.l_out, up.l_in * up.i_w)));
  arena a{bytes.data()};
  core::training_ws<double> ws;
  ws.carve(a, d, up.l_out, up.l_in * up.i_w);
  const double scale = -0.5;
  // The loss at q (and its gradient into gb, gm where non-null), in workspace tw.
  // team > 0: by a team of that many std::threads (tests/core/thread_team.hpp), as a warp does.
  auto loss_of = [&](const core::unfolded_params<double>& q, std::vector<double>* gb, double* gm,
                     core::training_ws<double>* tw = nullptr, int team = 0) {
    std::vector<double> g(beta.size(), 0.0), gmu(size_t(nmu), 0.0);
    double loss = 0;
    L.rc.visit([&](const auto& ch) {
      const auto one = [&](const auto& tm) {
        EXPECT_EQ(core::unfolded_loss_grad<double>(ch, d, L.sys, q, w0.view(), f0.view(), scale, tw ? *tw : ws, &loss,
                                                   g.data(), gmu.data(), core::no_marks{}, tm),
                  status::ok);
      };
      if (team == 0)
        one(core::serial_team{});
      else
        run_team(team, one);
    });
    if (gb) *gb = g;
    if (gm) std::copy(gmu.begin(), gmu.end(), gm);
    return loss;
  };
  std::vector<double> gb;
  double gm[10];
  const double loss = loss_of(up, &gb, gm);
  // Without room for the layer tapes the backward recomputes each layer onto one tape:
  // the same loss and gradient (to rounding: the compiler may fuse the two inlined copies
  // of a layer's forward differently).
  {
    std::vector<char> one(size_t(core::training_ws<double>::bytes(d, up.l_out, up.l_in * up.i_w, 0)));
    ASSERT_LT(one.size(), bytes.size());
    arena a1{one.data()};
    core::training_ws<double> rw;
    rw.carve(a1, d, up.l_out, up.l_in * up.i_w, 0);
    ASSERT_FALSE(rw.keep_tapes);
    ASSERT_TRUE(ws.keep_tapes);
    std::vector<double> g;
    double gmu[10];
    const double l1 = loss_of(up, &g, gmu, &rw);
    double gscale = 0;  // rounding is relative to the gradient's size, not each entry's
    for (double x : gb) gscale = std::max(gscale, std::abs(x));
    for (int i = 0; i < nmu; ++i) gscale = std::max(gscale, std::abs(gm[i]));
    EXPECT_NEAR(l1, loss, 1e-13 * std::abs(loss));
    for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], gb[i], 1e-12 * gscale) << "beta " << i;
    for (int i = 0; i < nmu; ++i) EXPECT_NEAR(gmu[i], gm[i], 1e-12 * gscale) << "mu " << i;
    // A team of threads runs the step together (core/training.hpp, team pieces): the same
    // loss and gradient to rounding (only ||D||_F is summed in another order), with the
    // tapes kept and recomputed, for team sizes that do and do not divide the pieces.
    for (int team : {1, 3, 4})
      for (core::training_ws<double>* tw : {&ws, &rw}) {
        std::vector<double> gt;
        double gmt[10];
        const double lt = loss_of(up, &gt, gmt, tw, team);
        EXPECT_NEAR(lt, loss, 1e-13 * std::abs(loss)) << "team " << team;
        for (size_t i = 0; i < gt.size(); ++i)
          EXPECT_NEAR(gt[i], gb[i], 1e-12 * gscale) << "team " << team << " beta " << i;
        for (int i = 0; i < nmu; ++i) EXPECT_NEAR(gmt[i], gm[i], 1e-12 * gscale) << "team " << team << " mu " << i;
      }
  }
  // The workspace carved from two arenas, as a GPU block carves it (kernels/train_kernels.cu:
  // the near part in shared memory, the saved states in global memory), every layer
  // recomputed: the one-arena recompute's loss and gradient bit for bit, serially and by
  // a team (whose ranks share the tape's views: core::training_ws::select_tape).
  {
    const index_t steps = up.l_in * up.i_w;
    const long nb = core::training_ws<double>::near_bytes(d, up.l_out, steps, 0),
               fb = core::training_ws<double>::far_bytes(d, up.l_out);
    EXPECT_EQ(nb + fb, core::training_ws<double>::bytes(d, up.l_out, steps, 0));
    std::vector<char> near_b(size_t(nb), char(0xFF)), far_b(size_t(fb), char(0xFF)), one_b(size_t(nb + fb));
    arena an{near_b.data()}, af{far_b.data()}, a1{one_b.data()};
    core::training_ws<double> split, one;
    split.carve(an, af, d, up.l_out, steps, 0);
    one.carve(a1, d, up.l_out, steps, 0);
    EXPECT_EQ(an.used, nb);
    EXPECT_EQ(af.used, fb);
    for (int team : {0, 3}) {
      std::vector<double> g1, g2;
      double m1[10], m2[10];
      const double l1 = loss_of(up, &g1, m1, &one, team), l2 = loss_of(up, &g2, m2, &split, team);
      EXPECT_EQ(l1, l2) << "team " << team;
      EXPECT_EQ(g1, g2) << "team " << team;
      for (int i = 0; i < nmu; ++i) EXPECT_EQ(m1[i], m2[i]) << "team " << team << " mu " << i;
    }
  }
  // The step reads nothing of its workspace that it did not write in this call: one whose
  // every byte is 0xFF (NaN doubles) gives the same loss and gradient, serially and by a
  // team, with the tapes kept and recomputed. (A stale workspace from another K, or
  // cudaMalloc's, must not leak into a gradient.)
  for (const long budget : {core::tape_budget, 0L}) {
    const long nb = core::training_ws<double>::bytes(d, up.l_out, up.l_in * up.i_w, budget);
    std::vector<char> poisoned(size_t(nb), char(0xFF));
    arena ap{poisoned.data()};
    core::training_ws<double> pw;
    pw.carve(ap, d, up.l_out, up.l_in * up.i_w, budget);
    for (int team : {0, 3}) {
      std::vector<double> gp;
      double gmp[10];
      const double lp = loss_of(up, &gp, gmp, &pw, team);
      if (team == 0 && budget != 0) {
        EXPECT_EQ(lp, loss) << "rank1 " << rank1;
        EXPECT_EQ(gp, gb) << "rank1 " << rank1;
      }
      EXPECT_TRUE(std::isfinite(lp)) << "team " << team << " budget " << budget;
      for (size_t i = 0; i < gp.size(); ++i)
        EXPECT_NEAR(gp[i], gb[i], 1e-10 * std::max(1.0, std::abs(gb[i]))) << "team " << team << " beta " << i;
      for (int i = 0; i < nmu; ++i) EXPECT_NEAR(gmp[i], gm[i], 1e-10 * std::max(1.0, std::abs(gm[i]))) << "mu " << i;
      std::fill(poisoned.begin(), poisoned.end(), char(0xFF));
    }
  }
  // The loss is eq. 19 of the forward the solvers run.
  {
    std::vector<double> curve(up.l_out + 1);
    workspace<core::solver_ws<double>> sw(d);
    core::solve_result<double> res;
    cmat w(w0), f(f0);
    L.rc.visit([&](const auto& ch) {
      core::unfolded_forward<double>(ch, d, L.sys, up, w.view(), f.view(), curve.data(), sw.ws, res);
    });
    double expect = 0;
    for (int l = 1; l <= up.l_out; ++l) expect += curve[l] / l;
    expect += final_weight * curve[up.l_out];
    EXPECT_NEAR(loss, scale * expect, 1e-12 * std::abs(loss));
  }
  const double h = 1e-6;
  for (size_t i = 0; i < beta.size(); ++i) {
    std::vector<double> bp = beta, bm = beta;
    bp[i] += h;
    bm[i] -= h;
    core::unfolded_params<double> qp = up, qm = up;
    qp.beta = bp.data();
    qm.beta = bm.data();
    const double num = (loss_of(qp, nullptr, nullptr) - loss_of(qm, nullptr, nullptr)) / (2 * h);
    EXPECT_NEAR(gb[i], num, 1e-5 * std::max(std::abs(num), 1e-3))
        << "beta " << i << " rank1 " << rank1 << " frozen " << frozen;
  }
  for (int slot = 0; slot < nmu; ++slot) {
    core::unfolded_params<double> qp = up, qm = up;
    std::vector<double> cp = muc, cm = muc, sp = mus, sm = mus;
    if (per_layer) {
      (slot < up.l_out ? cp[slot] : sp[slot - up.l_out]) += h;
      (slot < up.l_out ? cm[slot] : sm[slot - up.l_out]) -= h;
      qp.mu_c_layer = cp.data();
      qp.mu_s_layer = sp.data();
      qm.mu_c_layer = cm.data();
      qm.mu_s_layer = sm.data();
    } else {
      (slot == 0 ? qp.mu_c : qp.mu_s) += h;
      (slot == 0 ? qm.mu_c : qm.mu_s) -= h;
    }
    const double num = (loss_of(qp, nullptr, nullptr) - loss_of(qm, nullptr, nullptr)) / (2 * h);
    EXPECT_NEAR(gm[slot], num, 1e-5 * std::max(std::abs(num), 1e-3)) << "mu slot " << slot;
  }
}

TEST_P(AdjointShapes, FullLossGradientPaperVariant) { check_full_gradient(GetParam(), false, 5); }
TEST_P(AdjointShapes, FullLossGradientFrozenVariant) { check_full_gradient(GetParam(), true, 6); }
TEST_P(AdjointShapes, FullLossGradientPerLayerMu) { check_full_gradient(GetParam(), false, 7, true); }
TEST_P(AdjointShapes, FullLossGradientFinalLayerWeight) { check_full_gradient(GetParam(), false, 8, true, 3.0); }
TEST_P(AdjointShapes, FullLossGradientOddStepCount) { check_full_gradient(GetParam(), false, 9, false, 0, 1); }
TEST_P(AdjointShapes, FullLossGradientOddStepCountFrozen) { check_full_gradient(GetParam(), true, 10, false, 0, 1); }

INSTANTIATE_TEST_SUITE_P(Channels, AdjointShapes, ::testing::Values(true, false),
                         [](const auto& i) { return i.param ? "rank1" : "dense"; });

}  // namespace
}  // namespace jcas::test
