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
#pragma once
#include "jcas/core/solvers.hpp"

namespace jcas::core {

/// What the backward pass reads of one layer's inside, written by layer_record in the
/// forward pass.
template <class T>
struct layer_tape {
  metrics<T> mt;    // at the layer's input
  layer_ws<T> lw;   // layer_prepare's (the adjoint's form): the surrogate, Q's factor, ...
  cplx<T>* iter_w;  // (S + 1) x Nt x K: W iterates inside the layer, S = I_w L_in
  cplx<T>* iter_v;  // S x Nt x K: pre-projection points
  cplx<T>* iter_d;  // S x Nt x K: directions
  cplx<T>* iter_n;  // S x R x K: L^H W at each iterate (R = K + J M), which the adjoint reads

  template <class A>
  JCAS_HD void carve(A& a, const problem_dims& d, index_t steps) {
    mt.carve(a, d);
    lw.carve(a, d);
    const long w = long(d.nt) * d.k;
    iter_w = a.template take<cplx<T>>((long(steps) + 1) * w);
    iter_v = a.template take<cplx<T>>(long(steps) * w);
    iter_d = a.template take<cplx<T>>(long(steps) * w);
    iter_n = a.template take<cplx<T>>(long(steps) * d.rank_bt() * d.k);
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

template <class T>
struct training_ws {
  metrics<T> mt_out;  // at the last layer's output (h^[L])
  metrics_bar<T> mb;
  surrogate_bar<T> sb;
  layer_bar<T> lb;
  cplx<T>* states;  // (L + 1) x [W (Nt x K) | F (Nr x M)]
  char* tapes;      // L x tape_bytes (keep_tapes): layer l's layer_tape; else one, reused
  long tape_bytes = 0;
  index_t steps = 0;
  bool keep_tapes = true;
  mview<T> wbar, fbar, wbar_prev, fbar_prev, dirbar, vbar;  // Nt x K / Nr x M

  /// budget: the most bytes for all L tapes (tests pass 0 to force the recompute).
  template <class A>
  JCAS_HD void carve(A& a, const problem_dims& d, index_t l_out, index_t s, long budget = tape_budget) {
    mt_out.carve(a, d);
    mb.carve(a, d);
    sb.carve(a, d);
    lb.carve(a, d);
    const long wf = long(d.nt) * d.k + long(d.nr) * d.m;
    states = a.template take<cplx<T>>((long(l_out) + 1) * wf);
    wbar = a.template mat<T>(d.nt, d.k);
    fbar = a.template mat<T>(d.nr, d.m);
    wbar_prev = a.template mat<T>(d.nt, d.k);
    fbar_prev = a.template mat<T>(d.nr, d.m);
    dirbar = a.template mat<T>(d.nt, d.k);
    vbar = a.template mat<T>(d.nt, d.k);
    steps = s;
    tape_bytes = layer_tape<T>::bytes(d, s);
    keep_tapes = long(l_out) * tape_bytes <= budget;
    tapes = a.template take<char>((keep_tapes ? long(l_out) : 1L) * tape_bytes);
  }
  static long bytes(const problem_dims& d, index_t l_out, index_t steps, long budget = tape_budget) {
    arena_counter c;
    training_ws w;
    w.carve(c, d, l_out, steps, budget);
    return c.used;
  }
  JCAS_HD mview<T> w_of(long l, const problem_dims& d) const {
    return {states + l * (long(d.nt) * d.k + long(d.nr) * d.m), d.nt, d.k, d.nt};
  }
  JCAS_HD mview<T> f_of(long l, const problem_dims& d) const {
    return {states + l * (long(d.nt) * d.k + long(d.nr) * d.m) + long(d.nt) * d.k, d.nr, d.m, d.nr};
  }
  /// Layer l's tape (the one tape when they are not kept).
  JCAS_HD layer_tape<T> tape(long l, const problem_dims& d) const {
    arena a{tapes + (keep_tapes ? l : 0L) * tape_bytes};
    layer_tape<T> t;
    t.carve(a, d, steps);
    return t;
  }
};

/// The parts of a training step, in the order a step first enters them. unfolded_loss_grad
/// calls mark(part) as it enters each, so that a caller can attribute the work to them
/// (host/flop_count.cpp counts the arithmetic of each); no_marks ignores them.
enum class train_part {
  metrics,            // evaluate_metrics (SPEC.md 2)
  prepare,            // layer_prepare, the adjoint's form: steps 1-5
  direction,          // D(W) and g(W) (eq. 16)
  step,               // the projected normalised step (eq. 18)
  metrics_adjoint,    // objective_adjoint and metrics_adjoint
  step_adjoint,       // normalized_step_adjoint
  direction_adjoint,  // surrogate_direction_adjoint
  prepare_adjoint,    // layer_prepare_adjoint
};
constexpr int train_parts = 8;
struct no_marks {
  JCAS_HD void operator()(train_part) const {}
};

template <class T>
JCAS_HD inline void set_zero(mview<T> a) {
  for (index_t j = 0; j < a.cols; ++j)
    for (index_t i = 0; i < a.rows; ++i) a(i, j) = cplx<T>();
}

/// Runs layer l's inside from (w_in, f_in) onto its tape t: metrics, prepare (F' into
/// f_out), and the W steps with every iterate; the layer's output W is t.w(S).
template <class T, class Ch, class Mark = no_marks>
JCAS_HD inline status layer_record(const Ch& ch, const problem_dims& d, const system_params<T>& sys,
                                   const unfolded_params<T>& p, index_t l, cview<T> w_in, cview<T> f_in, mview<T> f_out,
                                   layer_tape<T>& t, const Mark& mark = {}) {
  mark(train_part::metrics);
  evaluate_metrics<T>(ch, w_in, f_in, d, sys, t.mt);
  copy<T>(f_in, f_out);
  mark(train_part::prepare);
  const status st = layer_prepare<T>(ch, d, sys, p.mu_c_at(l), p.mu_s_at(l), t.mt, f_out, t.lw, surrogate_use::adjoint);
  if (st != status::ok) return st;
  copy<T>(w_in, t.w(0, d));
  const T* beta = p.beta + long(l) * p.l_in;
  index_t s = 0;
  for (index_t rep = 0; rep < p.i_w; ++rep)
    for (index_t i = 0; i < p.l_in; ++i, ++s) {
      mview<T> w = t.w(s, d), dir = t.dir(s, d), v = t.v(s, d);
      mark(train_part::direction);
      if (!p.frozen || s == 0)
        surrogate_eval<T>(t.lw.sur, w, dir, t.n(s, d));
      else
        copy<T>(t.dir(0, d), dir);
      mark(train_part::step);
      const T nd = sqrt(frob2<T>(dir));
      const T a = nd > T(0) ? beta[i] / nd : T(0);
      for (index_t k = 0; k < d.k; ++k)
        for (index_t n = 0; n < d.nt; ++n) v(n, k) = w(n, k) - dir(n, k) * a;
      mview<T> next = t.w(s + 1, d);
      copy<T>(v, next);
      if (nd > T(0)) project_power(next, sys.pt);
    }
  return status::ok;
}

/// Loss and gradient for one realization from (W0, F0). Adds scale * dloss to
/// gbeta[l * l_in + i] and gmu (p.mu_count() slots: [mu_c, mu_s] for the paper's
/// shared constants, [mu_c per layer..., mu_s per layer...] for the richer model);
/// returns the status and the loss in *loss. mark(part) is called on entering each part.
template <class T, class Ch, class Mark = no_marks>
JCAS_HD inline status unfolded_loss_grad(const Ch& ch, const problem_dims& d, const system_params<T>& sys,
                                         const unfolded_params<T>& p, cview<T> w0, cview<T> f0, T scale,
                                         training_ws<T>& ws, T* loss, T* gbeta, T* gmu, const Mark& mark = {}) {
  const index_t steps = p.l_in * p.i_w;
  // Forward, saving (W, F) after every layer and every layer's inside on its tape.
  copy<T>(w0, ws.w_of(0, d));
  copy<T>(f0, ws.f_of(0, d));
  T total = 0;
  for (index_t l = 0; l < p.l_out; ++l) {
    layer_tape<T> t = ws.tape(l, d);
    const status st = layer_record<T>(ch, d, sys, p, l, ws.w_of(l, d), ws.f_of(l, d), ws.f_of(l + 1, d), t, mark);
    if (st != status::ok) return st;
    if (l > 0) total += t.mt.objective / T(l);  // metrics at the layer's input = h^[l]
    copy<T>(t.w(steps, d), ws.w_of(l + 1, d));
  }
  mark(train_part::metrics);
  evaluate_metrics<T>(ch, ws.w_of(p.l_out, d), ws.f_of(p.l_out, d), d, sys, ws.mt_out);
  total += ws.mt_out.objective * (T(1) / T(p.l_out) + p.loss_final_weight);
  *loss = scale * total;

  // Backward. Adjoint of h^[L] at the last state.
  mark(train_part::metrics_adjoint);
  set_zero(ws.wbar);
  set_zero(ws.fbar);
  ws.mb.zero(d);
  objective_adjoint<T>(d, sys, ws.mt_out, scale * (T(1) / T(p.l_out) + p.loss_final_weight), ws.mb);
  metrics_adjoint<T>(ch, ws.w_of(p.l_out, d), ws.f_of(p.l_out, d), d, sys, ws.mt_out, ws.mb, ws.wbar, ws.fbar);
  for (index_t l = p.l_out - 1; l >= 0; --l) {
    layer_tape<T> t = ws.tape(l, d);
    if (!ws.keep_tapes) {  // layer l's inside onto the one tape again (F' into scratch)
      const status st = layer_record<T>(ch, d, sys, p, l, ws.w_of(l, d), ws.f_of(l, d), ws.lb.fnew, t, mark);
      if (st != status::ok) return st;
    }
    const mview<T> f_new = ws.f_of(l + 1, d);  // F' of layer l
    copy<T>(ws.fbar, ws.lb.fnew);              // adjoint of F'
    set_zero(ws.wbar_prev);
    set_zero(ws.fbar_prev);
    ws.sb.zero();
    // W steps in reverse.
    set_zero(ws.dirbar);
    const T* beta = p.beta + long(l) * p.l_in;
    T* gb = gbeta + long(l) * p.l_in;
    mview<T> ybar = ws.wbar;  // adjoint of the current iterate, updated in place
    for (index_t s = steps - 1; s >= 0; --s) {
      const index_t i = s % p.l_in;
      mview<T> w = t.w(s, d), dir = t.dir(s, d), v = t.v(s, d);
      // wbar_prev collects the adjoint of iterate s.
      set_zero(ws.wbar_prev);
      if (!p.frozen) set_zero(ws.dirbar);
      mark(train_part::step_adjoint);
      gb[i] += normalized_step_adjoint<T>(v, dir, beta[i], sys.pt, ybar, ws.vbar, ws.wbar_prev, ws.dirbar);
      mark(train_part::direction_adjoint);
      if (!p.frozen) surrogate_direction_adjoint<T>(t.lw.sur, w, t.n(s, d), ws.dirbar, ws.wbar_prev, ws.sb);
      copy<T>(ws.wbar_prev, ybar);
    }
    if (p.frozen) surrogate_direction_adjoint<T>(t.lw.sur, t.w(0, d), t.n(0, d), ws.dirbar, ybar, ws.sb);
    // ybar (= ws.wbar) now holds the adjoint of the layer's input W from the steps.
    ws.mb.zero(d);
    mark(train_part::prepare_adjoint);
    layer_prepare_adjoint<T>(ch, d, sys, p.mu_c_at(l), p.mu_s_at(l), t.mt, t.lw, f_new, ws.sb, ws.lb, ws.mb,
                             ws.fbar_prev, gmu + p.mu_c_slot(l), gmu + p.mu_s_slot(l));
    mark(train_part::metrics_adjoint);
    if (l > 0) objective_adjoint<T>(d, sys, t.mt, scale / T(l), ws.mb);
    metrics_adjoint<T>(ch, ws.w_of(l, d), ws.f_of(l, d), d, sys, t.mt, ws.mb, ws.wbar, ws.fbar_prev);
    copy<T>(ws.fbar_prev, ws.fbar);
  }
  return status::ok;
}

}  // namespace jcas::core
