// Algorithm 1's schedule (SPEC.md 4-5), written once: L_out layers, each steps 1-5
// (prepare: F' and the W-subproblem) then I_w repetitions of L_in projected steps (eq.
// 18) with D(W) (eq. 16) at every W -- or, the frozen-gradient variant, once a layer --
// and the metrics (SPEC.md 2) at the start and after every layer. Every route runs this
// schedule through an executor that does the steps on its own representation:
//   solvers.hpp   loops_exec     one realization in per-realization loops (the CPU, SIMD
//                                lanes, a GPU thread, the counting scalar)
//   batched.hpp   phases_exec    a chunk in batch phases (BLAS / cuBLAS GEMMs; a team)
//   lanes.hpp     lanes_exec     one realization by a team of lanes, products in U's
//                                coordinates (a GPU warp)
//   training.hpp  record_exec    the training's forward, every layer's inside on a tape
// An executor supplies
//   ex.metrics(l)        the metrics at the current (W, F) after layer l (l = -1: the start)
//   ex.prepare(l)        steps 1-5 at the current (W, F) with layer l's smoothing constants;
//                        returns a status (a failed factorisation)
//   ex.direction(s)      D(W) at the current W, before step s of the layer
//   ex.step(l, i, s)     step s of layer l, its inner index i: W <- Pi_S(W - beta_{l,i} D /
//                        ||D||_F) (the executor reads beta_{l,i}: the model's table may be
//                        device memory where the schedule runs on the host)
#pragma once
#include "jcas/core/layer.hpp"

namespace jcas::core {

/// One layer l: prepare, then the W-steps (frozen: D once, at the layer's first step).
/// (Inlined on a GPU: the executor, passed by reference, stays out of local memory.)
JCAS_NO_EXEC_CHECK
template <class P, class Exec>
JCAS_HD JCAS_DEVICE_INLINE status unfolded_layer(Exec& ex, const P& p, index_t l) {
  const status st = ex.prepare(l);
  if (st != status::ok) return st;
  index_t s = 0;
  for (index_t rep = 0; rep < p.i_w; ++rep)
    for (index_t i = 0; i < p.l_in; ++i, ++s) {
      if (!p.frozen || s == 0) ex.direction(s);
      ex.step(l, i, s);
    }
  return status::ok;
}

/// Algorithm 1: the metrics at the start, then every layer and the metrics after it.
JCAS_NO_EXEC_CHECK
template <class P, class Exec>
JCAS_HD JCAS_DEVICE_INLINE status unfolded_schedule(Exec& ex, const P& p) {
  ex.metrics(-1);
  for (index_t l = 0; l < p.l_out; ++l) {
    const status st = unfolded_layer(ex, p, l);
    if (st != status::ok) return st;
    ex.metrics(l);
  }
  return status::ok;
}

}  // namespace jcas::core
