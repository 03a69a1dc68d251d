// Algorithm 1 (SPEC.md 4-5) for line-of-sight channels, G_j = u_j v_j^H, by a team of
// lanes that keeps one realization's whole state in its fast memory: on a GPU a warp with
// its slot in shared memory (kernels/unfolded_lanes.cu), in the tests a team of
// std::threads, on the CPU one thread. The mathematics is layer.hpp's merged rank-one
// form -- the Woodbury receiver (eq. 13) and the surrogate with L = [H | V] (eqs. 14-16)
// -- written in the coordinates that form allows:
//   * every combiner lies in the span of U once the receiver has updated it
//     (f'_m = Q^{-1} u_m times a scale), so F = U Phi + F0 diag(kappa) with Phi J x M
//     and kappa_m in {0, 1}: the metrics and the surrogate need only U^H F = Gamma Phi +
//     U^H F0 kappa and ||f_m||^2, with Gamma = U^H U fixed, and F itself is formed once,
//     at the end;
//   * A_t^H = L C_A (C_A: R x K, R = K + J: A_c's diag(ac) in the users' rows, the
//     targets' coefficients xt in theirs), so D(W) = L diag(d) L^H W - A_t^H = L Z with
//     Z = diag(d) S - C_A and S = L^H W.
// The Nt- and Nr-long products -- S (R x K entries), D (Nt x K), the projection's rows
// (eq. 18), U^H F0, F -- are divided over the lanes, an entry or a row each; so are the
// metrics and steps 1-5 (O(K^2 + J^3 + M J K)), a user, a combiner, a channel or an entry
// of U^H F' a lane, with layer.hpp's, receiver.hpp's and metrics.hpp's own functions of
// one item; only the softmin weights and the J x J core's Cholesky factor stay on the
// lead lane. Three barriers a W-step (and a team sum), nine a layer besides. The
// realization's state (lanes_slot) is 4.9 KB in float at the paper's sizes.
#pragma once
#include "jcas/core/layer.hpp"
#include "jcas/core/schedule.hpp"
#include "jcas/core/solvers.hpp"
#include "jcas/core/team.hpp"

namespace jcas::core {

/// An odd leading dimension >= n: a column's entries and a row's then fall in different
/// shared-memory banks (32 banks of 4 bytes; a complex<float> spans 2, a complex<double> 4).
JCAS_HD inline index_t odd_ld(index_t n) { return n | 1; }

/// One realization's state in the team's fast memory.
template <class T>
struct lanes_slot {
  mview<T> l;      // Nt x R: L = [H | V], the merged surrogate's columns (constant)
  mview<T> u;      // Nr x J: U (constant)
  mview<T> gram;   // J x J: Gamma = U^H U, both triangles (constant)
  mview<T> w;      // Nt x K: W; between a step and its projection V = W - a D
  mview<T> dir;    // Nt x K: D(W) (eq. 16)
  mview<T> s;      // R x K: S = L^H W
  mview<T> z;      // R x K: Z = diag(d) S - C_A, D = L Z
  mview<T> ca;     // R x K: C_A, A_t^H = L C_A
  mview<T> phi;    // J x M: F = U Phi + F0 diag(kappa)
  mview<T> uf0;    // J x M: U^H F0
  mview<T> uf;     // J x M: U^H F
  T* f02;          // M: ||f0_m||^2
  T* kappa;        // M: 1 while f_m is still F0's column, else 0
  T* fn2;          // M: ||f_m||^2
  T* n2jm;         // J x M: combiner m's terms of ||f_m||^2, entry j (lanes_combiner_entry)
  int* st;         // 2: the status the lead lane found at the start and in a layer's prepare
                   // (all lanes read it after a barrier; two places, so that no lane still
                   // reads the start's while the lead writes the first layer's)
  metrics<T> mt;   // the metrics at (W, F), scalars only
  layer_ws<T> lw;  // layer.hpp's scalars of steps 1-5 (lw.gram points at gram)

  template <class A>
  JCAS_HD void carve(A& a, const problem_dims& d) {
    const index_t r = d.k + d.j();
    l = {a.template take<cplx<T>>(long(odd_ld(d.nt)) * r), d.nt, r, odd_ld(d.nt)};
    u = a.template mat<T>(d.nr, d.j());
    gram = a.template mat<T>(d.j(), d.j());
    w = {a.template take<cplx<T>>(long(odd_ld(d.nt)) * d.k), d.nt, d.k, odd_ld(d.nt)};
    dir = a.template mat<T>(d.nt, d.k);
    s = a.template mat<T>(r, d.k);
    z = {a.template take<cplx<T>>(long(odd_ld(r)) * d.k), r, d.k, odd_ld(r)};
    ca = a.template mat<T>(r, d.k);
    phi = a.template mat<T>(d.j(), d.m);
    uf0 = a.template mat<T>(d.j(), d.m);
    uf = a.template mat<T>(d.j(), d.m);
    f02 = a.template take<T>(d.m);
    kappa = a.template take<T>(d.m);
    fn2 = a.template take<T>(d.m);
    n2jm = a.template take<T>(long(d.j()) * d.m);
    st = a.template take<int>(2);
    mt.carve_scalars(a, d);
    lw.carve_scalars(a, d);
    lw.gram = gram;
  }
  JCAS_HD static long bytes(const problem_dims& d) {
    arena_counter c;
    lanes_slot s;
    s.carve(c, d);
    return c.used;
  }
};

/// The distance in bytes between two realizations' slots in a block's shared memory
/// (kernels/unfolded_lanes.cu): the slot rounded up to 128 bytes and 16 more, so that the
/// lead lanes of the realizations that share a warp (teams of 8 or 16 lanes) find the
/// same field of their slots in different banks (the slots' starts 16 bytes apart modulo
/// the 128 bytes of a bank row).
template <class T>
JCAS_HD inline long lanes_slot_stride(const problem_dims& d) {
  return (lanes_slot<T>::bytes(d) + 127) / 128 * 128 + 16;
}

/// Warps in a block of the lanes kernel (kernels/unfolded_lanes.cu) with teams of g lanes:
/// 4, or 2 or 1 where four warps' slots (lanes_slot_stride apart) and the views of four
/// warps' teams (static, sized for the most) would not fit `room` bytes of a block's
/// shared memory; 0 where one warp's do not. host/gpu_model.hpp plans with the same rule.
constexpr int lanes_most_warps = 4;
template <class T>
inline int lanes_block_warps(const problem_dims& d, int g, long room) {
  const long views = long(lanes_most_warps) * 32 / g * long(sizeof(lanes_slot<T>));
  for (int w = lanes_most_warps; w >= 1; w /= 2)
    if (long(w) * 32 / g * lanes_slot_stride<T>(d) + views <= room) return w;
  return 0;
}

/// One realization's inputs and outputs in the batch's memory (global memory on a GPU).
template <class T>
struct lanes_io {
  const cplx<T>* h;  // Nt x K
  const cplx<T>* u;  // Nr x J
  const cplx<T>* v;  // Nt x J
  cplx<T>* wf;       // W | F: in = (W0, F0) unless `init`; out = the last layer's
  T* curve;          // l_out + 1 (may be null)
  T* res;            // {objective, min_gamma_c, min_gamma_s, outer}
  int* st;
  bool init;        // W0 = Pi_S(H) and F0 by the rank-one closed form here (SPEC.md 3)
  bool zf = false;  // with init: W0 = Pi_S of the regularised zero-forcing precoder instead
};

/// The metrics at (W, F) by the team from S = L^H W (E = H^H W in its first K rows, V^H W
/// below), U^H F and ||f_m||^2 (SPEC.md 2): a user (user_metric) or a combiner
/// (sensing_metric, q_mjk = f_m^H u_j (v_j^H w_k)) a lane, a barrier, then on the lead
/// lane the minima and h (eq. 7, also into *h_out where given), a barrier.
JCAS_NO_EXEC_CHECK
template <class T, class Team>
JCAS_HD inline void lanes_metrics(const Team& team, const problem_dims& d, const system_params<T>& sys,
                                  lanes_slot<T>& sl, T* h_out) {
  const mview<T> s = sl.s, uf = sl.uf;
  team_items(team, d.k + d.m, [&](long e) {
    if (e < d.k)
      user_metric<T>([&](index_t k, index_t j) { return s(k, j); }, d, sys, sl.mt, index_t(e));
    else
      sensing_metric<T>([&](index_t m, index_t j, index_t k) { return conj(uf(j, m)) * s(d.k + j, k); },
                        [&](index_t m) { return sl.fn2[m]; }, d, sys, sl.mt, index_t(e - d.k));
  });
  on_lead(team, [&] {
    metrics_summary<T>(d, sys, min_of(d.k, sl.mt.gamma_c), sl.mt);
    if (h_out) *h_out = sl.mt.objective;
  });
}

/// Entry j of U^H F's column m, kappa_m (U^H F0)_jm + (Gamma phi_m)_j, and its term of
/// ||f_m||^2 = kappa_m^2 ||f0_m||^2 + sum_j (phi_jm^* (Gamma phi_m)_j + 2 kappa_m
/// Re((U^H F0)_jm^* phi_jm)) into sl.n2jm.
template <class T>
JCAS_HD inline void lanes_combiner_entry(const problem_dims& d, lanes_slot<T>& sl, index_t j, index_t m) {
  const T k = sl.kappa[m];
  cplx<T> g{};
  for (index_t i = 0; i < d.j(); ++i) g += sl.gram(j, i) * sl.phi(i, m);
  sl.uf(j, m) = sl.uf0(j, m) * k + g;
  sl.n2jm[long(m) * d.j() + j] = cmulc(sl.phi(j, m), g).re + 2 * k * cmulc(sl.uf0(j, m), sl.phi(j, m)).re;
}

/// ||f_m||^2 from combiner m's terms (lanes_combiner_entry, every j), in j's order.
template <class T>
JCAS_HD inline void lanes_combiner_norm(const problem_dims& d, lanes_slot<T>& sl, index_t m) {
  const T k = sl.kappa[m];
  T n2 = k * k * sl.f02[m];
  for (index_t j = 0; j < d.j(); ++j) n2 += sl.n2jm[long(m) * d.j() + j];
  sl.fn2[m] = n2;
}

/// U^H F's column m and ||f_m||^2 from Phi, kappa, U^H F0 and ||f0_m||^2, on one lane.
template <class T>
JCAS_HD inline void lanes_combiner_products(const problem_dims& d, lanes_slot<T>& sl, index_t m) {
  for (index_t j = 0; j < d.j(); ++j) lanes_combiner_entry<T>(d, sl, j, m);
  lanes_combiner_norm<T>(d, sl, m);
}

/// SPEC.md 3's F0 in U's coordinates (lead lane), from S = L^H W0: f_m ∝ B_m^{-1} u_m with
/// B_m = Nr sigma_s^2 I + sum_{j != m} c_j u_j u_j^H, c_j = ||v_j^H W0||^2, by Woodbury in
/// the J x J core (the same vector as core::f0_rank1's, unit norm). lw.core and lw.z are
/// scratch here.
template <class T>
JCAS_HD inline status lanes_f0(const problem_dims& d, const system_params<T>& sys, lanes_slot<T>& sl) {
  layer_ws<T>& lw = sl.lw;
  const T sigma = T(d.nr) * sys.sigma_s2;
  for (index_t j = 0; j < d.j(); ++j) {
    T c = 0;
    for (index_t k = 0; k < d.k; ++k) c += norm2(sl.s(d.k + j, k));
    lw.c[j] = c;
  }
  for (index_t m = 0; m < d.m; ++m) {
    // M_m = sigma I + S_m Gamma S_m with S_m = diag(sqrt c_j), 0 in m's place.
    const auto sm = [&](index_t j) { return j == m ? T(0) : sqrt(lw.c[j]); };
    for (index_t j = 0; j < d.j(); ++j)
      for (index_t i = 0; i <= j; ++i) {
        lw.core(j, i) = sl.gram(j, i) * (sm(j) * sm(i));
        if (i == j) lw.core(j, j) += cplx<T>(sigma);
      }
    const status st = cholesky(lw.core);
    if (st != status::ok) return st;
    cplx<T>* x = lw.z.col(0);
    for (index_t j = 0; j < d.j(); ++j) x[j] = sl.gram(j, m) * sm(j);
    cholesky_solve<T>(lw.core, x);
    for (index_t j = 0; j < d.j(); ++j) sl.phi(j, m) = (cplx<T>(j == m ? T(1) : T(0)) - x[j] * sm(j)) / sigma;
    sl.kappa[m] = 0;
    sl.f02[m] = 0;
    for (index_t j = 0; j < d.j(); ++j) sl.uf0(j, m) = cplx<T>();
    lanes_combiner_products(d, sl, m);
    const T scale = T(1) / sqrt(sl.fn2[m]);
    for (index_t j = 0; j < d.j(); ++j) sl.phi(j, m) *= scale;
    lanes_combiner_products(d, sl, m);
  }
  return status::ok;
}

/// Stage 1 of the receiver for j (rank1_receiver_coef, _upk) in U's coordinates: c_j =
/// sum_k |v_j^H w_k|^2 (= sum_k ||P_j e_k||^2 / ||u_j||^2), ||u_j||^2 = Gamma_jj, and for
/// a combiner's own channel (j < M) u_j^H P_j e_k = Gamma_jj v_j^H w_k.
template <class T>
JCAS_HD inline void lanes_receiver_coef(const problem_dims& d, lanes_slot<T>& sl, index_t j) {
  layer_ws<T>& lw = sl.lw;
  T c = 0;
  for (index_t k = 0; k < d.k; ++k) c += norm2(sl.s(d.k + j, k));
  lw.c[j] = c;
  lw.un2[j] = sl.gram(j, j).re;
  if (j < d.m)
    for (index_t k = 0; k < d.k; ++k) lw.upk[long(j) * d.k + k] = sl.s(d.k + j, k) * sl.gram(j, j).re;
}

/// Stages 3-4 for combiner m (after the core): rank1_receiver_weights, then f'_m as Phi's
/// column (e_m - y_m) fs_m; a combiner without an echo stays (as rank1_receiver_entry
/// leaves it).
template <class T>
JCAS_HD inline void lanes_receiver_combiner(const problem_dims& d, const system_params<T>& sys, lanes_slot<T>& sl,
                                            index_t m) {
  layer_ws<T>& lw = sl.lw;
  rank1_receiver_weights<T>(d, sys, sl.mt, lw, m);
  if (lw.th2[m] > T(0)) {
    for (index_t j = 0; j < d.j(); ++j) sl.phi(j, m) = (cplx<T>(j == m ? T(1) : T(0)) - lw.y(j, m)) * lw.fs[m];
    sl.kappa[m] = 0;
  }
}

/// Stage 6 of the merged form for j (surrogate_rank1_weight): d_{K+j} = sum_m cm_m
/// |u_j^H f'_m|^2.
template <class T>
JCAS_HD inline void lanes_sensing_weight(const problem_dims& d, lanes_slot<T>& sl, index_t j) {
  T s = 0;
  for (index_t m = 0; m < d.m; ++m) s += sl.lw.cm[m] * norm2(sl.uf(j, m));
  sl.lw.sur.d[d.k + j] = s;
}

/// Column k of C_A (A_t^H = L C_A): ac_k in user k's row, xt_mk = theta_smk (u_m^H f'_m)
/// xm_m in target m's (surrogate_rank1_pair for j = m).
template <class T>
JCAS_HD inline void lanes_ca_column(const problem_dims& d, lanes_slot<T>& sl, index_t k) {
  const layer_ws<T>& lw = sl.lw;
  for (index_t r = 0; r < d.k + d.j(); ++r) sl.ca(r, k) = cplx<T>();
  sl.ca(k, k) = lw.ac[k];
  for (index_t m = 0; m < d.m; ++m) sl.ca(d.k + m, k) = lw.th_s[long(m) * d.k + k] * sl.uf(m, m) * lw.xm[m];
}

/// Steps 1-5 of layer l by the team at the incoming (W, F) whose metrics are sl.mt and
/// whose S = L^H W is sl.s, in six phases, a barrier after each: the softmin weights
/// (step 2) on the lead lane; a user's or combiner's auxiliaries and scalars (steps 2-3,
/// user_theta / surrogate_user_scalars, sensing_theta / sensing_scalars) or a channel's
/// stage 1 of the Woodbury receiver (lanes_receiver_coef) a lane; the receiver's J x J
/// core and its Cholesky factor (rank1_receiver_core, step 4) on the lead lane; F' as Phi'
/// a combiner a lane; U^H F' an entry a lane; then step 5 -- ||f'_m||^2, the weights d
/// (users: surrogate_user_scalars; sensing: d_{K+j}) and C_A -- an item a lane. Returns
/// the core's status, the same on every lane.
JCAS_NO_EXEC_CHECK
template <class T, class Team>
JCAS_HD inline status lanes_prepare(const Team& team, const problem_dims& d, const system_params<T>& sys, T mu_c,
                                    T mu_s, lanes_slot<T>& sl) {
  layer_ws<T>& lw = sl.lw;
  const metrics<T>& mt = sl.mt;
  const index_t nj = d.j();
  on_lead(team, [&] { layer_softmins<T>(d, mu_c, mu_s, mt, lw); });
  team_items(team, d.k + d.m + nj, [&](long e) {
    if (e < d.k) {
      user_theta<T>(mt, lw, index_t(e));
      surrogate_user_scalars<T>(mt, lw, index_t(e));
    } else if (e < d.k + d.m) {
      sensing_theta<T>(d, mt, lw, index_t(e - d.k));
      sensing_scalars<T>(d, sys, mt, lw, index_t(e - d.k));
    } else
      lanes_receiver_coef<T>(d, sl, index_t(e - d.k - d.m));
  });
  on_lead(team, [&] { sl.st[1] = int(rank1_receiver_core<T>(d, sys, lw)); });
  const status st = status(sl.st[1]);
  if (st != status::ok) return st;
  team_items(team, d.m, [&](long m) { lanes_receiver_combiner<T>(d, sys, sl, index_t(m)); });
  team_items(team, long(nj) * d.m, [&](long e) { lanes_combiner_entry<T>(d, sl, index_t(e % nj), index_t(e / nj)); });
  team_items(team, d.m + nj + d.k, [&](long e) {
    if (e < d.m)
      lanes_combiner_norm<T>(d, sl, index_t(e));
    else if (e < d.m + nj)
      lanes_sensing_weight<T>(d, sl, index_t(e - d.m));
    else
      lanes_ca_column<T>(d, sl, index_t(e - d.m - nj));
  });
  return status::ok;
}

/// S = L^H W by the team, an entry each (R x K of them, Nt-long); a barrier after them
/// when the lead lane reads S next (the metrics), none when each lane goes on with its own
/// entries (lanes_direction's Z takes the same entries).
JCAS_NO_EXEC_CHECK
template <class T, class Team>
JCAS_HD inline void lanes_lhw(const Team& team, const problem_dims& d, lanes_slot<T>& sl, bool barrier) {
  const index_t r = d.k + d.j(), nt = d.nt;
  for (index_t e = index_t(team.rank()); e < r * d.k; e += index_t(team.size())) {
    const index_t i = e % r, k = e / r;
    const cplx<T>*lc = sl.l.col(i), *wc = sl.w.col(k);
    cplx<T> acc{};
    for (index_t n = 0; n < nt; ++n) acc += cmulc(lc[n], wc[n]);
    sl.s(i, k) = acc;
  }
  if (barrier) team.sync();
}

/// D(W) = L Z, Z = diag(d) S - C_A (eq. 16), into sl.dir by the team: Z an entry each
/// (lanes_lhw's entries), a barrier, D an entry each. Returns ||D||_F, the same on every
/// lane (a team sum); each lane keeps its own D entries, which lanes_step takes.
JCAS_NO_EXEC_CHECK
template <class T, class Team>
JCAS_HD inline T lanes_direction(const Team& team, const problem_dims& d, lanes_slot<T>& sl) {
  const index_t r = d.k + d.j(), rank = index_t(team.rank()), size = index_t(team.size());
  const T* dw = sl.lw.sur.d;
  for (index_t e = rank; e < r * d.k; e += size) {
    const index_t i = e % r, k = e / r;
    sl.z(i, k) = sl.s(i, k) * dw[i] - sl.ca(i, k);
  }
  team.sync();
  T part = 0;
  for (index_t e = rank; e < d.nt * d.k; e += size) {
    const index_t n = e % d.nt, k = e / d.nt;
    const cplx<T>* zk = sl.z.col(k);
    cplx<T> acc{};
    for (index_t i = 0; i < r; ++i) acc += sl.l(n, i) * zk[i];
    sl.dir(n, k) = acc;
    part += norm2(acc);
  }
  return sqrt(team.sum(part));
}

/// Step 6 (eq. 18) by the team at ||D||_F = nd: W <- Pi_S(W - beta D / nd), V = W - a D
/// on each lane's own entries (lanes_direction's), a barrier, each row projected by one
/// lane (project_row), a barrier. No move when D = 0 (normalized_step).
JCAS_NO_EXEC_CHECK
template <class T, class Team>
JCAS_HD inline void lanes_step(const Team& team, const problem_dims& d, T nd, T beta, T pt, lanes_slot<T>& sl) {
  if (!(nd > T(0))) {  // every lane has the same nd: all skip together
    team.sync();       // (no lane writes Z again before every lane has read it)
    return;
  }
  const T a = beta / nd;
  const index_t rank = index_t(team.rank()), size = index_t(team.size());
  for (index_t e = rank; e < d.nt * d.k; e += size) {
    const index_t n = e % d.nt, k = e / d.nt;
    sl.w(n, k) -= sl.dir(n, k) * a;
  }
  team.sync();
  const T row_norm = sqrt(pt / T(d.nt));
  for (index_t n = rank; n < d.nt; n += size) project_row(sl.w, n, row_norm);
  team.sync();
}

/// Algorithm 1's executor (core/schedule.hpp) for the team: the metrics and steps 1-5
/// from S = L^H W (computed by the team first; a layer's first D reuses the metrics' S),
/// D(W) and the steps; nd keeps ||D||_F for the frozen variant.
template <class T, class Team>
struct lanes_exec {
  const Team& team;
  const problem_dims& d;
  const system_params<T>& sys;
  const unfolded_params<T>& p;
  const lanes_io<T>& io;
  lanes_slot<T>& sl;
  T nd = 0;
  JCAS_NO_EXEC_CHECK
  JCAS_HD void metrics(index_t l) {
    if (l >= 0) lanes_lhw<T>(team, d, sl, true);  // the start's S is the caller's
    lanes_metrics<T>(team, d, sys, sl, io.curve ? io.curve + (l + 1) : nullptr);
  }
  JCAS_NO_EXEC_CHECK
  JCAS_HD status prepare(index_t l) { return lanes_prepare<T>(team, d, sys, p.mu_c_at(l), p.mu_s_at(l), sl); }
  JCAS_NO_EXEC_CHECK
  JCAS_HD void direction(index_t s) {
    if (s > 0) lanes_lhw<T>(team, d, sl, false);  // the layer's first S is the metrics'
    nd = lanes_direction<T>(team, d, sl);
  }
  JCAS_NO_EXEC_CHECK
  JCAS_HD void step(index_t l, index_t i, index_t) {
    lanes_step<T>(team, d, nd, p.beta[long(l) * p.l_in + i], sys.pt, sl);
  }
};

/// Algorithm 1 on one realization by the team (every lane calls it with the same
/// arguments): stages its inputs into `sl` (a slot of lanes_slot<T>::bytes(d) bytes,
/// 16-byte aligned, carved by the caller), runs the layers and writes W | F, the curve,
/// the results and the status to io. Returns the status (every lane the same).
JCAS_NO_EXEC_CHECK
template <class T, class Team>
JCAS_HD status unfolded_lanes(const Team& team, const problem_dims& d, const system_params<T>& sys,
                              const unfolded_params<T>& p, const lanes_io<T>& io, lanes_slot<T>& sl) {
  const index_t rank = index_t(team.rank()), size = index_t(team.size()), nj = d.j(), r = d.k + nj;
  const long nw = long(d.nt) * d.k;
  // Stage the constants: L = [H | V], U; and W0 (MRT: H) or W from io.
  for (index_t e = rank; e < d.nt * r; e += size) {
    const index_t n = e % d.nt, i = e / d.nt;
    sl.l(n, i) = i < d.k ? io.h[long(i) * d.nt + n] : io.v[long(i - d.k) * d.nt + n];
  }
  for (index_t e = rank; e < d.nr * nj; e += size) sl.u.data[e] = io.u[e];
  for (index_t e = rank; e < d.nt * d.k; e += size) {
    const index_t n = e % d.nt, k = e / d.nt;
    sl.w(n, k) = io.init ? io.h[e] : io.wf[e];
  }
  team.sync();
  // Gamma = U^H U, and for a given F0 its U^H F0 and ||f0_m||^2 (Nr-long, an entry each).
  for (index_t e = rank; e < nj * nj; e += size) {
    const index_t j = e % nj, i = e / nj;
    sl.gram(j, i) = dotc(d.nr, sl.u.col(j), sl.u.col(i));
  }
  if (!io.init) {
    const cplx<T>* f0 = io.wf + nw;
    for (index_t e = rank; e < nj * d.m; e += size) {
      const index_t j = e % nj, m = e / nj;
      sl.uf0(j, m) = dotc(d.nr, sl.u.col(j), f0 + long(m) * d.nr);
    }
    for (index_t m = rank; m < d.m; m += size) sl.f02[m] = nrm2sq(d.nr, f0 + long(m) * d.nr);
  }
  if (io.init && io.zf)  // W0 = H (H^H H + eps I)^{-1} (zf_start) by the lead lane, S and Z as scratch
    on_lead(team, [&] {
      const cview<T> h{sl.l.data, d.nt, d.k, sl.l.ld};
      sl.st[1] = int(zf_start<T>(h, d, sys, sl.w, mview<T>{sl.z.data, d.k, d.k, sl.z.ld}, sl.s.data));
    });
  if (io.init) {  // W0 = Pi_S(H) or Pi_S(zero-forcing), a row each
    const T row_norm = sqrt(sys.pt / T(d.nt));
    for (index_t n = rank; n < d.nt; n += size) project_row(sl.w, n, row_norm);
  }
  team.sync();
  lanes_lhw<T>(team, d, sl, true);
  on_lead(team, [&] {
    status st = io.init && io.zf ? status(sl.st[1]) : status::ok;  // the zero-forcing start's (lead's own write)
    if (io.init) {
      if (st == status::ok) st = lanes_f0<T>(d, sys, sl);
    } else {
      for (index_t m = 0; m < d.m; ++m) {
        sl.kappa[m] = 1;
        for (index_t j = 0; j < nj; ++j) sl.phi(j, m) = cplx<T>();
        lanes_combiner_products(d, sl, m);
      }
    }
    sl.st[0] = int(st);
  });
  status st = status(sl.st[0]);
  if (st == status::ok) {
    lanes_exec<T, Team> ex{team, d, sys, p, io, sl};
    st = unfolded_schedule(ex, p);
  }
  // W | F out, F = U Phi + F0 diag(kappa): an entry each.
  for (index_t e = rank; e < d.nt * d.k; e += size) {
    const index_t n = e % d.nt, k = e / d.nt;
    io.wf[e] = sl.w(n, k);
  }
  for (index_t e = rank; e < d.nr * d.m; e += size) {
    const index_t rr = e % d.nr, m = e / d.nr;
    cplx<T> f = io.init ? cplx<T>() : io.wf[nw + e] * sl.kappa[m];
    for (index_t j = 0; j < nj; ++j) f += sl.u(rr, j) * sl.phi(j, m);
    io.wf[nw + e] = f;
  }
  if (team.rank() == 0) {
    *io.st = int(st);
    io.res[0] = sl.mt.objective;
    io.res[1] = sl.mt.min_gamma_c;
    io.res[2] = sl.mt.min_gamma_s;
    io.res[3] = T(p.l_out);
  }
  team.sync();
  return st;
}

}  // namespace jcas::core
