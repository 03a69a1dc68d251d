// One outer layer of the AO / unfolded method (SPEC.md section 4, paper eqs. 8-18),
// split into the steps that every algorithm shares:
//   layer_prepare   steps 1-5: layer_scalars (weights, quadratic-transform auxiliaries),
//                   the receiver update F -> F', then the surrogate (the W-subproblem
//                   g(W) = tr(W^H B_t W) - 2 Re tr(W A_t)), in stages a team can divide
//   surrogate_eval  g(W) and its direction D(W) = B_t W - A_t^H (eq. 16 without the 2)
//   normalized_step step 6, one projected normalised gradient step (eq. 18)
// (those two, the smoothed-min weights and their adjoints: core/surrogate.hpp)
// B_t is kept factored, B_t = L diag(d) L^H with L = [H | y_jm] (y_jm = G_j^H f'_m),
// d = [z_ck |theta_ck|^2 | delta z_sm ||theta_sm||^2], so D(W) costs O(Nt K R), R = K + J M,
// and no Nt x Nt matrix is ever formed.
#pragma once
#include "jcas/core/metrics.hpp"
#include "jcas/core/projection.hpp"
#include "jcas/core/surrogate.hpp"

namespace jcas::core {

/// The quadratic-transform auxiliaries of one layer (steps 2-3). The same layout holds
/// their values (layer_ws) and their adjoints (layer_bar).
template <class T>
struct layer_aux {
  T* z_c;         // K: smoothed-min weights of the users
  T* z_s;         // M: ... of the targets
  cplx<T>* th_c;  // K: theta_ck
  cplx<T>* th_s;  // K x M: column m = theta_sm^T

  template <class A>
  JCAS_HD void carve_aux(A& a, const problem_dims& d) {
    z_c = a.template take<T>(d.k);
    z_s = a.template take<T>(d.m);
    th_c = a.template take<cplx<T>>(d.k);
    th_s = a.template take<cplx<T>>(long(d.k) * d.m);
  }
  JCAS_HD void zero_aux(const problem_dims& d) {
    for (index_t k = 0; k < d.k; ++k) {
      z_c[k] = 0;
      th_c[k] = cplx<T>();
    }
    for (index_t m = 0; m < d.m; ++m) z_s[m] = 0;
    for (long i = 0; i < long(d.k) * d.m; ++i) th_s[i] = cplx<T>();
  }
};

/// Scratch of layer_prepare.
template <class T>
struct layer_ws : layer_aux<T> {
  mview<T> q;  // Nr x Nr: Q, then its Cholesky factor
  surrogate<T> sur;
  cplx<T>* ac;       // K: column k of A_c^H is h_k ac_k (surrogate_user_scalars)
  T *th2, *cm, *xm;  // M: ||theta_sm||^2, delta z_sm ||theta_sm||^2, delta z_sm sqrt(1 + xi_sm)
  cplx<T>* xt;       // K x M: column k of A_t^H gains sum_m y_mm xt_mk (surrogate_*_ah_entry)
  // The rank-one receiver (Woodbury) and the merged surrogate:
  mview<T> gram, core;  // J x J: U^H U and the Woodbury core
  T *c, *un2;           // J: c_j = ||a_j||^2 and ||u_j||^2
  T* wjm;               // J x M: cm_m |u_j^H f'_m|^2, the terms of the merged weights
  cplx<T>* upk;         // K x M: column m = (u_m^H P_m e_k)_k
  mview<T> z, y;        // J x M: column m = M^{-1} S U^H u_m, and S times it
  cplx<T>* fs;          // M: the scale of f'_m

  template <class A>
  JCAS_HD void carve(A& a, const problem_dims& d) {
    q = a.template mat<T>(d.nr, d.nr);
    sur.carve(a, d);
    carve_scalars(a, d);
  }
  /// The scalars of the merged rank-one form (its stages 1-3 and the weights d): what a
  /// route that keeps the products elsewhere needs (core/lanes.hpp); q, L, L^H, A_t^H and
  /// S stay null there, and sur.d is carved here for the K + J columns.
  template <class A>
  JCAS_HD void carve_scalars(A& a, const problem_dims& d) {
    this->carve_aux(a, d);
    if (sur.d == nullptr) sur.d = a.template take<T>(d.rank_bt());
    ac = a.template take<cplx<T>>(d.k);
    th2 = a.template take<T>(d.m);
    cm = a.template take<T>(d.m);
    xm = a.template take<T>(d.m);
    xt = a.template take<cplx<T>>(long(d.k) * d.m);
    gram = a.template mat<T>(d.j(), d.j());
    core = a.template mat<T>(d.j(), d.j());
    c = a.template take<T>(d.j());
    un2 = a.template take<T>(d.j());
    wjm = a.template take<T>(long(d.j()) * d.m);
    upk = a.template take<cplx<T>>(long(d.k) * d.m);
    z = a.template mat<T>(d.j(), d.m);
    y = a.template mat<T>(d.j(), d.m);
    fs = a.template take<cplx<T>>(d.m);
  }
};

// layer_prepare (steps 1-5) is written as stages of independent items: every item of a
// stage reads only what earlier stages wrote and writes its own entries, so that a team
// or a thread block can divide a stage's items among its threads with a barrier between
// stages (core/batched.hpp, phase_prepare). layer_prepare runs the same items in order on
// one thread. The stages of the merged rank-one form | of the full form:
//   1. layer_scalars, rank1_receiver_coef (j), rank1_receiver_gram (j, i), rank1_receiver_upk
//      (m, k) | layer_scalars, receiver_q_entry (r, c)
//   2. rank1_receiver_core | receiver_factor (the J x J or Nr x Nr Cholesky factor: the one
//      stage a team leaves on one thread)
//   3. rank1_receiver_weights (m) | receiver_combiner (m)
//   4. rank1_receiver_entry (r, m), surrogate_user_entry (n, k), surrogate_rank1_column (n, j)
//      | surrogate_user_entry (n, k), y_jm's entries and surrogate_full_coef (m)
//   5. surrogate_rank1_pair (j, m) | none
//   6. surrogate_rank1_ah_entry (n, k), surrogate_rank1_weight (j) | surrogate_full_ah_entry

/// Steps 1-3 of SPEC.md section 4: xi = gamma, the smoothed-min weights (eq. 8) and the
/// quadratic-transform auxiliaries (eq. 12) at the incoming (W, F).
template <class T>
JCAS_HD inline void layer_auxiliaries(const problem_dims& d, T mu_c, T mu_s, const metrics<T>& mt, layer_ws<T>& ws) {
  softmin_weights(d.k, mt.gamma_c, mu_c, ws.z_c);
  softmin_weights(d.m, mt.gamma_s, mu_s, ws.z_s);
  for (index_t k = 0; k < d.k; ++k) ws.th_c[k] = mt.e[k] * (sqrt(1 + mt.gamma_c[k]) / mt.t_c[k]);
  for (index_t m = 0; m < d.m; ++m) {
    const T a = sqrt(1 + mt.gamma_s[m]) / mt.t_s[m];
    for (index_t k = 0; k < d.k; ++k) ws.th_s[long(m) * d.k + k] = mt.q[long(m) * d.k + k] * a;
  }
}

/// Step 5's scalars of user k (eqs. 14-15): its weight in B_t, d_k = z_ck |theta_ck|^2,
/// and ac_k = z_ck sqrt(1 + xi_ck) theta_ck (column k of A_c^H is h_k ac_k).
template <class T>
JCAS_HD inline void surrogate_user_scalars(const metrics<T>& mt, layer_ws<T>& ws, index_t k) {
  ws.sur.d[k] = ws.z_c[k] * norm2(ws.th_c[k]);
  ws.ac[k] = ws.th_c[k] * (ws.z_c[k] * sqrt(1 + mt.gamma_c[k]));
}

/// The scalars of combiner m that steps 4 and 5 share: ||theta_sm||^2 (0: no echo, f_m
/// stays), its weight in B_t, delta z_sm ||theta_sm||^2, and in A_t^H, delta z_sm
/// sqrt(1 + xi_sm) (eqs. 13-15).
template <class T>
JCAS_HD inline void sensing_scalars(const problem_dims& d, const system_params<T>& sys, const metrics<T>& mt,
                                    layer_ws<T>& ws, index_t m) {
  ws.th2[m] = nrm2sq(d.k, ws.th_s + long(m) * d.k);
  ws.cm[m] = sys.delta * ws.z_s[m] * ws.th2[m];
  ws.xm[m] = sys.delta * ws.z_s[m] * sqrt(1 + mt.gamma_s[m]);
}

/// Stage 1's scalars, O(K + M): the auxiliaries (steps 1-3), then every user's and every
/// combiner's scalars.
template <class T>
JCAS_HD inline void layer_scalars(const problem_dims& d, const system_params<T>& sys, T mu_c, T mu_s,
                                  const metrics<T>& mt, layer_ws<T>& ws) {
  layer_auxiliaries<T>(d, mu_c, mu_s, mt, ws);
  for (index_t k = 0; k < d.k; ++k) surrogate_user_scalars<T>(mt, ws, k);
  for (index_t m = 0; m < d.m; ++m) sensing_scalars<T>(d, sys, mt, ws, m);
}

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

/// Step 5, the users' part shared by both layouts, per entry (n, k): row n of L's column
/// k (= h_k) and of A_c^H's column k, with ac_k = ws.ac[k] (surrogate_user_scalars).
template <class T>
JCAS_HD inline void surrogate_user_entry(cview<T> h, cplx<T> ac_k, surrogate<T>& sur, index_t n, index_t k) {
  sur.l(n, k) = h(n, k);
  sur.ah(n, k) = h(n, k) * ac_k;
}

/// surrogate_user_entry for every entry.
template <class T>
JCAS_HD inline void surrogate_users(cview<T> h, layer_ws<T>& ws) {
  for (index_t k = 0; k < h.cols; ++k) {
    const cplx<T> a = ws.ac[k];
    for (index_t n = 0; n < h.rows; ++n) surrogate_user_entry<T>(h, a, ws.sur, n, k);
  }
}

/// L^H beside L, so that both products of D(W) are axpy loops (surrogate_eval).
template <class T>
JCAS_HD inline void surrogate_fill_lh(surrogate<T>& sur, index_t nt) {
  for (index_t n = 0; n < nt; ++n)
    for (index_t r = 0; r < sur.l.cols; ++r) sur.lh(r, n) = conj(sur.l(n, r));
}

// Step 5 for rank-one G_j = u_j v_j^H in the merged form (forward solvers only):
// y_jm = v_j (u_j^H f'_m) are all parallel to v_j, so the sensing part of B_t is
// sum_j c_j v_j v_j^H with c_j = sum_m d_m |u_j^H f'_m|^2: L = [H | v_j] has K + J
// columns and every W-step costs (K + J) / (K + J M) of the full form (8 / 12 in the
// paper's configuration).

/// Stage 4, per (n, j): row n of L's column K + j, v_j.
template <class T>
JCAS_HD inline void surrogate_rank1_column(const rank1_channels<T>& ch, const problem_dims& d, layer_ws<T>& ws,
                                           index_t n, index_t j) {
  ws.sur.l(n, d.k + j) = ch.v[long(j) * d.nt + n];
}

/// Stage 5, per (j, m) (after F'): the term cm_m |u_j^H f'_m|^2 of the weight d_{K+j}, and
/// for j = m A_t^H's coefficients xt_mk = theta_smk (u_m^H f'_m) xm_m (y_mm = v_m u_m^H
/// f'_m leaves v_m in L).
template <class T>
JCAS_HD inline void surrogate_rank1_pair(const rank1_channels<T>& ch, const problem_dims& d, cview<T> f,
                                         layer_ws<T>& ws, index_t j, index_t m) {
  const cplx<T> ujf = dotc(d.nr, ch.u + long(j) * d.nr, f.col(m));
  ws.wjm[long(m) * d.j() + j] = ws.cm[m] * norm2(ujf);
  if (j == m)
    for (index_t k = 0; k < d.k; ++k) ws.xt[long(m) * d.k + k] = ws.th_s[long(m) * d.k + k] * ujf * ws.xm[m];
}

/// Stage 6, per j: d_{K+j} = sum_m cm_m |u_j^H f'_m|^2.
template <class T>
JCAS_HD inline void surrogate_rank1_weight(const problem_dims& d, layer_ws<T>& ws, index_t j) {
  T s = 0;
  for (index_t m = 0; m < d.m; ++m) s += ws.wjm[long(m) * d.j() + j];
  ws.sur.d[d.k + j] = s;
}

/// Stage 6, per (n, k): delta X^H's entry (eq. 14), A_t^H(n, k) += sum_m v_m[n] xt_mk.
template <class T>
JCAS_HD inline void surrogate_rank1_ah_entry(const rank1_channels<T>& ch, const problem_dims& d, layer_ws<T>& ws,
                                             index_t n, index_t k) {
  cplx<T> s = ws.sur.ah(n, k);
  for (index_t m = 0; m < d.m; ++m) s += ch.v[long(m) * d.nt + n] * ws.xt[long(m) * d.k + k];
  ws.sur.ah(n, k) = s;
}

template <class Ch>
struct is_rank1 {
  static constexpr bool value = false;
};
template <class T>
struct is_rank1<rank1_channels<T>> {
  static constexpr bool value = true;
};

/// Column K + m J + j of L in the full layout: y_jm = G_j^H f'_m.
JCAS_HD inline index_t full_column(const problem_dims& d, index_t j, index_t m) { return d.k + m * d.j() + j; }

/// Stage 4 of the full form, per combiner m: A_t^H's coefficients xt_mk = theta_smk xm_m.
template <class T>
JCAS_HD inline void surrogate_full_coef(const problem_dims& d, layer_ws<T>& ws, index_t m) {
  for (index_t k = 0; k < d.k; ++k) ws.xt[long(m) * d.k + k] = ws.th_s[long(m) * d.k + k] * ws.xm[m];
}

/// Stage 6 of the full form, per (n, k): delta X^H's entry, A_t^H(n, k) += sum_m
/// y_mm[n] xt_mk.
template <class T>
JCAS_HD inline void surrogate_full_ah_entry(const problem_dims& d, layer_ws<T>& ws, index_t n, index_t k) {
  cplx<T> s = ws.sur.ah(n, k);
  for (index_t m = 0; m < d.m; ++m) s += ws.sur.l(n, full_column(d, m, m)) * ws.xt[long(m) * d.k + k];
  ws.sur.ah(n, k) = s;
}

/// The form of layer_prepare's receiver and W-subproblem:
///   loops  for rank-one G the Woodbury receiver and the merged surrogate (K + J columns),
///          for dense G the full form: what every solver and the training use;
///   full   the full form for any G (the Cholesky of Q, K + J M columns): the general
///          route, which the tests compare the merged one with.
/// Both fill L^H beside L for surrogate_eval's axpy loops. (The batch phases run the
/// stages themselves, core/batched.hpp, and skip L^H: their GEMMs read L itself.)
enum class surrogate_use { loops, full };

/// Whether layer_prepare takes the merged rank-one form (Woodbury receiver, K + J columns).
template <class T, class Ch>
JCAS_HD constexpr bool merged_form(surrogate_use use) {
  return is_rank1<Ch>::value && (use != surrogate_use::full || is_pack<T>::value);
}

/// The stages of layer_prepare (above): how many, and the one a team leaves on one thread.
constexpr int prepare_stages = 6;
constexpr int prepare_lead_stage = 2;

/// Every item of stage s (1 .. prepare_stages) in order on one thread, in nested loops:
/// the merged rank-one form (Merged: rank-one G) or the full form (any G, the y_jm
/// columns whole: eqs. 13-15 with B_t = L diag(d) L^H, L = [H | y_jm], y_jm = G_j^H f'_m in
/// column K + m J + j). F' goes into f (Nr x M, in/out); L^H is left alone. Returns the
/// status (stage 2's factor may fail).
template <bool Merged, class T, class Ch>
JCAS_HD inline status prepare_stage(const Ch& ch, const problem_dims& d, const system_params<T>& sys, T mu_c, T mu_s,
                                    const metrics<T>& mt, mview<T> f, layer_ws<T>& ws, int s) {
  surrogate<T>& sur = ws.sur;
  if constexpr (Merged) {
    static_assert(is_rank1<Ch>::value, "the merged form is for rank-one G");
    switch (s) {
      case 1:
        layer_scalars<T>(d, sys, mu_c, mu_s, mt, ws);
        for (index_t j = 0; j < d.j(); ++j) {
          rank1_receiver_coef<T>(ch, d, mt, ws, j);
          for (index_t i = 0; i <= j; ++i) rank1_receiver_gram<T>(ch, d, ws, j, i);
        }
        for (index_t m = 0; m < d.m; ++m)
          for (index_t k = 0; k < d.k; ++k) rank1_receiver_upk<T>(ch, d, mt, ws, m, k);
        return status::ok;
      case 2:
        return rank1_receiver_core<T>(d, sys, ws);
      case 3:
        for (index_t m = 0; m < d.m; ++m) rank1_receiver_weights<T>(d, sys, mt, ws, m);
        return status::ok;
      case 4:
        for (index_t m = 0; m < d.m; ++m) {
          const cplx<T> fs = ws.fs[m];
          const T th2 = ws.th2[m];
          for (index_t r = 0; r < d.nr; ++r) rank1_receiver_entry<T>(ch, d, ws.y.col(m), fs, th2, f, r, m);
        }
        sur.l.cols = surrogate_cols(d, true);
        surrogate_users<T>(ch.h, ws);
        for (index_t j = 0; j < d.j(); ++j)
          for (index_t n = 0; n < d.nt; ++n) surrogate_rank1_column<T>(ch, d, ws, n, j);
        return status::ok;
      case 5:
        for (index_t m = 0; m < d.m; ++m)
          for (index_t j = 0; j < d.j(); ++j) surrogate_rank1_pair<T>(ch, d, f, ws, j, m);
        return status::ok;
      default:
        for (index_t k = 0; k < d.k; ++k)
          for (index_t n = 0; n < d.nt; ++n) surrogate_rank1_ah_entry<T>(ch, d, ws, n, k);
        for (index_t j = 0; j < d.j(); ++j) surrogate_rank1_weight<T>(d, ws, j);
        return status::ok;
    }
  } else {
    switch (s) {
      case 1:
        layer_scalars<T>(d, sys, mu_c, mu_s, mt, ws);
        receiver_q<T>(d, sys, mt, ws);
        return status::ok;
      case 2:
        return receiver_factor<T>(ws);
      case 3:
        for (index_t m = 0; m < d.m; ++m) receiver_combiner<T>(d, mt, f, ws, m);
        return status::ok;
      case 4:
        sur.l.cols = surrogate_cols(d, false);
        surrogate_users<T>(ch.h, ws);
        for (index_t m = 0; m < d.m; ++m) {
          for (index_t j = 0; j < d.j(); ++j) {
            const index_t r = full_column(d, j, m);
            ch.apply_h(j, f.col(m), sur.l.col(r));
            sur.d[r] = ws.cm[m];
          }
          surrogate_full_coef<T>(d, ws, m);
        }
        return status::ok;
      case 5:
        return status::ok;
      default:
        for (index_t k = 0; k < d.k; ++k)
          for (index_t n = 0; n < d.nt; ++n) surrogate_full_ah_entry<T>(d, ws, n, k);
        return status::ok;
    }
  }
}

/// Steps 1-5 of SPEC.md section 4 at the incoming (W, F), whose metrics are `mt`: every
/// stage in turn. Writes F' into f (Nr x M, in/out) and the W-subproblem into ws.sur,
/// with L^H, in the form `use` asks for (packed SIMD lanes: rank-one G and the merged
/// form only).
template <class T, class Ch>
JCAS_HD inline status layer_prepare(const Ch& ch, const problem_dims& d, const system_params<T>& sys, T mu_c, T mu_s,
                                    const metrics<T>& mt, mview<T> f, layer_ws<T>& ws,
                                    surrogate_use use = surrogate_use::loops) {
  static_assert(!is_pack<T>::value || is_rank1<Ch>::value, "SIMD lanes: rank-one channels only");
  status st = status::ok;
  if constexpr (is_rank1<Ch>::value) {
    if (merged_form<T, Ch>(use))
      for (int s = 1; s <= prepare_stages && st == status::ok; ++s)
        st = prepare_stage<true, T>(ch, d, sys, mu_c, mu_s, mt, f, ws, s);
  }
  if constexpr (!is_pack<T>::value) {  // packed lanes: rank-one channels only
    if (!merged_form<T, Ch>(use))
      for (int s = 1; s <= prepare_stages && st == status::ok; ++s)
        st = prepare_stage<false, T>(ch, d, sys, mu_c, mu_s, mt, f, ws, s);
  }
  if (st == status::ok) surrogate_fill_lh(ws.sur, d.nt);
  return st;
}

/// Items of stage s (1 .. prepare_stages) of the merged rank-one form (rank1) or of the
/// full form; 0: the stage is empty.
JCAS_HD inline long prepare_items(const problem_dims& d, bool rank1, int s) {
  const long nk = long(d.nt) * d.k, nj = d.j();
  switch (s) {
    case 1:
      return 1 + (rank1 ? nj + nj * (nj + 1) / 2 + long(d.m) * d.k : long(d.nr) * (d.nr + 1) / 2);
    case 2:
      return 1;
    case 3:
      return d.m;
    case 4:
      return rank1 ? long(d.nr) * d.m + nk + long(d.nt) * nj : nk + long(d.nt) * nj * d.m;
    case 5:
      return rank1 ? nj * d.m : 0;
    default:
      return nk + (rank1 ? nj : 0);
  }
}

/// Item i of stage s of layer_prepare at the incoming (W, F) (metrics mt, F in f, F'
/// written there): the merged form for rank-one G, the full form for dense G; L^H is
/// left alone, and ws.sur.l.cols must already be surrogate_cols(d, rank one). Returns
/// the status (stage 2's factor may fail).
template <class T, class Ch>
JCAS_HD inline status prepare_item(const Ch& ch, const problem_dims& d, const system_params<T>& sys, T mu_c, T mu_s,
                                   const metrics<T>& mt, mview<T> f, layer_ws<T>& ws, int s, index_t i) {
  // 32-bit index arithmetic: a stage has far fewer than 2^31 items, and a GPU divides
  // 32-bit integers in a fraction of the instructions 64-bit ones take.
  const index_t nk = d.nt * d.k, nj = d.j();
  if (s == 1 && i == 0) return layer_scalars<T>(d, sys, mu_c, mu_s, mt, ws), status::ok;
  if constexpr (is_rank1<Ch>::value) {
    switch (s) {
      case 1: {
        index_t e = i - 1;
        if (e < nj) return rank1_receiver_coef<T>(ch, d, mt, ws, e), status::ok;
        e -= nj;
        if (e < nj * (nj + 1) / 2) {  // (j, i <= j), row by row
          index_t j = 0;
          while (e > j) e -= ++j;
          return rank1_receiver_gram<T>(ch, d, ws, j, e), status::ok;
        }
        e -= nj * (nj + 1) / 2;
        return rank1_receiver_upk<T>(ch, d, mt, ws, e / d.k, e % d.k), status::ok;
      }
      case 2:
        return rank1_receiver_core<T>(d, sys, ws);
      case 3:
        return rank1_receiver_weights<T>(d, sys, mt, ws, i), status::ok;
      case 4: {
        const index_t rm = d.nr * d.m;
        if (i < rm) {
          const index_t m = i / d.nr;
          rank1_receiver_entry<T>(ch, d, ws.y.col(m), ws.fs[m], ws.th2[m], f, i % d.nr, m);
        } else if (i < rm + nk) {
          const index_t k = (i - rm) / d.nt;
          surrogate_user_entry<T>(ch.h, ws.ac[k], ws.sur, (i - rm) % d.nt, k);
        } else {
          surrogate_rank1_column<T>(ch, d, ws, (i - rm - nk) % d.nt, (i - rm - nk) / d.nt);
        }
        return status::ok;
      }
      case 5:
        return surrogate_rank1_pair<T>(ch, d, f, ws, i % nj, i / nj), status::ok;
      default:
        if (i < nk)
          surrogate_rank1_ah_entry<T>(ch, d, ws, i % d.nt, i / d.nt);
        else
          surrogate_rank1_weight<T>(d, ws, i - nk);
        return status::ok;
    }
  } else {
    switch (s) {
      case 1: {
        index_t col = 0;  // entry i - 1 of Q's lower triangle, column by column
        index_t e = i - 1;
        while (e >= d.nr - col) e -= d.nr - col++;
        ws.q(col + e, col) = receiver_q_entry<T>(d, sys, mt, col + e, col);
        return status::ok;
      }
      case 2:
        return receiver_factor<T>(ws);
      case 3:
        return receiver_combiner<T>(d, mt, f, ws, i), status::ok;
      case 4: {
        if (i < nk) {
          const index_t k = i / d.nt;
          surrogate_user_entry<T>(ch.h, ws.ac[k], ws.sur, i % d.nt, k);
        } else {  // entry n of y_jm = G_j^H f'_m, (n, j, m) with n fastest
          const index_t e = i - nk, jm = e / d.nt;
          const index_t n = e % d.nt, j = jm % nj, m = jm / nj;
          const index_t r = full_column(d, j, m);
          ws.sur.l(n, r) = ch.apply_h_entry(j, f.col(m), n);
          if (n == 0) ws.sur.d[r] = ws.cm[m];
          if (n == 0 && j == m) surrogate_full_coef<T>(d, ws, m);
        }
        return status::ok;
      }
      default:
        return surrogate_full_ah_entry<T>(d, ws, i % d.nt, i / d.nt), status::ok;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Adjoints of the receiver update and the surrogate's construction (reverse mode; for a
// complex z the adjoint is dL/dRe z + i dL/dIm z). What the backward pass needs from the forward: the layer's input (W,
// F) and its inside (metrics, F', the surrogate with Q's factor, the W iterates), which the forward keeps on the
// layer's tape (core/training.hpp).

/// Scratch of the adjoint of layer_prepare: the auxiliaries' adjoints, F''s adjoint, vectors.
template <class T>
struct layer_bar : layer_aux<T> {
  mview<T> fnew;    // Nr x M: adjoint of F' (caller sets)
  mview<T> xs, bs;  // Nr x M: step 4's x_m = Q^{-1} b_m and the adjoint of b_m
  T* abar;          // M: adjoint of step 4's scale a_m
  T* th2;           // M: ||theta_sm||^2, 0 where step 4 kept f_m
  cplx<T>* vr;      // Nr scratch
  cplx<T>* vt;      // Nt scratch
  // The merged rank-one form's:
  cplx<T>* xtb;   // K x M: adjoint of A_t^H's coefficients xt_mk
  mview<T> zb;    // J x M: column m, u_j^H fbar'_m, then y_m's adjoint, then the core's right side's
  mview<T> ujb;   // J x M: the adjoint of u_j^H f'_m through step 5 (f''s adjoint adds U ujb)
  T* cmjm;        // J x M: pair (j, m)'s part of the adjoint of cm_m
  T* xmb;         // M: the adjoint of xm_m
  T* sjm;         // J x M: the adjoint of s_j = sqrt(c_j) through combiner m
  cplx<T>* upkb;  // K x M: adjoint of u_m^H P_m e_k
  T* cb;          // J: adjoint of c_j
  template <class A>
  JCAS_HD void carve(A& a, const problem_dims& d) {
    this->carve_aux(a, d);
    fnew = a.template mat<T>(d.nr, d.m);
    xs = a.template mat<T>(d.nr, d.m);
    bs = a.template mat<T>(d.nr, d.m);
    abar = a.template take<T>(d.m);
    th2 = a.template take<T>(d.m);
    vr = a.template take<cplx<T>>(d.nr);
    vt = a.template take<cplx<T>>(d.nt);
    xtb = a.template take<cplx<T>>(long(d.k) * d.m);
    zb = a.template mat<T>(d.j(), d.m);
    ujb = a.template mat<T>(d.j(), d.m);
    cmjm = a.template take<T>(long(d.j()) * d.m);
    xmb = a.template take<T>(d.m);
    sjm = a.template take<T>(long(d.j()) * d.m);
    upkb = a.template take<cplx<T>>(long(d.k) * d.m);
    cb = a.template take<T>(d.j());
  }
};

// Adjoint of layer_prepare's full form (dense G) in pieces, composed by
// team_layer_prepare_adjoint (core/training.hpp: on one thread, or by a team with step
// 4's products over P divided); the merged rank-one form's follow below. Inputs: the
// forward state (mt at the incoming (W, F); ws after layer_prepare, with the Cholesky
// factor of Q in ws.q; f_new = F'), sb (adjoints of L, d, A_t^H),
// lb.fnew (adjoint of F'). Outputs: adds to mb (gamma, T, e, q, P), to fbar_in (only for
// combiners that the forward left unchanged), *mu_c_bar, *mu_s_bar. lb's other arrays are
// scratch; the caller zeroes lb's auxiliaries.

/// Adjoint of step 5's users' part, both forms, user k: d_k = z_ck |theta_ck|^2 and
/// A_t^H[:, k] = z_ck sqrt(1 + gamma_ck) theta_ck h_k, into lb.z_c, lb.th_c, mb.gamma_c.
template <class T>
JCAS_HD inline void surrogate_user_adjoint(cview<T> h, const problem_dims& d, const metrics<T>& mt,
                                           const layer_ws<T>& ws, const surrogate_bar<T>& sb, layer_bar<T>& lb,
                                           metrics_bar<T>& mb, index_t k) {
  const T sq = sqrt(1 + mt.gamma_c[k]);
  lb.z_c[k] += sb.d[k] * norm2(ws.th_c[k]);
  lb.th_c[k] += ws.th_c[k] * (2 * sb.d[k] * ws.z_c[k]);
  const cplx<T> cbar = dotc(d.nt, h.col(k), sb.ah.col(k));
  lb.th_c[k] += cbar * (ws.z_c[k] * sq);
  const T abar = cmulc(cbar, ws.th_c[k]).re;
  lb.z_c[k] += abar * sq;
  mb.gamma_c[k] += abar * ws.z_c[k] / (2 * sq);
}

/// Adjoint of step 5 in the full form (eqs. 14-15: L, d and A_t^H), into lb's
/// auxiliaries and lb.fnew.
template <class T, class Ch>
JCAS_HD inline void surrogate_build_adjoint(const Ch& ch, const problem_dims& d, const system_params<T>& sys,
                                            const metrics<T>& mt, const layer_ws<T>& ws, const surrogate_bar<T>& sb,
                                            layer_bar<T>& lb, metrics_bar<T>& mb) {
  const surrogate<T>& sur = ws.sur;
  // Sensing columns y_jm = G_j^H f'_m with d_jm = delta z_sm ||theta_sm||^2.
  for (index_t m = 0; m < d.m; ++m) {
    const cplx<T>* th = ws.th_s + long(m) * d.k;
    const T th2 = nrm2sq(d.k, th), sq = sqrt(1 + mt.gamma_s[m]);
    for (index_t j = 0; j < d.j(); ++j) {
      const index_t r = d.k + m * d.j() + j;
      lb.z_s[m] += sys.delta * sb.d[r] * th2;
      for (index_t k = 0; k < d.k; ++k) lb.th_s[long(m) * d.k + k] += th[k] * (2 * sys.delta * sb.d[r] * ws.z_s[m]);
      // ybar_jm: the L column, plus the A_t^H term for j = m.
      for (index_t n = 0; n < d.nt; ++n) lb.vt[n] = sb.l(n, r);
      if (j == m) {
        const T bm = sys.delta * ws.z_s[m] * sq;  // A_t^H[:, k] += bm theta_smk y_mm
        const cplx<T>* ymm = sur.l.col(r);
        T bm_bar = 0;
        for (index_t k = 0; k < d.k; ++k) {
          const cplx<T> sbar = dotc(d.nt, ymm, sb.ah.col(k));
          lb.th_s[long(m) * d.k + k] += sbar * bm;
          bm_bar += cmulc(sbar, th[k]).re;
          const cplx<T> c = conj(th[k]) * bm;
          for (index_t n = 0; n < d.nt; ++n) lb.vt[n] += sb.ah(n, k) * c;
        }
        lb.z_s[m] += bm_bar * sys.delta * sq;
        mb.gamma_s[m] += bm_bar * sys.delta * ws.z_s[m] / (2 * sq);
      }
      ch.apply(j, lb.vt, lb.vr);
      for (index_t r2 = 0; r2 < d.nr; ++r2) lb.fnew(r2, m) += lb.vr[r2];
    }
  }
  for (index_t k = 0; k < d.k; ++k) surrogate_user_adjoint<T>(ch.h, d, mt, ws, sb, lb, mb, k);
}

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

// Adjoint of the merged rank-one form (Woodbury receiver, L = [H | v_j]), in stages a
// team divides (core/training.hpp, team_layer_prepare_adjoint): L's columns are channels
// here, constants, so sb.l is not read. Inputs as for the full form's pieces; the forward
// state is the stages' (core/layer.hpp, layer_ws). In order:
//   rank1_xt_adjoint (m, k); surrogate_user_adjoint (k) and rank1_surrogate_adjoint (j, m);
//   rank1_receiver_adjoint (m); rank1_coef_adjoint (j); rank1_p_adjoint (r, j, k).

/// Per (m, k): the adjoint of xt_mk, v_m^H (A_t^H's adjoint) e_k (stage 6's forward).
template <class T>
JCAS_HD inline void rank1_xt_adjoint(const rank1_channels<T>& ch, const problem_dims& d, const surrogate_bar<T>& sb,
                                     layer_bar<T>& lb, index_t m, index_t k) {
  lb.xtb[long(m) * d.k + k] = dotc(d.nt, ch.v + long(m) * d.nt, sb.ah.col(k));
}

/// Per pair (j, m) (after rank1_xt_adjoint): the adjoint of stage 5's term cm_m |u_j^H
/// f'_m|^2 of the weight d_{K+j} and, for j = m, of xt_mk = theta_smk (u_m^H f'_m) xm_m.
/// f'_m's adjoint gains u_j ub_jm; rather than adding it to lb.fnew (an Nr-long sum over
/// j, which would leave each combiner's J pairs on one lane), the pair keeps ub_jm and
/// w_jm = u_j^H fbar'_m (fbar' = lb.fnew as the layer's start set it) in lb.zb, and
/// rank1_receiver_adjoint adds sum_i (u_j^H u_i) ub_im. Also cm_m's adjoint part into
/// lb.cmjm, and for j = m xm_m's into lb.xmb and theta_sm's into lb.th_s.
template <class T>
JCAS_HD inline void rank1_surrogate_adjoint(const rank1_channels<T>& ch, const problem_dims& d, const layer_ws<T>& ws,
                                            cview<T> f_new, const surrogate_bar<T>& sb, layer_bar<T>& lb, index_t j,
                                            index_t m) {
  const cplx<T>* uj = ch.u + long(j) * d.nr;
  const cplx<T> ujf = dotc(d.nr, uj, f_new.col(m));
  const T wb = sb.d[d.k + j];
  lb.cmjm[long(m) * d.j() + j] = wb * norm2(ujf);
  cplx<T> ub = ujf * (2 * wb * ws.cm[m]);  // the adjoint of u_j^H f'_m
  if (j == m) {
    const cplx<T>* th = ws.th_s + long(m) * d.k;
    cplx<T>* thb = lb.th_s + long(m) * d.k;
    T xm_bar = 0;
    for (index_t k = 0; k < d.k; ++k) {
      const cplx<T> xb = lb.xtb[long(m) * d.k + k];
      thb[k] += xb * conj(ujf) * ws.xm[m];
      ub += xb * conj(th[k]) * ws.xm[m];
      xm_bar += cmulc(xb, th[k] * ujf).re;
    }
    lb.xmb[m] = xm_bar;
  }
  lb.ujb(j, m) = ub;
  lb.zb(j, m) = dotc(d.nr, uj, lb.fnew.col(m));
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

/// Adjoint of steps 2-3 (the softmin weights and theta), from lb's auxiliaries into mb,
/// *mu_c_bar and *mu_s_bar.
template <class T>
JCAS_HD inline void auxiliaries_adjoint(const problem_dims& d, T mu_c, T mu_s, const metrics<T>& mt,
                                        const layer_ws<T>& ws, const layer_bar<T>& lb, metrics_bar<T>& mb, T* mu_c_bar,
                                        T* mu_s_bar) {
  // Step 3: theta_ck = s_k e_k, s_k = sqrt(1+gamma)/T; theta_smk = s_m q_mmk likewise.
  for (index_t k = 0; k < d.k; ++k) {
    const T sq = sqrt(1 + mt.gamma_c[k]), t = mt.t_c[k], s = sq / t;
    mb.e[k] += lb.th_c[k] * s;
    const T sbar = cmulc(lb.th_c[k], mt.e[k]).re;
    mb.gamma_c[k] += sbar / (2 * sq * t);
    mb.t_c[k] -= sbar * s / t;
  }
  for (index_t m = 0; m < d.m; ++m) {
    const T sq = sqrt(1 + mt.gamma_s[m]), t = mt.t_s[m], s = sq / t;
    T sbar = 0;
    for (index_t k = 0; k < d.k; ++k) {
      mb.q[long(m) * d.k + k] += lb.th_s[long(m) * d.k + k] * s;
      sbar += cmulc(lb.th_s[long(m) * d.k + k], mt.q[long(m) * d.k + k]).re;
    }
    mb.gamma_s[m] += sbar / (2 * sq * t);
    mb.t_s[m] -= sbar * s / t;
  }
  // Step 2: the softmin weights.
  softmin_adjoint(d.k, mt.gamma_c, mu_c, ws.z_c, lb.z_c, mb.gamma_c, mu_c_bar);
  softmin_adjoint(d.m, mt.gamma_s, mu_s, ws.z_s, lb.z_s, mb.gamma_s, mu_s_bar);
}

}  // namespace jcas::core
