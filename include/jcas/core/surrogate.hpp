// The W-subproblem of one layer (SPEC.md section 4, paper eqs. 8, 16, 18) and, beside
// each forward, its adjoint: the smoothed-min weights (eq. 8), the surrogate
// g(W) = tr(W^H B_t W) - 2 Re tr(W A_t) with B_t = L diag(d) L^H kept factored and its
// direction D(W) = B_t W - A_t^H (eq. 16 without the 2), and the projected normalised
// step (eq. 18). The receiver update and the stages that build the surrogate are in
// core/layer.hpp. Adjoints are reverse mode; for a complex z the adjoint is
// dL/dRe z + i dL/dIm z.
#pragma once
#include "jcas/core/metrics.hpp"
#include "jcas/core/projection.hpp"

namespace jcas::core {
/// Smoothed-min weights (eq. 8): z = softmax(-mu r), r = ln(1 + gamma), shifted by the
/// minimum rate so the largest exponent is exp(0); sums to 1 (SPEC.md section 9).
template <class T>
JCAS_HD inline void softmin_weights(index_t n, const T* gamma, T mu, T* z) {
  for (index_t i = 0; i < n; ++i) z[i] = T(log1p(gamma[i]));  // the rates r
  T rmin = z[0];
  for (index_t i = 1; i < n; ++i) rmin = fmin(rmin, z[i]);
  T sum = 0;
  for (index_t i = 0; i < n; ++i) {
    z[i] = exp(-mu * (z[i] - rmin));
    sum += z[i];
  }
  for (index_t i = 0; i < n; ++i) z[i] /= sum;
}

/// The W-subproblem of one layer (eq. 14-16).
template <class T>
struct surrogate {
  mview<T> l;      // Nt x R
  mview<T> lh;     // R x Nt: L^H, so both products in D(W) are axpy loops (vectorise)
  T* d = nullptr;  // R, all >= 0
  mview<T> ah;     // Nt x K: A_t^H
  mview<T> s;      // R x K scratch: d .* (L^H W)

  template <class A>
  JCAS_HD void carve(A& a, const problem_dims& dm) {
    l = a.template mat<T>(dm.nt, dm.rank_bt());
    lh = a.template mat<T>(dm.rank_bt(), dm.nt);
    d = a.template take<T>(dm.rank_bt());
    ah = a.template mat<T>(dm.nt, dm.k);
    s = a.template mat<T>(dm.rank_bt(), dm.k);
  }
};

/// Columns of L: K + J for the merged rank-one layout, K + J M for the full one
/// (prepare_stage).
JCAS_HD inline index_t surrogate_cols(const problem_dims& d, bool merged) { return merged ? d.k + d.j() : d.rank_bt(); }

// D(W) = L diag(d) L^H W - A_t^H (eq. 16) in three pieces, so that a backend can run the
// two products as batched GEMMs over many realizations (core/batched.hpp) and the rest
// per realization; surrogate_eval runs all three on one realization.

/// S = L^H W, as axpys over the columns of L^H (layer_prepare fills L^H for
/// surrogate_use::loops and ::adjoint). The K columns are interleaved inside the loop
/// over n (and over r in surrogate_dir) so that K independent accumulation chains hide
/// the FMA latency: with one column at a time each product was a single dependent
/// chain, latency-bound.
template <class T>
JCAS_HD inline void surrogate_lhw(surrogate<T>& sur, cview<T> w) {
  const index_t rr = sur.l.cols;
  for (index_t k = 0; k < w.cols; ++k)
    for (index_t r = 0; r < rr; ++r) sur.s(r, k) = cplx<T>();
  for (index_t n = 0; n < w.rows; ++n) {
    const cplx<T>* ln = sur.lh.col(n);
    for (index_t k = 0; k < w.cols; ++k) {
      const cplx<T> wn = w(n, k);
      cplx<T>* sk = sur.s.col(k);
      for (index_t r = 0; r < rr; ++r) sk[r] += ln[r] * wn;
    }
  }
}

/// From S = L^H W: returns g(W) = sum_r d_r ||S_r||^2 - 2 Re <A_t^H, W> and scales
/// S <- diag(d) S, the middle factor of eq. 16.
template <class T>
JCAS_HD inline T surrogate_weigh(surrogate<T>& sur, cview<T> w) {
  T g = -2 * re_inner<T>(sur.ah, w);
  for (index_t k = 0; k < w.cols; ++k)
    for (index_t r = 0; r < sur.l.cols; ++r) {
      g += sur.d[r] * norm2(sur.s(r, k));
      sur.s(r, k) *= sur.d[r];
    }
  return g;
}

/// dir = -A_t^H; surrogate_dir then adds L S (or a GEMM does).
template <class T>
JCAS_HD inline void surrogate_dir_init(const surrogate<T>& sur, mview<T> dir) {
  for (index_t k = 0; k < dir.cols; ++k)
    for (index_t n = 0; n < dir.rows; ++n) dir(n, k) = -sur.ah(n, k);
}

/// dir += L S, with S = diag(d) L^H W from surrogate_weigh.
template <class T>
JCAS_HD inline void surrogate_dir(const surrogate<T>& sur, mview<T> dir) {
  for (index_t r = 0; r < sur.l.cols; ++r) {
    const cplx<T>* lr = sur.l.col(r);
    for (index_t k = 0; k < dir.cols; ++k) {
      const cplx<T> c = sur.s(r, k);
      cplx<T>* dk = dir.col(k);
      for (index_t n = 0; n < dir.rows; ++n) dk[n] += lr[n] * c;
    }
  }
}

/// g(W) = sum_r d_r ||L_r^H W||^2 - 2 Re <A_t^H, W>; when dir is non-null also
/// writes D(W) = L diag(d) L^H W - A_t^H into it, and when n is non-null L^H W into it
/// (R x K: what the adjoint reads, surrogate_direction_adjoint).
template <class T>
JCAS_HD JCAS_FORCEINLINE T surrogate_eval(surrogate<T>& sur, cview<T> w, mview<T> dir, mview<T> n = mview<T>()) {
  surrogate_lhw<T>(sur, w);
  if (n.data != nullptr)
    for (index_t k = 0; k < w.cols; ++k)
      for (index_t r = 0; r < sur.l.cols; ++r) n(r, k) = sur.s(r, k);
  const T g = surrogate_weigh<T>(sur, w);
  if (dir.data != nullptr) {
    surrogate_dir_init<T>(sur, dir);
    surrogate_dir<T>(sur, dir);
  }
  return g;
}

/// Step 6 (eq. 18): W <- Pi_S(W - beta D / ||D||_F). No move when D = 0.
/// Returns ||D||_F.
template <class T>
JCAS_HD inline T normalized_step(mview<T> w, cview<T> dir, T beta, T pt) {
  const T nd = sqrt(frob2(dir));
  if (!any(nd > T(0))) return nd;
  // A packed lane with D = 0 beside lanes that move takes a zero step; the projection
  // below then leaves its W as it was up to rounding.
  const T a = where(nd > T(0), beta / nd, T(0));
  for (index_t k = 0; k < w.cols; ++k)
    for (index_t n = 0; n < w.rows; ++n) w(n, k) -= dir(n, k) * a;
  project_power(w, pt);
  return nd;
}

/// Adjoint of softmin_weights: from zbar adds to gbar (d/dgamma) and *mubar.
template <class T>
JCAS_HD inline void softmin_adjoint(index_t n, const T* gamma, T mu, const T* z, const T* zbar, T* gbar, T* mubar) {
  T zz = 0;
  for (index_t i = 0; i < n; ++i) zz += z[i] * zbar[i];
  for (index_t i = 0; i < n; ++i) {
    const T abar = z[i] * (zbar[i] - zz);  // softmax of a = -mu r
    *mubar -= abar * T(log1p(gamma[i]));
    gbar[i] -= mu * abar / (1 + gamma[i]);
  }
}

/// Adjoints of the W-subproblem's pieces.
template <class T>
struct surrogate_bar {
  mview<T> l;   // Nt x R
  T* d;         // R
  mview<T> ah;  // Nt x K
  mview<T> mb;  // R x K scratch
  template <class A>
  JCAS_HD void carve(A& a, const problem_dims& dm) {
    l = a.template mat<T>(dm.nt, dm.rank_bt());
    d = a.template take<T>(dm.rank_bt());
    ah = a.template mat<T>(dm.nt, dm.k);
    mb = a.template mat<T>(dm.rank_bt(), dm.k);
  }
  JCAS_HD void zero() {
    for (index_t j = 0; j < l.cols; ++j) {
      d[j] = 0;
      for (index_t i = 0; i < l.rows; ++i) l(i, j) = cplx<T>();
    }
    for (index_t j = 0; j < ah.cols; ++j)
      for (index_t i = 0; i < ah.rows; ++i) ah(i, j) = cplx<T>();
  }
};

/// Adjoint of D(W) = L diag(d) L^H W - A_t^H at W, where n = L^H W (R x K, as the
/// forward's surrogate_eval wrote it): from dirbar adds to wbar and sb (L when l_bar, d,
/// A_t^H).
template <class T>
JCAS_HD inline void surrogate_direction_adjoint(const surrogate<T>& sur, cview<T> w, cview<T> n, cview<T> dirbar,
                                                mview<T> wbar, surrogate_bar<T>& sb, bool l_bar = true) {
  const index_t r_cnt = sur.l.cols, nt = w.rows, kk = w.cols;
  gemm_hn<T>(sur.l, dirbar, sb.mb);  // Mbar = L^H Dbar
  for (index_t k = 0; k < kk; ++k)
    for (index_t n = 0; n < nt; ++n) sb.ah(n, k) -= dirbar(n, k);
  for (index_t r = 0; r < r_cnt; ++r) {
    cplx<T>* lb = sb.l.col(r);
    const cplx<T>* lr = sur.l.col(r);
    for (index_t k = 0; k < kk; ++k) {
      const cplx<T> m = n(r, k) * sur.d[r];         // M = d .* N
      const cplx<T> nbar = sb.mb(r, k) * sur.d[r];  // Nbar = d .* Mbar
      sb.d[r] += cmulc(sb.mb(r, k), n(r, k)).re;
      const cplx<T> cm = conj(m), cn = conj(nbar);
      const cplx<T>* db = dirbar.col(k);
      const cplx<T>* wk = w.col(k);
      cplx<T>* wb = wbar.col(k);
      if (l_bar)
        for (index_t n = 0; n < nt; ++n) lb[n] += db[n] * cm + wk[n] * cn;  // Lbar += Dbar M^H + W Nbar^H
      for (index_t n = 0; n < nt; ++n) wb[n] += lr[n] * nbar;               // Wbar += L Nbar
    }
  }
}

/// Adjoint of normalized_step at (w, dir) with pre-projection point v = w - beta D/||D||:
/// from ybar (adjoint of the step's output) sets vbar, adds vbar to wbar, adds to
/// dirbar and returns dL/dbeta. No move (D = 0) passes ybar straight through.
template <class T>
JCAS_HD inline T normalized_step_adjoint(cview<T> v, cview<T> dir, T beta, T pt, cview<T> ybar, mview<T> vbar,
                                         mview<T> wbar, mview<T> dirbar) {
  const T nd = sqrt(frob2(dir));
  if (!(nd > T(0))) {
    for (index_t k = 0; k < v.cols; ++k)
      for (index_t n = 0; n < v.rows; ++n) wbar(n, k) += ybar(n, k);
    return 0;
  }
  for (index_t k = 0; k < v.cols; ++k)
    for (index_t n = 0; n < v.rows; ++n) vbar(n, k) = cplx<T>();
  project_power_adjoint<T>(v, ybar, vbar, pt);
  // v = w - beta u, u = D / ||D||.
  const T inv = T(1) / nd;
  T beta_bar = 0, uu = 0;  // uu = Re<u, ubar> with ubar = -beta vbar
  for (index_t k = 0; k < v.cols; ++k)
    for (index_t n = 0; n < v.rows; ++n) {
      wbar(n, k) += vbar(n, k);
      const T re = cmulc(dir(n, k), vbar(n, k)).re * inv;
      beta_bar -= re;
      uu -= beta * re;
    }
  for (index_t k = 0; k < v.cols; ++k)
    for (index_t n = 0; n < v.rows; ++n) dirbar(n, k) += (vbar(n, k) * (-beta) - dir(n, k) * (uu * inv)) * inv;
  return beta_bar;
}

}  // namespace jcas::core
