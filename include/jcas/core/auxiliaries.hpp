// Steps 1-3 of one layer (SPEC.md section 4, paper eqs. 8 and 12): the smoothed-min
// weights and the quadratic-transform auxiliaries, with the scalars of every user and
// combiner that steps 4 and 5 share (layer_scalars, stage 1 of layer_prepare); the
// layer's scratch (layer_ws) and its adjoint's (layer_bar); and the adjoint of steps 2-3.
// Step 4 is core/receiver.hpp, step 5 and the stage table core/layer.hpp.
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

/// Step 2 of SPEC.md section 4 at the incoming (W, F): xi = gamma and the smoothed-min
/// weights (eq. 8), every user's and every combiner's at once.
template <class T>
JCAS_HD inline void layer_softmins(const problem_dims& d, T mu_c, T mu_s, const metrics<T>& mt, layer_ws<T>& ws) {
  softmin_weights(d.k, mt.gamma_c, mu_c, ws.z_c);
  softmin_weights(d.m, mt.gamma_s, mu_s, ws.z_s);
}

/// Step 3 (eq. 12) for user k: the quadratic-transform auxiliary theta_ck.
template <class T>
JCAS_HD inline void user_theta(const metrics<T>& mt, layer_ws<T>& ws, index_t k) {
  ws.th_c[k] = mt.e[k] * (sqrt(1 + mt.gamma_c[k]) / mt.t_c[k]);
}

/// Step 3 (eq. 12) for combiner m: theta_smk for every k.
template <class T>
JCAS_HD inline void sensing_theta(const problem_dims& d, const metrics<T>& mt, layer_ws<T>& ws, index_t m) {
  const T a = sqrt(1 + mt.gamma_s[m]) / mt.t_s[m];
  for (index_t k = 0; k < d.k; ++k) ws.th_s[long(m) * d.k + k] = mt.q[long(m) * d.k + k] * a;
}

/// Steps 1-3 of SPEC.md section 4: xi = gamma, the smoothed-min weights (eq. 8) and the
/// quadratic-transform auxiliaries (eq. 12) at the incoming (W, F).
template <class T>
JCAS_HD inline void layer_auxiliaries(const problem_dims& d, T mu_c, T mu_s, const metrics<T>& mt, layer_ws<T>& ws) {
  layer_softmins<T>(d, mu_c, mu_s, mt, ws);
  for (index_t k = 0; k < d.k; ++k) user_theta<T>(mt, ws, k);
  for (index_t m = 0; m < d.m; ++m) sensing_theta<T>(d, mt, ws, m);
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
