// SPEC.md section 2: SINR, SCNR, rates, sensing MI and the objective h(W, F).
#pragma once
#include "jcas/core/channels.hpp"

namespace jcas::core {

/// Everything the layer needs from one evaluation of the metrics at (W, F).
template <class T>
struct metrics {
  cplx<T>* p;       // J blocks Nr x K: P_j = G_j W
  cplx<T>* e;       // K: h_k^H w_k
  T* t_c;           // K: T_ck = sum_j |h_k^H w_j|^2 + sigma_c^2
  T* gamma_c;       // K: SINR
  cplx<T>* q;       // K x M: column m = (f_m^H G_m W)^T
  T* t_s;           // M: T_sm
  T* gamma_s;       // M: SCNR
  T objective;      // h(W, F)
  T min_gamma_c, min_gamma_s;

  template <class A>
  JCAS_HD void carve(A& a, const problem_dims& d) {
    p = a.template take<cplx<T>>(long(d.nr) * d.k * d.j());
    e = a.template take<cplx<T>>(d.k);
    t_c = a.template take<T>(d.k);
    gamma_c = a.template take<T>(d.k);
    q = a.template take<cplx<T>>(long(d.k) * d.m);
    t_s = a.template take<T>(d.m);
    gamma_s = a.template take<T>(d.m);
  }
  JCAS_HD cplx<T>* pcol(index_t j, index_t k, const problem_dims& d) const {
    return p + (long(j) * d.k + k) * d.nr;
  }
};

/// min over x of ln(1 + x) for n entries.
template <class T>
JCAS_HD inline T min_log1p(index_t n, const T* x) {
  T best = log1p(x[0]);
  for (index_t i = 1; i < n; ++i) best = fmin(best, T(log1p(x[i])));
  return best;
}

/// Evaluates SPEC.md section 2 at (W, F). W: Nt x K, F: Nr x M. Interference is summed
/// apart from the signal so gamma = S / I never subtracts nearly equal numbers.
template <class T, class Ch>
JCAS_HD inline void evaluate_metrics(const Ch& ch, cview<T> w, cview<T> f, const problem_dims& d,
                                     const system_params<T>& sys, metrics<T>& out) {
  // Users: E = H^H W.
  T min_c = T(0);
  for (index_t k = 0; k < d.k; ++k) {
    T interference = sys.sigma_c2, signal = 0;
    for (index_t j = 0; j < d.k; ++j) {
      const cplx<T> ekj = dotc(d.nt, ch.h.col(k), w.col(j));
      if (j == k) { out.e[k] = ekj; signal = norm2(ekj); }
      else interference += norm2(ekj);
    }
    out.t_c[k] = signal + interference;
    out.gamma_c[k] = signal / interference;
    min_c = k == 0 ? out.gamma_c[k] : fmin(min_c, out.gamma_c[k]);
  }
  // Sensing: P_j = G_j W, then f_m^H P_j.
  for (index_t j = 0; j < d.j(); ++j)
    for (index_t k = 0; k < d.k; ++k) ch.apply(j, w.col(k), out.pcol(j, k, d));
  T min_s = T(0);
  for (index_t m = 0; m < d.m; ++m) {
    T clutter = T(d.nr) * sys.sigma_s2 * nrm2sq(d.nr, f.col(m)), signal = 0;
    for (index_t j = 0; j < d.j(); ++j)
      for (index_t k = 0; k < d.k; ++k) {
        const cplx<T> v = dotc(d.nr, f.col(m), out.pcol(j, k, d));
        if (j == m) { out.q[long(m) * d.k + k] = v; signal += norm2(v); }
        else clutter += norm2(v);
      }
    out.t_s[m] = signal + clutter;
    out.gamma_s[m] = signal / clutter;
    min_s = m == 0 ? out.gamma_s[m] : fmin(min_s, out.gamma_s[m]);
  }
  out.min_gamma_c = min_c;
  out.min_gamma_s = min_s;
  out.objective = min_log1p(d.k, out.gamma_c) + sys.delta * min_log1p(d.m, out.gamma_s);
}

}  // namespace jcas::core
