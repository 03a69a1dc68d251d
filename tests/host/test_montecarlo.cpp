// Monte Carlo: statistics equal those computed from stored per-realization results, and
// a resumed run gives the same summary as an uninterrupted one.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
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
    EXPECT_EQ(st.objective[a], out.objective);  // chunking does not change any realization
    const mc::stats r = mc::summarize(st.objective[a], st.min_sinr[a], st.min_scnr[a]);
    const summary ref = summarize(out);
    EXPECT_NEAR(r.mean, ref.mean_objective, 1e-12 * std::abs(ref.mean_objective));
    EXPECT_NEAR(r.min_sinr_db, ref.min_sinr_db, 1e-10);
    EXPECT_NEAR(r.min_scnr_db, ref.min_scnr_db, 1e-10);
    double sd = 0;
    for (double x : out.objective) sd += (x - r.mean) * (x - r.mean);
    sd = std::sqrt(sd / 22);
    EXPECT_NEAR(r.ci95, 1.959963984540054 * sd / std::sqrt(23.0), 1e-12);
    std::vector<double> sorted = out.objective;
    std::sort(sorted.begin(), sorted.end());
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
  EXPECT_EQ(resumed.objective, whole.objective);
  EXPECT_EQ(resumed.min_scnr, whole.min_scnr);
  // A checkpoint of another run is refused.
  mc::settings other = s;
  other.seed = 6;
  EXPECT_THROW(mc::read_state(path.string(), other), std::runtime_error);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace jcas::test
