// The smoothed objective of eq. 8 and a projected ascent step on it, shared by the two
// solvers that climb it directly (core/ascent.hpp: ao-monotone and ascent):
//   h_mu(W, F) = smin_{mu_c}(r_c) + delta smin_{mu_s}(r_s),
//   smin_mu(r) = -(1/mu) ln sum_i exp(-mu r_i)   (<= min_i r_i, -> min as mu -> inf).
// d smin / d r_i = z_i, the softmin weights of eq. 8, so the W-gradient of h_mu is the
// metrics adjoint seeded with gamma_bar_i = z_i / (1 + gamma_i). It equals -2 D(W) of
// eq. 16 when the surrogate is rebuilt at the current (W, F): the quadratic transform is
// tight there and touches with the same slope.
#pragma once
#include "jcas/core/init.hpp"

namespace jcas::core {

/// smin_mu of r_i = ln(1 + gamma_i), shifted by the minimum rate (stable for any mu).
template <class T>
JCAS_HD inline T softmin_value(index_t n, const T* gamma, T mu) {
  T rmin = T(log1p(gamma[0]));
  for (index_t i = 1; i < n; ++i) rmin = fmin(rmin, T(log1p(gamma[i])));
  T sum = 0;
  for (index_t i = 0; i < n; ++i) sum += exp(-mu * (T(log1p(gamma[i])) - rmin));
  return rmin - log(sum) / mu;
}

/// h_mu(W, F) from the metrics at (W, F).
template <class T>
JCAS_HD inline T smoothed_objective(const problem_dims& d, const system_params<T>& sys, const metrics<T>& mt, T mu_c,
                                    T mu_s) {
  return softmin_value(d.k, mt.gamma_c, mu_c) + sys.delta * softmin_value(d.m, mt.gamma_s, mu_s);
}

/// A point of the climb: W, F and the metrics there.
template <class T>
struct climb_point {
  mview<T> w, f;
  metrics<T> mt;
  T value;  // h_mu(W, F)
  template <class A>
  JCAS_HD void carve(A& ar, const problem_dims& d) {
    w = ar.template mat<T>(d.nt, d.k);
    f = ar.template mat<T>(d.nr, d.m);
    mt.carve(ar, d);
  }
};

/// Scratch of the smoothed solvers (carved only for them: see solver_ws).
template <class T>
struct smooth_ws {
  climb_point<T> a, b;  // current and trial (swapped on acceptance)
  mview<T> best_w, best_f;
  metrics_bar<T> mb;
  mview<T> grad;   // Nt x K
  mview<T> fbar;   // Nr x M, unused output of metrics_adjoint
  mview<T> gram;   // K x K (zero-forcing start)
  mview<T> basis;  // Nt x C (clutter transmit directions)
  cplx<T>* tmp;    // Nr
  cplx<T>* kvec;   // K
  T* z;            // max(K, M)
  f0_ws<T> f0;

  template <class A>
  JCAS_HD void carve(A& ar, const problem_dims& d) {
    a.carve(ar, d);
    b.carve(ar, d);
    best_w = ar.template mat<T>(d.nt, d.k);
    best_f = ar.template mat<T>(d.nr, d.m);
    mb.carve(ar, d);
    grad = ar.template mat<T>(d.nt, d.k);
    fbar = ar.template mat<T>(d.nr, d.m);
    gram = ar.template mat<T>(d.k, d.k);
    basis = ar.template mat<T>(d.nt, d.c > 0 ? d.c : 1);
    tmp = ar.template take<cplx<T>>(d.nr);
    kvec = ar.template take<cplx<T>>(d.k);
    z = ar.template take<T>(d.k > d.m ? d.k : d.m);
    f0.carve(ar, d);
  }
};

/// grad = dh_mu/dRe W + i dh_mu/dIm W at the point, F held fixed. For F = F*(W) (every
/// SCNR maximised over its f_m) this is also the gradient of W -> h_mu(W, F*(W)): the
/// change of F* does not contribute to first order (envelope theorem).
template <class T, class Ch>
JCAS_HD inline void smoothed_gradient(const Ch& ch, const problem_dims& d, const system_params<T>& sys,
                                      const climb_point<T>& p, T mu_c, T mu_s, smooth_ws<T>& ws) {
  ws.mb.zero(d);
  softmin_weights(d.k, p.mt.gamma_c, mu_c, ws.z);
  for (index_t k = 0; k < d.k; ++k) ws.mb.gamma_c[k] = ws.z[k] / (1 + p.mt.gamma_c[k]);
  softmin_weights(d.m, p.mt.gamma_s, mu_s, ws.z);
  for (index_t m = 0; m < d.m; ++m) ws.mb.gamma_s[m] = sys.delta * ws.z[m] / (1 + p.mt.gamma_s[m]);
  for (index_t k = 0; k < d.k; ++k)
    for (index_t n = 0; n < d.nt; ++n) ws.grad(n, k) = cplx<T>();
  metrics_adjoint<T>(ch, p.w, p.f, d, sys, p.mt, ws.mb, ws.grad, ws.fbar);
}

/// Step rule of climb(): each step tries t, shrinks it by `shrink` until h_mu rises,
/// then the next step starts at min(grow t, t0) (grow = 0: always at t0).
template <class T>
struct climb_params {
  T t0 = 1, shrink = T(0.5), grow = 2, tol = T(1e-6);
  int max_steps = 200, max_shrinks = 40;
};

/// Projected gradient ascent on h_mu from ws.a (value set): W <- Pi_S(W + t grad/||grad||),
/// a step accepted only when h_mu rises, so h_mu never decreases. eval(point) fills a
/// trial's F (fixed or optimal) and metrics from its W. Stops when the relative rise of
/// one step is <= tol, when no t is accepted, or after max_steps. on_accept(point) sees
/// every accepted point. The final point is ws.a. Returns the accepted steps.
template <class T, class Ch, class Eval, class OnAccept>
JCAS_HD inline long climb(const Ch& ch, const problem_dims& d, const system_params<T>& sys, T mu_c, T mu_s,
                          const climb_params<T>& cp, smooth_ws<T>& ws, Eval&& eval, OnAccept&& on_accept) {
  T t = cp.t0;
  long n = 0;
  while (n < cp.max_steps) {
    smoothed_gradient<T>(ch, d, sys, ws.a, mu_c, mu_s, ws);
    const T ng = sqrt(frob2<T>(ws.grad));
    if (!(ng > T(0))) break;
    bool accepted = false;
    for (int s = 0; s <= cp.max_shrinks; ++s, t *= cp.shrink) {
      for (index_t k = 0; k < d.k; ++k)
        for (index_t i = 0; i < d.nt; ++i) ws.b.w(i, k) = ws.a.w(i, k) + ws.grad(i, k) * (t / ng);
      project_power(ws.b.w, sys.pt);
      eval(ws.b);
      ws.b.value = smoothed_objective(d, sys, ws.b.mt, mu_c, mu_s);
      if (ws.b.value > ws.a.value) {
        accepted = true;
        break;
      }
    }
    if (!accepted) break;
    const T old = ws.a.value;
    const climb_point<T> tmp = ws.a;
    ws.a = ws.b;
    ws.b = tmp;
    ++n;
    on_accept(ws.a);
    if (ws.a.value - old <= cp.tol * fabs(old)) break;
    t = cp.grow > T(0) ? fmin(t * cp.grow, cp.t0) : cp.t0;
  }
  return n;
}

}  // namespace jcas::core
