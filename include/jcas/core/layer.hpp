// One outer layer of the AO / unfolded method (SPEC.md section 4, paper eqs. 8-18),
// split into the steps that every algorithm shares:
//   layer_prepare   steps 1-5: layer_scalars (weights, quadratic-transform auxiliaries:
//                   core/auxiliaries.hpp), the receiver update F -> F' (core/receiver.hpp),
//                   then the surrogate (the W-subproblem g(W) = tr(W^H B_t W) - 2 Re
//                   tr(W A_t), here), in stages a team can divide (the stage table, here)
//   surrogate_eval  g(W) and its direction D(W) = B_t W - A_t^H (eq. 16 without the 2)
//   normalized_step step 6, one projected normalised gradient step (eq. 18)
// (those two, the smoothed-min weights and their adjoints: core/surrogate.hpp)
// B_t is kept factored, B_t = L diag(d) L^H with L = [H | y_jm] (y_jm = G_j^H f'_m),
// d = [z_ck |theta_ck|^2 | delta z_sm ||theta_sm||^2], so D(W) costs O(Nt K R), R = K + J M,
// and no Nt x Nt matrix is ever formed.
#pragma once
#include "jcas/core/receiver.hpp"

namespace jcas::core {

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
// Adjoints of the surrogate's construction (step 5; reverse mode: for a complex z the
// adjoint is dL/dRe z + i dL/dIm z); the receiver's (step 4) are core/receiver.hpp's, the
// auxiliaries' (steps 2-3) core/auxiliaries.hpp's. What the backward pass needs from the
// forward: the layer's input (W, F) and its inside (metrics, F', the surrogate with Q's
// factor, the W iterates), which the forward keeps on the layer's tape (core/training.hpp).

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

// Adjoint of the merged rank-one form (Woodbury receiver, L = [H | v_j]), in stages a
// team divides (core/training.hpp, team_layer_prepare_adjoint): L's columns are channels
// here, constants, so sb.l is not read. Inputs as for the full form's pieces; the forward
// state is the stages' (layer_ws). In order:
//   rank1_xt_adjoint (m, k); surrogate_user_adjoint (k) and rank1_surrogate_adjoint (j, m);
//   rank1_receiver_adjoint (m); rank1_coef_adjoint (j); rank1_p_adjoint (r, j, k) (the
//   last three: core/receiver.hpp).

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

}  // namespace jcas::core
