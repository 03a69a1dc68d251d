// Projection onto the per-antenna power set S = { W : diag(W W^H) <= Pt/Nt }
// (SPEC.md section 1): Pi_S(W) = sqrt(Pt/Nt) diag(W W^H)^(-1/2) W, i.e. every row n of
// W is scaled to norm sqrt(Pt/Nt).
#pragma once
#include "jcas/core/linalg.hpp"

namespace jcas::core {

/// Pi_S on row n of W alone: scaled to norm row_norm = sqrt(Pt/Nt), or, a zero row, set
/// to equal power on every user. Returns 1 for a zero row, else 0.
template <class T>
JCAS_HD inline index_t project_row(mview<T> w, index_t n, T row_norm) {
  T s = 0;
  for (index_t k = 0; k < w.cols; ++k) s += norm2(w(n, k));
  const auto nonzero = s > T(0);
  if (all(nonzero)) {
    const T f = row_norm / sqrt(s);
    for (index_t k = 0; k < w.cols; ++k) w(n, k) *= f;
    return 0;
  }
  const T f = row_norm / sqrt(s), e = row_norm / sqrt(T(w.cols));
  for (index_t k = 0; k < w.cols; ++k) w(n, k) = where(nonzero, w(n, k) * f, cplx<T>(e));
  return 1;
}

/// In-place Pi_S on W (Nt x K). A zero row (no direction to keep) is set to equal
/// power on every user, sqrt(Pt/(Nt K)) each, real and positive: deterministic, finite
/// and feasible. Returns the number of zero rows met.
/// W is column-major: up to `block` rows each row is walked (stride Nt, at most 512 B);
/// beyond, the row norms are summed down the columns a block of rows at a time (walking
/// a row at Nt = 256 strides 4 KB, every access in one cache set: -23 % of the whole
/// unfolded solve there, bench/RESULTS.md). Each row's sum runs over k in order in both
/// forms, so they agree bit for bit.
template <class T>
JCAS_HD inline index_t project_power(mview<T> w, T pt) {
  constexpr index_t block = 32;
  const T row_norm = sqrt(pt / T(w.rows));
  index_t zero_rows = 0;
  if (w.rows <= block) {
    for (index_t n = 0; n < w.rows; ++n) zero_rows += project_row(w, n, row_norm);
    return zero_rows;
  }
  for (index_t n0 = 0; n0 < w.rows; n0 += block) {
    const index_t nb = w.rows - n0 < block ? w.rows - n0 : block;
    T s[block];
    for (index_t i = 0; i < nb; ++i) s[i] = 0;
    for (index_t k = 0; k < w.cols; ++k) {
      const cplx<T>* wk = w.col(k) + n0;
      for (index_t i = 0; i < nb; ++i) s[i] += norm2(wk[i]);
    }
    index_t zeros = 0;
    for (index_t i = 0; i < nb; ++i) {
      const auto nonzero = s[i] > T(0);
      zeros += all(nonzero) ? 0 : 1;
      s[i] = where(nonzero, row_norm / sqrt(s[i]), T(-1));  // the row's scale, or -1: zero row
    }
    for (index_t k = 0; k < w.cols; ++k) {
      cplx<T>* wk = w.col(k) + n0;
      for (index_t i = 0; i < nb; ++i) wk[i] *= s[i];
    }
    if (zeros > 0) {
      const T e = row_norm / sqrt(T(w.cols));
      for (index_t i = 0; i < nb; ++i)
        if (any(s[i] < T(0)))
          for (index_t k = 0; k < w.cols; ++k) w(n0 + i, k) = where(s[i] < T(0), cplx<T>(e), w(n0 + i, k));
    }
    zero_rows += zeros;
  }
  return zero_rows;
}

/// Largest relative violation of the per-antenna limit, max_n ||W_n||^2 / (Pt/Nt) - 1.
template <class T>
JCAS_HD inline T power_violation(cview<T> w, T pt) {
  T worst = -1;
  for (index_t n = 0; n < w.rows; ++n) {
    T s = 0;
    for (index_t k = 0; k < w.cols; ++k) s += norm2(w(n, k));
    const T v = s / (pt / T(w.rows)) - 1;
    worst = v > worst ? v : worst;
  }
  return worst;
}

}  // namespace jcas::core

namespace jcas::core {

/// Adjoint of project_power on row n alone (c = sqrt(Pt/Nt)): row n of v the
/// pre-projection point, of ybar the adjoint of the projected row; adds to row n of vbar.
/// y = c x/||x||, so xbar = (c/||x||) (ybar - x Re(x^H ybar)/||x||^2). A zero row has no
/// dependence.
template <class T>
JCAS_HD inline void project_row_adjoint(cview<T> v, cview<T> ybar, mview<T> vbar, index_t n, T c) {
  T s = 0, re = 0;
  for (index_t k = 0; k < v.cols; ++k) {
    s += norm2(v(n, k));
    re += cmulc(v(n, k), ybar(n, k)).re;
  }
  if (!(s > T(0))) return;
  const T nx = sqrt(s), a = c / nx, b = re / s;
  for (index_t k = 0; k < v.cols; ++k) vbar(n, k) += (ybar(n, k) - v(n, k) * b) * a;
}

/// Adjoint of project_power at the pre-projection point v (Nt x K): given ybar (the
/// adjoint of Pi_S(v)), adds to vbar, row by row.
template <class T>
JCAS_HD inline void project_power_adjoint(cview<T> v, cview<T> ybar, mview<T> vbar, T pt) {
  const T c = sqrt(pt / T(v.rows));
  for (index_t n = 0; n < v.rows; ++n) project_row_adjoint(v, ybar, vbar, n, c);
}

}  // namespace jcas::core
