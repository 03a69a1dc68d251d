// Monte Carlo: statistics equal those computed from stored per-realization results, and
// a resumed run gives the same summary as an uninterrupted one; a caller's stop poll ends
// a solve or a Monte Carlo early and leaves it whole.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <tuple>

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
  const channel_set cs = cpu::generate_batch(s.sc, s.seed, 0, s.count, 0, true);  // as mc::run draws them
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

/// A stop poll that says stop from its `at`-th call on (copies share the count: the
/// library copies solve_options).
struct stop_at {
  int at;
  std::shared_ptr<int> calls = std::make_shared<int>(0);
  bool operator()() const { return ++*calls >= at; }
};

// solve_options::stop ends a solve early, on every CPU route, with jcas::stopped naming how
// far it got; a poll that never says stop changes nothing.
TEST(Stop, EndsASolveOnEveryCpuRoute) {
  // The batch-phase routes (gemm, team) poll between chunks of up to 1024 realizations.
  const channel_set few = cpu::generate_batch(scenario{}, 3, 0, 40), many = cpu::generate_batch(scenario{}, 3, 0, 1100);
  for (const auto& [algo, simd, route] : {std::tuple{algorithm::unfolded, true, products_route::automatic},
                                          {algorithm::unfolded, false, products_route::loops},
                                          {algorithm::unfolded, false, products_route::gemm},
                                          {algorithm::unfolded, false, products_route::team},
                                          {algorithm::ao_monotone, false, products_route::automatic}}) {
    const bool batched = route == products_route::gemm || route == products_route::team;
    const channel_set& cs = batched ? many : few;
    const std::string total = " of " + std::to_string(cs.count) + " realizations";
    solve_options o;
    o.algo = algo;
    o.simd = simd;
    o.products = route;
    o.model.l_out = 4;
    o.ao.max_outer = 5;
    o.threads = 1;
    const std::string name = to_string(algo) + (simd ? " simd" : "") + " route " + std::to_string(int(route));
    const solve_output whole = cpu::solve_batch(cs, o);
    o.stop = stop_at{1 << 30};
    EXPECT_EQ(cpu::solve_batch(cs, o).objective, whole.objective) << name;
    o.stop = stop_at{1};
    try {
      cpu::solve_batch(cs, o);
      ADD_FAILURE() << name << ": not stopped";
    } catch (const stopped& e) {
      EXPECT_NE(std::string(e.what()).find("stopped by the caller after "), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(total), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("after " + std::to_string(cs.count) + " "), std::string::npos)
          << name << ": " << e.what();
    }
  }
}

// A Monte Carlo stopped anywhere (inside any algorithm's solve or between chunks) holds
// whole chunks in every tally, and continuing it gives the uninterrupted run's bits.
TEST(Stop, LeavesAMonteCarloWithWholeChunksThatContinues) {
  mc::settings s = small();
  s.solve.threads = 1;
  mc::state whole;
  mc::run(s, whole, {}, {});
  int stops = 0;
  for (int at = 1; at <= 40; at += 3) {
    mc::settings cut = s;
    cut.solve.stop = stop_at{at};
    mc::state st;
    try {
      mc::run(cut, st, {}, {});
      continue;  // the run ended before the poll's `at`-th call
    } catch (const stopped&) {
      ++stops;
    }
    EXPECT_EQ(st.done % s.chunk, 0) << "at " << at;
    EXPECT_LT(st.done, s.count);
    for (const mc::tally& t : st.algos) EXPECT_EQ(t.n, st.done) << "at " << at;
    mc::run(s, st, {}, {});
    for (size_t a = 0; a < s.algos.size(); ++a) {
      EXPECT_EQ(st.algos[a].mean, whole.algos[a].mean) << "at " << at;
      EXPECT_EQ(st.algos[a].m2, whole.algos[a].m2) << "at " << at;
      EXPECT_EQ(st.algos[a].sorted_objectives(), whole.algos[a].sorted_objectives()) << "at " << at;
    }
  }
  EXPECT_GE(stops, 8);
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
  const channel_set cs = cpu::generate_batch(s.sc, s.seed, 0, s.count, 0, true);  // as mc::run draws them
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
