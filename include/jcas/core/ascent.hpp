// Two solvers that climb the smoothed objective h_mu of eq. 8 directly (core/smooth.hpp),
// beyond the paper (issue 6):
//   ao_monotone_solve  the paper's AO with the soft-min weights and auxiliaries
//                      recomputed at every W-step: receiver update (eq. 13), then
//                      projected ascent steps on h_mu(., F') accepted only when h_mu
//                      rises. Each half-step never lowers h_mu, so it cannot oscillate.
//   ascent_solve       the quality yardstick: projected gradient ascent on
//                      W -> h_mu(W, F*(W)) with the SCNR-optimal combiners F*(W)
//                      (SPEC.md section 3), mu raised in stages (10 -> 3000), from
//                      several starts (given W = MRT, regularised zero-forcing, random,
//                      transmit nulls towards the clutter); keeps the best true h seen.
#pragma once
#include "jcas/core/generator.hpp"
#include "jcas/core/solvers.hpp"

namespace jcas::core {

/// F*(W): the SCNR-maximising unit-norm combiners (principal generalised eigenvectors).
template <class T>
JCAS_HD inline status optimal_combiner(const dense_channels<T>& ch, const problem_dims& d, const system_params<T>& sys,
                                       cview<T> w, mview<T> f, f0_ws<T>& ws) {
  return f0_lowrank<T>(ch, d, sys, w, f, ws);
}
template <class T>
JCAS_HD inline status optimal_combiner(const rank1_channels<T>& ch, const problem_dims& d, const system_params<T>& sys,
                                       cview<T> w, mview<T> f, f0_ws<T>& ws) {
  return f0_rank1<T>(ch, d, sys, w, f, ws);
}

/// SPEC.md 3's start of one realization: W0 = Pi_S(H), or Pi_S(zero-forcing) where zf
/// (start_w0), then F0 = F*(W0) (optimal_combiner); f0w is its scratch. The start of every
/// route that computes it in the batch (core/batched.hpp, the kernels).
template <class T, class Ch>
JCAS_HD inline status start_wf(const Ch& ch, const problem_dims& d, const system_params<T>& sys, bool zf, mview<T> w,
                               mview<T> f, f0_ws<T>& f0w) {
  const status s = start_w0<T>(ch.h, d, sys, w, zf, f0w.gram, f0w.vec.col(0));
  return s == status::ok ? optimal_combiner<T>(ch, d, sys, w, f, f0w) : s;
}

/// --algo ao-monotone: outer loop and tolerances of ao_outer, W-steps by climb().
/// smooth_curve (length o.max_outer + 1, may be null) receives h_mu after each outer
/// iteration (the quantity that never decreases); curve the true h, as ao_solve.
template <class T, class Ch>
JCAS_HD inline status ao_monotone_solve(const Ch& ch, const problem_dims& d, const system_params<T>& sys,
                                        const ao_outer<T>& o, const climb_params<T>& cp, mview<T> w, mview<T> f,
                                        T* curve, T* smooth_curve, solver_ws<T>& ws, solve_result<T>& res) {
  smooth_ws<T>& sm = ws.sm;
  climb_point<T>& p = sm.a;
  copy<T>(w, p.w);
  copy<T>(f, p.f);
  evaluate_metrics<T>(ch, p.w, p.f, d, sys, p.mt);
  p.value = smoothed_objective(d, sys, p.mt, o.mu_c, o.mu_s);
  if (curve) curve[0] = p.mt.objective;
  if (smooth_curve) smooth_curve[0] = p.value;
  res.outer = 0;
  res.inner = 0;
  // Trials keep the current F: copy it in, evaluate at the trial W.
  const auto eval = [&](climb_point<T>& q) {
    copy<T>(sm.a.f, q.f);
    evaluate_metrics<T>(ch, q.w, q.f, d, sys, q.mt);
  };
  const auto none = [](const climb_point<T>&) {};
  for (int it = 0; it < o.max_outer; ++it) {
    const T before = sm.a.value;
    const status st = layer_receiver<T>(d, sys, o.mu_c, o.mu_s, sm.a.mt, sm.a.f, ws.lw);  // eq. 13
    if (st != status::ok) return st;
    evaluate_metrics<T>(ch, sm.a.w, sm.a.f, d, sys, sm.a.mt);
    sm.a.value = smoothed_objective(d, sys, sm.a.mt, o.mu_c, o.mu_s);
    res.inner += climb<T>(ch, d, sys, o.mu_c, o.mu_s, cp, sm, eval, none);
    res.outer = it + 1;
    if (curve) curve[it + 1] = sm.a.mt.objective;
    if (smooth_curve) smooth_curve[it + 1] = sm.a.value;
    if (rel_converged(sm.a.value, before, o.tol)) break;
  }
  for (int it = res.outer; it < o.max_outer; ++it) {
    if (curve) curve[it + 1] = sm.a.mt.objective;
    if (smooth_curve) smooth_curve[it + 1] = sm.a.value;
  }
  copy<T>(sm.a.w, w);
  copy<T>(sm.a.f, f);
  fill_result(sm.a.mt, res);
  return status::ok;
}

template <class T>
struct ascent_params {
  T mu_first = 10, mu_last = 3000;  // mu_c = mu_s, raised geometrically over the stages
  int stages = 6;
  climb_params<T> step{T(1), T(0.5), T(2), T(1e-8), 1000, 40};
  int starts = start_all;
  unsigned long long seed = 1;  // of the random start
  JCAS_HD T mu_at(int s) const {
    return stages <= 1 ? mu_last : mu_first * pow(mu_last / mu_first, T(s) / T(stages - 1));
  }
  JCAS_HD int start_count() const {
    int n = 0;
    for (int b = 0; b < 4; ++b) n += (starts >> b) & 1;
    return n;
  }
  /// curve[0] = h at the given W; then the best true h after each (start, stage).
  JCAS_HD int curve_len() const { return start_count() * stages + 1; }
};

/// Gaussian W from the Philox stream of (seed, entity 0, index 0): the same for every
/// realization, so any backend and batch split starts from the same point.
template <class T>
JCAS_HD inline void random_start(unsigned long long seed, mview<T> w) {
  philox_stream rng(seed, 0u, 0u);
  for (index_t k = 0; k < w.cols; ++k)
    for (index_t n = 0; n < w.rows; ++n) {
      const double re = rng.normal(), im = rng.normal();
      w(n, k) = cplx<T>(T(re), T(im));
    }
}

/// MRT with transmit nulls towards the clutter: H projected off the dominant transmit
/// direction of every clutter channel G_j, j = M .. M+C-1 (its top right singular
/// vector, by power iteration on G_j^H G_j; exact after one step when G_j is rank one).
template <class T, class Ch>
JCAS_HD inline void nulls_start(const Ch& ch, const problem_dims& d, mview<T> w, smooth_ws<T>& sm) {
  index_t nb = 0;
  for (index_t c = 0; c < d.c; ++c) {
    cplx<T>* v = sm.basis.col(nb);
    for (index_t n = 0; n < d.nt; ++n) v[n] = cplx<T>(T(1) + T(n) / T(d.nt), T(n % 3));
    for (int it = 0; it < 20; ++it) {
      ch.apply(d.m + c, v, sm.tmp);
      ch.apply_h(d.m + c, sm.tmp, v);
      const T nv = sqrt(nrm2sq(d.nt, v));
      if (!(nv > T(0))) break;
      for (index_t n = 0; n < d.nt; ++n) v[n] = v[n] / nv;
    }
    for (index_t b = 0; b < nb; ++b) {  // Gram-Schmidt against earlier directions
      const cplx<T> a = dotc(d.nt, sm.basis.col(b), v);
      for (index_t n = 0; n < d.nt; ++n) v[n] -= sm.basis(n, b) * a;
    }
    const T nv = sqrt(nrm2sq(d.nt, v));
    if (nv > T(1e-6)) {
      for (index_t n = 0; n < d.nt; ++n) v[n] = v[n] / nv;
      ++nb;
    }
  }
  copy<T>(ch.h, w);
  for (index_t k = 0; k < d.k; ++k)
    for (index_t b = 0; b < nb; ++b) {
      const cplx<T> a = dotc(d.nt, sm.basis.col(b), w.col(k));
      for (index_t n = 0; n < d.nt; ++n) w(n, k) -= sm.basis(n, b) * a;
    }
}

/// --algo ascent on one realization; w in: the given start (MRT from init), out: the
/// best point found (true h) over all starts and stages. f out: F*(W) there.
template <class T, class Ch>
JCAS_HD inline status ascent_solve(const Ch& ch, const problem_dims& d, const system_params<T>& sys,
                                   const ascent_params<T>& ap, mview<T> w, mview<T> f, T* curve, solver_ws<T>& ws,
                                   solve_result<T>& res) {
  smooth_ws<T>& sm = ws.sm;
  status st = status::ok;
  const auto eval = [&](climb_point<T>& q) {
    const status s = optimal_combiner<T>(ch, d, sys, q.w, q.f, sm.f0);
    if (s != status::ok) st = s;
    evaluate_metrics<T>(ch, q.w, q.f, d, sys, q.mt);
  };
  bool have_best = false;
  const auto keep_best = [&](const climb_point<T>& q) {
    if (have_best && !(q.mt.objective > res.objective)) return;
    have_best = true;
    copy<T>(q.w, sm.best_w);
    copy<T>(q.f, sm.best_f);
    fill_result(q.mt, res);
  };
  res.outer = 0;
  res.inner = 0;
  int col = 0;
  for (int s = 0; s < 4; ++s) {
    if (s > 0 && !((ap.starts >> s) & 1)) continue;
    climb_point<T>& p = sm.a;
    if (s == 0)
      copy<T>(w, p.w);
    else if (s == 1) {
      st = zf_start<T>(ch.h, d, sys, p.w, sm.gram, sm.kvec);
      if (st != status::ok) return st;
    } else if (s == 2)
      random_start<T>(ap.seed, p.w);
    else
      nulls_start<T>(ch, d, p.w, sm);
    project_power(p.w, sys.pt);
    eval(p);
    if (st != status::ok) return st;
    if (s == 0 && curve) curve[col++] = p.mt.objective;  // h at the given W
    if (!((ap.starts >> s) & 1)) continue;
    keep_best(p);
    for (int stage = 0; stage < ap.stages; ++stage) {
      const T mu = ap.mu_at(stage);
      sm.a.value = smoothed_objective(d, sys, sm.a.mt, mu, mu);
      res.inner += climb<T>(ch, d, sys, mu, mu, ap.step, sm, eval, keep_best);
      if (st != status::ok) return st;
      ++res.outer;
      if (curve) curve[col++] = res.objective;
    }
  }
  copy<T>(sm.best_w, w);
  copy<T>(sm.best_f, f);
  return status::ok;
}

}  // namespace jcas::core
