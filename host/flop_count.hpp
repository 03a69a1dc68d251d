// Arithmetic per realization, counted rather than modelled: the shared core run with a
// scalar type that counts each floating-point operation it performs. `jcas bench` divides
// its measured throughput by these counts to say how far each figure is from the
// device's FLOP floor.
#pragma once
#include <cmath>
#include <vector>

#include "jcas/api.hpp"

namespace jcas::host {

namespace counting {

inline thread_local long long ops = 0;  // operations counted on this thread so far

/// A double that counts its arithmetic. Converts from double implicitly (so literals
/// and ints mix in as in the core), to double only explicitly.
struct fc {
  double v = 0;
  fc() = default;
  fc(double x) : v(x) {}  // NOLINT: implicit, like a real scalar
  explicit operator double() const { return v; }
  fc& operator+=(fc o) { return ++ops, v += o.v, *this; }
  fc& operator-=(fc o) { return ++ops, v -= o.v, *this; }
  fc& operator*=(fc o) { return ++ops, v *= o.v, *this; }
  fc& operator/=(fc o) { return ++ops, v /= o.v, *this; }
};
inline fc operator+(fc a, fc b) { return ++ops, fc(a.v + b.v); }
inline fc operator-(fc a, fc b) { return ++ops, fc(a.v - b.v); }
inline fc operator*(fc a, fc b) { return ++ops, fc(a.v * b.v); }
inline fc operator/(fc a, fc b) { return ++ops, fc(a.v / b.v); }
inline fc operator-(fc a) { return fc(-a.v); }
inline bool operator<(fc a, fc b) { return a.v < b.v; }
inline bool operator>(fc a, fc b) { return a.v > b.v; }
inline bool operator<=(fc a, fc b) { return a.v <= b.v; }
inline bool operator>=(fc a, fc b) { return a.v >= b.v; }
inline bool operator==(fc a, fc b) { return a.v == b.v; }
inline bool operator!=(fc a, fc b) { return a.v != b.v; }
inline fc sqrt(fc a) { return ++ops, fc(std::sqrt(a.v)); }
inline fc exp(fc a) { return ++ops, fc(std::exp(a.v)); }
inline fc log(fc a) { return ++ops, fc(std::log(a.v)); }
inline fc log1p(fc a) { return ++ops, fc(std::log1p(a.v)); }
inline fc pow(fc a, fc b) { return ++ops, fc(std::pow(a.v, b.v)); }
inline fc fabs(fc a) { return fc(std::fabs(a.v)); }
inline fc fmin(fc a, fc b) { return fc(std::fmin(a.v, b.v)); }
inline fc fmax(fc a, fc b) { return fc(std::fmax(a.v, b.v)); }

}  // namespace counting

/// Real floating-point operations of solve_one (the solver after W0 and F0: the same
/// code on every backend) per realization, averaged over the first `sample`
/// realizations of cs. Counted: each real +, -, *, / (a complex multiply-add is 8) and
/// each sqrt, exp, log, log1p, pow; not counted: comparisons, copies, fabs, fmin.
/// W0 and F0 come from cpu::init_batch with o's settings and are not counted.
double counted_flops(const channel_view& cs, const solve_options& o, long sample = 4);
/// The same for one training step's loss and gradient (core::unfolded_loss_grad: forward
/// and adjoint) per realization, from W0 = MRT and F0 by LAPACK as `jcas bench` trains.
double counted_train_flops(const channel_set& cs, const unfolded_model& model, const system_params<double>& sys,
                           long sample = 2);

/// One realization's work run by a team of `lanes` threads as core/team.hpp divides it
/// (the GPU's warp routes), counted on std::threads that each count their own operations:
/// the arithmetic on its critical path (each phase's busiest thread, summed over the phases
/// between barriers), all of it (with what the team does twice), and its barriers (a team
/// sum counts one, and its butterfly log2(lanes) additions on each thread).
struct team_path {
  int lanes = 0;
  double path = 0, total = 0, barriers = 0;
  std::vector<double> by_mark;  // path by the part a phase ended in (train_part_flops: core::train_part)
};

/// Counted FLOP per realization of one training step (as counted_train_flops) by the part
/// of the step it is spent in, in core::train_part's order: the forward parts once a layer
/// (the backward reads their results from the layer's tape), then the adjoint parts; and
/// the step of the first realization by a team of `lanes` threads (the GPU's warp route).
struct train_part_flops {
  static constexpr int parts = 11;
  static constexpr const char* names[parts] = {
      "metrics",         "prepare",      "receiver_q",        "surrogate",       "direction",         "step",
      "metrics_adjoint", "step_adjoint", "direction_adjoint", "prepare_adjoint", "receiver_q_adjoint"};
  double part[parts] = {};
  team_path warp;
  double total() const {
    double t = 0;
    for (double p : part) t += p;
    return t;
  }
};
/// recompute: the workspace holds one tape and the backward recomputes each layer's inside
/// onto it (as a GPU block with its tape in shared memory does: kernels/train_kernels.cu).
train_part_flops counted_train_parts(const channel_set& cs, const unfolded_model& model,
                                     const system_params<double>& sys, long sample = 2, int lanes = 32,
                                     bool recompute = false);

/// Counted FLOP per realization of the unfolded solver in batch phases (core/batched.hpp:
/// the GPU's gemm and team routes), by the kind of phase: the per-realization phases
/// (which the team route runs on its rank 0 alone), the item phases and sums, and the
/// GEMMs (both shared by a team); and the same phases by a team of `lanes` threads per
/// realization (core::unfolded_team: the GPU's warp route). The solver only, from W0 and
/// F0 as counted_flops takes them, averaged over the first `sample` realizations of cs.
struct phase_flops {
  double per_realization = 0, items = 0, gemm = 0;
  double prepare = 0;  // of per_realization: layer_prepare's (its Cholesky factors)
  team_path warp;
  double total() const { return per_realization + items + gemm; }
  /// The share a team cannot divide among its threads.
  double serial_share() const { return per_realization / total(); }
  /// The team's speed-up over one thread by its counted critical path.
  double team_speedup() const { return total() / warp.path; }
};
phase_flops counted_phase_flops(const channel_set& cs, const solve_options& o, long sample = 1, int lanes = 32);

/// Counted FLOP per realization of the lanes route (core/lanes.hpp, the GPU's warp route
/// for line-of-sight channels) on realization 0 of cs, its start in the route: on one
/// thread (serial), and by a team of `lanes` counting threads (warp: the critical path,
/// each phase's busiest lane summed, and the barriers; a team sum counts one).
struct lanes_flops {
  double serial = 0;
  team_path warp;
};
lanes_flops counted_lanes(const channel_view& cs, const solve_options& o, int lanes = 32);

}  // namespace jcas::host
