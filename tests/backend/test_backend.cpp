// Backend tests, written once and compiled per backend (JCAS_TEST_CUDA selects CUDA).
// Every result is compared with the CPU backend on the same inputs; the CUDA instance
// is labelled `gpu` and skips itself where no device (or driver) is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../random_channels.hpp"
#include "flop_count.hpp"
#include "gpu_model.hpp"
#include "jcas/api.hpp"
#include "jcas/cuda_backend.hpp"
#include "montecarlo.hpp"
#include "training.hpp"

namespace jcas::test {
namespace {

#ifdef JCAS_TEST_CUDA
struct backend {
  static bool available(std::string* why) { return cuda::device_count(why) > 0; }
  static channel_set generate(const scenario& sc, std::uint64_t seed, long first, long n, bool rank_one = false) {
    return cuda::generate_batch(sc, seed, first, n, 0, rank_one);
  }
  static solve_output solve(const channel_set& cs, const solve_options& o) { return cuda::solve_batch(cs, o, 0); }
  static double grad(const channel_set& cs, const std::vector<zd>& w0, const std::vector<zd>& f0,
                     const std::vector<long>& idx, const unfolded_model& m, const system_params<double>& sys,
                     std::vector<double>& g, cuda::train_kernel kernel = cuda::train_kernel::warp) {
    return cuda::loss_and_gradient(cs, w0, f0, idx, m, sys, g, 0, kernel);
  }
  static executor where() { return executor{0}; }
};
#else
struct backend {
  static bool available(std::string*) { return true; }
  static channel_set generate(const scenario& sc, std::uint64_t seed, long first, long n, bool rank_one = false) {
    return cpu::generate_batch(sc, seed, first, n, 1, rank_one);
  }
  static solve_output solve(const channel_set& cs, solve_options o) {
    o.threads = 1;  // against the default (all cores) reference below
    return cpu::solve_batch(cs, o);
  }
  static double grad(const channel_set& cs, const std::vector<zd>& w0, const std::vector<zd>& f0,
                     const std::vector<long>& idx, const unfolded_model& m, const system_params<double>& sys,
                     std::vector<double>& g, cuda::train_kernel = cuda::train_kernel::warp) {
    const auto lg = train::cpu_loss_and_gradient(cs, w0, f0, idx, m, sys, 1);
    g = lg.grad;
    return lg.loss;
  }
  static executor where() { return executor{-1, 1}; }
};
#endif

class Backend : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!backend::available(&why)) GTEST_SKIP() << "no CUDA device: " << why;
  }
};

double max_rel(const std::vector<zd>& a, const std::vector<zd>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, std::abs(a[i] - b[i]));
    den = std::max(den, std::abs(b[i]));
  }
  return num / den;
}

// The CPU backend's entries check this CPU against the level its SIMD island was built
// for (host/cpu_front.cpp) by the same rule as GCC's own x86-64-v3 / v4 test.
TEST(CpuEntries, InstructionSetCheckAgreesWithTheCpu) {
  const bool v4 = std::string(JCAS_X86_LEVEL) == "x86-64-v4";
  const bool has = v4 ? __builtin_cpu_supports("x86-64-v4") : __builtin_cpu_supports("x86-64-v3");
  const std::string error = cpu::instruction_set_error();
  EXPECT_EQ(error.empty(), has) << error;
  if (has) {
    EXPECT_NO_THROW(cpu::require_instruction_set());
  } else {
    EXPECT_NE(error.find(JCAS_X86_LEVEL), std::string::npos) << error;
    EXPECT_THROW(cpu::require_instruction_set(), std::runtime_error);
  }
}

TEST_F(Backend, GeneratorMatchesCpu) {
  scenario sc;
  const channel_set ref = cpu::generate_batch(sc, 11, 5, 77);
  const channel_set got = backend::generate(sc, 11, 5, 77);
  ASSERT_EQ(got.h.size(), ref.h.size());
  EXPECT_LT(max_rel(got.h, ref.h), 1e-12);  // device sin/cos/log differ in the last bits
  EXPECT_LT(max_rel(got.g, ref.g), 1e-12);
  // G drawn as its factors (on a GPU, on the device).
  const channel_set ref1 = cpu::generate_batch(sc, 11, 5, 77, 0, true), got1 = backend::generate(sc, 11, 5, 77, true);
  ASSERT_TRUE(got1.rank_one);
  EXPECT_TRUE(got1.g.empty());
  EXPECT_LT(max_rel(got1.h, got.h), 1e-15);  // the same draw (FMA contraction may differ)
  ASSERT_EQ(got1.gu.size(), ref1.gu.size());
  ASSERT_EQ(got1.gv.size(), ref1.gv.size());
  EXPECT_LT(max_rel(got1.gu, ref1.gu), 1e-12);
  EXPECT_LT(max_rel(got1.gv, ref1.gv), 1e-12);
}

// G as rank-one factors in memory (channel_set::rank_one): the generator's factors
// multiply out to its dense G within rounding, the conversions invert each other, and
// every backend solves a rank-one set as it solves the same channels dense, up to the
// rounding of another factorisation carried through the iterations (measured: 3e-9,
// relative, at most).
TEST_F(Backend, RankOneSetsSolveAsTheirDenseForm) {
  scenario sc;
  sc.dims = {8, 6, 3, 2, 2};
  const channel_set dense = cpu::generate_batch(sc, 13, 4, 21), factors = cpu::generate_batch(sc, 13, 4, 21, 0, true);
  ASSERT_TRUE(factors.rank_one);
  EXPECT_TRUE(factors.g.empty());
  EXPECT_LT(max_rel(factors.h, dense.h), 1e-15);  // the same draw (FMA contraction may differ)
  EXPECT_EQ(factors.gu.size(), size_t(21 * 4 * 6));
  EXPECT_EQ(factors.gv.size(), size_t(21 * 4 * 8));
  EXPECT_LT(max_rel(dense_form(factors).g, dense.g), 4e-16);
  const channel_set refactored = rank_one_form(dense);
  EXPECT_TRUE(refactored.rank_one);
  EXPECT_LT(max_rel(dense_form(refactored).g, dense.g), 2e-15);  // a few units in the last place
  EXPECT_EQ(copy_of(channel_view(factors).slice(5, 3)).gv,
            std::vector<zd>(factors.gv.begin() + 5 * 4 * 8, factors.gv.begin() + 8 * 4 * 8));
  EXPECT_NEAR(channel_set_bytes(sc.dims, 21, true) / channel_set_bytes(sc.dims, 21),
              (8.0 * 3 + 4 * (6 + 8)) / (8.0 * 3 + 4 * 6 * 8), 1e-15);
  for (algorithm a : {algorithm::unfolded, algorithm::ao_monotone, algorithm::ao_backtracking}) {
    solve_options o;
    o.algo = a;
    o.prec = precision::f64;
    const solve_output d = backend::solve(dense, o), f = backend::solve(factors, o);
    ASSERT_EQ(f.objective.size(), d.objective.size());
    for (size_t b = 0; b < d.objective.size(); ++b)
      EXPECT_NEAR(f.objective[b], d.objective[b], 1e-7 * std::abs(d.objective[b]))
          << to_string(a) << ", realization " << b;
  }
  channel_set bad = factors;
  bad.gu.pop_back();
  try {
    validate(bad);
    ADD_FAILURE() << "a short u accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "G's factor u size = 503: expected 504");
  }
  channel_set not_rank_one = dense;
  not_rank_one.g[size_t(2 * dense.g_stride() + 48 + 7)] += zd(0.5, 0);  // realization 2, block 1
  try {
    rank_one_form(not_rank_one);
    ADD_FAILURE() << "a G that is not rank one factored";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(
        e.what(),
        "G of realization 2, block 1: not rank one (to 1e-10, relative), so it has no factors G_j = u_j v_j^H");
  }
}

/// Whether the objectives `got` agree with the CPU backend's `ref` for solver a in
/// precision p as far as another backend's rounding allows. The unfolded solver runs a
/// fixed number of layers, and rounding stays at rounding's size: every realization
/// within 1e-9 (f64) or 2e-2 (f32). The other solvers stop on relative-change rules and
/// iterate long: rounding flips a stop or an accepted step and moves a realization's
/// final objective by up to 40 % in f32 and 0.2 % in f64 (the test below measures it on
/// the CPU), so their criterion is the batch's: the median realization within 1e-6
/// (f64) or 1e-2 (f32), and the mean objective within 1e-3 (f64) or 2e-2 (f32).
::testing::AssertionResult objectives_agree(const std::vector<double>& got, const std::vector<double>& ref, algorithm a,
                                            precision p) {
  if (got.size() != ref.size()) return ::testing::AssertionFailure() << got.size() << " objectives, not " << ref.size();
  const bool f64 = p == precision::f64;
  std::vector<double> rel;
  double sum_got = 0, sum_ref = 0;
  for (size_t b = 0; b < ref.size(); ++b) {
    rel.push_back(std::abs(got[b] - ref[b]) / std::abs(ref[b]));
    sum_got += got[b];
    sum_ref += ref[b];
  }
  if (a == algorithm::unfolded) {
    const double tol = f64 ? 1e-9 : 2e-2;
    for (size_t b = 0; b < rel.size(); ++b)
      if (!(rel[b] <= tol))
        return ::testing::AssertionFailure() << "realization " << b << ": " << got[b] << " against " << ref[b];
    return ::testing::AssertionSuccess();
  }
  std::vector<double> sorted = rel;
  std::nth_element(sorted.begin(), sorted.begin() + long(sorted.size() / 2), sorted.end());
  const double median = sorted[sorted.size() / 2], mean = std::abs(sum_got - sum_ref) / std::abs(sum_ref);
  if (!(median <= (f64 ? 1e-6 : 1e-2)) || !(mean <= (f64 ? 1e-3 : 2e-2)))
    return ::testing::AssertionFailure() << "median relative difference " << median << ", of the mean " << mean;
  return ::testing::AssertionSuccess();
}

/// The solve options of the solver comparisons: long enough that the AO solvers'
/// stopping rules act, short enough for a GPU, which runs a realization's solver on one
/// thread some 1000 times slower than a CPU core (../shared/GPU.md): the default ascent
/// (6 stages of up to 1000 steps from 4 starts, 0.1 s a realization on a CPU core) took
/// Backend.ScratchPlacementsAgreeBitForBit past a minute there. GpuTestsFitTheirBudget
/// holds the GPU tests' predicted time.
solve_options every_solver_options(algorithm a, precision p) {
  solve_options o;
  o.algo = a;
  o.prec = p;
  o.model.l_out = 30;
  o.ao.max_outer = 10;
  o.ascent.stages = 2;
  o.ascent.max_steps = 30;
  o.ascent.starts = start_given | start_zf;
  return o;
}

/// The solves of ScratchPlacementsAgreeBitForBit (on 77 realizations, each twice).
const algorithm scratch_algorithms[] = {algorithm::unfolded, algorithm::ao_backtracking, algorithm::ascent};
solve_options scratch_options(algorithm a, precision p) {
  solve_options o = every_solver_options(a, p);
  o.model.l_out = 20;
  o.f0 = f0_method::lowrank;  // the in-kernel initialisation: the largest scratch
  return o;
}

const algorithm every_algorithm[] = {algorithm::unfolded,  algorithm::ao_fixed,    algorithm::ao_backtracking,
                                     algorithm::heuristic, algorithm::ao_monotone, algorithm::ascent};

TEST_F(Backend, EverySolverMatchesCpuOnAnOddBatch) {
  const channel_set cs = cpu::generate_batch(scenario{}, 3, 0, 37);  // not a multiple of 32
  for (algorithm a : every_algorithm)
    for (precision p : {precision::f64, precision::f32}) {
      const solve_options o = every_solver_options(a, p);
      const solve_output ref = cpu::solve_batch(cs, o), got = backend::solve(cs, o);
      EXPECT_TRUE(objectives_agree(got.objective, ref.objective, a, p))
          << to_string(a) << (p == precision::f32 ? " f32" : " f64");
    }
}

#ifndef JCAS_TEST_CUDA
// The criterion above, checked where it can be: the CPU's own results after a change at
// rounding's size -- the channels multiplied by 1 + 1e-13 (f64) or 1 + 1e-7 (f32) times
// a standard normal, as another backend's arithmetic would differ -- pass it for every
// solver and several draws; the same results with two realizations' objectives swapped
// (what a mixed-up index would give) fail it.
TEST_F(Backend, RoundingSizedChangesPassTheComparisonAndMixUpsFailIt) {
  const channel_set cs = cpu::generate_batch(scenario{}, 3, 0, 37);
  for (precision p : {precision::f64, precision::f32})
    for (algorithm a : every_algorithm) {
      const solve_options o = every_solver_options(a, p);
      const solve_output ref = cpu::solve_batch(cs, o);
      for (std::uint64_t draw = 1; draw <= 3; ++draw) {
        channel_set nudged = cs;
        std::mt19937_64 rng(draw);
        std::normal_distribution<double> z(0, p == precision::f64 ? 1e-13 : 1e-7);
        for (auto* v : {&nudged.h, &nudged.g})
          for (zd& x : *v) x *= 1 + z(rng);
        EXPECT_TRUE(objectives_agree(cpu::solve_batch(nudged, o).objective, ref.objective, a, p))
            << to_string(a) << (p == precision::f32 ? " f32" : " f64") << " draw " << draw;
      }
      std::vector<double> mixed = ref.objective;
      for (size_t b = 0; b + 1 < mixed.size(); b += 2) std::swap(mixed[b], mixed[b + 1]);
      EXPECT_FALSE(objectives_agree(mixed, ref.objective, a, p)) << to_string(a);
    }
}
#endif

#ifndef JCAS_TEST_CUDA
// The GPU tests' time: the solves of the two largest (every solver on 37 realizations,
// ScratchPlacementsAgreeBitForBit's on 77, twice each) predicted from their counted work
// at the watchdog's pessimistic rates (host/gpu_model.hpp: half what the H200 measured)
// stay within 40 s, so that the whole GPU set runs in under a minute there. A test made
// heavier fails here, on the CPU, before it ever times out on a device.
TEST_F(Backend, GpuTestsFitTheirBudget) {
  double seconds = 0;
  const channel_set cs = cpu::generate_batch(scenario{}, 3, 0, 2);
  for (precision p : {precision::f64, precision::f32}) {
    const bool f64 = p == precision::f64;
    for (algorithm a : every_algorithm)
      seconds += host::predicted_gpu_seconds(host::counted_flops(cs, every_solver_options(a, p), 2), 37, f64);
    for (algorithm a : scratch_algorithms)
      seconds += 2 * host::predicted_gpu_seconds(host::counted_flops(cs, scratch_options(a, p), 2), 77, f64);
  }
  EXPECT_LT(seconds, 40) << "the GPU tests' predicted time";
  std::printf("GPU tests' largest solves: predicted %.1f s on an H200 (pessimistic)\n", seconds);
}
#endif

// --f0 lowrank: the CUDA backend computes (W0, F0) in the kernel; the same start as the
// CPU's low-rank route (F up to a phase, which no metric sees), so the same results.
// W0 by MRT or by zero-forcing (the shipped models' start), on every unfolded route.
TEST_F(Backend, InitialisationOnTheDeviceMatchesCpu) {
  const channel_set cs = cpu::generate_batch(scenario{}, 6, 0, 33);
  for (w0_method start : {w0_method::mrt, w0_method::zf})
    for (products_route route :
         {products_route::automatic, products_route::loops, products_route::team, products_route::gemm}) {
      solve_options o;
      o.f0 = f0_method::lowrank;
      o.w0 = start;
      o.products = route;
      o.model.l_out = 20;
      SCOPED_TRACE(std::string(start == w0_method::zf ? "zf " : "mrt ") + to_string(route));
      const solve_output ref = cpu::solve_batch(cs, o), got = backend::solve(cs, o);
      for (long b = 0; b < cs.count; ++b) {
        EXPECT_NEAR(got.objective[b], ref.objective[b], 1e-9 * std::abs(ref.objective[b])) << b;
        EXPECT_NEAR(got.curve[size_t(b) * got.curve_len], ref.curve[size_t(b) * ref.curve_len],
                    1e-10 * std::abs(ref.curve[size_t(b) * ref.curve_len]));
      }
    }
}

// A batch in several device chunks (solve_options::gpu_chunk): on a GPU two chunks in
// turn, their copies staged in pinned memory and made on copy streams while the kernels of
// the other run; the results of one chunk bit for bit, on every unfolded route, with the
// start copied in (lapack) and computed in the kernel (lowrank), rank-one and dense G. A
// negative gpu_chunk is refused naming the field.
TEST_F(Backend, ChunksInTurnGiveTheResultsOfOne) {
  const channel_set los = cpu::generate_batch(scenario{}, 12, 0, 103, 0, true);
  const channel_set dense = dense_random({16, 16, 4, 2, 2}, 37, 5);
  for (const channel_set* cs : {&los, &dense})
    for (f0_method f0 : {f0_method::lapack, f0_method::lowrank})
      for (products_route route :
           {products_route::automatic, products_route::loops, products_route::team, products_route::gemm}) {
        solve_options o;
        o.f0 = f0;
        o.products = route;
        o.prec = precision::f32;
        o.model.l_out = 8;
        const solve_output one = backend::solve(*cs, o);
        o.gpu_chunk = 16;
        long chunks = 0;
        o.progress = [&](long, long) { ++chunks; };
        const solve_output turns = backend::solve(*cs, o);
        const std::string name = std::string(cs->rank_one ? "rank-one " : "dense ") +
                                 (f0 == f0_method::lapack ? "lapack " : "lowrank ") + to_string(route);
        EXPECT_EQ(turns.objective, one.objective) << name;
        EXPECT_EQ(turns.w, one.w) << name;
        EXPECT_EQ(turns.f, one.f) << name;
        EXPECT_EQ(turns.curve, one.curve) << name;
#ifdef JCAS_TEST_CUDA
        EXPECT_EQ(chunks, (cs->count + 15) / 16) << name;  // a progress call a chunk
#endif
      }
  solve_options bad;
  bad.gpu_chunk = -1;
  try {
    backend::solve(los, bad);
    ADD_FAILURE() << "gpu_chunk = -1 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("gpu chunk = -1"), std::string::npos) << e.what();
  }
  bad.gpu_chunk = 0;
  bad.team_lanes = 12;  // a team is 8, 16 or 32 lanes of a warp
  try {
    backend::solve(los, bad);
    ADD_FAILURE() << "team_lanes = 12 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("team lanes = 12"), std::string::npos) << e.what();
  }
}

#ifdef JCAS_TEST_CUDA
// --f0 cusolver: F0 by batched Cholesky, two triangular solves and a batched Hermitian
// eigen-solver on the device; the same pencil and reduction as the CPU's LAPACK zhegv,
// so the same start h(W0, F0) and the same results. Rank-one LoS (the default scenario),
// dense G, and Nr = 48 (beyond the 32 x 32 limit of the Jacobi batched solver).
TEST_F(Backend, CusolverF0MatchesLapack) {
  const channel_set los = cpu::generate_batch(scenario{}, 8, 0, 45);
  for (const channel_set& cs : {los, dense_random({16, 16, 4, 2, 2}, 37, 5), dense_random({48, 48, 8, 2, 2}, 5, 6)})
    for (precision p : {precision::f64, precision::f32}) {
      solve_options o;
      o.prec = p;
      o.model.l_out = 10;
      const solve_output ref = cpu::solve_batch(cs, o);
      o.f0 = f0_method::cusolver;
      const solve_output got = backend::solve(cs, o);
      const double tol = p == precision::f64 ? 1e-9 : 1e-3;
      for (long b = 0; b < cs.count; ++b) {
        const double h0 = ref.curve[size_t(b) * ref.curve_len];
        EXPECT_NEAR(got.curve[size_t(b) * got.curve_len], h0, tol * std::abs(h0)) << "Nr " << cs.dims.nr << " " << b;
        EXPECT_NEAR(got.objective[b], ref.objective[b], tol * std::abs(ref.objective[b])) << b;
      }
    }
}

// The solve kernel's scratch in local memory (the default where it fits, paper sizes)
// and in global memory (solve_options::scratch = global): the same instructions on the
// same data, so the same results bit for bit, f32 and f64, every solver; local for a
// scratch larger than the slot is refused naming the sizes.
TEST_F(Backend, ScratchPlacementsAgreeBitForBit) {
  const channel_set cs = cpu::generate_batch(scenario{}, 21, 0, 77);
  for (precision p : {precision::f64, precision::f32})
    for (algorithm a : scratch_algorithms) {
      solve_options o = scratch_options(a, p);
      o.products = products_route::loops;
      const solve_output local = backend::solve(cs, o);
      o.scratch = scratch_placement::global;
      const solve_output global = backend::solve(cs, o);
      EXPECT_EQ(local.objective, global.objective) << to_string(a);
      EXPECT_EQ(local.w, global.w) << to_string(a);
    }
  solve_options o;
  o.products = products_route::loops;
  o.scratch = scratch_placement::local;
  try {
    backend::solve(dense_random({64, 64, 16, 2, 2}, 2, 3), o);
    ADD_FAILURE() << "a local scratch larger than the slot accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("scratch = local: a realization's scratch"), std::string::npos) << e.what();
  }
}

// Monte Carlo's device pipeline (cuda::solve_drawn, issue 26): channels drawn on the device
// into the solve's own input buffers give the results of the same rank-one draw copied to
// the host and solved from there (cuda::generate_batch + cuda::solve_batch), bit for bit:
// the same generator code, the same rounding to T, the same kernels. Both precisions,
// every unfolded route and an AO baseline; only the results come back; a host start is
// refused naming the field.
TEST_F(Backend, ChannelsDrawnOnTheDeviceSolveAsTheirCopies) {
  scenario sc;
  const long first = 9, n = 45;
  const channel_set cs = cuda::generate_batch(sc, 17, first, n, 0, true);
  for (precision p : {precision::f64, precision::f32})
    for (const auto& [algo, route] : {std::pair{algorithm::unfolded, products_route::automatic},
                                      {algorithm::unfolded, products_route::loops},
                                      {algorithm::unfolded, products_route::team},
                                      {algorithm::unfolded, products_route::gemm},
                                      {algorithm::ao_backtracking, products_route::automatic}}) {
      solve_options o;
      o.algo = algo;
      o.prec = p;
      o.products = route;
      o.f0 = f0_method::lowrank;
      o.model.l_out = 20;
      o.model.w0 = route == products_route::loops ? w0_method::zf : w0_method::mrt;  // both starts
      o.ao.max_outer = 10;
      const std::string name = to_string(algo) + " " + to_string(route) + (p == precision::f32 ? " f32" : " f64");
      const solve_output ref = cuda::solve_batch(cs, o, 0), got = cuda::solve_drawn(sc, 17, first, n, o, 0);
      ASSERT_EQ(got.count, n) << name;
      EXPECT_EQ(got.objective, ref.objective) << name;
      EXPECT_EQ(got.min_sinr, ref.min_sinr) << name;
      EXPECT_EQ(got.min_scnr, ref.min_scnr) << name;
      EXPECT_EQ(got.outer, ref.outer) << name;
      EXPECT_TRUE(got.w.empty() && got.f.empty() && got.curve.empty()) << name;
    }
  solve_options host_start;
  host_start.f0 = f0_method::lapack;
  try {
    cuda::solve_drawn(sc, 17, first, n, host_start, 0);
    ADD_FAILURE() << "a host start accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("f0 = lapack"), std::string::npos) << e.what();
  }
}

// Monte Carlo's statistics on the device (cuda::summarize_drawn; kernels/block_stats.hpp
// by Thrust): a run summarised on the GPU in calls of 128 realizations and merged into a
// tally gives the tally of the same results (cuda::solve_drawn) added one by one on the
// host: the same sample bit for bit, the moments up to rounding.
TEST_F(Backend, ResultsSummarisedOnTheDeviceGiveTheHostsTally) {
  scenario sc;
  const std::uint64_t seed = 21;
  const long first = 3, n = 300;
  for (precision p : {precision::f64, precision::f32}) {
    solve_options o;
    o.prec = p;
    o.f0 = f0_method::lowrank;
    o.model.l_out = 10;
    const solve_output out = cuda::solve_drawn(sc, seed, first, n, o, 0);
    for (long sample : {50L, 1000L}) {
      mc::tally ref, t;
      for (long i = 0; i < n; ++i) ref.add(seed, first + i, out.objective[i], out.min_sinr[i], out.min_scnr[i], sample);
      for (long b0 = 0; b0 < n; b0 += 128)
        for (const mc::block_summary& b :
             cuda::summarize_drawn(sc, seed, first + b0, std::min(128L, n - b0), o, sample, t.entry_key(sample), 0))
          t.merge(b, sample);
      const std::string name = std::string(p == precision::f32 ? "f32" : "f64") + " sample " + std::to_string(sample);
      EXPECT_EQ(t.n, n) << name;
      EXPECT_NEAR(t.mean, ref.mean, 1e-13 * std::abs(ref.mean)) << name;
      EXPECT_NEAR(t.m2, ref.m2, 1e-11 * ref.m2) << name;
      EXPECT_NEAR(t.sum_sinr, ref.sum_sinr, 1e-13 * ref.sum_sinr) << name;
      EXPECT_NEAR(t.sum_scnr, ref.sum_scnr, 1e-13 * ref.sum_scnr) << name;
      EXPECT_EQ(t.sorted_objectives(), ref.sorted_objectives()) << name;
    }
  }
}
#else
TEST_F(Backend, CusolverF0IsRefusedOnTheCpu) {
  const channel_set cs = cpu::generate_batch(scenario{}, 8, 0, 3);
  solve_options o;
  o.f0 = f0_method::cusolver;
  try {
    cpu::solve_batch(cs, o);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("f0 = cusolver"), std::string::npos) << e.what();
  }
}
#endif

// A few realizations through every GPU route and the training kernels: small enough to
// run under compute-sanitizer's memcheck, racecheck and synccheck in seconds
// (bench/gpu_check.sh), and checked against the CPU like the larger tests.
TEST_F(Backend, SanitizerSmoke) {
  const channel_set cs = cpu::generate_batch(scenario{}, 9, 0, 5);
  solve_options o;
  o.model.l_out = 3;
  o.f0 = f0_method::lowrank;
  o.products = products_route::loops;
  const solve_output ref = cpu::solve_batch(cs, o);
  for (products_route r : {products_route::loops, products_route::team, products_route::gemm}) {
    o.products = r;
    const solve_output got = backend::solve(cs, o);
    for (long b = 0; b < cs.count; ++b)
      EXPECT_NEAR(got.objective[b], ref.objective[b], 1e-9 * std::abs(ref.objective[b])) << to_string(r) << " " << b;
  }
  std::vector<zd> w0, f0;
  const system_params<double> sys{};
  cpu::init_batch(cs, sys, f0_method::lapack, w0, f0);
  unfolded_model m;
  m.l_out = 2;
  m.finalize();
  const std::vector<long> idx = {0, 1, 2};
  std::vector<double> g;
  const double loss = backend::grad(cs, w0, f0, idx, m, sys, g);
  const auto want = train::cpu_loss_and_gradient(cs, w0, f0, idx, m, sys, 1);
  EXPECT_NEAR(loss, want.loss, 1e-10 * std::abs(want.loss));
}

TEST_F(Backend, TrainingGradientMatchesCpu) {
  const channel_set cs = cpu::generate_batch(scenario{}, 4, 0, 9);
  const system_params<double> sys{};
  std::vector<zd> w0, f0;
  cpu::init_batch(cs, sys, f0_method::lapack, w0, f0);
  unfolded_model m;
  m.l_out = 8;
  m.finalize();
  // 37 realizations (not a multiple of a block's 4 warps or of a warp's 32 threads), in
  // a scrambled order with repeats.
  std::vector<long> idx;
  for (long i = 0; i < 37; ++i) idx.push_back(i * 5 % 9);
  const auto ref = train::cpu_loss_and_gradient(cs, w0, f0, idx, m, sys, 0);
  // On the GPU every training kernel (kernels/train_kernels.cu): a warp per realization,
  // the default (its tape in shared memory, recomputed in the backward), a warp with every
  // layer's tape kept in global memory, and a thread per realization.
  for (cuda::train_kernel kernel :
       {cuda::train_kernel::warp, cuda::train_kernel::warp_global, cuda::train_kernel::thread}) {
    const char* route = kernel == cuda::train_kernel::warp          ? "warp"
                        : kernel == cuda::train_kernel::warp_global ? "warp-global"
                                                                    : "thread";
    std::vector<double> g;
    const double loss = backend::grad(cs, w0, f0, idx, m, sys, g, kernel);
    EXPECT_NEAR(loss, ref.loss, 1e-10 * std::abs(ref.loss)) << route;
    ASSERT_EQ(g.size(), ref.grad.size());
    for (size_t i = 0; i < g.size(); ++i)
      EXPECT_NEAR(g[i], ref.grad[i], 1e-8 * std::abs(ref.grad[i]) + 1e-12) << route << " " << i;
  }
}

// train::run on the backend (on a GPU its steps queued on the device an epoch at a time,
// the gradient summed and Adam applied there: cuda::trainer) against the CPU's loop: the
// same model up to rounding after two epochs of steps of 16, 16 and 8 realizations; on the
// backend, the run resumed from its first epoch's checkpoint and a run stopped in the
// second epoch give the uninterrupted run's model bit for bit and the old loop's (each
// step's gradient from the backend, Adam on the host) up to rounding.
TEST_F(Backend, TrainingRunMatchesTheCpuLoop) {
  const channel_set cs = cpu::generate_batch(scenario{}, 12, 0, 40);
  const system_params<double> sys{};
  train::settings s;
  s.epochs = 2;
  s.batch = 16;
  s.lr = 1e-3;
  s.mu_lr_factor = 100;
  unfolded_model m;
  m.l_out = 4;
  m.per_layer_mu = true;
  m.finalize();
  const auto run = [&](const executor& ex, const train::settings& st, train::checkpoint c,
                       const train::callbacks& cb = {}) {
    if (c.model.beta.empty()) c.model = m;
    train::run(cs, sys, st, c, cb, ex);
    return c;
  };
  const train::checkpoint ref = run(executor{-1, 1}, s, {}), got = run(backend::where(), s, {});
  const auto close = [](const std::vector<double>& a, const std::vector<double>& b, double tol, const char* what) {
    ASSERT_EQ(a.size(), b.size()) << what;
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol * std::abs(b[i]) + 1e-15) << what << " " << i;
  };
  close(train::pack(got.model), train::pack(ref.model), 1e-9, "parameters");
  close(got.opt.m, ref.opt.m, 1e-7, "first moments");
  EXPECT_EQ(got.opt.step, 6);
  ASSERT_EQ(got.log.size(), ref.log.size());
  for (size_t i = 0; i < got.log.size(); ++i) {
    EXPECT_EQ(got.log[i].batch, ref.log[i].batch);
    EXPECT_NEAR(got.log[i].loss, ref.log[i].loss, 1e-10 * std::abs(ref.log[i].loss)) << "log row " << i;
  }
  // Resumed after its first epoch: the uninterrupted run, bit for bit.
  train::settings one = s;
  one.epochs = 1;
  const train::checkpoint resumed = run(backend::where(), s, run(backend::where(), one, {}));
  EXPECT_EQ(train::pack(resumed.model), train::pack(got.model));
  EXPECT_EQ(resumed.opt.v, got.opt.v);
  // Stopped after the second epoch's second batch: the model, moments and log as of it.
  train::callbacks cb;
  int polls = 0;
  cb.stop = [&] { return ++polls == 5; };
  train::checkpoint stopped_at;
  stopped_at.model = m;
  EXPECT_THROW(train::run(cs, sys, s, stopped_at, cb, backend::where()), stopped);
  EXPECT_EQ(stopped_at.opt.step, 5);
  EXPECT_EQ(stopped_at.log.size(), size_t(3 + 1 + 2));
  train::settings host_loop = s;
  host_loop.device_steps = false;
  polls = 0;
  train::checkpoint host_at;
  host_at.model = m;
  EXPECT_THROW(train::run(cs, sys, host_loop, host_at, cb, backend::where()), stopped);
  close(train::pack(stopped_at.model), train::pack(host_at.model), 1e-12, "stopped: parameters");
  close(stopped_at.opt.v, host_at.opt.v, 1e-10, "stopped: second moments");
}

// Models trained side by side, each run in a host thread of its own (`jcas train` with
// several --out files): on a GPU each trainer's steps run on its own stream, and the runs
// overlap on the device. Each model is the one trained alone, bit for bit: nothing of one
// run reaches another (a missing wait between a trainer's stream and the legacy stream of
// the other's uploads and frees would show here as a changed model or a device fault).
TEST_F(Backend, ModelsTrainedSideBySideAreEachTheOneTrainedAlone) {
  const channel_set cs = cpu::generate_batch(scenario{}, 31, 0, 24);
  train::settings s;
  s.epochs = 3;
  s.batch = 8;
  s.lr = 1e-3;
  struct job {
    double delta;
    int iw;
    train::checkpoint c;
  };
  std::vector<job> alone{{1, 2, {}}, {10, 4, {}}, {1, 4, {}}};
  const auto train_one = [&](job& j, const executor& ex) {
    system_params<double> sys;
    sys.delta = j.delta;
    j.c.model.l_out = 3;
    j.c.model.i_w = j.iw;
    j.c.model.finalize();
    train::run(cs, sys, s, j.c, {}, ex);
  };
  for (job& j : alone) train_one(j, backend::where());
  std::vector<job> together = alone;
  for (job& j : together) j.c = {};
  std::vector<std::string> failed(together.size());
  std::vector<std::thread> team;
  for (size_t i = 0; i < together.size(); ++i)
    team.emplace_back([&, i] {
      try {
        train_one(together[i], executor{backend::where().device, 1});
      } catch (const std::exception& e) {
        failed[i] = e.what();
      }
    });
  for (std::thread& t : team) t.join();
  for (size_t i = 0; i < alone.size(); ++i) {
    SCOPED_TRACE("model " + std::to_string(i));
    ASSERT_EQ(failed[i], "");
    EXPECT_EQ(together[i].c.opt.step, 9);
    EXPECT_EQ(train::pack(together[i].c.model), train::pack(alone[i].c.model));
    EXPECT_EQ(together[i].c.opt.v, alone[i].c.opt.v);
    ASSERT_EQ(together[i].c.log.size(), alone[i].c.log.size());
    for (size_t r = 0; r < alone[i].c.log.size(); ++r) EXPECT_EQ(together[i].c.log[r].loss, alone[i].c.log[r].loss);
  }
  EXPECT_NE(train::pack(alone[0].c.model), train::pack(alone[1].c.model));  // the runs differ, so a mix-up shows
}

// Fresh epochs (settings::fresh) with callbacks::epoch_draw: on a GPU the device draws
// each epoch's realizations where the steps run and computes their start there (F0 by the
// rank-one closed form), and epoch_data is not called; the model is the one trained on
// the same realizations drawn on the host and copied (LAPACK's F0), up to rounding and F0's
// phase, which no metric sees. On the CPU epoch_draw is not used: the same run bit for bit.
TEST_F(Backend, FreshEpochsDrawnWhereTheStepsRunTrainAsCopiedOnes) {
  const scenario sc;
  const long n = 24;
  const channel_set first = cpu::generate_batch(sc, 21, 0, n);
  const system_params<double> sys{};
  train::settings s;
  s.epochs = 3;
  s.batch = 8;
  s.fresh = true;
  s.lr = 1e-3;
  for (w0_method start : {w0_method::mrt, w0_method::zf}) {
    SCOPED_TRACE(start == w0_method::zf ? "zf" : "mrt");
    unfolded_model m;
    m.l_out = 3;
    m.w0 = start;
    m.finalize();
    int copies = 0;
    train::callbacks copied, drawn;
    copied.epoch_data = [&](int e) { return cpu::generate_batch(sc, 21, long(e) * n, n); };
    drawn.epoch_data = [&](int e) {
      ++copies;
      return cpu::generate_batch(sc, 21, long(e) * n, n);
    };
    drawn.epoch_draw = [&](int e) { return train::epoch_draw_spec{sc, 21, long(e) * n}; };
    train::checkpoint a, b;
    a.model = b.model = m;
    train::run(first, sys, s, a, copied, backend::where());
    train::run(first, sys, s, b, drawn, backend::where());
    const std::vector<double> ta = train::pack(a.model), tb = train::pack(b.model);
    ASSERT_EQ(ta.size(), tb.size());
#ifdef JCAS_TEST_CUDA
    EXPECT_EQ(copies, 0);
    for (size_t i = 0; i < ta.size(); ++i) EXPECT_NEAR(tb[i], ta[i], 1e-7 * std::abs(ta[i]) + 1e-12) << i;
#else
    EXPECT_EQ(copies, 2);
    EXPECT_EQ(tb, ta);
#endif
    EXPECT_EQ(b.log.size(), a.log.size());
  }
}

TEST_F(Backend, LargeArraysDenseChannels) {
  // Nt = Nr = 64, K = 16: one realization is far larger than a thread block's shared
  // memory; dense (not rank-one) G exercises the general channel path. Every route of
  // the products (loops in the per-realization core; batched GEMMs, cuBLAS on the GPU; a
  // team per realization, on the GPU a warp with its slot in global memory here).
  const channel_set cs = dense_random({64, 64, 16, 2, 2}, 3, 1);
  solve_options o;
  o.model.l_out = 5;
  o.products = products_route::loops;
  const solve_output ref = cpu::solve_batch(cs, o);
  for (products_route r :
       {products_route::loops, products_route::gemm, products_route::team, products_route::automatic}) {
    o.products = r;
    const solve_output got = backend::solve(cs, o);
    for (long b = 0; b < cs.count; ++b)
      EXPECT_NEAR(got.objective[b], ref.objective[b], 1e-9 * std::abs(ref.objective[b])) << to_string(r) << " " << b;
  }
}

// The lanes route (core/lanes.hpp; on the GPU a warp per realization with its state in
// shared memory, the default for line-of-sight channels): against the CPU's
// per-realization loops on 37 realizations, float and double, full and frozen gradient,
// the richer per-layer-mu model, the start given (LAPACK's F0) and computed in the route,
// at the paper's sizes, at K = 12 and at odd sizes; and the refusal of dense channels.
TEST_F(Backend, LanesRouteMatchesCpu) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> beta(0.005, 0.05), mu(5, 60);
  unfolded_model m;
  m.l_out = 12;
  m.per_layer_mu = true;
  for (int i = 0; i < m.l_out * m.l_in; ++i) m.beta.push_back(beta(rng));
  for (int l = 0; l < m.l_out; ++l) {
    m.mu_c_layer.push_back(mu(rng));
    m.mu_s_layer.push_back(mu(rng));
  }
  for (const problem_dims& d :
       {problem_dims{16, 16, 4, 2, 2}, problem_dims{16, 16, 12, 2, 2}, problem_dims{9, 7, 3, 1, 2}})
    for (bool frozen : {false, true})
      for (precision p : {precision::f64, precision::f32})
        for (f0_method f0 : {f0_method::lapack, f0_method::lowrank}) {
          scenario sc;
          sc.dims = d;
          const channel_set cs = cpu::generate_batch(sc, 13, 0, 37);
          solve_options o;
          o.model = m;
          o.model.frozen = frozen;
          o.prec = p;
          o.f0 = f0;
          o.products = products_route::loops;
          const solve_output ref = cpu::solve_batch(cs, o);
          o.products = products_route::lanes;
          const solve_output got = backend::solve(cs, o);
          const double tol = p == precision::f64 ? 1e-9 : 2e-3;
          SCOPED_TRACE(testing::Message() << "Nt " << d.nt << " K " << d.k << (frozen ? " frozen" : "")
                                          << (p == precision::f32 ? " f32" : " f64")
                                          << (f0 == f0_method::lowrank ? " start in the route" : ""));
          for (long b = 0; b < cs.count; ++b) {
            EXPECT_NEAR(got.objective[b], ref.objective[b], tol * std::abs(ref.objective[b])) << b;
            const double h0 = ref.curve[size_t(b) * ref.curve_len];
            EXPECT_NEAR(got.curve[size_t(b) * got.curve_len], h0, tol * std::abs(h0)) << b;
          }
          EXPECT_LT(max_rel(got.w, ref.w), p == precision::f64 ? 1e-8 : 2e-2);
        }
  solve_options o;
  o.products = products_route::lanes;
  try {
    backend::solve(dense_random({16, 16, 4, 2, 2}, 5, 2), o);
    ADD_FAILURE() << "dense channels accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("products = lanes: needs line-of-sight"), std::string::npos) << e.what();
  }
}

// Teams of 8 and 16 lanes (2 and 4 realizations a warp, kernels/unfolded_lanes.cu) give
// what a warp each gives, on a batch that leaves the last warp part empty, in both
// precisions.
TEST_F(Backend, LanesTeamsOfEverySizeAgree) {
  for (const problem_dims& d : {problem_dims{16, 16, 4, 2, 2}, problem_dims{9, 7, 3, 1, 2}}) {
    scenario sc;
    sc.dims = d;
    const channel_set cs = cpu::generate_batch(sc, 17, 0, 29);
    for (precision p : {precision::f64, precision::f32}) {
      solve_options o;
      o.model.l_out = 10;
      o.prec = p;
      o.f0 = f0_method::lowrank;
      o.products = products_route::lanes;
      o.team_lanes = 32;
      const solve_output warp = backend::solve(cs, o);
      for (int g : {16, 8}) {
        o.team_lanes = g;
        const solve_output got = backend::solve(cs, o);
        SCOPED_TRACE(testing::Message() << "Nt " << d.nt << " K " << d.k << " team of " << g
                                        << (p == precision::f32 ? " f32" : " f64"));
        // Each team sums ||D||^2 in its own butterfly order: rounding, a little amplified.
        const double tol = p == precision::f64 ? 1e-10 : 1e-3;
        for (long b = 0; b < cs.count; ++b) {
          EXPECT_EQ(got.outer[b], warp.outer[b]) << b;
          EXPECT_NEAR(got.objective[b], warp.objective[b], tol * std::abs(warp.objective[b])) << b;
        }
        EXPECT_LT(max_rel(got.w, warp.w), p == precision::f64 ? 1e-9 : 1e-2);
      }
    }
  }
}

TEST_F(Backend, GemmRouteMatchesCpuOnAnOddBatch) {
  // The unfolded solver by batch phases (core/batched.hpp): the products of D(W) as
  // batched GEMMs, and the same phases by a team per realization (core/team.hpp; on the
  // GPU a warp, its state in shared memory); the richer per-layer-mu model, full and
  // frozen gradient, float and double, against the CPU's per-realization loops; 37
  // realizations (not a multiple of 32, nor of the team kernel's warps per block).
  const channel_set cs = cpu::generate_batch(scenario{}, 12, 0, 37);
  unfolded_model m;
  m.l_out = 15;
  m.per_layer_mu = true;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> beta(0.005, 0.05), mu(5, 60);
  for (int i = 0; i < m.l_out * m.l_in; ++i) m.beta.push_back(beta(rng));
  for (int l = 0; l < m.l_out; ++l) {
    m.mu_c_layer.push_back(mu(rng));
    m.mu_s_layer.push_back(mu(rng));
  }
  for (bool frozen : {false, true})
    for (precision p : {precision::f64, precision::f32}) {
      solve_options o;
      o.model = m;
      o.model.frozen = frozen;
      o.prec = p;
      o.products = products_route::loops;
      const solve_output ref = cpu::solve_batch(cs, o);
      for (products_route r : {products_route::gemm, products_route::team}) {
        SCOPED_TRACE(to_string(r));
        o.products = r;
        const solve_output got = backend::solve(cs, o);
        const double tol = p == precision::f64 ? 1e-9 : 1e-3;
        for (long b = 0; b < cs.count; ++b) {
          EXPECT_NEAR(got.objective[b], ref.objective[b], tol * std::abs(ref.objective[b])) << b;
          for (int l = 0; l < ref.curve_len; ++l) {
            const double h = ref.curve[size_t(b) * ref.curve_len + l];
            EXPECT_NEAR(got.curve[size_t(b) * ref.curve_len + l], h, tol * std::abs(h)) << b << " layer " << l;
          }
        }
        EXPECT_LT(max_rel(got.w, ref.w), p == precision::f64 ? 1e-8 : 1e-2);
      }
    }
  // --f0 lowrank: on the GPU the start is computed in the chunk (phase_init).
  solve_options o;
  o.model = m;
  o.f0 = f0_method::lowrank;
  o.products = products_route::loops;
  const solve_output ref = cpu::solve_batch(cs, o);
  for (products_route r : {products_route::gemm, products_route::team}) {
    o.products = r;
    const solve_output got = backend::solve(cs, o);
    for (long b = 0; b < cs.count; ++b)
      EXPECT_NEAR(got.objective[b], ref.objective[b], 1e-9 * std::abs(ref.objective[b]))
          << "lowrank " << to_string(r) << " " << b;
  }
}

}  // namespace
}  // namespace jcas::test
