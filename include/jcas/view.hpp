// Non-owning views of caller-supplied memory. Every matrix is column-major with a
// leading dimension (the BLAS/LAPACK/cuBLAS convention); in a batch the realization
// index is slowest. This is the only place the layout is defined.
#pragma once
#include <type_traits>

#include "jcas/complex.hpp"
#include "jcas/config.hpp"

namespace jcas {

template <class E>
struct mat_view {
  E* data = nullptr;
  index_t rows = 0, cols = 0, ld = 0;
  JCAS_HD mat_view() = default;
  JCAS_HD mat_view(E* d, index_t r, index_t c) : data(d), rows(r), cols(c), ld(r) {}
  JCAS_HD mat_view(E* d, index_t r, index_t c, index_t l) : data(d), rows(r), cols(c), ld(l) {}
  JCAS_HD E& operator()(index_t i, index_t j) const { return data[i + static_cast<long>(j) * ld]; }
  JCAS_HD E* col(index_t j) const { return data + static_cast<long>(j) * ld; }
  /// A view of const elements from a view of mutable ones.
  template <class U, class = std::enable_if_t<std::is_same_v<const U, E> && !std::is_same_v<U, E>>>
  JCAS_HD mat_view(const mat_view<U>& o) : data(o.data), rows(o.rows), cols(o.cols), ld(o.ld) {}  // NOLINT
};

/// A batch of equally shaped, contiguous, densely packed items (matrices or vectors).
template <class E>
struct batch_view {
  E* data = nullptr;
  long stride = 0;  // elements between consecutive items
  JCAS_HD E* item(long b) const { return data + b * stride; }
};

/// Bump allocator over caller-supplied scratch (core code never allocates). With
/// Counting = true it hands out null pointers and only adds up the bytes, so one
/// `carve` function both sizes and lays out a workspace.
template <bool Counting>
struct arena_t {
  char* base = nullptr;
  long used = 0;
  template <class E>
  JCAS_HD E* take(long n) {
    constexpr long align = alignof(E) > 16 ? long(alignof(E)) : 16;  // SIMD packs: 32
    used = (used + align - 1) / align * align;
    E* p = Counting ? nullptr : reinterpret_cast<E*>(base + used);
    used += (long(n * sizeof(E)) + 15) / 16 * 16;  // keep 16-byte alignment
    return p;
  }
  template <class T>
  JCAS_HD mat_view<cplx<T>> mat(index_t r, index_t c) {
    return {take<cplx<T>>(long(r) * c), r, c, r};
  }
};
using arena = arena_t<false>;
using arena_counter = arena_t<true>;

}  // namespace jcas
