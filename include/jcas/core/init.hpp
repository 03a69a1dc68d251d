// Initialisation (SPEC.md section 3): W0 = Pi_S(H) and F0, the SCNR-maximising
// combiners at W0, i.e. the principal generalised eigenvectors of
//   A_m x = lambda B_m x,  A_m = G_m W W^H G_m^H,
//   B_m = sum_{j != m} G_j W W^H G_j^H + Nr sigma_s^2 I.
// The host's CPU backend solves this with LAPACK (host/f0_lapack.cpp); the routes here
// need no library, so a device kernel can run them:
//   f0_lowrank: A_m = P P^H has rank <= K, so with B = L L^H and C = L^{-1} P the answer
//               is f = L^{-H} C x, x the principal eigenvector of the K x K matrix C^H C;
//   f0_rank1:   when G_m = u v^H, f ∝ B_m^{-1} u (closed form).
#pragma once
#include "jcas/core/metrics.hpp"
#include "jcas/core/projection.hpp"

namespace jcas::core {

/// W0 = Pi_S(H) (maximum-ratio transmission), written into w (Nt x K).
template <class T>
JCAS_HD inline void mrt_init(cview<T> h, mview<T> w, T pt) {
  copy<T>(h, w);
  project_power(w, pt);
}

/// Regularised zero-forcing W = H (H^H H + (K sigma_c^2 / Pt) I)^{-1}, before projection
/// (w0_method::zf; also a start of the ascent solver).
/// gram: K x K scratch, x: K scratch.
template <class T>
JCAS_HD inline status zf_start(cview<T> h, const problem_dims& d, const system_params<T>& sys, mview<T> w,
                               mview<T> gram, cplx<T>* x) {
  gemm_hn<T>(h, h, gram);
  for (index_t k = 0; k < d.k; ++k) gram(k, k) += cplx<T>(T(d.k) * sys.sigma_c2 / sys.pt);
  const status st = cholesky(gram);
  if (st != status::ok) return st;
  for (index_t k = 0; k < d.k; ++k) {
    for (index_t j = 0; j < d.k; ++j) x[j] = cplx<T>(j == k ? T(1) : T(0));
    cholesky_solve<T>(gram, x);  // column k of (H^H H + eps I)^{-1}
    for (index_t n = 0; n < d.nt; ++n) {
      cplx<T> s{};
      for (index_t j = 0; j < d.k; ++j) s += h(n, j) * x[j];
      w(n, k) = s;
    }
  }
  return status::ok;
}

/// SPEC.md 3's W0 into w: Pi_S(H) (maximum-ratio transmission), or with `zf` Pi_S of the
/// regularised zero-forcing precoder (zf_start; gram K x K and x K are its scratch). Every
/// route's start, on the host and in the kernels.
template <class T>
JCAS_HD inline status start_w0(cview<T> h, const problem_dims& d, const system_params<T>& sys, mview<T> w, bool zf,
                               mview<T> gram, cplx<T>* x) {
  if (!zf) {
    mrt_init<T>(h, w, sys.pt);
    return status::ok;
  }
  const status st = zf_start<T>(h, d, sys, w, gram, x);
  if (st == status::ok) project_power(w, sys.pt);
  return st;
}

template <class T>
struct f0_ws {
  cplx<T>* p;     // J blocks Nr x K
  mview<T> b;     // Nr x Nr
  mview<T> c;     // Nr x K
  mview<T> gram;  // K x K
  mview<T> vec;   // K x K
  T* eval;        // K
  template <class A>
  JCAS_HD void carve(A& a, const problem_dims& d) {
    p = a.template take<cplx<T>>(long(d.nr) * d.k * d.j());
    b = a.template mat<T>(d.nr, d.nr);
    c = a.template mat<T>(d.nr, d.k);
    gram = a.template mat<T>(d.k, d.k);
    vec = a.template mat<T>(d.k, d.k);
    eval = a.template take<T>(d.k);
  }
  static long bytes(const problem_dims& d) {
    arena_counter c;
    f0_ws w;
    w.carve(c, d);
    return c.used;
  }
};

/// The pencil (A_m, B_m) of target m (see top) in full Hermitian storage, a and b
/// Nr x Nr, from p = [G_j W] (f0_products). The LAPACK (host) and cuSOLVER (device)
/// routes both start here.
template <class T>
JCAS_HD inline void f0_pencil(const problem_dims& d, const system_params<T>& sys, const cplx<T>* p, index_t m,
                              mview<T> a, mview<T> b) {
  set_scaled_identity<T>(a, T(0), true);
  set_scaled_identity<T>(b, T(d.nr) * sys.sigma_s2, true);
  for (index_t j = 0; j < d.j(); ++j) add_gram<T>(j == m ? a : b, p + long(j) * d.k * d.nr, d.k, true);
}

/// Lower Cholesky factor of B_m (see top) into ws.b; needs ws.p = [G_j W].
template <class T>
JCAS_HD inline status f0_factor_bm(const problem_dims& d, const system_params<T>& sys, index_t m, f0_ws<T>& ws) {
  set_scaled_identity<T>(ws.b, T(d.nr) * sys.sigma_s2, false);
  for (index_t j = 0; j < d.j(); ++j)
    if (j != m) add_gram<T>(ws.b, ws.p + long(j) * d.k * d.nr, d.k, false);
  return cholesky(ws.b);
}

/// p = [G_j W]: J blocks Nr x K, block j column k = G_j w_k.
template <class T, class Ch>
JCAS_HD inline void f0_products(const Ch& ch, const problem_dims& d, cview<T> w, cplx<T>* p) {
  for (index_t j = 0; j < d.j(); ++j)
    for (index_t k = 0; k < d.k; ++k) ch.apply(j, w.col(k), p + (long(j) * d.k + k) * d.nr);
}
template <class T, class Ch>
JCAS_HD inline void f0_products(const Ch& ch, const problem_dims& d, cview<T> w, f0_ws<T>& ws) {
  f0_products<T>(ch, d, w, ws.p);
}

/// F0 by the low-rank route (any G). Columns of f are unit-norm.
template <class T, class Ch>
JCAS_HD inline status f0_lowrank(const Ch& ch, const problem_dims& d, const system_params<T>& sys, cview<T> w,
                                 mview<T> f, f0_ws<T>& ws) {
  f0_products(ch, d, w, ws);
  for (index_t m = 0; m < d.m; ++m) {
    status st = f0_factor_bm(d, sys, m, ws);
    if (st != status::ok) return st;
    for (index_t k = 0; k < d.k; ++k) {
      cplx<T>* ck = ws.c.col(k);
      const cplx<T>* pk = ws.p + (long(m) * d.k + k) * d.nr;
      for (index_t r = 0; r < d.nr; ++r) ck[r] = pk[r];
      trsv_lower<T>(ws.b, ck);
    }
    gemm_hn<T>(ws.c, ws.c, ws.gram);
    hermitian_eig<T>(ws.gram, ws.eval, ws.vec);
    index_t top = 0;
    for (index_t k = 1; k < d.k; ++k)
      if (ws.eval[k] > ws.eval[top]) top = k;
    cplx<T>* fm = f.col(m);
    for (index_t r = 0; r < d.nr; ++r) fm[r] = cplx<T>();
    for (index_t k = 0; k < d.k; ++k) {
      const cplx<T> x = ws.vec(k, top);
      for (index_t r = 0; r < d.nr; ++r) fm[r] += ws.c(r, k) * x;
    }
    trsv_lower_h<T>(ws.b, fm);
    const T n = sqrt(nrm2sq(d.nr, fm));
    for (index_t r = 0; r < d.nr; ++r) fm[r] = n > T(0) ? fm[r] / n : cplx<T>(r == 0 ? T(1) : T(0));
  }
  return status::ok;
}

/// F0 by the rank-one closed form f_m ∝ B_m^{-1} u_m (G_m = u_m v_m^H). Unit-norm columns.
template <class T>
JCAS_HD inline status f0_rank1(const rank1_channels<T>& ch, const problem_dims& d, const system_params<T>& sys,
                               cview<T> w, mview<T> f, f0_ws<T>& ws) {
  f0_products(ch, d, w, ws);
  for (index_t m = 0; m < d.m; ++m) {
    status st = f0_factor_bm(d, sys, m, ws);
    if (st != status::ok) return st;
    cplx<T>* fm = f.col(m);
    for (index_t r = 0; r < d.nr; ++r) fm[r] = ch.u[long(m) * d.nr + r];
    cholesky_solve<T>(ws.b, fm);
    const T n = sqrt(nrm2sq(d.nr, fm));
    for (index_t r = 0; r < d.nr; ++r) fm[r] = fm[r] / n;
  }
  return status::ok;
}

}  // namespace jcas::core
