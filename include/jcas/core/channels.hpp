// The channels of one realization (SPEC.md section 1) behind one small interface, so
// that every algorithm is written once and runs on either representation:
//   dense_channels: G_j stored as J dense Nr x Nt matrices;
//   rank1_channels: G_j = u_j v_j^H (line of sight, SPEC.md section 7), applied in
//                   O(Nr + Nt) instead of O(Nr Nt).
// The only operations on G that the algorithms need are y = G_j x and x = G_j^H y.
#pragma once
#include "jcas/core/linalg.hpp"

namespace jcas::core {

template <class T>
struct dense_channels {
  cview<T> h;        // Nt x K, column k = h_k
  const cplx<T>* g;  // J blocks, each Nr x Nt column-major, block j at g + j*Nr*Nt
  index_t nr, nt, nj;

  JCAS_HD cview<T> gmat(index_t j) const { return {g + long(j) * nr * nt, nr, nt, nr}; }
  /// y (Nr) = G_j x (Nt)
  JCAS_HD void apply(index_t j, const cplx<T>* x, cplx<T>* y) const {
    const cview<T> gj = gmat(j);
    for (index_t r = 0; r < nr; ++r) y[r] = cplx<T>();
    for (index_t c = 0; c < nt; ++c) {
      const cplx<T> xc = x[c];
      const cplx<T>* col = gj.col(c);
      for (index_t r = 0; r < nr; ++r) y[r] += col[r] * xc;
    }
  }
  /// Entry c of G_j^H y (Nr): what a team divides (core/batched.hpp).
  JCAS_HD cplx<T> apply_h_entry(index_t j, const cplx<T>* y, index_t c) const { return dotc(nr, gmat(j).col(c), y); }
  /// x (Nt) = G_j^H y (Nr)
  JCAS_HD void apply_h(index_t j, const cplx<T>* y, cplx<T>* x) const {
    for (index_t c = 0; c < nt; ++c) x[c] = apply_h_entry(j, y, c);
  }
};

template <class T>
struct rank1_channels {
  cview<T> h;        // Nt x K
  const cplx<T>* u;  // Nr x J, column j = u_j
  const cplx<T>* v;  // Nt x J, column j = v_j
  index_t nr, nt, nj;

  JCAS_HD void apply(index_t j, const cplx<T>* x, cplx<T>* y) const {
    const cplx<T>* uj = u + long(j) * nr;
    const cplx<T> s = dotc(nt, v + long(j) * nt, x);
    for (index_t r = 0; r < nr; ++r) y[r] = uj[r] * s;
  }
  JCAS_HD void apply_h(index_t j, const cplx<T>* y, cplx<T>* x) const {
    const cplx<T>* vj = v + long(j) * nt;
    const cplx<T> s = dotc(nr, u + long(j) * nr, y);
    for (index_t c = 0; c < nt; ++c) x[c] = vj[c] * s;
  }
};

/// Tries to write a dense G (Nr x Nt) as u v^H. Succeeds when the best rank-one fit
/// built from G's largest column leaves a residual below tol * ||G||_F.
/// u = G e_c (largest column c), v^H = u^H G / ||u||^2.
template <class T>
JCAS_HD inline bool factor_rank1(cview<T> g, cplx<T>* u, cplx<T>* v, T tol) {
  index_t best = 0;
  T best_n = -1, total = 0;
  for (index_t c = 0; c < g.cols; ++c) {
    const T n = nrm2sq(g.rows, g.col(c));
    total += n;
    if (n > best_n) {
      best_n = n;
      best = c;
    }
  }
  if (!(best_n > 0)) return false;
  for (index_t r = 0; r < g.rows; ++r) u[r] = g(r, best);
  for (index_t c = 0; c < g.cols; ++c) v[c] = conj(dotc(g.rows, u, g.col(c))) / best_n;
  T res = 0;
  for (index_t c = 0; c < g.cols; ++c)
    for (index_t r = 0; r < g.rows; ++r) res += norm2(g(r, c) - u[r] * conj(v[c]));
  return res <= tol * tol * total;
}

/// Realization b of a batch's realization-major arrays (H: Nt x K each; rank one: u_j,
/// v_j; else dense G_j): returns fn(rank1_channels) or fn(dense_channels).
template <class T, class Fn>
JCAS_HD inline auto visit_batch_channels(const problem_dims& d, bool rank1, const cplx<T>* h, const cplx<T>* g,
                                         const cplx<T>* u, const cplx<T>* v, long b, Fn&& fn) {
  const cview<T> hv(h + b * long(d.nt) * d.k, d.nt, d.k);
  if (rank1)
    return fn(rank1_channels<T>{hv, u + b * long(d.nr) * d.j(), v + b * long(d.nt) * d.j(), d.nr, d.nt, d.j()});
  return fn(dense_channels<T>{hv, g + b * long(d.j()) * d.nr * d.nt, d.nr, d.nt, d.j()});
}

}  // namespace jcas::core
