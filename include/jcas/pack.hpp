// SIMD across realizations on the CPU: pack<T, N> is a real scalar that holds one value
// of each of N realizations, one per SIMD lane. The shared core instantiated with
// T = pack<double, 4> (or pack<float, 8>) runs N realizations in lock step, every
// operation one vector instruction, with no shuffles: cplx<pack> keeps the real parts
// of the N realizations in one register and the imaginary parts in another. This is
// the GPU's thread-per-realization model on the CPU's vector lanes.
//
// Data-dependent control flow in the core is written with the helpers any, all and where
// so that it means the same for a real T (bool conditions) and for a
// pack (a mask per lane). A comparison of packs gives a pack_mask, which does not
// convert to bool: a plain `if` on packed values does not compile, so none is missed.
// Host only (GCC/Clang vector extensions).
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "jcas/complex.hpp"
#include "jcas/config.hpp"
#if !defined(__CUDACC__) && defined(__AVX__)
#include <immintrin.h>
#endif

namespace jcas {

JCAS_HD inline bool any(bool b) { return b; }
JCAS_HD inline bool all(bool b) { return b; }

/// True for pack<T, N>: code that only the packed route runs (rank-one channels).
template <class T>
struct is_pack : std::false_type {};

#if !defined(__CUDACC__)

template <class T, int N>
struct alignas(N * sizeof(T)) pack_mask {
  using ivec = std::conditional_t<sizeof(T) == 8, std::int64_t, std::int32_t>;
  typedef ivec vec __attribute__((vector_size(N * sizeof(T))));
  vec m;  // all ones (true) or zero per lane
  friend pack_mask operator!(pack_mask a) { return {~a.m}; }
  friend pack_mask operator&&(pack_mask a, pack_mask b) { return {a.m & b.m}; }
  friend pack_mask operator||(pack_mask a, pack_mask b) { return {a.m | b.m}; }
  bool lane(int i) const { return m[i] != 0; }
};

template <class T, int N>
struct alignas(N * sizeof(T)) pack {
  typedef T vec __attribute__((vector_size(N * sizeof(T))));
  using mask = pack_mask<T, N>;
  static constexpr int lanes = N;
  vec v;

  pack() = default;
  /// Implicit broadcast of any real or integer, like a real scalar (literals in the core).
  template <class U, std::enable_if_t<std::is_arithmetic_v<U>, int> = 0>
  pack(U x) : v(vec{} + T(x)) {}  // NOLINT
  static pack of(vec x) {
    pack p;
    p.v = x;
    return p;
  }
  T lane(int i) const { return v[i]; }
  void set_lane(int i, T x) { v[i] = x; }

  pack& operator+=(pack o) { return v += o.v, *this; }
  pack& operator-=(pack o) { return v -= o.v, *this; }
  pack& operator*=(pack o) { return v *= o.v, *this; }
  pack& operator/=(pack o) { return v /= o.v, *this; }
  friend pack operator+(pack a, pack b) { return of(a.v + b.v); }
  friend pack operator-(pack a, pack b) { return of(a.v - b.v); }
  friend pack operator*(pack a, pack b) { return of(a.v * b.v); }
  friend pack operator/(pack a, pack b) { return of(a.v / b.v); }
  friend pack operator-(pack a) { return of(-a.v); }
  friend mask operator<(pack a, pack b) { return {a.v < b.v}; }
  friend mask operator>(pack a, pack b) { return {a.v > b.v}; }
  friend mask operator<=(pack a, pack b) { return {a.v <= b.v}; }
  friend mask operator>=(pack a, pack b) { return {a.v >= b.v}; }
  friend mask operator==(pack a, pack b) { return {a.v == b.v}; }
  friend mask operator!=(pack a, pack b) { return {a.v != b.v}; }

  /// Elementary functions lane by lane (the compiler vectorises the ones it can).
  template <class F>
  friend pack lanewise(pack a, F f) {
    pack r;
    for (int i = 0; i < N; ++i) r.v[i] = f(a.v[i]);
    return r;
  }
  friend pack sqrt(pack a) {
#if defined(__AVX512F__)
    // (the masked forms: GCC 12 warns on the undefined source inside _mm512_sqrt_pd)
    if constexpr (sizeof(vec) == 64 && sizeof(T) == 8)
      return of((vec)_mm512_mask_sqrt_pd((__m512d)a.v, __mmask8(0xff), (__m512d)a.v));
    if constexpr (sizeof(vec) == 64 && sizeof(T) == 4)
      return of((vec)_mm512_mask_sqrt_ps((__m512)a.v, __mmask16(0xffff), (__m512)a.v));
#endif
#if defined(__AVX__)
    if constexpr (sizeof(vec) == 32 && sizeof(T) == 8) return of((vec)_mm256_sqrt_pd((__m256d)a.v));
    if constexpr (sizeof(vec) == 32 && sizeof(T) == 4) return of((vec)_mm256_sqrt_ps((__m256)a.v));
#endif
    pack r;
    for (int i = 0; i < N; ++i) r.v[i] = std::sqrt(a.v[i]);
    return r;
  }
  friend pack exp(pack a) {
    return lanewise(a, [](T x) { return std::exp(x); });
  }
  friend pack log(pack a) {
    return lanewise(a, [](T x) { return std::log(x); });
  }
  friend pack log1p(pack a) {
    return lanewise(a, [](T x) { return std::log1p(x); });
  }
  friend pack fabs(pack a) {
    return lanewise(a, [](T x) { return std::fabs(x); });
  }
  /// As std::fmin / fmax per lane: a NaN operand gives the other one.
  friend pack fmin(pack a, pack b) { return of(a.v != a.v ? b.v : b.v != b.v ? a.v : a.v < b.v ? a.v : b.v); }
  friend pack fmax(pack a, pack b) { return of(a.v != a.v ? b.v : b.v != b.v ? a.v : a.v > b.v ? a.v : b.v); }
};

template <class T, int N>
struct is_pack<pack<T, N>> : std::true_type {};

template <class T, int N>
inline bool any(pack_mask<T, N> c) {
  for (int i = 0; i < N; ++i)
    if (c.m[i]) return true;
  return false;
}
template <class T, int N>
inline bool all(pack_mask<T, N> c) {
  for (int i = 0; i < N; ++i)
    if (!c.m[i]) return false;
  return true;
}
/// c ? a : b per lane.
template <class T, int N>
inline pack<T, N> where(pack_mask<T, N> c, pack<T, N> a, pack<T, N> b) {
  return pack<T, N>::of(c.m ? a.v : b.v);
}

/// Lane i of n packed complex values <- src (one realization's array).
template <class T, int N>
inline void put_lane(cplx<pack<T, N>>* dst, const cplx<T>* src, long n, int i) {
  for (long e = 0; e < n; ++e) {
    dst[e].re.set_lane(i, src[e].re);
    dst[e].im.set_lane(i, src[e].im);
  }
}
/// dst <- lane i of n packed complex values.
template <class T, int N>
inline void get_lane(const cplx<pack<T, N>>* src, cplx<T>* dst, long n, int i) {
  for (long e = 0; e < n; ++e) dst[e] = cplx<T>(src[e].re.lane(i), src[e].im.lane(i));
}

/// c ? a : b per lane, for complex values.
template <class T, int N>
inline cplx<pack<T, N>> where(pack_mask<T, N> c, cplx<pack<T, N>> a, cplx<pack<T, N>> b) {
  return {where(c, a.re, b.re), where(c, a.im, b.im)};
}

#endif

/// c ? a : b for a real T (c a bool).
template <class T>
JCAS_HD inline T where(bool c, T a, T b) {
  return c ? a : b;
}

}  // namespace jcas
