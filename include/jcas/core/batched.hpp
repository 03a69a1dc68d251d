// Unfolded inference (Algorithm 1) over a chunk of realizations in batch phases: the two
// products of D(W) = L diag(d) L^H W - A_t^H (eq. 16) as strided batched GEMMs over the
// chunk (BLAS on the CPU, cuBLAS on the GPU), everything else per realization with the
// same core functions as unfolded_forward, in the same order. For large arrays (Nt up to
// 256, K up to 64) the products are almost all of the work (2 Nt R K complex
// multiply-adds per D(W), 6 D(W) per layer) and a tuned GEMM runs them far faster than
// the per-realization loops; at the paper's sizes the per-realization route is faster.
//
// A backend supplies an executor with two operations:
//   ex.for_each(n, fn)        fn(b) for b = 0 .. n-1, in any order, in parallel;
//   ex.gemm(gemm_batch<T>)    C_b = op(A_b) B_b + beta C_b for every b of the chunk.
// Phases read and write realization b's own state only (its solver_ws slice of the
// chunk's scratch, its W | F, curve, results and status), so any order is correct.
#pragma once
#include "jcas/core/ascent.hpp"  // optimal_combiner; solvers.hpp

namespace jcas::core {

/// One strided batched GEMM, column-major: C_b (m x n) = op(A_b) B_b + beta C_b with
/// op(A) = A (conj_a false, A_b m x k) or A^H (conj_a true, A_b k x m); X_b = x + b stride_x.
template <class T>
struct gemm_batch {
  bool conj_a = false;
  index_t m = 0, n = 0, k = 0;
  const cplx<T>* a = nullptr;
  index_t lda = 0;
  long stride_a = 0;
  const cplx<T>* b = nullptr;
  index_t ldb = 0;
  long stride_b = 0;
  T beta = 0;
  cplx<T>* c = nullptr;
  index_t ldc = 0;
  long stride_c = 0;
  long count = 0;
};

/// A chunk of realizations laid out for the phases: inputs realization-major (the
/// strides of the CUDA backend's device_inputs), realization b's solver_ws (then, with
/// init, its f0_ws) at scratch + b ws_bytes. Pointers are host or device memory as the
/// executor needs; the phases only dereference them inside fn(b).
template <class T>
struct chunk {
  problem_dims d{};
  system_params<T> sys{};
  unfolded_params<T> p{};
  long count = 0;
  bool rank1 = false;
  bool init = false;  // W0 = Pi_S(H) and F0 by the core's closed forms first (phase_init)
  const cplx<T>*h = nullptr, *g = nullptr, *u = nullptr, *v = nullptr;
  cplx<T>* wf = nullptr;  // in/out: count x (W | F)
  T* curve = nullptr;     // out: count x (l_out + 1)
  T* res = nullptr;       // out: count x {objective, min_gamma_c, min_gamma_s, outer}
  int* st = nullptr;      // out: count
  char* scratch = nullptr;
  long ws_bytes = 0, f0_offset = 0;  // set by size_scratch

  /// Sizes realization b's scratch slice: solver_ws, then (init) f0_ws.
  void size_scratch() {
    f0_offset = solver_ws<T>::bytes(d);
    ws_bytes = f0_offset + (init ? f0_ws<T>::bytes(d) : 0);
  }

  JCAS_HD long wf_len() const { return long(d.nt) * d.k + long(d.nr) * d.m; }
  JCAS_HD mview<T> w(long b) const { return {wf + b * wf_len(), d.nt, d.k}; }
  JCAS_HD mview<T> f(long b) const { return {wf + b * wf_len() + long(d.nt) * d.k, d.nr, d.m}; }
  /// Realization b's solver_ws, its surrogate's column count restored (carve sets the
  /// full layout's; layer_prepare chose the merged one for rank-one channels).
  JCAS_HD solver_ws<T> ws(long b) const {
    arena ar{scratch + b * ws_bytes};
    solver_ws<T> s;
    s.carve(ar, d);
    s.lw.sur.l.cols = surrogate_cols(d, rank1);
    return s;
  }
  JCAS_HD f0_ws<T> f0(long b) const {
    arena ar{scratch + b * ws_bytes + f0_offset};
    f0_ws<T> s;
    s.carve(ar, d);
    return s;
  }
  /// fn(channels of realization b): rank1_channels or dense_channels.
  template <class Fn>
  JCAS_HD auto visit(long b, Fn&& fn) const {
    return visit_batch_channels<T>(d, rank1, h, g, u, v, b, fn);
  }
  JCAS_HD bool failed(long b) const { return st[b] != int(status::ok); }
};

// The phases of unfolded_forward, one realization each.

/// SPEC.md 3 in the chunk (init only): W0 = Pi_S(H), F0 in closed form.
template <class T>
struct phase_init {
  chunk<T> c;
  JCAS_HD void operator()(long b) const {
    f0_ws<T> f0w = c.f0(b);
    const mview<T> w = c.w(b), f = c.f(b);
    const status s = c.visit(b, [&](const auto& ch) {
      mrt_init<T>(ch.h, w, c.sys.pt);
      return optimal_combiner<T>(ch, c.d, c.sys, w, f, f0w);
    });
    c.st[b] = int(s);
  }
};

/// h(W0, F0): the metrics the first layer starts from, curve[0].
template <class T>
struct phase_start {
  chunk<T> c;
  JCAS_HD void operator()(long b) const {
    if (!c.init) c.st[b] = int(status::ok);
    if (c.failed(b)) return;
    solver_ws<T> ws = c.ws(b);
    c.visit(b, [&](const auto& ch) { evaluate_metrics<T>(ch, c.w(b), c.f(b), c.d, c.sys, ws.mt); });
    c.curve[b * (c.p.l_out + 1)] = ws.mt.objective;
  }
};

/// Steps 1-5 of layer l: F' and the W-subproblem (L, d, A_t^H).
template <class T>
struct phase_prepare {
  chunk<T> c;
  index_t l;
  JCAS_HD void operator()(long b) const {
    if (c.failed(b)) return;
    solver_ws<T> ws = c.ws(b);
    const status s = c.visit(b, [&](const auto& ch) {
      return layer_prepare<T>(ch, c.d, c.sys, c.p.mu_c_at(l), c.p.mu_s_at(l), ws.mt, c.f(b), ws.lw);
    });
    c.st[b] = int(s);
  }
};

/// Between the GEMMs: S <- diag(d) S, dir = -A_t^H.
template <class T>
struct phase_weigh {
  chunk<T> c;
  JCAS_HD void operator()(long b) const {
    if (c.failed(b)) return;
    solver_ws<T> ws = c.ws(b);
    surrogate_weigh<T>(ws.lw.sur, c.w(b));
    surrogate_dir_init<T>(ws.lw.sur, ws.dir);
  }
};

/// Step 6: W <- Pi_S(W - beta_{l,i} D / ||D||_F) (eq. 18).
template <class T>
struct phase_step {
  chunk<T> c;
  long beta_slot;  // l * l_in + i
  JCAS_HD void operator()(long b) const {
    if (c.failed(b)) return;
    solver_ws<T> ws = c.ws(b);
    normalized_step<T>(c.w(b), ws.dir, c.p.beta[beta_slot], c.sys.pt);
  }
};

/// After layer l: the metrics of (W^[l], F^[l]) (the next layer's input), curve[l + 1],
/// and the results so far.
template <class T>
struct phase_metrics {
  chunk<T> c;
  index_t l;
  JCAS_HD void operator()(long b) const {
    if (c.failed(b)) return;
    solver_ws<T> ws = c.ws(b);
    c.visit(b, [&](const auto& ch) { evaluate_metrics<T>(ch, c.w(b), c.f(b), c.d, c.sys, ws.mt); });
    c.curve[b * (c.p.l_out + 1) + l + 1] = ws.mt.objective;
    T* r = c.res + 4 * b;
    r[0] = ws.mt.objective;
    r[1] = ws.mt.min_gamma_c;
    r[2] = ws.mt.min_gamma_s;
    r[3] = T(l + 1);
  }
};

/// S_b = L_b^H W_b for the chunk (the first product of eq. 16).
template <class T>
gemm_batch<T> gemm_lhw(const chunk<T>& c) {
  arena ar{c.scratch};  // realization 0's layout; the rest follow at ws_bytes
  solver_ws<T> ws;
  ws.carve(ar, c.d);
  const long stride = c.ws_bytes / long(sizeof(cplx<T>));
  const surrogate<T>& s = ws.lw.sur;
  return {true,     surrogate_cols(c.d, c.rank1),
          c.d.k,    c.d.nt,
          s.l.data, s.l.ld,
          stride,   c.wf,
          c.d.nt,   c.wf_len(),
          T(0),     s.s.data,
          s.s.ld,   stride,
          c.count};
}

/// dir_b += L_b S_b for the chunk (the second product of eq. 16).
template <class T>
gemm_batch<T> gemm_ls(const chunk<T>& c) {
  arena ar{c.scratch};
  solver_ws<T> ws;
  ws.carve(ar, c.d);
  const long stride = c.ws_bytes / long(sizeof(cplx<T>));
  const surrogate<T>& s = ws.lw.sur;
  return {false,     c.d.nt, c.d.k,  surrogate_cols(c.d, c.rank1),
          s.l.data,  s.l.ld, stride, s.s.data,
          s.s.ld,    stride, T(1),   ws.dir.data,
          ws.dir.ld, stride, c.count};
}

/// Algorithm 1 on every realization of the chunk: unfolded_forward's steps, in its
/// order, with the products of every D(W) as two batched GEMMs. c.p.beta, mu tables and
/// every chunk array must be where the executor's phases run (host or device memory).
template <class T, class Exec>
void unfolded_batched(Exec& ex, const chunk<T>& c) {
  if (c.init) ex.for_each(c.count, phase_init<T>{c});
  ex.for_each(c.count, phase_start<T>{c});
  const gemm_batch<T> lhw = gemm_lhw(c), ls = gemm_ls(c);
  for (index_t l = 0; l < c.p.l_out; ++l) {
    ex.for_each(c.count, phase_prepare<T>{c, l});
    for (index_t rep = 0; rep < c.p.i_w; ++rep)
      for (index_t i = 0; i < c.p.l_in; ++i) {
        if (!c.p.frozen || (rep == 0 && i == 0)) {
          ex.gemm(lhw);
          ex.for_each(c.count, phase_weigh<T>{c});
          ex.gemm(ls);
        }
        ex.for_each(c.count, phase_step<T>{c, long(l) * c.p.l_in + i});
      }
    ex.for_each(c.count, phase_metrics<T>{c, l});
  }
}

}  // namespace jcas::core
