// Per-realization algorithms of SPEC.md section 5, all built on the shared layer:
//   unfolded_forward   Algorithm 1: L_out layers, learned beta_{l,i}, mu_c, mu_s
//   ao_solve<Policy>   the AO baselines; Policy solves the W-subproblem:
//     pgd_fixed        constant normalised step
//     pgd_backtracking Armijo backtracking along the normalised direction
//     fixed_point      majorisation iteration of ref. [32]
// (ao-monotone and ascent, which climb the smoothed objective itself: core/ascent.hpp)
#pragma once
#include "jcas/core/layer.hpp"
#include "jcas/core/schedule.hpp"
#include "jcas/core/smooth.hpp"

namespace jcas::core {

template <class T>
struct solve_result {
  T objective = 0, min_gamma_c = 0, min_gamma_s = 0;
  int outer = 0;   // outer layers / iterations run
  long inner = 0;  // W-updates (projected steps) taken in all
};

/// Scratch of every solver for one realization.
template <class T>
struct solver_ws {
  metrics<T> mt;
  layer_ws<T> lw;
  mview<T> dir;     // Nt x K
  mview<T> trial;   // Nt x K
  mview<T> gram;    // R x R (fixed_point only)
  T* eval;          // R
  smooth_ws<T> sm;  // ao-monotone and ascent only (carved when `smooth`)

  template <class A>
  JCAS_HD void carve(A& a, const problem_dims& d, bool smooth = false) {
    mt.carve(a, d);
    lw.carve(a, d);
    dir = a.template mat<T>(d.nt, d.k);
    trial = a.template mat<T>(d.nt, d.k);
    gram = a.template mat<T>(d.rank_bt(), d.rank_bt());
    eval = a.template take<T>(d.rank_bt());
    if (smooth) sm.carve(a, d);
  }
  static long bytes(const problem_dims& d, bool smooth = false) {
    arena_counter c;
    solver_ws w;
    w.carve(c, d, smooth);
    return c.used;
  }
};

/// Parameters of the unfolded optimiser (Algorithm 1). beta[l * l_in + i] = beta_{l,i}.
/// Smoothing: the paper's model shares mu_c, mu_s across layers; the richer model
/// (mu_c_layer, mu_s_layer non-null, length l_out each) learns one pair per layer, so
/// the network can learn its own annealing schedule.
template <class T>
struct unfolded_params {
  index_t l_out = 150, l_in = 3, i_w = 2;
  bool frozen = false;  // SPEC.md 4.6 variant: D evaluated once per layer
  T mu_c = 10, mu_s = 10;
  const T* beta = nullptr;
  const T* mu_c_layer = nullptr;
  const T* mu_s_layer = nullptr;
  T loss_final_weight = 0;  // training loss only: see unfolded_model

  JCAS_HD bool per_layer_mu() const { return mu_c_layer != nullptr; }
  JCAS_HD T mu_c_at(index_t l) const { return per_layer_mu() ? mu_c_layer[l] : mu_c; }
  JCAS_HD T mu_s_at(index_t l) const { return per_layer_mu() ? mu_s_layer[l] : mu_s; }
  /// Gradient slots of the smoothing constants: 2 (shared) or 2 l_out (per layer),
  /// laid out [mu_c..., mu_s...].
  JCAS_HD index_t mu_count() const { return per_layer_mu() ? 2 * l_out : 2; }
  JCAS_HD index_t mu_c_slot(index_t l) const { return per_layer_mu() ? l : 0; }
  JCAS_HD index_t mu_s_slot(index_t l) const { return per_layer_mu() ? l_out + l : 1; }
};

template <class T>
JCAS_HD inline void fill_result(const metrics<T>& mt, solve_result<T>& res) {
  res.objective = mt.objective;
  res.min_gamma_c = mt.min_gamma_c;
  res.min_gamma_s = mt.min_gamma_s;
}

/// Algorithm 1's executor (core/schedule.hpp) on one realization in per-realization
/// loops: the metrics (evaluate_metrics), layer_prepare, surrogate_eval's D(W) and
/// normalized_step, on (w, f) with the scratch ws; curve[l + 1] = h after layer l.
template <class T, class Ch>
struct loops_exec {
  const Ch& ch;
  const problem_dims& d;
  const system_params<T>& sys;
  const unfolded_params<T>& p;
  mview<T> w, f;
  T* curve;
  solver_ws<T>& ws;
  JCAS_HD JCAS_FORCEINLINE void metrics(index_t l) {
    evaluate_metrics<T>(ch, w, f, d, sys, ws.mt);
    if (curve) curve[l + 1] = ws.mt.objective;
  }
  JCAS_HD JCAS_FORCEINLINE status prepare(index_t l) {
    return layer_prepare<T>(ch, d, sys, p.mu_c_at(l), p.mu_s_at(l), ws.mt, f, ws.lw);
  }
  JCAS_HD JCAS_FORCEINLINE void direction(index_t) { surrogate_eval<T>(ws.lw.sur, w, ws.dir); }
  JCAS_HD JCAS_FORCEINLINE void step(index_t l, index_t i, index_t) {
    normalized_step<T>(w, ws.dir, p.beta[long(l) * p.l_in + i], sys.pt);
  }
};

/// Algorithm 1 on one realization. w (Nt x K), f (Nr x M): in = (W0, F0), out = last
/// layer. curve (length l_out + 1, may be null): curve[0] = h(W0, F0), curve[l] =
/// h(W^[l], F^[l]) after layer l (SPEC.md 4.7: after the update, unlike the reference).
template <class T, class Ch>
JCAS_HD inline status unfolded_forward(const Ch& ch, const problem_dims& d, const system_params<T>& sys,
                                       const unfolded_params<T>& p, mview<T> w, mview<T> f, T* curve, solver_ws<T>& ws,
                                       solve_result<T>& res) {
  loops_exec<T, Ch> ex{ch, d, sys, p, w, f, curve, ws};
  const status st = unfolded_schedule(ex, p);
  if (st != status::ok) return st;
  fill_result(ws.mt, res);
  res.outer = p.l_out;
  res.inner = long(p.l_out) * p.l_in * p.i_w;
  return status::ok;
}

/// True when |g_new - g_old| <= tol |g_old| (the AO stopping rules of SPEC.md 5).
template <class T>
JCAS_HD inline bool rel_converged(T g_new, T g_old, T tol) {
  return fabs(g_new - g_old) <= tol * fabs(g_old);
}

/// The W-subproblem loop of the AO solvers (SPEC.md 5): step(g) moves W from the point
/// where the surrogate is g and D(W) is in ws.dir (false: it cannot, W is unchanged),
/// then g and D are re-evaluated, until g's relative change <= tol or max_steps steps.
/// Returns the steps taken.
template <class T, class Step>
JCAS_HD inline long descend(surrogate<T>& sur, mview<T> w, solver_ws<T>& ws, int max_steps, T tol, const Step& step) {
  T g = surrogate_eval<T>(sur, w, ws.dir);
  long n = 0;
  while (n < max_steps && step(g)) {
    ++n;
    const T g_new = surrogate_eval<T>(sur, w, ws.dir);
    const bool done = rel_converged(g_new, g, tol);
    g = g_new;
    if (done) break;
  }
  return n;
}

/// AO, fixed step: W <- Pi_S(W - step D/||D||) until the relative change of g <= tol.
template <class T>
struct pgd_fixed {
  T step = T(0.01), tol = T(1e-4);
  int max_steps = 1000;
  JCAS_HD long solve(surrogate<T>& sur, mview<T> w, solver_ws<T>& ws, T pt) const {
    return descend<T>(sur, w, ws, max_steps, tol, [&](T) { return normalized_step<T>(w, ws.dir, step, pt) > T(0); });
  }
};

/// AO, backtracking ("dynamic") step: t = t0, shrunk by `shrink` until
/// g(Pi_S(W - t u)) < g(W) - c t ||u||^2 with u = D/||D|| (so ||u|| = 1). When no
/// trial is accepted within max_shrinks, W stays: g never increases.
template <class T>
struct pgd_backtracking {
  T t0 = 1, shrink = T(0.3), armijo = T(0.1), tol = T(1e-4);
  int max_steps = 1000, max_shrinks = 50;
  JCAS_HD long solve(surrogate<T>& sur, mview<T> w, solver_ws<T>& ws, T pt) const {
    return descend<T>(sur, w, ws, max_steps, tol, [&](T g) {
      const T nd = sqrt(frob2<T>(ws.dir));
      if (!(nd > T(0))) return false;
      T t = t0;
      for (int s = 0; s <= max_shrinks; ++s, t *= shrink) {
        for (index_t k = 0; k < w.cols; ++k)
          for (index_t i = 0; i < w.rows; ++i) ws.trial(i, k) = w(i, k) - ws.dir(i, k) * (t / nd);
        project_power(ws.trial, pt);
        if (surrogate_eval<T>(sur, ws.trial, mview<T>()) < g - armijo * t) {
          copy<T>(ws.trial, w);
          return true;
        }
      }
      return false;
    });
  }
};

/// lambda_max(B_t) for B_t = L diag(d) L^H, from the R x R matrix
/// diag(sqrt d) L^H L diag(sqrt d), which has the same non-zero eigenvalues.
template <class T>
JCAS_HD inline T surrogate_lambda_max(const surrogate<T>& sur, solver_ws<T>& ws) {
  const index_t r = sur.l.cols;
  for (index_t j = 0; j < r; ++j)
    for (index_t i = 0; i < r; ++i)
      ws.gram(i, j) = dotc(sur.l.rows, sur.l.col(i), sur.l.col(j)) * sqrt(sur.d[i] * sur.d[j]);
  hermitian_eig<T>(ws.gram, ws.eval, mview<T>());
  T lmax = 0;
  for (index_t i = 0; i < r; ++i) lmax = fmax(lmax, ws.eval[i]);
  return lmax;
}

/// Heuristic of ref. [32]: W <- Pi_S(A_t^H + (lambda_max(B_t) I - B_t) W)
///                            = Pi_S(lambda_max W - D(W)).
template <class T>
struct fixed_point {
  T tol = T(1e-4);
  int max_steps = 100;
  JCAS_HD long solve(surrogate<T>& sur, mview<T> w, solver_ws<T>& ws, T pt) const {
    const T lmax = surrogate_lambda_max(sur, ws);
    return descend<T>(sur, w, ws, max_steps, tol, [&](T) {
      for (index_t k = 0; k < w.cols; ++k)
        for (index_t i = 0; i < w.rows; ++i) w(i, k) = w(i, k) * lmax - ws.dir(i, k);
      project_power(w, pt);
      return true;
    });
  }
};

/// Outer loop of the AO baselines (SPEC.md 5): stop when |h_l - h_{l-1}| < tol |h_{l-1}|.
template <class T>
struct ao_outer {
  T mu_c = 10, mu_s = 10, tol = T(1e-4);
  int max_outer = 200;
};

/// An AO baseline on one realization. curve (length o.max_outer + 1, may be null):
/// curve[0] = h at the start, curve[i] = h after outer iteration i, the final value
/// repeated after convergence.
template <class T, class Ch, class Policy>
JCAS_HD inline status ao_solve(const Ch& ch, const problem_dims& d, const system_params<T>& sys, const ao_outer<T>& o,
                               const Policy& policy, mview<T> w, mview<T> f, T* curve, solver_ws<T>& ws,
                               solve_result<T>& res) {
  evaluate_metrics<T>(ch, w, f, d, sys, ws.mt);
  T h_prev = ws.mt.objective;
  if (curve) curve[0] = h_prev;
  res.outer = 0;
  res.inner = 0;
  for (int it = 0; it < o.max_outer; ++it) {
    const status st = layer_prepare<T>(ch, d, sys, o.mu_c, o.mu_s, ws.mt, f, ws.lw);
    if (st != status::ok) return st;
    res.inner += policy.solve(ws.lw.sur, w, ws, sys.pt);
    evaluate_metrics<T>(ch, w, f, d, sys, ws.mt);
    res.outer = it + 1;
    if (curve) curve[it + 1] = ws.mt.objective;
    if (rel_converged(ws.mt.objective, h_prev, o.tol)) break;
    h_prev = ws.mt.objective;
  }
  if (curve)
    for (int it = res.outer; it < o.max_outer; ++it) curve[it + 1] = ws.mt.objective;
  fill_result(ws.mt, res);
  return status::ok;
}

}  // namespace jcas::core
