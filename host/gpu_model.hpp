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

/// A model of the lanes route (core/lanes.hpp; kernels/unfolded_lanes.cu: a team of g =
/// 8, 16 or 32 lanes per realization, 32 / g realizations a warp, each realization's state
/// in shared memory) on an H200, per realization, from the route's counted critical path
/// for a team of g (lanes_flops: FLOP on the busiest lane of each phase, the barriers)
/// and its shared-memory accesses, which follow from the code (lanes.hpp), per layer:
///   S = L^H W:            R K entries, each 2 Nt loads and a store;
///   Z = diag(d) S - C_A:  the same entries, 3 loads and a store each;
///   D = L Z:              Nt K entries, each 2 R loads and a store;
///   V = W - a D:          the same entries, 2 loads and a store each;
///   the rows' projection: Nt rows, 3 K accesses each;
///   the metrics and steps 1-5: in each of their phases the busiest lane's accesses, read
///                         from the code (a sensing metric's 2 J K + J + K + 3, the core's
///                         3 J^2 + J^3 / 3, ...: gpu_model.cpp);
/// and a team sum (log2 g shuffles) per direction. The 32 / g realizations of a warp run
/// the same instructions at once, so a realization costs g / 32 of each warp instruction
/// of its team: the work its team leaves on one lane shrinks with g, the divided work
/// does not. Counted FLOP become warp instructions at 0.6 a FLOP (a complex multiply-add is 8
/// FLOP in 4 FMA; lone adds and multiplies 1); index arithmetic, loop control and
/// address conversion are not counted: assumed 0.5 instructions per FP or shared-memory
/// instruction. A warp access takes one 128-byte wavefront for each 128 bytes of the
/// distinct entries its lanes touch (the lanes of one realization touch the entries the
/// loops above give them, e.g. S's loads of L min(g, R) columns' entries; those of
/// different realizations lie in different slots): no bank conflicts beyond that count
/// (odd leading dimensions, slots 16 bytes apart modulo 128: core::lanes_slot_stride).
/// The SM's limits: 4 warp-instructions issued a clock, FP32 4 a clock, FP64 2, shared
/// memory one wavefront a clock, shuffles 1. A realization takes the binding limit's
/// cycles on one SM; the SMs reach 60 % of that where they hold 20 warps or more (as the
/// kernel's register bound gives: 24 in float, 20 in double), proportionally less where
/// the blocks' shared memory (slots and views; blocks of 4 warps, or 2 or 1 where 4 do not
/// fit: core::lanes_block_warps) holds fewer. Every one of these
/// numbers is an assumption to be replaced by a measurement (bench/gpu_check.sh).
struct lanes_model {
  int group = 32;         // lanes per realization
  double slot_bytes = 0;  // a realization's slot (its stride in the block)
  int block_warps = 0;    // warps a block (4, or 2 or 1 where 4 do not fit; 0: none fits)
  double warps_per_sm = 0;
  double fp = 0, smem = 0, shfl = 0, syncs = 0, other = 0, instructions = 0;  // warp instructions
  double wavefronts = 0, cycles = 0, per_second = 0;
  const char* bound = "";
};

/// The model of a solve of `layers` layers (l_in, i_w, frozen: the model's) at dims d by
/// teams of lf.warp.lanes lanes, lf counted for that team and those layers.
lanes_model model_lanes(const problem_dims& d, int layers, const lanes_flops& lf, bool f64, int l_in = 3, int i_w = 2,
                        bool frozen = false);

/// Counted FLOP of the lanes route for the unfolded solve of o on realization 0 of cs by a
/// team of `lanes`, at the layers o's model runs at cs.dims: counted at 2 and 3 layers (an
/// untrained model of o's l_in, i_w and gradient) and extrapolated, a layer costing what
/// the third did (the schedule is the same every layer), so that a choice costs
/// milliseconds at any depth.
lanes_flops counted_lanes_extrapolated(const channel_view& cs, const solve_options& o, int lanes);

/// The lanes per realization (8, 16 or 32) for which the model predicts the fastest GPU
/// solve of o on channels like realization 0 of cs (line-of-sight), with the model;
/// remembered per dims, depth and precision. 32 where the count fails (dense channels).
struct lanes_choice {
  int group = 32;
  lanes_model model;
};
lanes_choice choose_lanes_group(const channel_view& cs, const solve_options& o, bool f64);

}  // namespace jcas::host
