// Step 4 of one layer (SPEC.md section 4, paper eq. 13): the receiver update F -> F',
// for rank-one G_j = u_j v_j^H by Woodbury on a J x J core (the merged form's stages 1-4),
// for any G by the Cholesky factor of the Nr x Nr Q (the full form's stages 1-3); then
// the adjoints of both, each in the pieces a team divides (core/training.hpp,
// team_layer_prepare_adjoint composes them with step 5's: core/layer.hpp).
#pragma once
#include "jcas/core/auxiliaries.hpp"

namespace jcas::core {

// Step 4 (eq. 13) for rank-one G_j = u_j v_j^H, without any Nr x Nr matrix: P_j = u_j a_j,
// so Q = sigma I + U C U^H with C = diag(||a_j||^2), sigma = Nr sigma_s^2, and
// f'_m = s_m Q^{-1} u_m (a_m theta_m^H). Woodbury with S = C^{1/2}:
// Q^{-1} u = (u - U S M^{-1} S U^H u) / sigma, M = sigma I + S U^H U S (J x J, PD).
// Same result as the Cholesky route of layer_receiver up to rounding.

/// Stage 1, per j: ||u_j||^2 and c_j = ||a_j||^2 = sum_k ||P_j e_k||^2 / ||u_j||^2.
template <class T>
JCAS_HD inline void rank1_receiver_coef(const rank1_channels<T>& ch, const problem_dims& d, const metrics<T>& mt,
                                        layer_ws<T>& ws, index_t j) {
  T p2 = 0;
  for (index_t k = 0; k < d.k; ++k) p2 += nrm2sq(d.nr, mt.pcol(j, k, d));
  ws.un2[j] = nrm2sq(d.nr, ch.u + long(j) * d.nr);
  ws.c[j] = p2 / ws.un2[j];
}

/// Stage 1, per (j, i), i <= j: (U^H U)_ji.
template <class T>
JCAS_HD inline void rank1_receiver_gram(const rank1_channels<T>& ch, const problem_dims& d, layer_ws<T>& ws, index_t j,
                                        index_t i) {
  ws.gram(j, i) = dotc(d.nr, ch.u + long(j) * d.nr, ch.u + long(i) * d.nr);
}

/// Stage 1, per (m, k): u_m^H P_m e_k.
template <class T>
JCAS_HD inline void rank1_receiver_upk(const rank1_channels<T>& ch, const problem_dims& d, const metrics<T>& mt,
                                       layer_ws<T>& ws, index_t m, index_t k) {
  ws.upk[long(m) * d.k + k] = dotc(d.nr, ch.u + long(m) * d.nr, mt.pcol(m, k, d));
}

/// Stage 2: the Woodbury core M = sigma I + S U^H U S (lower triangle) and its Cholesky
/// factor, in ws.core.
template <class T>
JCAS_HD inline status rank1_receiver_core(const problem_dims& d, const system_params<T>& sys, layer_ws<T>& ws) {
  const T sigma = T(d.nr) * sys.sigma_s2;
  for (index_t j = 0; j < d.j(); ++j)
    for (index_t i = 0; i <= j; ++i) {
      ws.core(j, i) = ws.gram(j, i) * sqrt(ws.c[j] * ws.c[i]);
      if (i == j) ws.core(j, j) += cplx<T>(sigma);
    }
  return cholesky(ws.core);
}

/// Stage 3, per combiner m with an echo (after the core): z_m = M^{-1} S U^H u_m, y_m =
/// S z_m and f'_m's scale (a_m theta_m^H) sqrt(1 + xi_sm) / (||theta_sm||^2 sigma), with
/// a_m theta_m^H = u_m^H (P_m theta_m^H) / ||u_m||^2.
template <class T>
JCAS_HD inline void rank1_receiver_weights(const problem_dims& d, const system_params<T>& sys, const metrics<T>& mt,
                                           layer_ws<T>& ws, index_t m) {
  const T th2 = ws.th2[m];
  if (!any(th2 > T(0))) return;
  const cplx<T>* th = ws.th_s + long(m) * d.k;
  cplx<T> at{};
  for (index_t k = 0; k < d.k; ++k) at += ws.upk[long(m) * d.k + k] * conj(th[k]);
  at = at / ws.un2[m];
  cplx<T>*z = ws.z.col(m), *y = ws.y.col(m);
  for (index_t j = 0; j < d.j(); ++j) z[j] = (j >= m ? ws.gram(j, m) : conj(ws.gram(m, j))) * sqrt(ws.c[j]);
  cholesky_solve<T>(ws.core, z);
  const T s = sqrt(1 + mt.gamma_s[m]) / th2;
  for (index_t j = 0; j < d.j(); ++j) y[j] = z[j] * sqrt(ws.c[j]);
  ws.fs[m] = at * (s / (T(d.nr) * sys.sigma_s2));
}

/// Stage 4, per entry r of combiner m: f'_m[r] = (u_m - U y_m)[r] times f'_m's scale fs,
/// with y_m = ws.y.col(m) and fs = ws.fs[m]; a combiner without an echo (packed lanes: in
/// the lanes without one) is left unchanged.
template <class T>
JCAS_HD inline void rank1_receiver_entry(const rank1_channels<T>& ch, const problem_dims& d, const cplx<T>* y,
                                         cplx<T> fs, T th2, mview<T> f, index_t r, index_t m) {
  const auto moves = th2 > T(0);
  if (!any(moves)) return;
  cplx<T> x = ch.u[long(m) * d.nr + r];
  for (index_t j = 0; j < d.j(); ++j) x -= ch.u[long(j) * d.nr + r] * y[j];
  f(r, m) = where(moves, x * fs, f(r, m));
}

/// Step 4's Q = sum_j P_j P_j^H + Nr sigma_s^2 I (eq. 13), lower triangle, into ws.q.
template <class T>
JCAS_HD inline void receiver_q(const problem_dims& d, const system_params<T>& sys, const metrics<T>& mt,
                               layer_ws<T>& ws) {
  set_scaled_identity<T>(ws.q, T(d.nr) * sys.sigma_s2, false);
  add_gram<T>(ws.q, mt.pcol(0, 0, d), d.j() * d.k, false);  // all J blocks of P, in order
}

/// Entry (r, c), r >= c, of receiver_q's Q: the same sum in the same order.
template <class T>
JCAS_HD inline cplx<T> receiver_q_entry(const problem_dims& d, const system_params<T>& sys, const metrics<T>& mt,
                                        index_t r, index_t c) {
  cplx<T> s(r == c ? T(d.nr) * sys.sigma_s2 : T(0));
  const cplx<T>* x = mt.pcol(0, 0, d);
  for (long i = 0; i < long(d.j()) * d.k; ++i) s += x[i * d.nr + r] * conj(x[i * d.nr + c]);
  return s;
}

/// Stage 2 of the full form: receiver_q's Q replaced by its Cholesky factor (in ws.q).
template <class T>
JCAS_HD inline status receiver_factor(layer_ws<T>& ws) {
  return cholesky(ws.q);
}

/// Stage 3 of the full form, per combiner m (after layer_scalars and the factor): f'_m
/// (eq. 13) into f; a combiner whose theta_sm is zero (no echo at all) is left unchanged.
template <class T>
JCAS_HD inline void receiver_combiner(const problem_dims& d, const metrics<T>& mt, mview<T> f, const layer_ws<T>& ws,
                                      index_t m) {
  const cplx<T>* th = ws.th_s + long(m) * d.k;
  const T th2 = ws.th2[m];
  if (!(th2 > T(0))) return;
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

/// Step 4 from receiver_q's Q (after layer_scalars): its Cholesky factor (kept in ws.q),
/// then every f'_m into f.
template <class T>
JCAS_HD inline status receiver_solve(const problem_dims& d, const metrics<T>& mt, mview<T> f, layer_ws<T>& ws) {
  const status st = receiver_factor(ws);
  if (st != status::ok) return st;
  for (index_t m = 0; m < d.m; ++m) receiver_combiner<T>(d, mt, f, ws, m);
  return status::ok;
}

/// Steps 1-4 of SPEC.md section 4 at the incoming (W, F), whose metrics are `mt`:
/// layer_scalars and the receiver update (eq. 13) written into f (in/out); the
/// Cholesky factor of Q stays in ws.q. For fixed W, f' ∝ Q^{-1} G_m W W^H G_m^H f_m is
/// one power step of the pencil (A_m, Q), so no SCNR decreases.
template <class T>
JCAS_HD inline status layer_receiver(const problem_dims& d, const system_params<T>& sys, T mu_c, T mu_s,
                                     const metrics<T>& mt, mview<T> f, layer_ws<T>& ws) {
  layer_scalars<T>(d, sys, mu_c, mu_s, mt, ws);
  receiver_q<T>(d, sys, mt, ws);
  return receiver_solve<T>(d, mt, f, ws);
}

// --- adjoints (reverse mode; for a complex z the adjoint is dL/dRe z + i dL/dIm z) ----

// Step 4: f'_m = a_m x_m, x_m = Q^{-1} b_m, b_m = P_m conj(theta_sm), a_m = sqrt(1+gamma)/||theta||^2.

/// Combiner m's solve: ||theta_sm||^2 into lb.th2[m], x_m into lb.xs, bbar_m = Q^{-1}
/// (a_m fbar'_m) into lb.bs, the adjoint of a_m into lb.abar[m]; a combiner the forward
/// kept (theta_sm = 0, lb.th2[m] = 0) passes fbar'_m to fbar_in. The pieces below read
/// lb.th2 and run only where it is positive.
template <class T>
JCAS_HD inline void receiver_adjoint_solve(const problem_dims& d, const metrics<T>& mt, const layer_ws<T>& ws,
                                           cview<T> f_new, index_t m, layer_bar<T>& lb, mview<T> fbar_in) {
  const cplx<T>* fb = lb.fnew.col(m);
  const T th2 = nrm2sq(d.k, ws.th_s + long(m) * d.k);
  lb.th2[m] = th2 > T(0) ? th2 : T(0);
  if (!(th2 > T(0))) {  // forward kept f_m
    for (index_t r = 0; r < d.nr; ++r) fbar_in(r, m) += fb[r];
    return;
  }
  const T a = sqrt(1 + mt.gamma_s[m]) / th2;
  const cplx<T>* fm = f_new.col(m);
  cplx<T>*x = lb.xs.col(m), *bb = lb.bs.col(m);
  T abar = 0;
  for (index_t r = 0; r < d.nr; ++r) {
    x[r] = fm[r] / a;
    abar += cmulc(x[r], fb[r]).re;
    bb[r] = fb[r] * a;  // xbar, then bbar = Q^{-1} xbar
  }
  cholesky_solve<T>(ws.q, bb);
  lb.abar[m] = abar;
}

/// Combiner m's (moved) adjoint through P_j e_k: Qbar = -bbar x^H (Q Hermitian) gives
/// Pbar_jk -= bbar (x^H p) + x (bbar^H p); for j = m also through b_m: Pbar_mk += bbar
/// theta_mk and theta_mk's adjoint.
template <class T>
JCAS_HD inline void receiver_adjoint_pair(const problem_dims& d, const metrics<T>& mt, const layer_ws<T>& ws,
                                          layer_bar<T>& lb, index_t m, index_t j, index_t k, metrics_bar<T>& mb) {
  const cplx<T>*x = lb.xs.col(m), *bb = lb.bs.col(m);
  const cplx<T>* pk = mt.pcol(j, k, d);
  cplx<T>* pb = mb.p + (long(j) * d.k + k) * d.nr;
  const cplx<T> xp = dotc(d.nr, x, pk), bp = dotc(d.nr, bb, pk);
  for (index_t r = 0; r < d.nr; ++r) pb[r] -= bb[r] * xp + x[r] * bp;
  if (j != m) return;
  const cplx<T>* th = ws.th_s + long(m) * d.k;
  const T th2 = lb.th2[m], a = sqrt(1 + mt.gamma_s[m]) / th2;
  for (index_t r = 0; r < d.nr; ++r) pb[r] += bb[r] * th[k];
  lb.th_s[long(m) * d.k + k] += dotc(d.nr, bb, pk) - th[k] * (2 * lb.abar[m] * a / th2);
}

/// Combiner m's (moved) adjoint through a_m into gamma_sm.
template <class T>
JCAS_HD inline void receiver_adjoint_gamma(const metrics<T>& mt, const layer_bar<T>& lb, index_t m,
                                           metrics_bar<T>& mb) {
  mb.gamma_s[m] += lb.abar[m] / (2 * sqrt(1 + mt.gamma_s[m]) * lb.th2[m]);
}

/// Per combiner m (after every pair's rank1_surrogate_adjoint): first the rest of step 5's
/// adjoint (cm_m, xm_m: layer_scalars) into lb.z_s, lb.th_s and mb.gamma_s, then the
/// adjoint of stages 3-4, f'_m = fs_m (u_m - U y_m), y_m = S z_m, z_m = M^{-1} S g_m (g_m
/// = U^H u_m, constant), fs_m = (a_m theta_m^H) r_m / sigma, r_m = sqrt(1 + xi_sm) /
/// ||theta_sm||^2, a_m theta_m^H = sum_k upk_mk conj(theta_smk) / ||u_m||^2, from f'_m's
/// adjoint fbar'_m + U ub_m (through w = U^H of it) into lb.th_s, mb.gamma_s, lb.upkb (m's
/// column) and lb.sjm (m's column: the adjoint of each s_j = sqrt(c_j) through M and S).
/// A combiner the forward kept (no echo) passes its adjoint to fbar_in.
template <class T>
JCAS_HD inline void rank1_receiver_adjoint(const rank1_channels<T>& ch, const problem_dims& d,
                                           const system_params<T>& sys, const metrics<T>& mt, const layer_ws<T>& ws,
                                           layer_bar<T>& lb, metrics_bar<T>& mb, mview<T> fbar_in, index_t m) {
  const index_t nj = d.j();
  const cplx<T>* th = ws.th_s + long(m) * d.k;
  cplx<T>* thb = lb.th_s + long(m) * d.k;
  {  // cm_m = delta z_sm ||theta_sm||^2, xm_m = delta z_sm sqrt(1 + xi_sm).
    T cm_bar = 0;
    for (index_t j = 0; j < nj; ++j) cm_bar += lb.cmjm[long(m) * nj + j];
    const T sq = sqrt(1 + mt.gamma_s[m]), xm_bar = lb.xmb[m];
    lb.z_s[m] += sys.delta * (ws.th2[m] * cm_bar + sq * xm_bar);
    const T t2 = 2 * sys.delta * ws.z_s[m] * cm_bar;
    for (index_t k = 0; k < d.k; ++k) thb[k] += th[k] * t2;
    mb.gamma_s[m] += xm_bar * sys.delta * ws.z_s[m] / (2 * sq);
  }
  T* sb = lb.sjm + long(m) * nj;
  cplx<T>* ub = lb.upkb + long(m) * d.k;
  for (index_t j = 0; j < nj; ++j) sb[j] = 0;
  for (index_t k = 0; k < d.k; ++k) ub[k] = cplx<T>();
  const T th2 = ws.th2[m];
  const cplx<T>* ubm = lb.ujb.col(m);
  if (!(th2 > T(0))) {  // forward kept f_m: its whole adjoint fbar'_m + U ub_m goes back
    const cplx<T>* fb = lb.fnew.col(m);
    for (index_t r = 0; r < d.nr; ++r) {
      cplx<T> s = fb[r];
      for (index_t j = 0; j < nj; ++j) s += ch.u[long(j) * d.nr + r] * ubm[j];
      fbar_in(r, m) += s;
    }
    return;
  }
  const cplx<T>*y = ws.y.col(m), *z = ws.z.col(m);
  const cplx<T> fs = ws.fs[m];
  const auto gram = [&](index_t j, index_t i) { return j >= i ? ws.gram(j, i) : conj(ws.gram(i, j)); };
  // w = U^H (fbar'_m + U ub_m) into zb (the pairs left U^H fbar'_m there). f' = fs x, x =
  // u_m - U y: fs's adjoint x^H (the adjoint) = w_m - y^H w, y's -conj(fs) w.
  cplx<T>* zb = lb.zb.col(m);
  for (index_t j = 0; j < nj; ++j)
    for (index_t i = 0; i < nj; ++i) zb[j] += gram(j, i) * ubm[i];
  cplx<T> fsb = zb[m];
  for (index_t j = 0; j < nj; ++j) fsb -= conj(y[j]) * zb[j];
  for (index_t j = 0; j < nj; ++j) zb[j] = -(conj(fs) * zb[j]);
  for (index_t j = 0; j < nj; ++j) {  // y_j = s_j z_j
    const T sj = sqrt(ws.c[j]);
    sb[j] += cmulc(zb[j], z[j]).re;
    zb[j] *= sj;
  }
  cholesky_solve<T>(ws.core, zb);  // the right-hand side's adjoint M^{-1} zbar; Mbar = -zb z^H
  for (index_t j = 0; j < nj; ++j) {
    T s = cmulc(zb[j], gram(j, m)).re;  // b_j = s_j g_jm
    for (index_t i = 0; i < nj; ++i) {  // M_ji = s_j G_ji s_i: both places s_j stands
      const T si = sqrt(ws.c[i]);
      s -= (cmulc(zb[j] * conj(z[i]), gram(j, i)).re + cmulc(zb[i] * conj(z[j]), gram(i, j)).re) * si;
    }
    sb[j] += s;
  }
  // fs = at r / sigma.
  const cplx<T>* upk = ws.upk + long(m) * d.k;
  cplx<T> at{};
  for (index_t k = 0; k < d.k; ++k) at += upk[k] * conj(th[k]);
  at = at / ws.un2[m];
  const T sigma = T(d.nr) * sys.sigma_s2, sq = sqrt(1 + mt.gamma_s[m]), r = sq / th2;
  const cplx<T> atb = fsb * (r / sigma);
  const T rb = cmulc(fsb, at).re / sigma;
  mb.gamma_s[m] += rb / (2 * sq * th2);
  const T th2b = -rb * sq / (th2 * th2);
  for (index_t k = 0; k < d.k; ++k) {
    ub[k] = atb * th[k] / ws.un2[m];
    thb[k] += conj(atb) * upk[k] / ws.un2[m] + th[k] * (2 * th2b);
  }
}

/// Per j (after every combiner's rank1_receiver_adjoint): c_j's adjoint, from s_j =
/// sqrt(c_j).
template <class T>
JCAS_HD inline void rank1_coef_adjoint(const problem_dims& d, const layer_ws<T>& ws, layer_bar<T>& lb, index_t j) {
  T s = 0;
  for (index_t m = 0; m < d.m; ++m) s += lb.sjm[long(m) * d.j() + j];
  lb.cb[j] = ws.c[j] > T(0) ? s / (2 * sqrt(ws.c[j])) : T(0);
}

/// Per entry r of P_j e_k (after rank1_coef_adjoint): adds to mb.p the adjoint through
/// c_j = sum_k ||P_j e_k||^2 / ||u_j||^2 and, for j < M, through upk_jk = u_j^H P_j e_k.
template <class T>
JCAS_HD inline void rank1_p_adjoint(const rank1_channels<T>& ch, const problem_dims& d, const metrics<T>& mt,
                                    const layer_ws<T>& ws, const layer_bar<T>& lb, metrics_bar<T>& mb, index_t r,
                                    index_t j, index_t k) {
  cplx<T>& pb = mb.p[(long(j) * d.k + k) * d.nr + r];
  cplx<T> s = pb + mt.pcol(j, k, d)[r] * (2 * lb.cb[j] / ws.un2[j]);
  if (j < d.m) s += ch.u[long(j) * d.nr + r] * lb.upkb[long(j) * d.k + k];
  pb = s;
}
}  // namespace jcas::core
