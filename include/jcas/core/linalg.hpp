// Small dense complex linear algebra for one realization, written for clarity and for
// sizes up to a few hundred. Column-major views; no allocation.
#pragma once
#include <cmath>

#include "jcas/complex.hpp"
#include "jcas/dims.hpp"
#include "jcas/pack.hpp"
#include "jcas/view.hpp"

namespace jcas::core {

template <class T>
using cview = mat_view<const cplx<T>>;
template <class T>
using mview = mat_view<cplx<T>>;

/// <a, b> = a^H b over n entries, in four interleaved partial sums (entries i mod 4):
/// one running sum would be a single dependent chain of multiply-adds, latency-bound.
template <class T>
JCAS_HD JCAS_FORCEINLINE cplx<T> dotc(index_t n, const cplx<T>* a, const cplx<T>* b) {
  cplx<T> s[4];
  index_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int j = 0; j < 4; ++j) s[j] += cmulc(a[i + j], b[i + j]);
  for (; i < n; ++i) s[0] += cmulc(a[i], b[i]);
  return (s[0] + s[1]) + (s[2] + s[3]);
}
/// ||a||^2 over n entries (partial sums as in dotc).
template <class T>
JCAS_HD JCAS_FORCEINLINE T nrm2sq(index_t n, const cplx<T>* a) {
  T s[4] = {0, 0, 0, 0};
  index_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int j = 0; j < 4; ++j) s[j] += norm2(a[i + j]);
  for (; i < n; ++i) s[0] += norm2(a[i]);
  return (s[0] + s[1]) + (s[2] + s[3]);
}
/// Squared Frobenius norm of a view.
template <class T>
JCAS_HD inline T frob2(cview<T> a) {
  T s = 0;
  for (index_t j = 0; j < a.cols; ++j) s += nrm2sq(a.rows, a.col(j));
  return s;
}
/// Re <A, B>_F = Re tr(A^H B).
template <class T>
JCAS_HD inline T re_inner(cview<T> a, cview<T> b) {
  T s = 0;
  for (index_t j = 0; j < a.cols; ++j) s += dotc(a.rows, a.col(j), b.col(j)).re;
  return s;
}
template <class T>
JCAS_HD inline void copy(cview<T> a, mview<T> b) {
  for (index_t j = 0; j < a.cols; ++j)
    for (index_t i = 0; i < a.rows; ++i) b(i, j) = a(i, j);
}

/// t = s I; the lower triangle only unless full.
template <class T>
JCAS_HD inline void set_scaled_identity(mview<T> t, T s, bool full) {
  for (index_t c = 0; c < t.cols; ++c)
    for (index_t r = full ? 0 : c; r < t.rows; ++r) t(r, c) = cplx<T>(r == c ? s : T(0));
}

/// t += X X^H over the n columns of X (t.rows each, stored one after another); the
/// lower triangle only unless full. Q of the receiver update and the F0 pencils.
template <class T>
JCAS_HD inline void add_gram(mview<T> t, const cplx<T>* x, index_t n, bool full) {
  for (index_t k = 0; k < n; ++k) {
    const cplx<T>* xk = x + long(k) * t.rows;
    for (index_t c = 0; c < t.cols; ++c) {
      const cplx<T> xc = conj(xk[c]);
      for (index_t r = full ? 0 : c; r < t.rows; ++r) t(r, c) += xk[r] * xc;
    }
  }
}

/// C = A^H B   (A: n x p, B: n x q, C: p x q).
template <class T>
JCAS_HD inline void gemm_hn(cview<T> a, cview<T> b, mview<T> c) {
  for (index_t q = 0; q < b.cols; ++q)
    for (index_t p = 0; p < a.cols; ++p) c(p, q) = dotc(a.rows, a.col(p), b.col(q));
}

/// In-place lower Cholesky factor of a Hermitian positive definite matrix (lower
/// triangle read and overwritten; the strict upper triangle is left untouched).
template <class T>
JCAS_HD inline status cholesky(mview<T> a) {
  const index_t n = a.rows;
  for (index_t j = 0; j < n; ++j) {
    T d = a(j, j).re;
    for (index_t k = 0; k < j; ++k) d -= norm2(a(j, k));
    if (any(!(d > T(0)))) return status::not_positive_definite;
    d = sqrt(d);
    a(j, j) = cplx<T>(d);
    const T inv = T(1) / d;
    for (index_t i = j + 1; i < n; ++i) {
      cplx<T> s = a(i, j);
      for (index_t k = 0; k < j; ++k) s -= a(i, k) * conj(a(j, k));
      a(i, j) = s * inv;
    }
  }
  return status::ok;
}
/// x <- L^{-1} x (forward substitution with the lower factor).
template <class T>
JCAS_HD inline void trsv_lower(cview<T> l, cplx<T>* x) {
  for (index_t i = 0; i < l.rows; ++i) {
    cplx<T> s = x[i];
    for (index_t k = 0; k < i; ++k) s -= l(i, k) * x[k];
    x[i] = s / l(i, i).re;
  }
}
/// x <- L^{-H} x (back substitution with the conjugate transpose of the lower factor).
template <class T>
JCAS_HD inline void trsv_lower_h(cview<T> l, cplx<T>* x) {
  for (index_t i = l.rows - 1; i >= 0; --i) {
    cplx<T> s = x[i];
    for (index_t k = i + 1; k < l.rows; ++k) s -= cmulc(l(k, i), x[k]);
    x[i] = s / l(i, i).re;
  }
}
/// x <- (L L^H)^{-1} x.
template <class T>
JCAS_HD inline void cholesky_solve(cview<T> l, cplx<T>* x) {
  trsv_lower(l, x);
  trsv_lower_h(l, x);
}

/// Eigen-decomposition of a Hermitian matrix by cyclic Jacobi rotations.
/// a (n x n, full storage) is destroyed; on return eval[i] are the eigenvalues
/// (unsorted) and column i of v the matching unit eigenvector (v may be null when
/// only eigenvalues are wanted). Converges quadratically; sweeps capped at max_sweeps.
template <class T>
JCAS_HD inline status hermitian_eig(mview<T> a, T* eval, mview<T> v, int max_sweeps = 30) {
  const index_t n = a.rows;
  const bool want_v = v.data != nullptr;
  if (want_v)
    for (index_t j = 0; j < n; ++j)
      for (index_t i = 0; i < n; ++i) v(i, j) = cplx<T>(i == j ? T(1) : T(0));
  T diag_scale = 0;
  for (index_t i = 0; i < n; ++i) diag_scale += norm2(a(i, i));
  for (index_t j = 0; j < n; ++j)
    for (index_t i = 0; i < j; ++i) diag_scale += 2 * norm2(a(i, j));
  // Squared relative off-diagonal mass at which the matrix counts as diagonal.
  const T eps = sizeof(T) == 4 ? T(1e-12) : T(1e-28);
  status st = status::no_convergence;
  for (int sweep = 0; sweep < max_sweeps; ++sweep) {
    T off = 0;
    for (index_t j = 0; j < n; ++j)
      for (index_t i = 0; i < j; ++i) off += norm2(a(i, j));
    if (off <= eps * diag_scale) {
      st = status::ok;
      break;
    }
    for (index_t p = 0; p < n - 1; ++p) {
      for (index_t q = p + 1; q < n; ++q) {
        const cplx<T> apq = a(p, q);
        const T mag = abs(apq);
        if (mag == T(0)) continue;
        // Rotate in the (p, q) plane: phase e = apq/|apq| makes the pivot real, then a
        // real Jacobi rotation (c, s) zeroes it.
        const cplx<T> e = apq / mag;
        const T app = a(p, p).re, aqq = a(q, q).re;
        const T tau = (aqq - app) / (2 * mag);
        const T t = (tau >= 0 ? T(1) : T(-1)) / (fabs(tau) + sqrt(1 + tau * tau));
        const T c = T(1) / sqrt(1 + t * t), s = t * c;
        // Columns: [a_p a_q] <- [a_p a_q] [[c, s e], [-s conj(e), c]]
        for (index_t k = 0; k < n; ++k) {
          const cplx<T> akp = a(k, p), akq = a(k, q);
          a(k, p) = c * akp - s * conj(e) * akq;
          a(k, q) = s * e * akp + c * akq;
        }
        for (index_t k = 0; k < n; ++k) {
          const cplx<T> apk = a(p, k), aqk = a(q, k);
          a(p, k) = c * apk - s * e * aqk;
          a(q, k) = s * conj(e) * apk + c * aqk;
        }
        a(p, q) = cplx<T>();
        a(q, p) = cplx<T>();
        a(p, p) = cplx<T>(a(p, p).re);
        a(q, q) = cplx<T>(a(q, q).re);
        if (want_v)
          for (index_t k = 0; k < n; ++k) {
            const cplx<T> vkp = v(k, p), vkq = v(k, q);
            v(k, p) = c * vkp - s * conj(e) * vkq;
            v(k, q) = s * e * vkp + c * vkq;
          }
      }
    }
  }
  for (index_t i = 0; i < n; ++i) eval[i] = a(i, i).re;
  return st;
}

}  // namespace jcas::core
