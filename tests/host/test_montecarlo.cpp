// Monte Carlo: statistics equal those computed from stored per-realization results, and
// a resumed run gives the same summary as an uninterrupted one.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>

#include "montecarlo.hpp"

namespace jcas::test {
namespace {

mc::settings small() {
  mc::settings s;
  s.seed = 5;
  s.count = 23;
  s.chunk = 6;  // not a divisor of count
  s.algos = {algorithm::unfolded, algorithm::ao_backtracking};
  s.solve.model.l_out = 5;
  s.solve.model.finalize();
  s.solve.ao.max_outer = 10;
  return s;
}

TEST(MonteCarlo, StatisticsEqualThoseOfStoredPerRealizationResults) {
  const mc::settings s = small();
  mc::state st;
  mc::run(s, st, {}, {});
  ASSERT_EQ(st.done, 23);
  const channel_set cs = cpu::generate_batch(s.sc, s.seed, 0, s.count);
  for (size_t a = 0; a < s.algos.size(); ++a) {
    solve_options o = s.solve;
    o.algo = s.algos[a];
    const solve_output out = cpu::solve_batch(cs, o);
    std::vector<double> sorted = out.objective;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(st.algos[a].sorted_objectives(), sorted);  // chunking does not change any realization
    EXPECT_FALSE(st.algos[a].sampled());
    const mc::stats r = mc::summarize(st.algos[a]);
    const summary ref = summarize(out);
    EXPECT_NEAR(r.mean, ref.mean_objective, 1e-12 * std::abs(ref.mean_objective));
    EXPECT_NEAR(r.min_sinr_db, ref.min_sinr_db, 1e-10);
    EXPECT_NEAR(r.min_scnr_db, ref.min_scnr_db, 1e-10);
    double sd = 0;
    for (double x : out.objective) sd += (x - r.mean) * (x - r.mean);
    sd = std::sqrt(sd / 22);
    EXPECT_NEAR(r.ci95, 1.959963984540054 * sd / std::sqrt(23.0), 1e-12);
    EXPECT_DOUBLE_EQ(r.q50, sorted[11]);  // 23 values: the median is the 12th
    EXPECT_LE(r.q05, r.q25);
    EXPECT_LE(r.q75, r.q95);
  }
}

TEST(MonteCarlo, QuantilesOfAKnownSample) {
  const std::vector<double> x = {4, 0, 3, 1, 2}, one(5, 1.0);
  const mc::stats r = mc::summarize(x, one, one);
  EXPECT_DOUBLE_EQ(r.mean, 2.0);
  EXPECT_DOUBLE_EQ(r.q50, 2.0);
  EXPECT_DOUBLE_EQ(r.q25, 1.0);
  EXPECT_DOUBLE_EQ(r.q05, 0.2);
  EXPECT_DOUBLE_EQ(r.min_sinr_db, 0.0);
}

TEST(MonteCarlo, ResumeGivesTheSameSummary) {
  const auto path = std::filesystem::temp_directory_path() / ("jcas_mc_" + std::to_string(::getpid()) + ".h5");
  mc::settings s = small();
  mc::state whole;
  mc::run(s, whole, {}, {});
  // Interrupted after the second chunk: the checkpoint of that moment, then resumed.
  mc::state part;
  int chunks = 0;
  try {
    mc::run(s, part, {}, [&](const mc::state& st) {
      mc::write_state(path.string(), s, st);
      if (++chunks == 2) throw std::runtime_error("interrupted");
    });
  } catch (const std::runtime_error&) {
  }
  mc::state resumed = mc::read_state(path.string(), s);
  EXPECT_EQ(resumed.done, 12);
  mc::run(s, resumed, {}, {});
  for (size_t a = 0; a < s.algos.size(); ++a) {
    EXPECT_EQ(resumed.algos[a].sorted_objectives(), whole.algos[a].sorted_objectives());
    EXPECT_EQ(resumed.algos[a].mean, whole.algos[a].mean);  // bit for bit: the same order of additions
    EXPECT_EQ(resumed.algos[a].m2, whole.algos[a].m2);
    EXPECT_EQ(resumed.algos[a].sum_scnr, whole.algos[a].sum_scnr);
  }
  // A checkpoint of another run is refused.
  mc::settings other = s;
  other.seed = 6;
  EXPECT_THROW(mc::read_state(path.string(), other), std::runtime_error);
  std::filesystem::remove(path);
}

// Bounded memory: beyond sample_size realizations the quantiles come from the sample of the
// smallest keys -- the same sample whatever the chunking and across a resume -- while the
// mean, its interval and the min SINR / SCNR stay exact.
TEST(MonteCarlo, BoundedMemorySample) {
  const auto path = std::filesystem::temp_directory_path() / ("jcas_mcs_" + std::to_string(::getpid()) + ".h5");
  mc::settings s = small();
  s.count = 60;
  s.sample_size = 16;
  s.algos = {algorithm::unfolded};
  mc::state a;
  mc::run(s, a, {}, {});
  ASSERT_EQ(a.algos[0].sample.size(), 16u);
  EXPECT_TRUE(a.algos[0].sampled());
  // The exact statistics against all 60 realizations solved at once.
  const channel_set cs = cpu::generate_batch(s.sc, s.seed, 0, s.count);
  solve_options o = s.solve;
  o.algo = algorithm::unfolded;
  const solve_output out = cpu::solve_batch(cs, o);
  const mc::stats r = mc::summarize(a.algos[0]), all = mc::summarize(out.objective, out.min_sinr, out.min_scnr);
  EXPECT_TRUE(r.sampled);
  EXPECT_NEAR(r.mean, all.mean, 1e-12 * std::abs(all.mean));
  EXPECT_NEAR(r.ci95, all.ci95, 1e-10 * all.ci95);
  EXPECT_NEAR(r.min_sinr_db, all.min_sinr_db, 1e-10);
  // The sample: the 16 realizations with the smallest keys.
  std::vector<std::pair<std::uint64_t, double>> keyed;
  for (long i = 0; i < s.count; ++i) keyed.push_back({mc::sample_key(s.seed, i), out.objective[i]});
  std::sort(keyed.begin(), keyed.end());
  std::vector<double> want;
  for (int i = 0; i < 16; ++i) want.push_back(keyed[i].second);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(a.algos[0].sorted_objectives(), want);
  // Another chunking, and a run checkpointed after 24 and resumed: the same sample and sums.
  mc::settings other = s;
  other.chunk = 17;
  mc::state b;
  mc::run(other, b, {}, {});
  EXPECT_EQ(b.algos[0].sorted_objectives(), want);
  mc::state part;
  try {
    mc::run(s, part, {}, [&](const mc::state& st) {
      mc::write_state(path.string(), s, st);
      if (st.done >= 24) throw std::runtime_error("interrupted");
    });
  } catch (const std::runtime_error&) {
  }
  mc::state resumed = mc::read_state(path.string(), s);
  mc::run(s, resumed, {}, {});
  EXPECT_EQ(resumed.algos[0].sorted_objectives(), want);
  EXPECT_EQ(resumed.algos[0].mean, a.algos[0].mean);
  EXPECT_EQ(resumed.algos[0].m2, a.algos[0].m2);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace jcas::test
