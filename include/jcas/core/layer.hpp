// One outer layer of the AO / unfolded method (SPEC.md section 4, paper eqs. 8-18),
// split into the steps that every algorithm shares:
//   layer_prepare   steps 1-5: weights, quadratic-transform auxiliaries, receiver
//                   update F -> F', and the W-subproblem g(W) = tr(W^H B_t W) - 2 Re tr(W A_t)
//   surrogate_eval  g(W) and its direction D(W) = B_t W - A_t^H (eq. 16 without the 2)
//   normalized_step step 6, one projected normalised gradient step (eq. 18)
// B_t is kept factored, B_t = L diag(d) L^H with L = [H | y_jm] (y_jm = G_j^H f'_m),
// d = [z_ck |theta_ck|^2 | delta z_sm ||theta_sm||^2], so D(W) costs O(Nt K R), R = K + J M,
// and no Nt x Nt matrix is ever formed.
#pragma once
#include "jcas/core/metrics.hpp"
#include "jcas/core/projection.hpp"

namespace jcas::core {

/// Smoothed-min weights (eq. 8): z = softmax(-mu r), r = ln(1 + gamma), shifted by the
/// minimum rate so the largest exponent is exp(0); sums to 1 (SPEC.md section 9).
template <class T>
JCAS_HD inline void softmin_weights(index_t n, const T* gamma, T mu, T* z) {
  T rmin = T(log1p(gamma[0]));
  for (index_t i = 1; i < n; ++i) rmin = fmin(rmin, T(log1p(gamma[i])));
  T sum = 0;
  for (index_t i = 0; i < n; ++i) {
    z[i] = exp(-mu * (T(log1p(gamma[i])) - rmin));
    sum += z[i];
  }
  for (index_t i = 0; i < n; ++i) z[i] /= sum;
}

/// The W-subproblem of one layer (eq. 14-16).
template <class T>
struct surrogate {
  mview<T> l;   // Nt x R
  T* d;         // R, all >= 0
  mview<T> ah;  // Nt x K: A_t^H
  mview<T> s;   // R x K scratch: d .* (L^H W)

  template <class A>
  JCAS_HD void carve(A& a, const problem_dims& dm) {
    l = a.template mat<T>(dm.nt, dm.rank_bt());
    d = a.template take<T>(dm.rank_bt());
    ah = a.template mat<T>(dm.nt, dm.k);
    s = a.template mat<T>(dm.rank_bt(), dm.k);
  }
};

/// g(W) = sum_r d_r ||L_r^H W||^2 - 2 Re <A_t^H, W>; when dir is non-null also
/// writes D(W) = L diag(d) L^H W - A_t^H into it.
template <class T>
JCAS_HD inline T surrogate_eval(surrogate<T>& sur, cview<T> w, mview<T> dir) {
  gemm_hn<T>(sur.l, w, sur.s);
  T g = -2 * re_inner<T>(sur.ah, w);
  for (index_t k = 0; k < w.cols; ++k)
    for (index_t r = 0; r < sur.l.cols; ++r) {
      g += sur.d[r] * norm2(sur.s(r, k));
      sur.s(r, k) *= sur.d[r];
    }
  if (dir.data != nullptr)
    for (index_t k = 0; k < w.cols; ++k) {
      cplx<T>* dk = dir.col(k);
      for (index_t n = 0; n < w.rows; ++n) dk[n] = -sur.ah(n, k);
      for (index_t r = 0; r < sur.l.cols; ++r) {
        const cplx<T> c = sur.s(r, k);
        const cplx<T>* lr = sur.l.col(r);
        for (index_t n = 0; n < w.rows; ++n) dk[n] += lr[n] * c;
      }
    }
  return g;
}

/// Step 6 (eq. 18): W <- Pi_S(W - beta D / ||D||_F). No move when D = 0.
/// Returns ||D||_F.
template <class T>
JCAS_HD inline T normalized_step(mview<T> w, cview<T> dir, T beta, T pt) {
  const T nd = sqrt(frob2(dir));
  if (!(nd > T(0))) return nd;
  const T a = beta / nd;
  for (index_t k = 0; k < w.cols; ++k)
    for (index_t n = 0; n < w.rows; ++n) w(n, k) -= dir(n, k) * a;
  project_power(w, pt);
  return nd;
}

/// Scratch of layer_prepare.
template <class T>
struct layer_ws {
  T* z_c;          // K
  T* z_s;          // M
  cplx<T>* th_c;   // K: theta_ck
  cplx<T>* th_s;   // K x M: column m = theta_sm^T
  mview<T> q;      // Nr x Nr: Q, then its Cholesky factor
  surrogate<T> sur;

  template <class A>
  JCAS_HD void carve(A& a, const problem_dims& d) {
    z_c = a.template take<T>(d.k);
    z_s = a.template take<T>(d.m);
    th_c = a.template take<cplx<T>>(d.k);
    th_s = a.template take<cplx<T>>(long(d.k) * d.m);
    q = a.template mat<T>(d.nr, d.nr);
    sur.carve(a, d);
  }
};

/// Steps 1-5 of SPEC.md section 4 at the incoming (W, F), whose metrics are `mt`.
/// Writes F' into f (Nr x M, in/out) and the W-subproblem into ws.sur.
/// A combiner whose theta_sm is zero (no echo at all) is left unchanged.
template <class T, class Ch>
JCAS_HD inline status layer_prepare(const Ch& ch, const problem_dims& d, const system_params<T>& sys,
                                    T mu_c, T mu_s, const metrics<T>& mt, mview<T> f, layer_ws<T>& ws) {
  // Steps 1-2: xi = gamma; weights (eq. 8).
  softmin_weights(d.k, mt.gamma_c, mu_c, ws.z_c);
  softmin_weights(d.m, mt.gamma_s, mu_s, ws.z_s);
  // Step 3: auxiliaries (eq. 12).
  for (index_t k = 0; k < d.k; ++k) ws.th_c[k] = mt.e[k] * (sqrt(1 + mt.gamma_c[k]) / mt.t_c[k]);
  for (index_t m = 0; m < d.m; ++m) {
    const T a = sqrt(1 + mt.gamma_s[m]) / mt.t_s[m];
    for (index_t k = 0; k < d.k; ++k) ws.th_s[long(m) * d.k + k] = mt.q[long(m) * d.k + k] * a;
  }
  // Step 4: Q = sum_j P_j P_j^H + Nr sigma_s^2 I (lower triangle), f'_m (eq. 13).
  for (index_t c = 0; c < d.nr; ++c)
    for (index_t r = c; r < d.nr; ++r) ws.q(r, c) = cplx<T>(r == c ? T(d.nr) * sys.sigma_s2 : T(0));
  for (index_t j = 0; j < d.j(); ++j)
    for (index_t k = 0; k < d.k; ++k) {
      const cplx<T>* pk = mt.pcol(j, k, d);
      for (index_t c = 0; c < d.nr; ++c) {
        const cplx<T> pc = conj(pk[c]);
        for (index_t r = c; r < d.nr; ++r) ws.q(r, c) += pk[r] * pc;
      }
    }
  const status st = cholesky(ws.q);
  if (st != status::ok) return st;
  for (index_t m = 0; m < d.m; ++m) {
    const cplx<T>* th = ws.th_s + long(m) * d.k;
    const T th2 = nrm2sq(d.k, th);
    if (!(th2 > T(0))) continue;
    cplx<T>* fm = f.col(m);
    for (index_t r = 0; r < d.nr; ++r) fm[r] = cplx<T>();
    for (index_t k = 0; k < d.k; ++k) {
      const cplx<T>* pk = mt.pcol(m, k, d);
      const cplx<T> c = conj(th[k]);
      for (index_t r = 0; r < d.nr; ++r) fm[r] += pk[r] * c;
    }
    cholesky_solve<T>(ws.q, fm);
    const T a = sqrt(1 + mt.gamma_s[m]) / th2;
    for (index_t r = 0; r < d.nr; ++r) fm[r] *= a;
  }
  // Step 5: B_t = L diag(d) L^H and A_t^H (eqs. 14-15), built with F'.
  surrogate<T>& sur = ws.sur;
  for (index_t k = 0; k < d.k; ++k) {
    for (index_t n = 0; n < d.nt; ++n) sur.l(n, k) = ch.h(n, k);
    sur.d[k] = ws.z_c[k] * norm2(ws.th_c[k]);
    const cplx<T> a = ws.th_c[k] * (ws.z_c[k] * sqrt(1 + mt.gamma_c[k]));  // column k of A_c^H
    for (index_t n = 0; n < d.nt; ++n) sur.ah(n, k) = ch.h(n, k) * a;
  }
  for (index_t m = 0; m < d.m; ++m) {
    const cplx<T>* th = ws.th_s + long(m) * d.k;
    const T cm = sys.delta * ws.z_s[m] * nrm2sq(d.k, th);
    for (index_t j = 0; j < d.j(); ++j) {
      const index_t r = d.k + m * d.j() + j;
      ch.apply_h(j, f.col(m), sur.l.col(r));  // y_jm = G_j^H f'_m
      sur.d[r] = cm;
    }
    // delta X^H: column k += delta z_sm sqrt(1 + xi_sm) theta_sm,k y_mm.
    const T xm = sys.delta * ws.z_s[m] * sqrt(1 + mt.gamma_s[m]);
    const cplx<T>* ymm = sur.l.col(d.k + m * d.j() + m);
    for (index_t k = 0; k < d.k; ++k) {
      const cplx<T> c = th[k] * xm;
      for (index_t n = 0; n < d.nt; ++n) sur.ah(n, k) += ymm[n] * c;
    }
  }
  return status::ok;
}

}  // namespace jcas::core
