// The training loss of SPEC.md section 6 (paper eq. 19) for one realization and its
// gradient with respect to every beta_{l,i}, mu_c and mu_s, by a handwritten reverse
// pass through all layers.
//   loss = scale * [sum_{l=1}^{L} (1/l) h(W^[l], F^[l]) + final_weight h(W^[L], F^[L])]
//   (scale = -1/B and final_weight = 0 for eq. 19)
// Memory: the forward saves (W, F) after every layer and, on a tape, each layer's inside
// (its metrics at the input, F' and the W-subproblem, the I_w * L_in iterates of W); the
// backward reads the tape and runs each layer's adjoint. Recomputing the inside instead
// costs a quarter more arithmetic (jcas_bench --train-parts) and saves the tapes' memory
// (about 42 KB a layer in double at the paper's size, 7.6 MB at Nt = 256, K = 64): the
// tapes are kept while all of them fit tape_budget, and otherwise one tape is reused and
// the backward recomputes each layer onto it (the same result, to rounding).
// A team of threads may run one realization's step together (a warp per realization on
// the GPU): the pieces it divides are below, "Team pieces".
#pragma once
#include <type_traits>

#include "jcas/core/solvers.hpp"
#include "jcas/core/team.hpp"

namespace jcas::core {

/// What the backward pass reads of one layer's inside, written by record_exec in the
/// forward pass.
template <class T>
struct layer_tape {
  metrics<T> mt;    // at the layer's input
  layer_ws<T> lw;   // layer_prepare's (the adjoint's form): the surrogate, Q's factor, ...
  cplx<T>* iter_w;  // (S + 1) x Nt x K: W iterates inside the layer, S = I_w L_in
  cplx<T>* iter_v;  // S x Nt x K: pre-projection points
  cplx<T>* iter_d;  // S x Nt x K: directions
  cplx<T>* iter_n;  // S x R x K: L^H W at each iterate (R = K + J M), which the adjoint reads
  T* iter_nd;       // S: ||D||_F at each iterate

  template <class A>
  JCAS_HD void carve(A& a, const problem_dims& d, index_t steps) {
    mt.carve(a, d);
    lw.carve(a, d);
    const long w = long(d.nt) * d.k;
    iter_w = a.template take<cplx<T>>((long(steps) + 1) * w);
    iter_v = a.template take<cplx<T>>(long(steps) * w);
    iter_d = a.template take<cplx<T>>(long(steps) * w);
    iter_n = a.template take<cplx<T>>(long(steps) * d.rank_bt() * d.k);
    iter_nd = a.template take<T>(steps);
  }
  /// Bytes of one tape: a multiple of 16 (the arena's), so every tape starts aligned.
  JCAS_HD static long bytes(const problem_dims& d, index_t steps) {
    arena_counter c;
    layer_tape t;
    t.carve(c, d, steps);
    return c.used;
  }
  JCAS_HD mview<T> w(long s, const problem_dims& d) const { return {iter_w + s * long(d.nt) * d.k, d.nt, d.k, d.nt}; }
  JCAS_HD mview<T> v(long s, const problem_dims& d) const { return {iter_v + s * long(d.nt) * d.k, d.nt, d.k, d.nt}; }
  JCAS_HD mview<T> dir(long s, const problem_dims& d) const { return {iter_d + s * long(d.nt) * d.k, d.nt, d.k, d.nt}; }
  JCAS_HD mview<T> n(long s, const problem_dims& d) const {
    return {iter_n + s * long(d.rank_bt()) * d.k, d.rank_bt(), d.k, d.rank_bt()};
  }
};

/// The most bytes a realization's layer tapes may take (all L of them); beyond it the
/// backward recomputes each layer's inside onto one tape.
constexpr long tape_budget = 256L << 20;

/// Scratch of a team's metrics pieces (team_evaluate_metrics, team_metrics_adjoint).
template <class T>
struct team_metrics_ws {
  cplx<T>* fq;  // M x J x K: q_mjk = f_m^H G_j w_k, then its adjoint
  cplx<T>* eb;  // K x K: adjoint of E = H^H W
  cplx<T>* gp;  // J x K blocks of Nt: G_j^H Pbar_jk
  template <class A>
  JCAS_HD void carve(A& a, const problem_dims& d) {
    fq = a.template take<cplx<T>>(long(d.m) * d.j() * d.k);
    eb = a.template take<cplx<T>>(long(d.k) * d.k);
    gp = a.template take<cplx<T>>(long(d.j()) * d.k * d.nt);
  }
};

template <class T>
struct training_ws {
  metrics<T> mt_out;  // at the last layer's output (h^[L])
  team_metrics_ws<T> tm;
  metrics_bar<T> mb;
  surrogate_bar<T> sb;
  layer_bar<T> lb;
  cplx<T>* states;    // (L + 1) x [W (Nt x K) | F (Nr x M)]
  char* tapes;        // L x tape_bytes (keep_tapes): layer l's layer_tape; else one, reused
  layer_tape<T> cur;  // the views of the tape in use (select_tape)
  long tape_bytes = 0;
  index_t steps = 0;
  bool keep_tapes = true;
  mview<T> wbar, fbar, wbar_prev, fbar_prev, dirbar, vbar;  // Nt x K / Nr x M
  // Near copies of the states a layer reads: its input (W^[l], F^[l]) and its F'
  // (F^[l+1]). The forward computes in them and saves to states; the backward loads them
  // from states once a layer, so that no phase reads the far part.
  mview<T> w_at, f_at, f_next;

  /// Everything from `near` but the saved states, which come from `far`: on a GPU the
  /// near part (the tape, the adjoints: what every phase reads) in a block's shared
  /// memory, the states (written once a layer forward, read once backward) in global
  /// memory. near and far may be one arena (then the layout is carve(a, ...)'s).
  /// budget: the most bytes for all L tapes (tests pass 0 to force the recompute).
  template <class A, class B>
  JCAS_HD void carve(A& near, B& far, const problem_dims& d, index_t l_out, index_t s, long budget = tape_budget) {
    mt_out.carve(near, d);
    tm.carve(near, d);
    mb.carve(near, d);
    sb.carve(near, d);
    lb.carve(near, d);
    const long wf = long(d.nt) * d.k + long(d.nr) * d.m;
    states = far.template take<cplx<T>>((long(l_out) + 1) * wf);
    wbar = near.template mat<T>(d.nt, d.k);
    fbar = near.template mat<T>(d.nr, d.m);
    wbar_prev = near.template mat<T>(d.nt, d.k);
    fbar_prev = near.template mat<T>(d.nr, d.m);
    dirbar = near.template mat<T>(d.nt, d.k);
    vbar = near.template mat<T>(d.nt, d.k);
    w_at = near.template mat<T>(d.nt, d.k);
    f_at = near.template mat<T>(d.nr, d.m);
    f_next = near.template mat<T>(d.nr, d.m);
    steps = s;
    tape_bytes = layer_tape<T>::bytes(d, s);
    keep_tapes = long(l_out) * tape_bytes <= budget;
    tapes = near.template take<char>((keep_tapes ? long(l_out) : 1L) * tape_bytes);
    if (!keep_tapes && tapes) {  // the one tape, carved once (a counting arena has no base)
      arena a{tapes};
      cur.carve(a, d, s);
    }
  }
  template <class A>
  JCAS_HD void carve(A& a, const problem_dims& d, index_t l_out, index_t s, long budget = tape_budget) {
    carve(a, a, d, l_out, s, budget);
  }
  static long bytes(const problem_dims& d, index_t l_out, index_t steps, long budget = tape_budget) {
    arena_counter c;
    training_ws w;
    w.carve(c, d, l_out, steps, budget);
    return c.used;
  }
  /// The near and far parts' bytes when carved from two arenas.
  static long near_bytes(const problem_dims& d, index_t l_out, index_t steps, long budget = tape_budget) {
    arena_counter n, f;
    training_ws w;
    w.carve(n, f, d, l_out, steps, budget);
    return n.used;
  }
  static long far_bytes(const problem_dims& d, index_t l_out) {
    return (long(l_out) + 1) * (long(d.nt) * d.k + long(d.nr) * d.m) * long(sizeof(cplx<T>));
  }
  JCAS_HD mview<T> w_of(long l, const problem_dims& d) const {
    return {states + l * (long(d.nt) * d.k + long(d.nr) * d.m), d.nt, d.k, d.nt};
  }
  JCAS_HD mview<T> f_of(long l, const problem_dims& d) const {
    return {states + l * (long(d.nt) * d.k + long(d.nr) * d.m) + long(d.nt) * d.k, d.nr, d.m, d.nr};
  }
  /// Layer l's tape as cur, its surrogate's L showing l_cols columns (the channels' form:
  /// K + J merged for rank-one G). Every rank calls it; rank 0 carves the tape (kept
  /// tapes: layer l's; else the one tape, carved once) and sets the columns, then a barrier.
  JCAS_NO_EXEC_CHECK
  template <class Team>
  JCAS_HD void select_tape(const Team& team, long l, const problem_dims& d, index_t l_cols) {
    on_lead(team, [&] {
      if (keep_tapes) {
        arena a{tapes + l * tape_bytes};
        cur.carve(a, d, steps);
      }
      cur.lw.sur.l.cols = l_cols;
    });
  }
};

/// The parts of a training step, in the order a step first enters them. unfolded_loss_grad
/// calls mark(part) as it enters each, so that a caller can attribute the work to them
/// (host/flop_count.cpp counts the arithmetic of each); no_marks ignores them.
enum class train_part {
  metrics,             // evaluate_metrics (SPEC.md 2)
  prepare,             // layer_prepare's stages 2-3: a Cholesky factor and F' (step 4)
  receiver_q,          // stage 1: Q's entries (eq. 13) or the Woodbury receiver's coefficients, and the scalars
  surrogate,           // stages 4-6: step 5's L, d, A_t^H (eqs. 14-15), and L^H
  direction,           // D(W) and g(W) (eq. 16)
  step,                // the projected normalised step (eq. 18)
  metrics_adjoint,     // objective_adjoint and metrics_adjoint
  step_adjoint,        // normalized_step_adjoint
  direction_adjoint,   // surrogate_direction_adjoint
  prepare_adjoint,     // team_layer_prepare_adjoint but receiver_q_adjoint
  receiver_q_adjoint,  // step 4's adjoint through P (receiver_adjoint_pair)
};
constexpr int train_parts = 11;
struct no_marks {
  JCAS_HD void operator()(train_part) const {}
};

// Team pieces. A team (core/team.hpp: rank(), size(), sync(), sum()) runs one
// realization's training step, every rank calling unfolded_loss_grad with the same
// arguments. The metrics' products (SPEC.md 2), layer_prepare's stages (the receiver,
// eq. 13, and the surrogate, eqs. 14-15), D(W) (eq. 16), the normalised step (eq. 18),
// their adjoints and the copies are divided over the ranks (jcas_bench --train-parts
// counts the critical path that leaves); a Cholesky factor, the metrics' few scalars and,
// for dense G, most of layer_prepare's adjoint run on rank 0 while the others wait. Each
// piece ends with a barrier, so the next sees all it wrote. The team of one (serial_team)
// runs the plain per-realization functions; the divided forms compute the same sums in
// the same order except the team sums: ||D||_F (kept on the tape for the backward) and
// dL/dbeta (tests/core/test_adjoint.cpp and tsan_team.cpp: teams of threads against
// serial_team).

/// Rank 0's status on every rank.
JCAS_NO_EXEC_CHECK
template <class Team>
JCAS_HD inline status team_status(const Team& team, status s) {
  if constexpr (is_serial_team<Team>)
    return s;
  else
    return status(team.sum(team.rank() == 0 ? int(s) : 0));
}

/// b = a (same shape), divided over the team.
JCAS_NO_EXEC_CHECK
template <class T, class Team>
JCAS_HD inline void team_copy(const Team& team, cview<T> a, mview<T> b) {
  if constexpr (is_serial_team<Team>)
    copy<T>(a, b);
  else
    team_items(team, long(a.rows) * a.cols, [&](long e) {
      const index_t i = index_t(e % a.rows), j = index_t(e / a.rows);
      b(i, j) = a(i, j);
    });
}

/// One copy of team_copies: to = from (same shape).
template <class T>
struct copy_pair {
  cview<T> from;
  mview<T> to;
};

/// Every pair's to = from, all in one phase of the team (one barrier). The pairs are
/// arguments, not an array, so that a GPU lane indexes none of them at run time (an
/// indexed array of views would sit on its stack).
JCAS_NO_EXEC_CHECK
template <class T, class Team, class... Pairs>
JCAS_HD inline void team_copies(const Team& team, const Pairs&... c) {
  static_assert((std::is_same_v<Pairs, copy_pair<T>> && ...), "team_copies takes copy_pair<T>s");
  if constexpr (is_serial_team<Team>) {
    (copy<T>(c.from, c.to), ...);
  } else {
    const long total = (0L + ... + (long(c.from.rows) * c.from.cols));
    team_items(team, total, [&](long e) {
      bool done = false;
      const auto one = [&](const copy_pair<T>& q) {
        const long n = long(q.from.rows) * q.from.cols;
        if (done) return;
        if (e < n) {
          const index_t i = index_t(e % q.from.rows), j = index_t(e / q.from.rows);
          q.to(i, j) = q.from(i, j);
          done = true;
        } else {
          e -= n;
        }
      };
      (one(c), ...);
    });
  }
}

template <class T>
JCAS_HD inline void set_zero(mview<T> a) {
  for (index_t j = 0; j < a.cols; ++j)
    for (index_t i = 0; i < a.rows; ++i) a(i, j) = cplx<T>();
}

/// a = 0, divided over the team.
JCAS_NO_EXEC_CHECK
template <class T, class Team>
JCAS_HD inline void team_zero(const Team& team, mview<T> a) {
  if constexpr (is_serial_team<Team>)
    set_zero(a);
  else
    team_items(team, long(a.rows) * a.cols, [&](long e) { a(index_t(e % a.rows), index_t(e / a.rows)) = cplx<T>(); });
}

/// ||A||_F^2 as a team sum (every rank gets it).
JCAS_NO_EXEC_CHECK
template <class T, class Team>
JCAS_HD inline T team_frob2(const Team& team, cview<T> a) {
  if constexpr (is_serial_team<Team>) {
    return frob2<T>(a);
  } else {
    T s = 0;
    for (long e = team.rank(); e < long(a.rows) * a.cols; e += team.size())
      s += norm2(a(index_t(e % a.rows), index_t(e / a.rows)));
    return team.sum(s);
  }
}

/// evaluate_metrics (SPEC.md 2) by the team: the products E = H^H W (into mt.hw), P_j =
/// G_j W and q_mjk = f_m^H P_j e_k an entry or a (j, k) column per rank, then the
/// SINR/SCNR scalars, O(K^2 + M J K), on rank 0.
JCAS_NO_EXEC_CHECK
template <class T, class Ch, class Team>
JCAS_HD inline void team_evaluate_metrics(const Team& team, const Ch& ch, cview<T> w, cview<T> f, const problem_dims& d,
                                          const system_params<T>& sys, metrics<T>& mt, const team_metrics_ws<T>& tm) {
  if constexpr (is_serial_team<Team>) {
    evaluate_metrics<T>(ch, w, f, d, sys, mt);
  } else {
    const long kk = long(d.k) * d.k, jk = long(d.j()) * d.k;
    team_items(team, kk + jk, [&](long e) {
      if (e < kk) {
        const index_t k = index_t(e % d.k), j = index_t(e / d.k);
        mt.hw[e] = dotc(d.nt, ch.h.col(k), w.col(j));  // E_kj = h_k^H w_j
      } else {
        const index_t k = index_t((e - kk) % d.k), j = index_t((e - kk) / d.k);
        ch.apply(j, w.col(k), mt.pcol(j, k, d));  // P_j e_k = G_j w_k
      }
    });
    team_items(team, long(d.m) * jk, [&](long e) {  // e = (m J + j) K + k
      const index_t k = index_t(e % d.k), j = index_t(e / d.k % d.j()), m = index_t(e / jk);
      tm.fq[e] = dotc(d.nr, f.col(m), mt.pcol(j, k, d));
    });
    on_lead(team, [&] {
      const T min_c = user_metrics<T>([&](index_t k, index_t j) { return mt.hw[long(j) * d.k + k]; }, d, sys, mt);
      sensing_metrics<T>([&](index_t m, index_t j, index_t k) { return tm.fq[(long(m) * d.j() + j) * d.k + k]; }, f, d,
                         sys, min_c, mt);
    });
  }
}

/// metrics_adjoint by the team: the adjoints of E and q an entry per rank (their
/// scalars recomputed by each), then the entries of Wbar, Fbar and Pbar, then G_j^H Pbar
/// a (j, k) column per rank, then Wbar's entries again.
JCAS_NO_EXEC_CHECK
template <class T, class Ch, class Team>
JCAS_HD inline void team_metrics_adjoint(const Team& team, const Ch& ch, cview<T> w, cview<T> f, const problem_dims& d,
                                         const system_params<T>& sys, const metrics<T>& mt, metrics_bar<T>& mb,
                                         mview<T> wbar, mview<T> fbar, const team_metrics_ws<T>& tm) {
  if constexpr (is_serial_team<Team>) {
    metrics_adjoint<T>(ch, w, f, d, sys, mt, mb, wbar, fbar);
  } else {
    const index_t nj = d.j();
    const long kk = long(d.k) * d.k, jk = long(nj) * d.k, mjk = long(d.m) * jk;
    team_items(team, kk + mjk, [&](long e) {
      if (e < kk) {  // Ebar_kj
        const index_t k = index_t(e % d.k), j = index_t(e / d.k);
        tm.eb[e] =
            user_ebar(k, j, mt, mb, user_bars(k, mt, mb), j == k ? cplx<T>() : dotc(d.nt, ch.h.col(k), w.col(j)));
      } else {  // qbar_mjk, e - kk = (m J + j) K + k
        const long q = e - kk;
        const index_t k = index_t(q % d.k), j = index_t(q / d.k % nj), m = index_t(q / jk);
        const cplx<T> qv = j == m ? cplx<T>() : dotc(d.nr, f.col(m), mt.pcol(j, k, d));
        tm.fq[q] = sensing_qbar(m, j, k, d, mt, mb, sensing_bars(m, d, mt, mb), qv);
      }
    });
    const long wn = long(d.nt) * d.k, fn = long(d.nr) * d.m, pn = long(d.nr) * jk;
    team_items(team, wn + fn + pn, [&](long e) {
      if (e < wn) {  // Wbar_nj += sum_k h_k[n] Ebar_kj
        const index_t n = index_t(e % d.nt), j = index_t(e / d.nt);
        cplx<T> s = wbar(n, j);
        for (index_t k = 0; k < d.k; ++k) s += ch.h(n, k) * tm.eb[long(j) * d.k + k];
        wbar(n, j) = s;
      } else if (e < wn + fn) {  // Fbar_rm += f_m[r] nf + sum_jk P_jk[r] conj(qbar_mjk)
        const index_t r = index_t((e - wn) % d.nr), m = index_t((e - wn) / d.nr);
        const T nf = 2 * sensing_bars(m, d, mt, mb).i * T(d.nr) * sys.sigma_s2;
        cplx<T> s = fbar(r, m) + f(r, m) * nf;
        for (index_t j = 0; j < nj; ++j)
          for (index_t k = 0; k < d.k; ++k) s += mt.pcol(j, k, d)[r] * conj(tm.fq[(long(m) * nj + j) * d.k + k]);
        fbar(r, m) = s;
      } else {  // Pbar_jk[r] += sum_m f_m[r] qbar_mjk
        const long q = e - wn - fn;
        const index_t r = index_t(q % d.nr);
        const long pair = q / d.nr;  // j K + k
        cplx<T>& pb = mb.p[pair * d.nr + r];
        cplx<T> s = pb;
        for (index_t m = 0; m < d.m; ++m) s += f(r, m) * tm.fq[long(m) * jk + pair];
        pb = s;
      }
    });
    team_items(team, jk, [&](long pair) {  // G_j^H Pbar_jk
      ch.apply_h(index_t(pair / d.k), mb.p + pair * d.nr, tm.gp + pair * d.nt);
    });
    team_items(team, wn, [&](long e) {  // Wbar_nk += sum_j (G_j^H Pbar_jk)[n]
      const index_t n = index_t(e % d.nt), k = index_t(e / d.nt);
      cplx<T> s = wbar(n, k);
      for (index_t j = 0; j < nj; ++j) s += tm.gp[(long(j) * d.k + k) * d.nt + n];
      wbar(n, k) = s;
    });
  }
}

/// layer_prepare (the solvers' form: merged for rank-one G, full for dense G, with L^H)
/// by the team, stage by stage (core/layer.hpp, prepare_item): each stage's items divided
/// over the ranks, the Cholesky factor (stage prepare_lead_stage) on rank 0, L^H's
/// entries beside the last stage's. Returns rank 0's status on every rank.
JCAS_NO_EXEC_CHECK
template <class T, class Ch, class Team, class Mark>
JCAS_HD inline status team_layer_prepare(const Team& team, const Ch& ch, const problem_dims& d,
                                         const system_params<T>& sys, T mu_c, T mu_s, const metrics<T>& mt, mview<T> f,
                                         layer_ws<T>& ws, const Mark& mark) {
  constexpr bool rank1 = is_rank1<Ch>::value;
  surrogate<T>& sur = ws.sur;  // its L shows surrogate_cols(d, rank1) columns (select_tape)
  const auto item = [&](int s, long i) { return prepare_item<T>(ch, d, sys, mu_c, mu_s, mt, f, ws, s, index_t(i)); };
  for (int s = 1; s <= prepare_stages; ++s) {
    mark(s == 1 ? train_part::receiver_q : s <= 3 ? train_part::prepare : train_part::surrogate);
    const long n = prepare_items(d, rank1, s);
    if constexpr (is_serial_team<Team>) {  // one thread: the stage's nested loops
      const status st = prepare_stage<rank1, T>(ch, d, sys, mu_c, mu_s, mt, f, ws, s);
      if (st != status::ok) return st;
      if (s == prepare_stages) surrogate_fill_lh(sur, d.nt);
    } else if (s == prepare_lead_stage) {
      status st = status::ok;
      on_lead(team, [&] { st = item(s, 0); });
      st = team_status(team, st);
      if (st != status::ok) return st;
    } else if (s < prepare_stages) {
      if (n > 0) team_items(team, n, [&](long i) { item(s, i); });
    } else {
      team_items(team, n + long(sur.l.cols) * d.nt, [&](long e) {
        if (e < n) {
          item(s, e);
        } else {
          const index_t r = index_t((e - n) % sur.l.cols), c = index_t((e - n) / sur.l.cols);
          sur.lh(r, c) = conj(sur.l(c, r));
        }
      });
    }
  }
  return status::ok;
}

/// Adjoint of layer_prepare (steps 2-5, the pieces in core/auxiliaries.hpp, receiver.hpp and layer.hpp) by the team,
/// into a zeroed mb. The merged rank-one form: every piece divided (per (m, k), user and (j, m), combiner, j and entry
/// of P), the auxiliaries' adjoint on one rank beside P's entries. The full form (dense G): step 5's adjoint and step
/// 4's solves on rank 0, step 4's products through P a (j, k) column per rank, the rest on rank 0. Inputs and outputs
/// as layer.hpp's pieces say.
JCAS_NO_EXEC_CHECK
template <class T, class Ch, class Team, class Mark>
JCAS_HD inline void team_layer_prepare_adjoint(const Team& team, const Ch& ch, const problem_dims& d,
                                               const system_params<T>& sys, T mu_c, T mu_s, const metrics<T>& mt,
                                               const layer_ws<T>& ws, cview<T> f_new, const surrogate_bar<T>& sb,
                                               layer_bar<T>& lb, metrics_bar<T>& mb, mview<T> fbar_in, T* mu_c_bar,
                                               T* mu_s_bar, const Mark& mark) {
  mark(train_part::prepare_adjoint);
  if constexpr (is_rank1<Ch>::value) {  // the merged form (the pieces of core/layer.hpp and receiver.hpp, in order)
    const long mk = long(d.m) * d.k;
    team_items(team, mk + 1, [&](long e) {
      if (e < mk) {
        rank1_xt_adjoint<T>(ch, d, sb, lb, index_t(e / d.k), index_t(e % d.k));
      } else {
        mb.zero(d);
        lb.zero_aux(d);
      }
    });
    const long jm = long(d.j()) * d.m;
    team_items(team, d.k + jm, [&](long e) {
      if (e < d.k)
        surrogate_user_adjoint<T>(ch.h, d, mt, ws, sb, lb, mb, index_t(e));
      else
        rank1_surrogate_adjoint<T>(ch, d, ws, f_new, sb, lb, index_t((e - d.k) % d.j()), index_t((e - d.k) / d.j()));
    });
    team_items(team, d.m, [&](long m) { rank1_receiver_adjoint<T>(ch, d, sys, mt, ws, lb, mb, fbar_in, index_t(m)); });
    team_items(team, d.j(), [&](long j) { rank1_coef_adjoint<T>(d, ws, lb, index_t(j)); });
    mark(train_part::receiver_q_adjoint);
    const long pn = long(d.nr) * d.j() * d.k;
    team_items(team, pn + 1, [&](long e) {
      if (e < pn)
        rank1_p_adjoint<T>(ch, d, mt, ws, lb, mb, index_t(e % d.nr), index_t(e / d.nr / d.k), index_t(e / d.nr % d.k));
      else
        auxiliaries_adjoint<T>(d, mu_c, mu_s, mt, ws, lb, mb, mu_c_bar, mu_s_bar);
    });
    return;
  }
  on_lead(team, [&] {
    mb.zero(d);
    lb.zero_aux(d);
    surrogate_build_adjoint<T>(ch, d, sys, mt, ws, sb, lb, mb);
    for (index_t m = 0; m < d.m; ++m) receiver_adjoint_solve<T>(d, mt, ws, f_new, m, lb, fbar_in);
  });
  mark(train_part::receiver_q_adjoint);
  team_items(team, long(d.j()) * d.k, [&](long e) {
    const index_t k = index_t(e % d.k), j = index_t(e / d.k);
    for (index_t m = 0; m < d.m; ++m)
      if (lb.th2[m] > T(0)) receiver_adjoint_pair<T>(d, mt, ws, lb, m, j, k, mb);
  });
  mark(train_part::prepare_adjoint);
  on_lead(team, [&] {
    for (index_t m = 0; m < d.m; ++m)
      if (lb.th2[m] > T(0)) receiver_adjoint_gamma<T>(mt, lb, m, mb);
    auxiliaries_adjoint<T>(d, mu_c, mu_s, mt, ws, lb, mb, mu_c_bar, mu_s_bar);
  });
}

/// D(W) = L diag(d) L^H W - A_t^H (eq. 16) into dir and N = L^H W into n (R x K), as
/// surrogate_eval: an entry of N, then an entry of D, per rank.
JCAS_NO_EXEC_CHECK
template <class T, class Team>
JCAS_HD inline void team_surrogate_eval(const Team& team, surrogate<T>& sur, cview<T> w, mview<T> dir, mview<T> n) {
  if constexpr (is_serial_team<Team>) {
    surrogate_eval<T>(sur, w, dir, n);
  } else {
    const index_t rr = sur.l.cols, nt = w.rows;
    team_items(team, long(rr) * w.cols, [&](long e) {
      const index_t r = index_t(e % rr), k = index_t(e / rr);
      cplx<T> s{};
      for (index_t i = 0; i < nt; ++i) s += sur.lh(r, i) * w(i, k);  // (L^H W)_rk, over i in order
      n(r, k) = s;
    });
    team_items(team, long(nt) * w.cols, [&](long e) {
      const index_t i = index_t(e % nt), k = index_t(e / nt);
      cplx<T> s = -sur.ah(i, k);
      for (index_t r = 0; r < rr; ++r) s += sur.l(i, r) * (n(r, k) * sur.d[r]);
      dir(i, k) = s;
    });
  }
}

/// The step of eq. 18 as the training records it: v = W - beta D / ||D||_F, next =
/// Pi_S(v); no move when D = 0 (next = v = W). The team takes a row of W per rank (the
/// projection is row by row). Returns ||D||_F.
JCAS_NO_EXEC_CHECK
template <class T, class Team>
JCAS_HD inline T team_step(const Team& team, cview<T> w, cview<T> dir, mview<T> v, mview<T> next, T beta, T pt) {
  const T nd = sqrt(team_frob2<T>(team, dir));
  const T a = nd > T(0) ? beta / nd : T(0);
  if constexpr (is_serial_team<Team>) {
    for (index_t k = 0; k < w.cols; ++k)
      for (index_t n = 0; n < w.rows; ++n) v(n, k) = w(n, k) - dir(n, k) * a;
    copy<T>(v, next);
    if (nd > T(0)) project_power(next, pt);
  } else {
    const T row_norm = sqrt(pt / T(w.rows));
    team_items(team, w.rows, [&](long e) {
      const index_t n = index_t(e);
      for (index_t k = 0; k < w.cols; ++k) v(n, k) = next(n, k) = w(n, k) - dir(n, k) * a;
      if (nd > T(0)) project_row(next, n, row_norm);
    });
  }
  return nd;
}

/// The adjoint of one recorded step (eq. 18), given ybar (the adjoint of its output):
/// writes wbar (the adjoint of its input, from this step alone), adds to dirbar after
/// zeroing it when `fresh`, returns dL/dbeta on every rank. nd = ||D||_F from the forward
/// (the tape). The team gives each rank whole rows of W (the projection is row by row), so
/// that a rank reads only what it wrote until the one team sum.
JCAS_NO_EXEC_CHECK
template <class T, class Team>
JCAS_HD inline T team_step_adjoint(const Team& team, cview<T> v, cview<T> dir, T nd, T beta, T pt, cview<T> ybar,
                                   mview<T> vbar, mview<T> wbar, mview<T> dirbar, bool fresh) {
  if constexpr (is_serial_team<Team>) {
    set_zero(wbar);
    if (fresh) set_zero(dirbar);
    return normalized_step_adjoint<T>(v, dir, beta, pt, ybar, vbar, wbar, dirbar);
  } else {
    const bool moves = nd > T(0);
    const T c = sqrt(pt / T(v.rows)), inv = moves ? T(1) / nd : T(0);
    T beta_bar = 0;
    for (long e = team.rank(); e < v.rows; e += team.size()) {
      const index_t n = index_t(e);
      for (index_t k = 0; k < v.cols; ++k) {
        if (fresh) dirbar(n, k) = cplx<T>();
        vbar(n, k) = cplx<T>();
      }
      if (!moves) {  // no move: ybar passes straight through
        for (index_t k = 0; k < v.cols; ++k) wbar(n, k) = ybar(n, k);
        continue;
      }
      project_row_adjoint<T>(v, ybar, vbar, n, c);
      for (index_t k = 0; k < v.cols; ++k) {
        wbar(n, k) = vbar(n, k);
        beta_bar -= cmulc(dir(n, k), vbar(n, k)).re * inv;
      }
    }
    if (!moves) {
      team.sync();
      return 0;
    }
    beta_bar = team.sum(beta_bar);
    const T uu = beta * beta_bar;  // Re<u, ubar> = -beta Re<u, vbar>: one team sum, not two
    team_items(team, v.rows, [&](long e) {
      const index_t n = index_t(e);
      for (index_t k = 0; k < v.cols; ++k) dirbar(n, k) += (vbar(n, k) * (-beta) - dir(n, k) * (uu * inv)) * inv;
    });
    return beta_bar;
  }
}

/// surrogate_direction_adjoint divided over the team: an entry of Mbar = L^H Dbar per
/// rank, then the entries of dA_t^H, of dL (when l_bar) and of Wbar and the d_r.
JCAS_NO_EXEC_CHECK
template <class T, class Team>
JCAS_HD inline void team_direction_adjoint(const Team& team, const surrogate<T>& sur, cview<T> w, cview<T> n,
                                           cview<T> dirbar, mview<T> wbar, surrogate_bar<T>& sb, bool l_bar = true) {
  if constexpr (is_serial_team<Team>) {
    surrogate_direction_adjoint<T>(sur, w, n, dirbar, wbar, sb, l_bar);
  } else {
    const index_t rr = sur.l.cols, nt = w.rows, kk = w.cols;
    team_items(team, long(rr) * kk, [&](long e) {
      const index_t r = index_t(e % rr), k = index_t(e / rr);
      sb.mb(r, k) = dotc(nt, sur.l.col(r), dirbar.col(k));  // Mbar = L^H Dbar
    });
    const long lb_items = l_bar ? long(nt) * rr : 0L, w_items = long(nt) * kk;
    team_items(team, lb_items + w_items + rr, [&](long e) {
      if (e < lb_items) {  // Lbar += Dbar M^H + W Nbar^H, M = d .* N, Nbar = d .* Mbar
        const index_t i = index_t(e % nt), r = index_t(e / nt);
        cplx<T> s = sb.l(i, r);
        for (index_t k = 0; k < kk; ++k)
          s += dirbar(i, k) * conj(n(r, k) * sur.d[r]) + w(i, k) * conj(sb.mb(r, k) * sur.d[r]);
        sb.l(i, r) = s;
      } else if (e < lb_items + w_items) {  // Wbar += L Nbar, Abar -= Dbar
        const index_t i = index_t((e - lb_items) % nt), k = index_t((e - lb_items) / nt);
        cplx<T> s = wbar(i, k);
        for (index_t r = 0; r < rr; ++r) s += sur.l(i, r) * (sb.mb(r, k) * sur.d[r]);
        wbar(i, k) = s;
        sb.ah(i, k) -= dirbar(i, k);
      } else {  // dbar_r += Re sum_k conj(Mbar_rk) N_rk
        const index_t r = index_t(e - lb_items - w_items);
        T s = sb.d[r];
        for (index_t k = 0; k < kk; ++k) s += cmulc(sb.mb(r, k), n(r, k)).re;
        sb.d[r] = s;
      }
    });
  }
}

/// Algorithm 1's executor (core/schedule.hpp) for the training's forward pass, by a team:
/// every layer's inside onto its tape (layer_tape: the metrics at its input, the prepare's
/// state, every W iterate with its D, L^H W and ||D||_F), W and F' after every layer into
/// the saved states (training_ws), and eq. 19's sum of h^[l] / l. With f_out set (the
/// backward pass recomputing one layer onto the one tape), F' goes there instead.
template <class T, class Ch, class Mark, class Team>
struct record_exec {
  const Ch& ch;
  const problem_dims& d;
  const system_params<T>& sys;
  const unfolded_params<T>& p;
  training_ws<T>& ws;
  const Mark& mark;
  const Team& team;
  mview<T> f_out{};  // empty: F' of layer l into ws.f_next
  T total = 0;       // sum over l of h^[l] / l, and the last layer's final weight
  layer_tape<T>& t = ws.cur;

  /// The metrics at layer l's input (W^[l], F^[l]) onto its tape, where a recompute starts.
  JCAS_NO_EXEC_CHECK
  JCAS_HD void input(index_t l) {
    mark(train_part::metrics);
    ws.select_tape(team, l, d, surrogate_cols(d, is_rank1<Ch>::value));
    team_evaluate_metrics<T>(team, ch, ws.w_at, ws.f_at, d, sys, t.mt, ws.tm);
  }
  /// After layer l (l = -1: the start): (W^[l+1], F^[l+1]) the next input and saved, then
  /// the metrics there, which are layer l + 1's input (onto its tape) or, after the last
  /// layer, h^[L] (ws.mt_out).
  JCAS_NO_EXEC_CHECK
  JCAS_HD void metrics(index_t l) {
    const index_t steps = p.l_in * p.i_w;
    if (l >= 0) {
      using cp = copy_pair<T>;
      const cview<T> w = t.w(steps, d), f = ws.f_next;
      team_copies<T>(team, cp{w, ws.w_at}, cp{w, ws.w_of(l + 1, d)}, cp{f, ws.f_at}, cp{f, ws.f_of(l + 1, d)});
    }
    if (l + 1 < p.l_out) {
      input(l + 1);
      if (l >= 0) total += t.mt.objective / T(l + 1);
    } else {
      mark(train_part::metrics);
      team_evaluate_metrics<T>(team, ch, ws.w_at, ws.f_at, d, sys, ws.mt_out, ws.tm);
      total += ws.mt_out.objective * (T(1) / T(p.l_out) + p.loss_final_weight);
    }
  }
  JCAS_NO_EXEC_CHECK
  JCAS_HD status prepare(index_t l) {
    const mview<T> fo = f_out.data ? f_out : ws.f_next;
    // F' starts from F, the steps from W.
    team_copies<T>(team, copy_pair<T>{ws.f_at, fo}, copy_pair<T>{ws.w_at, t.w(0, d)});
    mark(train_part::prepare);
    return team_layer_prepare<T>(team, ch, d, sys, p.mu_c_at(l), p.mu_s_at(l), t.mt, fo, t.lw, mark);
  }
  JCAS_NO_EXEC_CHECK
  JCAS_HD void direction(index_t s) {
    mark(train_part::direction);
    team_surrogate_eval<T>(team, t.lw.sur, t.w(s, d), t.dir(s, d), t.n(s, d));
  }
  JCAS_NO_EXEC_CHECK
  JCAS_HD void step(index_t l, index_t i, index_t s) {
    if (p.frozen && s > 0) {  // the tape keeps every step's D: the adjoint reads it
      mark(train_part::direction);
      team_copy<T>(team, t.dir(0, d), t.dir(s, d));
    }
    mark(train_part::step);
    const T nd =
        team_step<T>(team, t.w(s, d), t.dir(s, d), t.v(s, d), t.w(s + 1, d), p.beta[long(l) * p.l_in + i], sys.pt);
    if (team.rank() == 0) t.iter_nd[s] = nd;  // read after the next barriers
  }
};

/// The start of layer l's backward pass, in one phase of the team: lb.fnew = fbar (the
/// adjoint of F'), and fbar_prev, dirbar and the surrogate's adjoints zeroed.
JCAS_NO_EXEC_CHECK
template <class T, class Team>
JCAS_HD inline void layer_adjoint_start(const Team& team, const problem_dims& d, training_ws<T>& ws) {
  if constexpr (is_serial_team<Team>) {
    copy<T>(ws.fbar, ws.lb.fnew);
    set_zero(ws.fbar_prev);
    ws.sb.zero();
    set_zero(ws.dirbar);
  } else {
    const long fr = long(d.nr) * d.m, wk = long(d.nt) * d.k, lr = long(d.nt) * ws.sb.l.cols;
    team_items(team, fr + wk + lr + ws.sb.l.cols, [&](long e) {
      if (e < fr) {
        const index_t i = index_t(e % d.nr), m = index_t(e / d.nr);
        ws.lb.fnew(i, m) = ws.fbar(i, m);
        ws.fbar_prev(i, m) = cplx<T>();
      } else if (e < fr + wk) {
        const index_t i = index_t((e - fr) % d.nt), k = index_t((e - fr) / d.nt);
        ws.dirbar(i, k) = ws.sb.ah(i, k) = cplx<T>();
      } else if (e < fr + wk + lr) {
        const index_t i = index_t((e - fr - wk) % d.nt), r = index_t((e - fr - wk) / d.nt);
        ws.sb.l(i, r) = cplx<T>();
      } else {
        ws.sb.d[e - fr - wk - lr] = 0;
      }
    });
  }
}

/// Loss and gradient for one realization from (W0, F0). Adds scale * dloss to
/// gbeta[l * l_in + i] and gmu (p.mu_count() slots: [mu_c, mu_s] for the paper's
/// shared constants, [mu_c per layer..., mu_s per layer...] for the richer model);
/// returns the status and the loss in *loss. mark(part) is called on entering each part.
/// With a team, every rank calls it with the same arguments (ws, loss, gbeta and gmu
/// shared); rank 0 writes the loss and the gradient.
template <class T, class Ch, class Mark = no_marks, class Team = serial_team>
JCAS_HD inline status unfolded_loss_grad(const Ch& ch, const problem_dims& d, const system_params<T>& sys,
                                         const unfolded_params<T>& p, cview<T> w0, cview<T> f0, T scale,
                                         training_ws<T>& ws, T* loss, T* gbeta, T* gmu, const Mark& mark = {},
                                         const Team& team = {}) {
  const index_t steps = p.l_in * p.i_w;
  const bool lead = team.rank() == 0;
  const bool l_bar = !is_rank1<Ch>::value;  // the merged form's L holds channels only
  // Forward (Algorithm 1's schedule), saving (W, F) after every layer and every layer's
  // inside on its tape.
  using cp = copy_pair<T>;
  team_copies<T>(team, cp{w0, ws.w_at}, cp{w0, ws.w_of(0, d)}, cp{f0, ws.f_at}, cp{f0, ws.f_of(0, d)});
  record_exec<T, Ch, Mark, Team> fwd{ch, d, sys, p, ws, mark, team};
  const status fst = unfolded_schedule(fwd, p);
  if (fst != status::ok) return fst;
  if (lead) *loss = scale * fwd.total;

  // Backward. Adjoint of h^[L] at the last state.
  mark(train_part::metrics_adjoint);
  team_zero<T>(team, ws.wbar);
  team_zero<T>(team, ws.fbar);
  on_lead(team, [&] {
    ws.mb.zero(d);
    objective_adjoint<T>(d, sys, ws.mt_out, scale * (T(1) / T(p.l_out) + p.loss_final_weight), ws.mb);
  });
  team_metrics_adjoint<T>(team, ch, ws.w_at, ws.f_at, d, sys, ws.mt_out, ws.mb, ws.wbar, ws.fbar, ws.tm);
  // Layer l's states near: its input (W^[l], F^[l]) and its F' = F^[l+1]; for the layers
  // below the last, loaded at the end of the layer above beside fbar's copy.
  team_copies<T>(team, cp{ws.w_of(p.l_out - 1, d), ws.w_at}, cp{ws.f_of(p.l_out - 1, d), ws.f_at},
                 cp{ws.f_of(p.l_out, d), ws.f_next});
  for (index_t l = p.l_out - 1; l >= 0; --l) {
    // The forward's prepare set its view of L to the form's columns (K + J merged for
    // rank-one channels); a freshly carved view must read no more, or it reads columns of
    // L, d and N that nothing wrote (stale scratch: a wrong gradient).
    ws.select_tape(team, l, d, surrogate_cols(d, is_rank1<Ch>::value));
    layer_tape<T>& t = ws.cur;
    if (!ws.keep_tapes) {  // layer l's inside onto the one tape again (F' into scratch)
      record_exec<T, Ch, Mark, Team> again{ch, d, sys, p, ws, mark, team, ws.lb.fnew};
      again.input(l);
      const status st = unfolded_layer(again, p, l);
      if (st != status::ok) return st;
    }
    const mview<T> f_new = ws.f_next;     // F' of layer l
    layer_adjoint_start<T>(team, d, ws);  // lb.fnew = fbar (the adjoint of F'); zeros
    // W steps in reverse.
    const T* beta = p.beta + long(l) * p.l_in;
    T* gb = gbeta + long(l) * p.l_in;
    // ybar: the adjoint of iterate s + 1; acc collects that of iterate s; then they swap
    // (ws.wbar and ws.wbar_prev in turn, so no copy between the steps).
    mview<T> ybar = ws.wbar, acc = ws.wbar_prev;
    for (index_t s = steps - 1; s >= 0; --s) {
      const index_t i = s % p.l_in;
      mview<T> w = t.w(s, d), dir = t.dir(s, d), v = t.v(s, d);
      mark(train_part::step_adjoint);
      const T bb =
          team_step_adjoint<T>(team, v, dir, t.iter_nd[s], beta[i], sys.pt, ybar, ws.vbar, acc, ws.dirbar, !p.frozen);
      if (lead) gb[i] += bb;
      mark(train_part::direction_adjoint);
      if (!p.frozen) team_direction_adjoint<T>(team, t.lw.sur, w, t.n(s, d), ws.dirbar, acc, ws.sb, l_bar);
      const mview<T> next = acc;
      acc = ybar;
      ybar = next;
    }
    if (p.frozen) team_direction_adjoint<T>(team, t.lw.sur, t.w(0, d), t.n(0, d), ws.dirbar, ybar, ws.sb, l_bar);
    if (ybar.data != ws.wbar.data) team_copy<T>(team, ybar, ws.wbar);  // an odd number of steps
    // ws.wbar now holds the adjoint of the layer's input W from the steps.
    team_layer_prepare_adjoint<T>(team, ch, d, sys, p.mu_c_at(l), p.mu_s_at(l), t.mt, t.lw, f_new, ws.sb, ws.lb, ws.mb,
                                  ws.fbar_prev, gmu + p.mu_c_slot(l), gmu + p.mu_s_slot(l), mark);
    mark(train_part::metrics_adjoint);
    on_lead(team, [&] {
      if (l > 0) objective_adjoint<T>(d, sys, t.mt, scale / T(l), ws.mb);
    });
    team_metrics_adjoint<T>(team, ch, ws.w_at, ws.f_at, d, sys, t.mt, ws.mb, ws.wbar, ws.fbar_prev, ws.tm);
    if (l > 0)
      team_copies<T>(team, cp{ws.fbar_prev, ws.fbar}, cp{ws.w_of(l - 1, d), ws.w_at}, cp{ws.f_of(l - 1, d), ws.f_at},
                     cp{ws.f_of(l, d), ws.f_next});
    else
      team_copy<T>(team, ws.fbar_prev, ws.fbar);
  }
  return status::ok;
}

}  // namespace jcas::core
