// SPEC.md section 2: SINR, SCNR, rates, sensing MI and the objective h(W, F).
#pragma once
#include "jcas/core/channels.hpp"

namespace jcas::core {

/// Everything the layer needs from one evaluation of the metrics at (W, F).
template <class T>
struct metrics {
  cplx<T>* p;   // J blocks Nr x K: P_j = G_j W
  cplx<T>* hw;  // K x K: E = H^H W, entry (k, j) = h_k^H w_j
  cplx<T>* e;   // K: h_k^H w_k
  T* t_c;       // K: T_ck = sum_j |h_k^H w_j|^2 + sigma_c^2
  T* gamma_c;   // K: SINR
  cplx<T>* q;   // K x M: column m = (f_m^H G_m W)^T
  T* t_s;       // M: T_sm
  T* gamma_s;   // M: SCNR
  T objective;  // h(W, F)
  T min_gamma_c, min_gamma_s;

  template <class A>
  JCAS_HD void carve(A& a, const problem_dims& d) {
    p = a.template take<cplx<T>>(long(d.nr) * d.k * d.j());
    carve_scalars(a, d);
  }
  /// Everything but the products P_j (which a route without them leaves null).
  template <class A>
  JCAS_HD void carve_scalars(A& a, const problem_dims& d) {
    hw = a.template take<cplx<T>>(long(d.k) * d.k);
    e = a.template take<cplx<T>>(d.k);
    t_c = a.template take<T>(d.k);
    gamma_c = a.template take<T>(d.k);
    q = a.template take<cplx<T>>(long(d.k) * d.m);
    t_s = a.template take<T>(d.m);
    gamma_s = a.template take<T>(d.m);
  }
  JCAS_HD cplx<T>* pcol(index_t j, index_t k, const problem_dims& d) const { return p + (long(j) * d.k + k) * d.nr; }
};

/// The smallest of n entries, taken in order.
template <class T>
JCAS_HD inline T min_of(index_t n, const T* x) {
  T best = x[0];
  for (index_t i = 1; i < n; ++i) best = fmin(best, x[i]);
  return best;
}

/// min over x of ln(1 + x) for n entries, as ln(1 + min x): one logarithm, not n.
template <class T>
JCAS_HD inline T min_log1p(index_t n, const T* x) {
  return T(log1p(min_of(n, x)));
}

// SPEC.md section 2 at (W, F) in pieces, so that a backend can run the products E = H^H W,
// P_j = G_j W and F^H P as batched GEMMs over many realizations (core/batched.hpp, into
// metrics::hw, metrics::p and the chunk's F^H P); evaluate_metrics runs them on one
// realization.

/// P_j = G_j W into out.p.
template <class T, class Ch>
JCAS_HD inline void sensing_products(const Ch& ch, cview<T> w, const problem_dims& d, metrics<T>& out) {
  for (index_t j = 0; j < d.j(); ++j)
    for (index_t k = 0; k < d.k; ++k) ch.apply(j, w.col(k), out.pcol(j, k, d));
}

/// The users' part for user k, SINR gamma_ck from E = H^H W: ekj_of(k, j) = h_k^H w_j,
/// computed on the fly or read from metrics::hw. Interference is summed apart from the
/// signal so gamma = S / I never subtracts nearly equal numbers.
template <class T, class E>
JCAS_HD inline void user_metric(const E& ekj_of, const problem_dims& d, const system_params<T>& sys, metrics<T>& out,
                                index_t k) {
  T interference = sys.sigma_c2, signal = 0;
  for (index_t j = 0; j < d.k; ++j) {
    const cplx<T> ekj = ekj_of(k, j);
    if (j == k) {
      out.e[k] = ekj;
      signal = norm2(ekj);
    } else
      interference += norm2(ekj);
  }
  out.t_c[k] = signal + interference;
  out.gamma_c[k] = signal / interference;
}

/// user_metric for every user; returns min_k gamma_ck.
template <class T, class E>
JCAS_HD inline T user_metrics(const E& ekj_of, const problem_dims& d, const system_params<T>& sys, metrics<T>& out) {
  for (index_t k = 0; k < d.k; ++k) user_metric<T>(ekj_of, d, sys, out, k);
  return min_of(d.k, out.gamma_c);
}

/// The sensing part for combiner m, SCNR gamma_sm from fpm_of(m, j, k) = f_m^H P_j e_k =
/// f_m^H G_j w_k, computed on the fly from metrics::p or read from a product F^H P
/// (core/batched.hpp), and fn2_of(m) = ||f_m||^2 (the clutter term's noise).
template <class T, class Q, class N2>
JCAS_HD inline void sensing_metric(const Q& fpm_of, const N2& fn2_of, const problem_dims& d,
                                   const system_params<T>& sys, metrics<T>& out, index_t m) {
  T clutter = T(d.nr) * sys.sigma_s2 * fn2_of(m), signal = 0;
  for (index_t j = 0; j < d.j(); ++j)
    for (index_t k = 0; k < d.k; ++k) {
      const cplx<T> v = fpm_of(m, j, k);
      if (j == m) {
        out.q[long(m) * d.k + k] = v;
        signal += norm2(v);
      } else
        clutter += norm2(v);
    }
  out.t_s[m] = signal + clutter;
  out.gamma_s[m] = signal / clutter;
}

/// Once every user's and combiner's part is in: the minima and h (eq. 7), with the users'
/// min_c.
template <class T>
JCAS_HD inline void metrics_summary(const problem_dims& d, const system_params<T>& sys, T min_c, metrics<T>& out) {
  out.min_gamma_c = min_c;
  out.min_gamma_s = min_of(d.m, out.gamma_s);
  out.objective = min_log1p(d.k, out.gamma_c) + sys.delta * min_log1p(d.m, out.gamma_s);
}

/// sensing_metric for every combiner, then h (metrics_summary).
template <class T, class Q, class N2>
JCAS_HD inline void sensing_metrics_n(const Q& fpm_of, const N2& fn2_of, const problem_dims& d,
                                      const system_params<T>& sys, T min_c, metrics<T>& out) {
  for (index_t m = 0; m < d.m; ++m) sensing_metric<T>(fpm_of, fn2_of, d, sys, out, m);
  metrics_summary<T>(d, sys, min_c, out);
}

/// sensing_metrics_n with ||f_m||^2 from F itself.
template <class T, class Q>
JCAS_HD inline void sensing_metrics(const Q& fpm_of, cview<T> f, const problem_dims& d, const system_params<T>& sys,
                                    T min_c, metrics<T>& out) {
  sensing_metrics_n<T>(
      fpm_of, [&](index_t m) { return nrm2sq(d.nr, f.col(m)); }, d, sys, min_c, out);
}

/// Evaluates SPEC.md section 2 at (W, F). W: Nt x K, F: Nr x M.
template <class T, class Ch>
JCAS_HD inline void evaluate_metrics(const Ch& ch, cview<T> w, cview<T> f, const problem_dims& d,
                                     const system_params<T>& sys, metrics<T>& out) {
  const T min_c = user_metrics<T>([&](index_t k, index_t j) { return dotc(d.nt, ch.h.col(k), w.col(j)); }, d, sys, out);
  sensing_products<T>(ch, w, d, out);
  sensing_metrics<T>([&](index_t m, index_t j, index_t k) { return dotc(d.nr, f.col(m), out.pcol(j, k, d)); }, f, d,
                     sys, min_c, out);
}

/// Adjoints (dL/dRe + i dL/dIm) of the metrics' outputs that the layer and the loss
/// use; the caller zeroes them, accumulates, then calls metrics_adjoint.
template <class T>
struct metrics_bar {
  T* gamma_c;    // K
  T* t_c;        // K
  cplx<T>* e;    // K: adjoint of h_k^H w_k
  T* gamma_s;    // M
  T* t_s;        // M
  cplx<T>* q;    // K x M: adjoint of f_m^H G_m w_k
  cplx<T>* p;    // J blocks Nr x K: adjoint of P_j (other contributions may be added)
  cplx<T>* tmp;  // Nt scratch

  template <class A>
  JCAS_HD void carve(A& a, const problem_dims& d) {
    gamma_c = a.template take<T>(d.k);
    t_c = a.template take<T>(d.k);
    e = a.template take<cplx<T>>(d.k);
    gamma_s = a.template take<T>(d.m);
    t_s = a.template take<T>(d.m);
    q = a.template take<cplx<T>>(long(d.k) * d.m);
    p = a.template take<cplx<T>>(long(d.nr) * d.k * d.j());
    tmp = a.template take<cplx<T>>(d.nt);
  }
  JCAS_HD void zero(const problem_dims& d) {
    for (index_t k = 0; k < d.k; ++k) {
      gamma_c[k] = 0;
      t_c[k] = 0;
      e[k] = cplx<T>();
    }
    for (index_t m = 0; m < d.m; ++m) {
      gamma_s[m] = 0;
      t_s[m] = 0;
    }
    for (long i = 0; i < long(d.k) * d.m; ++i) q[i] = cplx<T>();
    for (long i = 0; i < long(d.nr) * d.k * d.j(); ++i) p[i] = cplx<T>();
  }
};

/// Adds dh/dgamma * hbar to mb: the subgradient of h through the minimising user and
/// target (SPEC.md section 6).
template <class T>
JCAS_HD inline void objective_adjoint(const problem_dims& d, const system_params<T>& sys, const metrics<T>& mt, T hbar,
                                      metrics_bar<T>& mb) {
  index_t kc = 0, ms = 0;
  for (index_t k = 1; k < d.k; ++k)
    if (mt.gamma_c[k] < mt.gamma_c[kc]) kc = k;
  for (index_t m = 1; m < d.m; ++m)
    if (mt.gamma_s[m] < mt.gamma_s[ms]) ms = m;
  mb.gamma_c[kc] += hbar / (1 + mt.gamma_c[kc]);
  mb.gamma_s[ms] += sys.delta * hbar / (1 + mt.gamma_s[ms]);
}

/// (Sbar, Ibar) of a ratio gamma = S / I with T = S + I, from the adjoints of gamma and T.
template <class T>
struct ratio_bars {
  T s, i;
};
template <class T>
JCAS_HD inline ratio_bars<T> ratio_adjoint(T gamma_bar, T gamma, T t_bar, T i) {
  return {gamma_bar / i + t_bar, -gamma_bar * gamma / i + t_bar};
}

/// User k's: S = |E_kk|^2, I = sum_{j != k} |E_kj|^2 + sigma_c^2.
template <class T>
JCAS_HD inline ratio_bars<T> user_bars(index_t k, const metrics<T>& mt, const metrics_bar<T>& mb) {
  return ratio_adjoint(mb.gamma_c[k], mt.gamma_c[k], mb.t_c[k], mt.t_c[k] - norm2(mt.e[k]));
}

/// Adjoint of E_kj = h_k^H w_j (ekj read only for j != k).
template <class T>
JCAS_HD inline cplx<T> user_ebar(index_t k, index_t j, const metrics<T>& mt, const metrics_bar<T>& mb,
                                 const ratio_bars<T>& b, cplx<T> ekj) {
  return j == k ? mb.e[k] + mt.e[k] * (2 * b.s) : ekj * (2 * b.i);
}

/// Target m's: S = sum_k |q_mmk|^2, I = sum_{j != m, k} |q_mjk|^2 + Nr ss |f_m|^2.
template <class T>
JCAS_HD inline ratio_bars<T> sensing_bars(index_t m, const problem_dims& d, const metrics<T>& mt,
                                          const metrics_bar<T>& mb) {
  T s = 0;
  for (index_t k = 0; k < d.k; ++k) s += norm2(mt.q[long(m) * d.k + k]);
  return ratio_adjoint(mb.gamma_s[m], mt.gamma_s[m], mb.t_s[m], mt.t_s[m] - s);
}

/// Adjoint of q_mjk = f_m^H G_j w_k (q read only for j != m).
template <class T>
JCAS_HD inline cplx<T> sensing_qbar(index_t m, index_t j, index_t k, const problem_dims& d, const metrics<T>& mt,
                                    const metrics_bar<T>& mb, const ratio_bars<T>& b, cplx<T> q) {
  const long mk = long(m) * d.k + k;
  return j == m ? mb.q[mk] + mt.q[mk] * (2 * b.s) : q * (2 * b.i);
}

/// Adjoint of evaluate_metrics: from mb (gamma, T, e, q and any P contributions already
/// in mb.p) adds to wbar (Nt x K) and fbar (Nr x M). mb.p is used as scratch.
template <class T, class Ch>
JCAS_HD inline void metrics_adjoint(const Ch& ch, cview<T> w, cview<T> f, const problem_dims& d,
                                    const system_params<T>& sys, const metrics<T>& mt, metrics_bar<T>& mb,
                                    mview<T> wbar, mview<T> fbar) {
  // Users: E_kj = h_k^H w_j.
  for (index_t k = 0; k < d.k; ++k) {
    const ratio_bars<T> b = user_bars(k, mt, mb);
    for (index_t j = 0; j < d.k; ++j) {
      const cplx<T> ebar = user_ebar(k, j, mt, mb, b, j == k ? cplx<T>() : dotc(d.nt, ch.h.col(k), w.col(j)));
      const cplx<T>* hk = ch.h.col(k);
      cplx<T>* wb = wbar.col(j);
      for (index_t n = 0; n < d.nt; ++n) wb[n] += hk[n] * ebar;
    }
  }
  // Sensing: q_mjk = f_m^H P_j e_k, and the clutter term Nr ss |f_m|^2.
  for (index_t m = 0; m < d.m; ++m) {
    const cplx<T>* fm = f.col(m);
    const ratio_bars<T> b = sensing_bars(m, d, mt, mb);
    cplx<T>* fb = fbar.col(m);
    const T nf = 2 * b.i * T(d.nr) * sys.sigma_s2;
    for (index_t r = 0; r < d.nr; ++r) fb[r] += fm[r] * nf;
    for (index_t j = 0; j < d.j(); ++j)
      for (index_t k = 0; k < d.k; ++k) {
        const cplx<T>* pk = mt.pcol(j, k, d);
        const cplx<T> q = j == m ? mt.q[long(m) * d.k + k] : dotc(d.nr, fm, pk);
        const cplx<T> qbar = sensing_qbar(m, j, k, d, mt, mb, b, q);
        cplx<T>* pb = mb.p + (long(j) * d.k + k) * d.nr;
        const cplx<T> cq = conj(qbar);
        for (index_t r = 0; r < d.nr; ++r) {  // q = f_m^H p
          fb[r] += pk[r] * cq;
          pb[r] += fm[r] * qbar;
        }
      }
  }
  // P_j = G_j W.
  for (index_t j = 0; j < d.j(); ++j)
    for (index_t k = 0; k < d.k; ++k) {
      ch.apply_h(j, mb.p + (long(j) * d.k + k) * d.nr, mb.tmp);
      cplx<T>* wb = wbar.col(k);
      for (index_t n = 0; n < d.nt; ++n) wb[n] += mb.tmp[n];
    }
}

}  // namespace jcas::core
