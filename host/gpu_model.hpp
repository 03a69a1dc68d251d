// What a CUDA solve is predicted to take, from its counted work (host/flop_count.hpp) and
// rates measured on an H200 (../shared/GPU.md, 2026-12-04): the watchdog's basis
// (host/watchdog.hpp) and the GPU tests' time budget (tests/backend/test_backend.cpp).
// Deliberately pessimistic -- a limit built on it must never stop healthy work.
#pragma once
#include <cmath>

#include "flop_count.hpp"

namespace jcas::host {

/// FLOP/s one thread retires running the shared core for its realization, as the
/// thread-per-realization kernel did on the H200: 11.73 MFLOP (the paper's unfolded
/// solve) in about 0.55 s of kernel time a thread in f32 and 0.87 s in f64 (two waves of
/// about 50,000 threads in 1.1 / 1.75 s); halved here, so that slower devices and
/// routes stay inside a prediction.
constexpr double thread_flops_f32 = 10e6, thread_flops_f64 = 6.5e6;
/// Realizations the device runs at once (132 SMs x 384 threads on the H200).
constexpr double realizations_in_flight = 50000;

/// Predicted seconds of a CUDA solve of n realizations of `flops` counted work each:
/// waves of realizations_in_flight threads, each wave as long as one thread's work.
inline double predicted_gpu_seconds(double flops, long n, bool f64) {
  const double waves = std::ceil(double(n < 1 ? 1 : n) / realizations_in_flight);
  return waves * flops / (f64 ? thread_flops_f64 : thread_flops_f32);
}

}  // namespace jcas::host

namespace jcas::host {

/// A model of the lanes route (core/lanes.hpp: a warp per realization, its state in
/// shared memory) on an H200, per realization, from the route's counted critical path
/// (lanes_flops: FLOP on the busiest lane of each phase, the barriers) and its loops'
/// shared-memory accesses, which follow from the code (lanes.hpp):
///   a W-step's S = L^H W:  ceil(RK/32) entries a lane, each 2 Nt loads and a store
///   Z = diag(d) S - C_A:   the same entries, 3 loads and a store each
///   D = L Z:               ceil(Nt K/32) entries a lane, 2 R loads and a store each
///   V = W - a D:           the same entries, 2 loads and a store each
///   the rows' projection:  ceil(Nt/32) rows a lane, 3 K accesses each
///   lead lane, a layer:    the metrics and steps 1-5, some 4 (K^2 + MJK) + 6 M J^2 +
///                          2 RK + 20 (K + M) accesses (an estimate from the loops)
/// and a team sum (5 shuffles) per direction. Counted FLOP become warp instructions at
/// 0.6 a FLOP (a complex multiply-add is 8 FLOP in 4 FMA; lone adds and multiplies 1);
/// index arithmetic, loop control and address conversion are not counted: assumed 0.5
/// instructions per FP or shared-memory instruction. The SM's limits: 4 warp-instructions
/// issued a clock, FP32 4 a clock, FP64 2, shared memory one 128-byte wavefront a clock,
/// shuffles 1. A team access takes 1.1 wavefronts in float on average (its loads reach at
/// most 16 distinct complex<float> of 8 bytes, one wavefront, the broadcasts fewer; the
/// stores of 32 distinct entries two) and 1.6 in double (16-byte entries); the lead
/// lane's one. A realization takes the binding limit's cycles on one SM, and the SMs
/// reach 60 % of that (latency not hidden by the 20-24 warps an SM holds). Every one of
/// these numbers is an assumption to be replaced by a measurement (bench/gpu_check.sh).
struct lanes_model {
  double slot_bytes = 0;
  double fp = 0, smem = 0, shfl = 0, syncs = 0, other = 0, instructions = 0;  // warp instructions
  double wavefronts = 0, cycles = 0, per_second = 0;
  const char* bound = "";
};

inline lanes_model model_lanes(const problem_dims& d, int layers, const lanes_flops& lf, bool f64, int l_in = 3,
                               int i_w = 2, bool frozen = false) {
  const auto up = [](double a, double b) { return std::ceil(a / b); };
  const double nt = d.nt, k = d.k, j = d.j(), m = d.m, r = k + j, steps = double(l_in) * i_w;
  const double es = up(r * k, 32), ed = up(nt * k, 32), en = up(nt, 32);
  const double directions = frozen ? 1 : steps;
  const double team = steps * (en * 3 * k + ed * 3)                // V and the rows, every step
                      + directions * (es * 4 + ed * (2 * r + 1))   // Z and D
                      + (frozen ? 1 : steps) * es * (2 * nt + 1);  // S
  const double lead = 4 * (k * k + m * j * k) + 6 * m * j * j + 2 * r * k + 20 * (k + m);
  lanes_model md;
  md.slot_bytes = double(f64 ? 16 : 8) * (up(nt, 2) * 2 + 1) * (r + 2 * k);  // L, W, D: the bulk
  md.fp = 0.6 * lf.warp.path;
  md.smem = layers * (team + lead);
  md.shfl = 5.0 * layers * directions;
  md.syncs = lf.warp.barriers - layers * directions;
  md.other = 0.5 * (md.fp + md.smem);
  md.instructions = md.fp + md.smem + md.shfl + md.syncs + md.other;
  md.wavefronts = layers * (team * (f64 ? 1.6 : 1.1) + lead);
  const double issue = md.instructions / 4, fp = md.fp / (f64 ? 2.0 : 4.0);
  md.cycles = issue;
  md.bound = "issue";
  if (fp > md.cycles) md.cycles = fp, md.bound = f64 ? "fp64" : "fp32";
  if (md.wavefronts > md.cycles) md.cycles = md.wavefronts, md.bound = "smem";
  if (md.shfl > md.cycles) md.cycles = md.shfl, md.bound = "shfl";
  constexpr double sms = 132, clock = 1.98e9, efficiency = 0.6;
  md.per_second = efficiency * sms * clock / md.cycles;
  return md;
}

}  // namespace jcas::host
