// The counted arithmetic behind `jcas bench`'s distance to the FLOP floor: the counting
// scalar counts a known primitive exactly, and the unfolded solver's count has the
// structure of Algorithm 1 (the same cost in every layer; the frozen variant saves
// exactly the repeated evaluations of D(W)).
#include <gtest/gtest.h>

#include "flop_count.hpp"
#include "gpu_model.hpp"
#include "jcas/core/layer.hpp"
#include "jcas/core/training.hpp"

namespace jcas::test {
namespace {

using host::counting::fc;

TEST(FlopCount, ComplexDotIsEightPerEntry) {
  std::vector<cplx<fc>> a(7, cplx<fc>(1.5, -2)), b(7, cplx<fc>(0.5, 3));
  host::counting::ops = 0;
  const cplx<fc> s = core::dotc<fc>(7, a.data(), b.data());
  // 8 per entry (4 multiplies, 2 adds in conj(a) b, 2 to accumulate) and 3 complex adds
  // that join dotc's four partial sums.
  EXPECT_EQ(host::counting::ops, 8 * 7 + 2 * 3);
  EXPECT_DOUBLE_EQ(double(s.re), 7 * (1.5 * 0.5 + -2.0 * 3));  // and the value is still right
}

solve_options unfolded(index_t l_out, bool frozen) {
  solve_options o;
  o.model.l_out = l_out;
  o.model.frozen = frozen;
  return o;
}

TEST(FlopCount, UnfoldedCostIsTheSameInEveryLayer) {
  const channel_set cs = cpu::generate_batch(scenario{}, 3, 0, 2);
  const double c2 = host::counted_flops(cs, unfolded(2, false), 2), c3 = host::counted_flops(cs, unfolded(3, false), 2),
               c5 = host::counted_flops(cs, unfolded(5, false), 2);
  EXPECT_GT(c3, c2);
  EXPECT_DOUBLE_EQ(c5 - c3, 2 * (c3 - c2));
}

/// One D(W) evaluation (g and the direction) on a surrogate of `cols` columns, counted on
/// its own with the same counter.
double counted_direction(const problem_dims& d, index_t cols) {
  std::vector<char> buf(1 << 16);
  arena ar{buf.data()};
  core::surrogate<fc> sur;
  sur.carve(ar, d);
  sur.l.cols = cols;
  for (index_t r = 0; r < sur.l.cols; ++r) {
    sur.d[r] = 0.5 + r;
    for (index_t n = 0; n < d.nt; ++n) sur.l(n, r) = sur.lh(r, n) = cplx<fc>(0.1 * n, -0.2 * r);
  }
  std::vector<cplx<fc>> w(size_t(d.nt) * d.k, cplx<fc>(0.3, 0.1)), dir(w.size());
  host::counting::ops = 0;
  core::surrogate_eval<fc>(sur, core::cview<fc>(w.data(), d.nt, d.k), core::mview<fc>(dir.data(), d.nt, d.k));
  return double(host::counting::ops);
}

TEST(FlopCount, FrozenSavesExactlyTheRepeatedDirectionEvaluations) {
  const channel_set cs = cpu::generate_batch(scenario{}, 3, 0, 2);
  const index_t l_out = 4;
  const double full = host::counted_flops(cs, unfolded(l_out, false), 2),
               frozen = host::counted_flops(cs, unfolded(l_out, true), 2);
  const problem_dims d = cs.dims;
  const double eval = counted_direction(d, d.k + d.j());  // the merged rank-one surrogate
  EXPECT_GT(eval, 16.0 * d.nt * (d.k + d.j()) * d.k);     // the two products alone
  const solve_options o;
  const double repeated = double(l_out) * (o.model.l_in * o.model.i_w - 1);
  EXPECT_DOUBLE_EQ(full - frozen, repeated * eval);
}

// The batch phases' count by kind of phase (what bounds the team route's speed-up): each
// layer adds the same to every kind, and to the GEMMs exactly the products batched.hpp
// names: per D(W) evaluation L^H W (R x K over Nt, conjugated: dotc's 8 per term and 6 to
// join its partial sums) and D += L S (Nt x K over R, and 4 per entry to scale by beta = 1
// and add), l_in i_w evaluations a layer; per
// metrics H^H W (K x K), V^H W (J x K) and F^H P (M x J K over Nr).
TEST(FlopCount, BatchPhasesCountEveryLayerTheSameAndTheGemmsExactly) {
  const channel_set cs = cpu::generate_batch(scenario{}, 3, 0, 2);  // line of sight: rank-one G_j
  const host::phase_flops p2 = host::counted_phase_flops(cs, unfolded(2, false), 2),
                          p3 = host::counted_phase_flops(cs, unfolded(3, false), 2),
                          p5 = host::counted_phase_flops(cs, unfolded(5, false), 2);
  EXPECT_DOUBLE_EQ(p5.per_realization - p3.per_realization, 2 * (p3.per_realization - p2.per_realization));
  EXPECT_DOUBLE_EQ(p5.items - p3.items, 2 * (p3.items - p2.items));
  EXPECT_GT(p3.per_realization, p2.per_realization);
  EXPECT_GT(p3.items, p2.items);
  const problem_dims d = cs.dims;
  const double nt = d.nt, nr = d.nr, k = d.k, j = d.j(), m = d.m, r = k + j;  // merged rank-one L
  const solve_options o;
  const double per_eval = r * k * (8 * nt + 6) + nt * k * (8 * r + 4);
  const double metrics = k * k * (8 * nt + 6) + j * k * (8 * nt + 6) + m * j * k * (8 * nr + 6);
  EXPECT_DOUBLE_EQ(p3.gemm - p2.gemm, o.model.l_in * o.model.i_w * per_eval + metrics);
  EXPECT_GT(p3.prepare - p2.prepare, 0);  // every layer prepares, inside the per-realization phases
  EXPECT_LT(p3.prepare, p3.per_realization);
  EXPECT_GT(p3.serial_share(), 0);
  EXPECT_LT(p3.serial_share(), 0.05);  // the Cholesky factors and the metrics' scalars
  // The team route by a counting team of 32 threads: its critical path is at least an even
  // split's and it grows by the same amount every layer, as do its barriers.
  EXPECT_GT(p3.team_speedup(), 4);
  EXPECT_LT(p3.team_speedup(), 32);
  EXPECT_NEAR(p5.warp.path - p3.warp.path, 2 * (p3.warp.path - p2.warp.path), 1e-9 * p5.warp.path);
  EXPECT_DOUBLE_EQ(p5.warp.barriers - p3.warp.barriers, 2 * (p3.warp.barriers - p2.warp.barriers));
  EXPECT_GT(p3.warp.barriers - p2.warp.barriers, 2.0 * core::prepare_stages);
}

// A training step's count by part (what bounds a team's speed-up on one realization's
// step): the parts add up to the whole step's count, each part does some work, and the
// forward D(W) part is exactly L_out l_in i_w evaluations on the merged layout of L
// (rank-one G: R = K + J, as the solvers): the backward reads them off the tape.
TEST(FlopCount, TrainPartsAddUpAndCountEveryDirectionOnce) {
  const channel_set cs = cpu::generate_batch(scenario{}, 3, 0, 2);
  unfolded_model m;
  m.l_out = 3;
  const host::train_part_flops tp = host::counted_train_parts(cs, m, system_params<double>{}, 2);
  EXPECT_NEAR(tp.total(), host::counted_train_flops(cs, m, system_params<double>{}, 2), 1e-12 * tp.total());
  for (int p = 0; p < host::train_part_flops::parts; ++p) EXPECT_GT(tp.part[p], 0) << host::train_part_flops::names[p];
  const double eval = counted_direction(cs.dims, cs.dims.k + cs.dims.j());
  EXPECT_DOUBLE_EQ(tp.part[int(core::train_part::direction)], 1.0 * m.l_out * m.l_in * m.i_w * eval);
  // The first realization's step by a counting team of 32 threads (the warp route): its
  // critical path is shorter than the step, longer than an even split, and its sums count
  // a butterfly each (more arithmetic than one thread's).
  EXPECT_EQ(tp.warp.lanes, 32);
  EXPECT_LT(tp.warp.path, tp.total() / 4);
  EXPECT_GT(tp.warp.path, tp.total() / 32);
  EXPECT_GT(tp.warp.total, tp.total() / 2);     // one realization of the two the parts average
  EXPECT_GT(tp.warp.barriers, 10.0 * m.l_out);  // every layer's phases end in barriers
}

// The lanes route (core/lanes.hpp): its team divides the metrics and steps 1-5 too, so
// at the paper's size a team of 32 leaves on its critical path under 5 % of the serial
// arithmetic (6.3 % when the lead lane ran them alone); counts at 2 and 3 layers
// extrapolate to the direct count at 12, every lane's schedule being the same each layer.
TEST(FlopCount, LanesTeamDividesTheLayerAndExtrapolatesByLayer) {
  const channel_set cs = cpu::generate_batch(scenario{}, 3, 0, 1);
  solve_options o = unfolded(12, false);
  for (const int g : {32, 16, 8}) {
    const host::lanes_flops direct = host::counted_lanes(cs, o, g), guess = host::counted_lanes_extrapolated(cs, o, g);
    EXPECT_EQ(direct.warp.lanes, g);
    EXPECT_NEAR(guess.warp.path, direct.warp.path, 1e-9 * direct.warp.path) << g;
    EXPECT_NEAR(guess.serial, direct.serial, 1e-9 * direct.serial) << g;
    EXPECT_DOUBLE_EQ(guess.warp.barriers, direct.warp.barriers) << g;
    if (g == 32) {
      EXPECT_LT(direct.warp.path, 0.05 * direct.serial);
    }
  }
  // The model's choice is one of the three, and no slower than the warp a realization.
  const host::lanes_choice c = host::choose_lanes_group(cs, o, false);
  EXPECT_TRUE(c.group == 32 || c.group == 16 || c.group == 8);
  const host::lanes_model m32 = host::model_lanes(cs.dims, 12, host::counted_lanes(cs, o, 32), false);
  EXPECT_GE(c.model.per_second, m32.per_second);
  EXPECT_GT(m32.per_second, 0);
}

}  // namespace
}  // namespace jcas::test
