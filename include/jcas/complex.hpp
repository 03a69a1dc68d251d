// A complex number usable in host and device code, laid out like std::complex<T>
// (two T, real first), so arrays can be reinterpreted to/from std::complex and the
// cuBLAS/LAPACK complex types at the boundary.
#pragma once
#include <cmath>

#include "jcas/config.hpp"

namespace jcas {

#if !defined(__CUDACC__)
// Host code gets the float overloads of <cmath> under the unqualified names that device
// code (CUDA's math API) already has, so core code reads the same in both.
using std::cos, std::exp, std::fabs, std::fmax, std::fmin, std::log, std::log1p, std::pow, std::sin, std::sqrt;
#endif

template <class T>
struct cplx {
  T re, im;
  JCAS_HD constexpr cplx() : re(0), im(0) {}
  JCAS_HD constexpr cplx(T r) : re(r), im(0) {}  // NOLINT: implicit real -> complex
  JCAS_HD constexpr cplx(T r, T i) : re(r), im(i) {}
  template <class U>
  JCAS_HD explicit constexpr cplx(const cplx<U>& o) : re(T(o.re)), im(T(o.im)) {}

  JCAS_HD cplx& operator+=(const cplx& o) {
    re += o.re;
    im += o.im;
    return *this;
  }
  JCAS_HD cplx& operator-=(const cplx& o) {
    re -= o.re;
    im -= o.im;
    return *this;
  }
  JCAS_HD cplx& operator*=(T s) {
    re *= s;
    im *= s;
    return *this;
  }
  JCAS_HD cplx& operator*=(const cplx& o) {
    const T r = re * o.re - im * o.im;
    im = re * o.im + im * o.re;
    re = r;
    return *this;
  }
};

template <class T>
JCAS_HD inline cplx<T> operator+(cplx<T> a, cplx<T> b) {
  return {a.re + b.re, a.im + b.im};
}
template <class T>
JCAS_HD inline cplx<T> operator-(cplx<T> a, cplx<T> b) {
  return {a.re - b.re, a.im - b.im};
}
template <class T>
JCAS_HD inline cplx<T> operator-(cplx<T> a) {
  return {-a.re, -a.im};
}
template <class T>
JCAS_HD inline cplx<T> operator*(cplx<T> a, cplx<T> b) {
  return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}
template <class T>
JCAS_HD inline cplx<T> operator*(cplx<T> a, T s) {
  return {a.re * s, a.im * s};
}
template <class T>
JCAS_HD inline cplx<T> operator*(T s, cplx<T> a) {
  return {a.re * s, a.im * s};
}
template <class T>
JCAS_HD inline cplx<T> operator/(cplx<T> a, T s) {
  return {a.re / s, a.im / s};
}
template <class T>
JCAS_HD inline cplx<T> conj(cplx<T> a) {
  return {a.re, -a.im};
}
/// |a|^2
template <class T>
JCAS_HD inline T norm2(cplx<T> a) {
  return a.re * a.re + a.im * a.im;
}
template <class T>
JCAS_HD inline T abs(cplx<T> a) {
  return sqrt(norm2(a));
}
template <class T>
JCAS_HD inline cplx<T> operator/(cplx<T> a, cplx<T> b) {
  const T d = norm2(b);
  return {(a.re * b.re + a.im * b.im) / d, (a.im * b.re - a.re * b.im) / d};
}
/// conj(a) * b, the building block of every Hermitian inner product.
template <class T>
JCAS_HD inline cplx<T> cmulc(cplx<T> a, cplx<T> b) {
  return {a.re * b.re + a.im * b.im, a.re * b.im - a.im * b.re};
}
template <class T>
JCAS_HD inline cplx<T> expi(T phase) {
  return {cos(phase), sin(phase)};
}

}  // namespace jcas
