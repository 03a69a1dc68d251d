// An independent, literal implementation of SPEC.md sections 2-5 with Eigen dense
// matrices: every matrix of the paper (A_c, X, B_c, Y, Q^{-1}) is formed explicitly.
// Slow and obviously correct; the core is checked against it.
#pragma once
#include <Eigen/Dense>
#include <complex>
#include <random>
#include <vector>

#include "jcas/api.hpp"

namespace jcas::ref {

using Mat = Eigen::MatrixXcd;
using Vec = Eigen::VectorXcd;
using Vr = Eigen::VectorXd;
using cd = std::complex<double>;

struct problem {
  Mat h;               // Nt x K
  std::vector<Mat> g;  // J of Nr x Nt
  int m = 2;
  double pt = 100, sc2 = 1, ss2 = 1, delta = 1;
  int nr() const { return int(g[0].rows()); }
  int nt() const { return int(h.rows()); }
  int k() const { return int(h.cols()); }
  int j() const { return int(g.size()); }
};

struct eval {
  Vr gc, gs;
  double h = 0;
};

inline eval evaluate(const problem& p, const Mat& w, const Mat& f) {
  eval e;
  e.gc.resize(p.k());
  e.gs.resize(p.m);
  for (int k = 0; k < p.k(); ++k) {
    const Eigen::RowVectorXcd row = p.h.col(k).adjoint() * w;
    const double t = row.squaredNorm() + p.sc2, s = std::norm(row(k));
    e.gc(k) = s / (t - s);
  }
  for (int m = 0; m < p.m; ++m) {
    double t = p.nr() * p.ss2 * f.col(m).squaredNorm(), s = 0;
    for (int j = 0; j < p.j(); ++j) {
      const double v = (f.col(m).adjoint() * p.g[j] * w).squaredNorm();
      t += v;
      if (j == m) s = v;
    }
    e.gs(m) = s / (t - s);
  }
  e.h = std::log1p(e.gc.minCoeff()) + p.delta * std::log1p(e.gs.minCoeff());
  return e;
}

inline Mat project(Mat w, double pt) {
  for (int n = 0; n < w.rows(); ++n) w.row(n) *= std::sqrt(pt / w.rows()) / w.row(n).norm();
  return w;
}

inline Vr softmin(const Vr& gamma, double mu) {
  Vr r = gamma.unaryExpr([](double x) { return std::log1p(x); });
  Vr z = (-mu * (r.array() - r.minCoeff())).exp();
  return z / z.sum();
}

/// The W-subproblem of one layer, all matrices explicit.
struct subproblem {
  Mat at, bt;  // A_t (K x Nt), B_t (Nt x Nt)
  Mat f_new;
  double g(const Mat& w) const { return (w.adjoint() * bt * w).trace().real() - 2 * (w * at).trace().real(); }
  Mat d(const Mat& w) const { return bt * w - at.adjoint(); }
};

/// Steps 1-5 of SPEC.md section 4 at (W, F).
inline subproblem prepare(const problem& p, const Mat& w, const Mat& f, double mu_c, double mu_s) {
  const eval e = evaluate(p, w, f);
  const Vr zc = softmin(e.gc, mu_c), zs = softmin(e.gs, mu_s);
  const int K = p.k(), M = p.m, Nr = p.nr(), Nt = p.nt();
  Vec thc(K);
  for (int k = 0; k < K; ++k) {
    const Eigen::RowVectorXcd row = p.h.col(k).adjoint() * w;
    thc(k) = std::sqrt(1 + e.gc(k)) * row(k) / (row.squaredNorm() + p.sc2);
  }
  std::vector<Eigen::RowVectorXcd> ths(M);
  for (int m = 0; m < M; ++m) {
    double t = Nr * p.ss2 * f.col(m).squaredNorm();
    for (int j = 0; j < p.j(); ++j) t += (f.col(m).adjoint() * p.g[j] * w).squaredNorm();
    ths[m] = std::sqrt(1 + e.gs(m)) * (f.col(m).adjoint() * p.g[m] * w) / t;
  }
  Mat q = Nr * p.ss2 * Mat::Identity(Nr, Nr);
  for (int j = 0; j < p.j(); ++j) q += p.g[j] * w * w.adjoint() * p.g[j].adjoint();
  subproblem s;
  s.f_new = f;
  for (int m = 0; m < M; ++m)
    s.f_new.col(m) = std::sqrt(1 + e.gs(m)) / ths[m].squaredNorm() * q.inverse() * p.g[m] * w * ths[m].adjoint();
  Mat ac = Mat::Zero(K, Nt), x = Mat::Zero(K, Nt), bc = Mat::Zero(Nt, Nt), y = Mat::Zero(Nt, Nt);
  for (int k = 0; k < K; ++k) ac.row(k) = zc(k) * std::sqrt(1 + e.gc(k)) * std::conj(thc(k)) * p.h.col(k).adjoint();
  for (int m = 0; m < M; ++m)
    x += zs(m) * std::sqrt(1 + e.gs(m)) * ths[m].adjoint() * s.f_new.col(m).adjoint() * p.g[m];
  for (int k = 0; k < K; ++k) bc += zc(k) * std::norm(thc(k)) * p.h.col(k) * p.h.col(k).adjoint();
  Mat pf = Mat::Zero(Nr, Nr);
  for (int m = 0; m < M; ++m) pf += zs(m) * ths[m].squaredNorm() * s.f_new.col(m) * s.f_new.col(m).adjoint();
  for (int j = 0; j < p.j(); ++j) y += p.g[j].adjoint() * pf * p.g[j];
  s.at = ac + p.delta * x;
  s.bt = bc + p.delta * y;
  return s;
}

/// One unfolded layer (SPEC.md 4.6), both inner variants.
inline void layer(const problem& p, Mat& w, Mat& f, double mu_c, double mu_s, const double* beta, int l_in, int i_w,
                  bool frozen) {
  const subproblem s = prepare(p, w, f, mu_c, mu_s);
  f = s.f_new;
  Mat d = s.d(w);
  for (int rep = 0; rep < i_w; ++rep)
    for (int i = 0; i < l_in; ++i) {
      if (!frozen) d = s.d(w);
      w = project(w - beta[i] * d / d.norm(), p.pt);
    }
}

/// Random problem: dense G or line-of-sight rank-one G.
inline problem random_problem(std::mt19937_64& rng, int nt, int nr, int k, int m, int c, bool rank1) {
  std::normal_distribution<double> n(0, 1);
  auto rnd = [&](int r, int cc) {
    Mat a(r, cc);
    for (int j = 0; j < cc; ++j)
      for (int i = 0; i < r; ++i) a(i, j) = cd(n(rng), n(rng));
    return a;
  };
  problem p;
  p.h = rnd(nt, k);
  p.m = m;
  for (int j = 0; j < m + c; ++j) p.g.push_back(rank1 ? Mat(rnd(nr, 1) * rnd(nt, 1).adjoint()) : rnd(nr, nt) * 0.5);
  p.pt = 10;
  p.delta = 1.5;
  p.sc2 = 0.7;
  p.ss2 = 1.3;
  return p;
}

/// The problem as a one-realization channel_set (core layout).
inline channel_set to_channels(const problem& p) {
  channel_set cs;
  cs.dims = {p.nt(), p.nr(), p.k(), p.m, p.j() - p.m};
  cs.count = 1;
  cs.h.assign(p.h.data(), p.h.data() + p.h.size());
  for (const Mat& gj : p.g) cs.g.insert(cs.g.end(), gj.data(), gj.data() + gj.size());
  return cs;
}
inline channel_set to_channels(const std::vector<problem>& ps) {
  channel_set cs = to_channels(ps[0]);
  cs.count = long(ps.size());
  for (size_t i = 1; i < ps.size(); ++i) {
    const channel_set one = to_channels(ps[i]);
    cs.h.insert(cs.h.end(), one.h.begin(), one.h.end());
    cs.g.insert(cs.g.end(), one.g.begin(), one.g.end());
  }
  return cs;
}

}  // namespace jcas::ref
