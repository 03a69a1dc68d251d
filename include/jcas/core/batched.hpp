// Unfolded inference (Algorithm 1) over a chunk of realizations in batch phases: the
// dense products -- the two of every D(W) = L diag(d) L^H W - A_t^H (eq. 16), and the
// metrics' E = H^H W, P_j = G_j W (dense G; V^H W for rank one) and F^H P (SPEC.md 2)
// -- as strided batched GEMMs over the chunk (BLAS on the CPU, cuBLAS on the GPU),
// everything else per realization with the same core functions as unfolded_forward, in
// the same order. For large arrays (Nt up to 256, K up to 64) the products are nearly all
// of the work (2 Nt R K complex multiply-adds per D(W), 6 D(W) per layer, Nt K^2 for E),
// and on a GPU one thread per realization would run them serially from uncoalesced
// scratch. layer_prepare (receiver and surrogate) runs by its stages, item phases but
// for a Cholesky factor; the per-realization work left is that factor and the metrics'
// scalars, O(J^3 + K^2 + M J K). On the CPU the loops
// stay faster at every size measured (bench/RESULTS.md); there this route is the tested
// reference of the GPU's.
//
// A backend supplies an executor with four operations:
//   ex.for_each(n, fn)                 fn(b) for b = 0 .. n-1 (a thread per realization);
//   ex.for_each_item(n, items, fn)     fn(b, i) for every b and i < items (on a GPU a
//                                      block per realization, its threads over i);
//   ex.sum_each(n, items, fn, store)   store(b, sum over i of fn(b, i)) for every b;
//   ex.gemm(gemm_batch<T>)             C_b = op(A_b) B_b + beta C_b for every b;
// each in any order and in parallel. A phase reads and writes realization b's own state
// only (its slice of the chunk's scratch, its W | F, curve, results and status), and an
// item phase writes item i only, so any order is correct. The element-wise steps (the
// projected step of eq. 18, the scaling between the GEMMs) are item phases: on a GPU a
// block's threads then touch consecutive entries of one realization (coalesced), where a
// thread per realization would stream its own slice, 32 slices per warp access.
#pragma once
#include <type_traits>
#include <utility>

#include "jcas/core/ascent.hpp"  // optimal_combiner; solvers.hpp
#include "jcas/core/schedule.hpp"

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

/// Entry e = i + j m of product b of g (C_b(i, j), column-major): a team computes the
/// product an entry per thread (core/team.hpp).
template <class T>
JCAS_HD inline void gemm_entry(const gemm_batch<T>& g, long b, long e) {
  const index_t i = index_t(e % g.m), j = index_t(e / g.m);
  const cplx<T>* a = g.a + b * g.stride_a;
  const cplx<T>* xj = g.b + b * g.stride_b + long(j) * g.ldb;
  cplx<T> s{};
  if (g.conj_a) {
    s = dotc(g.k, a + long(i) * g.lda, xj);
  } else {
    for (index_t p = 0; p < g.k; ++p) s += a[i + long(p) * g.lda] * xj[p];
  }
  cplx<T>& y = g.c[b * g.stride_c + i + long(j) * g.ldc];
  y = g.beta == T(0) ? s : y * g.beta + s;
}

/// Whether an item phase's functor has at(b): a view of realization b made once for all
/// its items (phase_prepare), which phase_items then calls with the item alone.
template <class Fn, class = void>
constexpr bool has_item_view = false;
template <class Fn>
constexpr bool has_item_view<Fn, std::void_t<decltype(std::declval<const Fn&>().at(0L))>> = true;

/// Items first, first + step, ... < items of realization b of an item phase: what an
/// executor's thread (or a team's rank) runs of fn. A view runs all of them at once
/// (view.all(), without per-item index arithmetic) when one thread takes them all.
JCAS_NO_EXEC_CHECK
template <class Fn>
JCAS_HD inline void phase_items(const Fn& fn, long b, long first, long items, long step) {
  if constexpr (has_item_view<Fn>) {
    auto v = fn.at(b);
    if (first == 0 && step == 1) {
      v.all();
    } else {
      for (long i = first; i < items; i += step) v(i);
    }
  } else {
    for (long i = first; i < items; i += step) fn(b, i);
  }
}

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
  bool zf = false;    // with init: W0 = Pi_S(zero-forcing) instead (start_w0)
  const cplx<T>*h = nullptr, *g = nullptr, *u = nullptr, *v = nullptr;
  cplx<T>* wf = nullptr;  // in/out: count x (W | F)
  T* curve = nullptr;     // out: count x (l_out + 1)
  T* res = nullptr;       // out: count x {objective, min_gamma_c, min_gamma_s, outer}
  int* st = nullptr;      // out: count
  char* scratch = nullptr;
  long ws_bytes = 0, f0_offset = 0, norm_offset = 0, prod_offset = 0;  // set by size_scratch

  /// Sizes realization b's scratch slice: solver_ws, (init) f0_ws, ||D||_F, then the
  /// metrics' products V^H W (J x K, rank one) and F^H P (M x J K).
  void size_scratch() {
    f0_offset = solver_ws<T>::bytes(d);
    norm_offset = f0_offset + (init ? f0_ws<T>::bytes(d) : 0);
    prod_offset = norm_offset + 16;
    const long prod = long(sizeof(cplx<T>)) * (long(d.j()) * d.k + long(d.m) * d.j() * d.k);
    ws_bytes = prod_offset + (prod + 15) / 16 * 16;
  }
  /// Realization b's V^H W; its F^H P follows at + J K.
  JCAS_HD cplx<T>* prod(long b) const { return reinterpret_cast<cplx<T>*>(scratch + b * ws_bytes + prod_offset); }

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

  /// Realization b alone, as a chunk of one whose scratch slice is `slot` (ws_bytes):
  /// the view a team runs (core/team.hpp).
  JCAS_HD chunk one(long b, char* slot) const {
    chunk o = *this;
    o.count = 1;
    o.h = h + b * long(d.nt) * d.k;
    if (rank1) {
      o.u = u + b * long(d.nr) * d.j();
      o.v = v + b * long(d.nt) * d.j();
    } else {
      o.g = g + b * long(d.j()) * d.nr * d.nt;
    }
    o.wf = wf + b * wf_len();
    o.curve = curve + b * (p.l_out + 1);
    o.res = res + 4 * b;
    o.st = st + b;
    o.scratch = slot;
    return o;
  }
};

// The phases of unfolded_forward, one realization each.

/// SPEC.md 3 in the chunk (init only): W0 = Pi_S(H) or Pi_S(zero-forcing), F0 in closed form.
template <class T>
struct phase_init {
  chunk<T> c;
  JCAS_HD void operator()(long b) const {
    f0_ws<T> f0w = c.f0(b);
    const mview<T> w = c.w(b), f = c.f(b);
    const status s = c.visit(b, [&](const auto& ch) { return start_wf<T>(ch, c.d, c.sys, c.zf, w, f, f0w); });
    c.st[b] = int(s);
  }
};

/// Every realization's status to ok (without phase_init).
template <class T>
struct phase_clear {
  chunk<T> c;
  JCAS_HD void operator()(long b) const { c.st[b] = int(status::ok); }
};

/// The metrics from the chunk's products (chunk_gemms::metrics: E = H^H W, P_j = G_j W,
/// F^H P), O(K^2 + M J K) per realization.
template <class T>
JCAS_HD inline void chunk_metrics(const chunk<T>& c, long b, solver_ws<T>& ws) {
  const cplx<T>* hw = ws.mt.hw;
  const cplx<T>* fp = c.prod(b) + long(c.d.j()) * c.d.k;
  const index_t k = c.d.k, mm = c.d.m;
  const T min_c = user_metrics<T>([=](index_t i, index_t j) { return hw[i + long(j) * k]; }, c.d, c.sys, ws.mt);
  sensing_metrics<T>([=](index_t m, index_t j, index_t kk) { return fp[m + (long(j) * k + kk) * mm]; }, c.f(b), c.d,
                     c.sys, min_c, ws.mt);
}

/// Steps 1-5 of layer l, F' and the W-subproblem (L, d, A_t^H), by core/layer.hpp's
/// stages (prepare_item): the merged rank-one form (Woodbury receiver, K + J columns) or
/// the full form (dense G). Stage prepare_lead_stage (a Cholesky factor) is a
/// per-realization phase, operator()(b); the others are item phases, operator()(b, i) for
/// i < items() (none: the stage is skipped).
template <class T>
struct phase_prepare {
  chunk<T> c;
  index_t l;
  int stage;  // 1 .. prepare_stages

  JCAS_HD long items() const { return prepare_items(c.d, c.rank1, stage); }
  /// Realization b's items, its workspace, F and smoothing constants taken once for all
  /// of them (phase_items); all() runs every item in nested loops (prepare_stage).
  struct view {
    const chunk<T>& c;
    long b;
    int stage;
    solver_ws<T> ws;
    mview<T> f;
    T mu_c, mu_s;
    JCAS_HD void operator()(long i) {
      run([&](const auto& ch) {
        return prepare_item<T>(ch, c.d, c.sys, mu_c, mu_s, ws.mt, f, ws.lw, stage, index_t(i));
      });
    }
    JCAS_HD void all() {
      run([&](const auto& ch) {
        constexpr bool merged = is_rank1<std::decay_t<decltype(ch)>>::value;
        return prepare_stage<merged, T>(ch, c.d, c.sys, mu_c, mu_s, ws.mt, f, ws.lw, stage);
      });
    }
    template <class Item>
    JCAS_HD void run(const Item& item) {
      if (c.failed(b)) return;
      const status s = c.visit(b, item);
      if (s != status::ok) c.st[b] = int(s);
    }
  };
  JCAS_HD view at(long b) const { return {c, b, stage, c.ws(b), c.f(b), c.p.mu_c_at(l), c.p.mu_s_at(l)}; }
  JCAS_HD void operator()(long b, long i) const { at(b)(i); }
  JCAS_HD void operator()(long b) const { at(b).all(); }
};

/// Whether a phase functor is one of layer_prepare's (host/flop_count.cpp attributes
/// their arithmetic).
template <class Fn>
constexpr bool is_prepare_phase = false;
template <class T>
constexpr bool is_prepare_phase<phase_prepare<T>> = true;

/// Realization 0's workspace; realization b's arrays lie at a constant stride from it
/// (the GEMMs' operands and the item phases' arrays).
template <class T>
struct chunk_layout {
  solver_ws<T> ws0;
  long cs = 0, ts = 0;     // cplx<T> and T elements between realizations' workspaces
  T* norm0 = nullptr;      // ||D||_F of realization 0
  cplx<T>* vw0 = nullptr;  // its V^H W (J x K)
  cplx<T>* fp0 = nullptr;  // its F^H P (M x J K)
  JCAS_HD explicit chunk_layout(const chunk<T>& c)
      : cs(c.ws_bytes / long(sizeof(cplx<T>))), ts(c.ws_bytes / long(sizeof(T))) {
    arena ar{c.scratch};
    ws0.carve(ar, c.d);
    norm0 = reinterpret_cast<T*>(c.scratch + c.norm_offset);
    vw0 = reinterpret_cast<cplx<T>*>(c.scratch + c.prod_offset);
    fp0 = vw0 + long(c.d.j()) * c.d.k;
  }
};

/// Rank-one P_j = u_j (v_j^H W) (SPEC.md 2, rank1_channels::apply), one item per entry:
/// entry r of P_j e_k is u_jr times (V^H W)_jk.
template <class T>
struct item_rank1_p {
  const cplx<T>* u;  // the chunk's u: Nr x J per realization
  const cplx<T>* vw0;
  cplx<T>* p0;
  index_t nr, k, nj;
  long cs;
  JCAS_HD long items() const { return long(nr) * k * nj; }
  JCAS_HD void operator()(long b, long i) const {
    const long jk = i / nr;  // P's layout: block (j, k) at (j K + k) Nr (metrics::pcol)
    const index_t r = index_t(i % nr), j = index_t(jk / k), kk = index_t(jk % k);
    p0[b * cs + i] = u[b * long(nr) * nj + long(j) * nr + r] * vw0[b * cs + j + long(kk) * nj];
  }
};

/// Between the GEMMs, one item per entry: S <- diag(d) S (R K entries), then dir = -A_t^H
/// (Nt K entries): surrogate_weigh and surrogate_dir_init (g is not needed here).
template <class T>
struct item_weigh {
  chunk<T> c;
  cplx<T>*s0, *dir0;
  const cplx<T>* ah0;
  const T* d0;
  index_t r, lds;
  long cs, ts;
  JCAS_HD item_weigh(const chunk<T>& ch, const chunk_layout<T>& lay)
      : c(ch),
        s0(lay.ws0.lw.sur.s.data),
        dir0(lay.ws0.dir.data),
        ah0(lay.ws0.lw.sur.ah.data),
        d0(lay.ws0.lw.sur.d),
        r(surrogate_cols(ch.d, ch.rank1)),
        lds(lay.ws0.lw.sur.s.ld),
        cs(lay.cs),
        ts(lay.ts) {}
  JCAS_HD long items() const { return long(r) * c.d.k + long(c.d.nt) * c.d.k; }
  JCAS_HD void operator()(long b, long i) const {
    if (c.failed(b)) return;
    const long rk = long(r) * c.d.k;
    if (i < rk) {
      const long rr = i % r, k = i / r;
      s0[b * cs + rr + k * lds] *= d0[b * ts + rr];
    } else {
      dir0[b * cs + i - rk] = -ah0[b * cs + i - rk];
    }
  }
};

/// |dir_i|^2, summed per realization; store_norm keeps ||D||_F (eq. 18's normalisation).
template <class T>
struct item_dir_norm {
  const cplx<T>* dir0;
  long cs;
  JCAS_HD T operator()(long b, long i) const { return norm2(dir0[b * cs + i]); }
};
template <class T>
struct store_norm {
  T* norm0;
  long ts;
  JCAS_HD void operator()(long b, T sum) const { norm0[b * ts] = sqrt(sum); }
};

/// Step 6, first half, one item per entry of W: W <- W - beta_{l,i} D / ||D||_F (eq. 18;
/// no move when D = 0, as normalized_step).
template <class T>
struct item_step {
  chunk<T> c;
  const cplx<T>* dir0;
  const T* norm0;
  long cs, ts, beta_slot;  // beta_slot = l * l_in + i
  JCAS_HD void operator()(long b, long i) const {
    if (c.failed(b)) return;
    const T nd = norm0[b * ts];
    if (!(nd > T(0))) return;
    c.wf[b * c.wf_len() + i] -= dir0[b * cs + i] * (c.p.beta[beta_slot] / nd);
  }
};

/// Step 6, second half, one item per row of W: Pi_S (SPEC.md 1).
template <class T>
struct item_project {
  chunk<T> c;
  const T* norm0;
  long ts;
  JCAS_HD void operator()(long b, long n) const {
    if (c.failed(b) || !(norm0[b * ts] > T(0))) return;
    project_row(c.w(b), index_t(n), T(sqrt(c.sys.pt / T(c.d.nt))));
  }
};

/// After layer l: the metrics of (W^[l], F^[l]) (the next layer's input), curve[l + 1],
/// and the results so far; l = -1: h(W0, F0), curve[0], before the first layer.
template <class T>
struct phase_metrics {
  chunk<T> c;
  index_t l;
  JCAS_HD void operator()(long b) const {
    if (c.failed(b)) return;
    solver_ws<T> ws = c.ws(b);
    chunk_metrics(c, b, ws);
    c.curve[b * (c.p.l_out + 1) + l + 1] = ws.mt.objective;
    T* r = c.res + 4 * b;
    r[0] = ws.mt.objective;
    r[1] = ws.mt.min_gamma_c;
    r[2] = ws.mt.min_gamma_s;
    r[3] = T(l + 1);
  }
};

/// The chunk's GEMMs, laid out from realization 0's workspace (the others follow at
/// ws_bytes; every operand's stride is constant over the chunk).
template <class T>
struct chunk_gemms {
  gemm_batch<T> lhw, ls, hw, vw, fp;
  const chunk<T>* c;
  const chunk_layout<T>* lay;

  JCAS_HD chunk_gemms(const chunk<T>& ch, const chunk_layout<T>& l) : c(&ch), lay(&l) {
    const problem_dims& d = ch.d;
    const surrogate<T>& s = l.ws0.lw.sur;
    const index_t r = surrogate_cols(d, ch.rank1);
    const long st = l.cs;
    // S = L^H W and dir += L S (eq. 16).
    lhw = {true, r, d.k, d.nt, s.l.data, s.l.ld, st, ch.wf, d.nt, ch.wf_len(), T(0), s.s.data, s.s.ld, st, ch.count};
    ls = {false, d.nt,           d.k,          r,  s.l.data, s.l.ld, st, s.s.data, s.s.ld, st,
          T(1),  l.ws0.dir.data, l.ws0.dir.ld, st, ch.count};
    // E = H^H W (SPEC.md 2).
    hw = {true, d.k,         d.k,  d.nt,        ch.h, d.nt, long(d.nt) * d.k, ch.wf,
          d.nt, ch.wf_len(), T(0), l.ws0.mt.hw, d.k,  st,   ch.count};
    // Rank one: V^H W (J x K), whence P_j by item_rank1_p. Then F^H P (M x J K): the
    // inner products f_m^H G_j w_k of the sensing metrics.
    vw = {true,        d.j(), d.k,   d.nt,  ch.v, d.nt,    long(d.nt) * d.j(), ch.wf, d.nt,
          ch.wf_len(), T(0),  l.vw0, d.j(), st,   ch.count};
    fp = {true,  d.m, d.j() * d.k, d.nr,    ch.wf + long(d.nt) * d.k, d.nr, ch.wf_len(), l.ws0.mt.p, d.nr, st, T(0),
          l.fp0, d.m, st,          ch.count};
  }
  /// P_j = G_j W for dense G (block j of every realization's G).
  JCAS_HD gemm_batch<T> p(index_t j) const {
    const problem_dims& d = c->d;
    return {false,   d.nr, d.k,         d.nt, c->g + long(j) * d.nr * d.nt, d.nr, long(d.j()) * d.nr * d.nt,
            c->wf,   d.nt, c->wf_len(), T(0), lay->ws0.mt.pcol(j, 0, d),    d.nr, lay->cs,
            c->count};
  }
  /// The products the metrics read: E, every P_j (GEMMs for dense G; V^H W and an item
  /// phase for rank one), then F^H P.
  JCAS_NO_EXEC_CHECK
  template <class Exec>
  JCAS_HD void metrics(Exec& ex) const {
    const problem_dims& d = c->d;
    ex.gemm(hw);
    if (c->rank1) {
      ex.gemm(vw);
      const item_rank1_p<T> fill{c->u, lay->vw0, lay->ws0.mt.p, d.nr, d.k, d.j(), lay->cs};
      ex.for_each_item(c->count, fill.items(), fill);
    } else {
      for (index_t j = 0; j < d.j(); ++j) ex.gemm(p(j));
    }
    ex.gemm(fp);
  }
};

/// Algorithm 1's executor (core/schedule.hpp) on a chunk in batch phases: the dense
/// products as batched GEMMs, the element-wise steps as item phases, layer_prepare by its
/// stages (the Cholesky factor a per-realization phase), all through `ex` (a backend's
/// executor: for_each, for_each_item, sum_each, gemm). A realization that failed is
/// skipped by every later phase (its status in the chunk); prepare reports ok.
template <class T, class Exec>
struct phases_exec {
  Exec& ex;
  const chunk<T>& c;
  chunk_layout<T> lay;
  chunk_gemms<T> g;
  item_weigh<T> weigh;
  long nw;
  JCAS_NO_EXEC_CHECK
  JCAS_HD phases_exec(Exec& e, const chunk<T>& ch)
      : ex(e), c(ch), lay(ch), g(ch, lay), weigh(ch, lay), nw(long(ch.d.nt) * ch.d.k) {}
  JCAS_NO_EXEC_CHECK
  JCAS_HD void metrics(index_t l) {
    g.metrics(ex);
    ex.for_each(c.count, phase_metrics<T>{c, l});
  }
  JCAS_NO_EXEC_CHECK
  JCAS_HD status prepare(index_t l) {
    for (int s = 1; s <= prepare_stages; ++s) {
      const phase_prepare<T> prep{c, l, s};
      if (s == prepare_lead_stage)
        ex.for_each(c.count, prep);
      else if (prep.items() > 0)
        ex.for_each_item(c.count, prep.items(), prep);
    }
    return status::ok;
  }
  JCAS_NO_EXEC_CHECK
  JCAS_HD void direction(index_t) {  // D(W) (eq. 16) and ||D||_F
    ex.gemm(g.lhw);
    ex.for_each_item(c.count, weigh.items(), weigh);
    ex.gemm(g.ls);
    ex.sum_each(c.count, nw, item_dir_norm<T>{lay.ws0.dir.data, lay.cs}, store_norm<T>{lay.norm0, lay.ts});
  }
  JCAS_NO_EXEC_CHECK
  JCAS_HD void step(index_t l, index_t i, index_t) {
    ex.for_each_item(c.count, nw, item_step<T>{c, lay.ws0.dir.data, lay.norm0, lay.cs, lay.ts, long(l) * c.p.l_in + i});
    ex.for_each_item(c.count, c.d.nt, item_project<T>{c, lay.norm0, lay.ts});
  }
};

/// Algorithm 1 on every realization of the chunk (core/schedule.hpp with phases_exec),
/// the start first where the chunk computes it. c.p.beta, the mu tables and every chunk
/// array must be where the executor's phases run (host or device memory). The executor
/// may also be a team running a chunk of one realization inside a kernel (core/team.hpp).
JCAS_NO_EXEC_CHECK
template <class T, class Exec>
JCAS_HD void unfolded_batched(Exec& ex, const chunk<T>& c) {
  if (c.init)
    ex.for_each(c.count, phase_init<T>{c});
  else
    ex.for_each(c.count, phase_clear<T>{c});
  phases_exec<T, Exec> px(ex, c);
  unfolded_schedule(px, c.p);
}

}  // namespace jcas::core
