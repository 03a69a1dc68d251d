// One realization's unfolded inference run by a team of threads together (DESIGN.md: one
// thread block, or one warp, per realization with its state in shared memory): the batch
// phases of core/batched.hpp -- the same code as the batched-GEMM route, in the same
// order -- on a chunk of one realization. The team shares each item phase (an entry of W
// or of S per thread), each product (an entry of C per thread) and each sum (a team
// reduction), layer_prepare's stages among them (core/layer.hpp); the per-realization
// phases (the metrics' scalars, O(K^2 + M J K), and the receiver's Cholesky factor, J x J
// for rank-one G) run on the team's rank 0 while the others wait.
//
// A Team supplies rank(), size(), sync() (a barrier that also orders memory between the
// team's threads) and sum(x) (every rank's x added, the same total returned to every
// rank, deterministically for a given team size). serial_team is the team of one; the
// CUDA warp team is in kernels/warp_team.cuh; the tests run a team of std::threads.
#pragma once
#include <type_traits>

#include "jcas/core/batched.hpp"

namespace jcas::core {

/// The team of one thread: every executor operation runs plainly.
struct serial_team {
  JCAS_HD static constexpr int rank() { return 0; }
  JCAS_HD static constexpr int size() { return 1; }
  JCAS_HD static void sync() {}
  template <class T>
  JCAS_HD static T sum(T x) {
    return x;
  }
};

template <class Team>
constexpr bool is_serial_team = std::is_same_v<Team, serial_team>;

/// fn() on rank 0, then a barrier: a piece the team does not divide.
JCAS_NO_EXEC_CHECK
template <class Team, class Fn>
JCAS_HD inline void on_lead(const Team& team, const Fn& fn) {
  if (team.rank() == 0) fn();
  team.sync();
}

/// fn(e) for e in [0, n), divided over the team, then a barrier.
JCAS_NO_EXEC_CHECK
template <class Team, class Fn>
JCAS_HD inline void team_items(const Team& team, long n, const Fn& fn) {
  for (long e = team.rank(); e < n; e += team.size()) fn(e);
  team.sync();
}

/// The executor of unfolded_batched for a chunk of one realization (count 1), called by
/// every thread of the team with the same arguments. Each operation ends with a barrier,
/// so the next phase sees everything this one wrote.
template <class Team>
struct team_exec {
  Team team;

  JCAS_NO_EXEC_CHECK
  template <class Fn>
  JCAS_HD void for_each(long n, const Fn& fn) const {
    on_lead(team, [&] {
      for (long b = 0; b < n; ++b) fn(b);
    });
  }
  JCAS_NO_EXEC_CHECK
  template <class Fn>
  JCAS_HD void for_each_item(long n, long items, const Fn& fn) const {
    for (long b = 0; b < n; ++b) phase_items(fn, b, team.rank(), items, team.size());
    team.sync();
  }
  JCAS_NO_EXEC_CHECK
  template <class Fn, class Store>
  JCAS_HD void sum_each(long n, long items, const Fn& fn, const Store& store) const {
    for (long b = 0; b < n; ++b) {
      decltype(fn(b, 0L)) s = 0;
      for (long i = team.rank(); i < items; i += team.size()) s += fn(b, i);
      s = team.sum(s);
      if (team.rank() == 0) store(b, s);
    }
    team.sync();
  }
  /// C = op(A) B + beta C, one entry of C per thread at a time (consecutive ranks on
  /// consecutive rows: neighbouring threads read neighbouring entries of A or B).
  template <class T>
  JCAS_HD void gemm(const gemm_batch<T>& g) const {
    const long mn = long(g.m) * g.n;
    for (long b = 0; b < g.count; ++b)
      for (long e = team.rank(); e < mn; e += team.size()) gemm_entry(g, b, e);
    team.sync();
  }
};

/// Bytes of a team's slot for one realization of c (after c.size_scratch()): the chunk's
/// scratch slice (ws_bytes), then copies of its H, its rank-one factors (room for them
/// whether or not the channels are rank one; dense G is read where it lies) and its
/// W | F, so that every phase reads the team's own fast memory.
template <class T>
JCAS_HD inline long team_slot_bytes(const chunk<T>& c) {
  const problem_dims& d = c.d;
  const long n = long(d.nt) * d.k + long(d.nr + d.nt) * d.j() + c.wf_len();
  return c.ws_bytes + long(sizeof(cplx<T>)) * n;
}

/// Algorithm 1 on realization b of c by the team (every rank calls it with the same
/// arguments): stages the realization's inputs and W | F into `slot`
/// (team_slot_bytes(c) bytes, 16-byte aligned), runs the batch phases with team_exec,
/// writes W | F back. Curve, results and status go to c's arrays as in the batched route.
JCAS_NO_EXEC_CHECK
template <class T, class Team>
JCAS_HD void unfolded_team(const Team& team, const chunk<T>& c, long b, char* slot) {
  chunk<T> o = c.one(b, slot);
  cplx<T>* at = reinterpret_cast<cplx<T>*>(slot + c.ws_bytes);  // ws_bytes is a multiple of 16
  const auto stage = [&](const cplx<T>* src, long n) {
    for (long i = team.rank(); i < n; i += team.size()) at[i] = src[i];
    cplx<T>* copy = at;
    at += n;
    return copy;
  };
  const problem_dims& d = c.d;
  o.h = stage(o.h, long(d.nt) * d.k);
  if (c.rank1) {
    o.u = stage(o.u, long(d.nr) * d.j());
    o.v = stage(o.v, long(d.nt) * d.j());
  }
  cplx<T>* const wf_out = o.wf;
  o.wf = stage(o.wf, c.wf_len());
  team.sync();
  team_exec<Team> ex{team};
  unfolded_batched(ex, o);  // ends with a barrier
  for (long i = team.rank(); i < c.wf_len(); i += team.size()) wf_out[i] = o.wf[i];
}

}  // namespace jcas::core
