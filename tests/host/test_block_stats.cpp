// Monte Carlo's block statistics by Thrust (kernels/block_stats.hpp), the code the GPU
// runs, compiled here for Thrust's C++ system (THRUST_DEVICE_SYSTEM_CPP): a run summarised
// block by block and merged into a tally (tally::merge) has the statistics of the same
// results added one by one (tally::add) up to rounding, for any blocking, and the same
// sample, bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/block_stats.hpp"
#include "montecarlo.hpp"

namespace jcas::test {
namespace {

/// n results {objective, min_gamma_c, min_gamma_s, outer} in T, as a solve leaves them.
template <class T>
std::vector<T> results(long n, unsigned seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> obj(12.0, 3.0);
  std::lognormal_distribution<double> gain(1.0, 1.5);
  std::vector<T> r;
  for (long i = 0; i < n; ++i) r.insert(r.end(), {T(obj(g)), T(gain(g)), T(gain(g)), T(150)});
  return r;
}

/// The tally of res (realizations first .. first + n - 1 of run `seed`) block by block of
/// `block`, each summarised by the device code with the tally's entry key at its start.
template <class T>
mc::tally by_blocks(const std::vector<T>& res, std::uint64_t seed, long first, long block, long sample_size) {
  mc::tally t;
  const long n = long(res.size() / 4);
  for (long b0 = 0; b0 < n; b0 += block) {
    const long c = std::min(block, n - b0);
    const T* r = res.data() + 4 * b0;
    mc::block_summary s{mc::device::block_moments(r, c),
                        mc::device::block_candidates(r, c, seed, first + b0, t.entry_key(sample_size), sample_size)};
    EXPECT_LE(long(s.candidates.size()), sample_size);
    for (size_t e = 1; e < s.candidates.size(); ++e) EXPECT_LT(s.candidates[e - 1].key, s.candidates[e].key);
    t.merge(s, sample_size);
  }
  return t;
}

template <class T>
void check_every_blocking() {
  const std::uint64_t seed = 77;
  const long n = 3001, first = 500;
  const std::vector<T> res = results<T>(n, 5);
  for (long sample_size : {64L, 1000L, 5000L}) {
    mc::tally ref;  // one by one, as the CPU path adds them
    for (long i = 0; i < n; ++i)
      ref.add(seed, first + i, double(res[4 * i]), double(res[4 * i + 1]), double(res[4 * i + 2]), sample_size);
    for (long block : {1L, 7L, 256L, 1000L, n}) {
      const mc::tally t = by_blocks(res, seed, first, block, sample_size);
      const std::string name = "block " + std::to_string(block) + " sample " + std::to_string(sample_size);
      EXPECT_EQ(t.n, ref.n) << name;
      EXPECT_NEAR(t.mean, ref.mean, 1e-13 * std::abs(ref.mean)) << name;
      EXPECT_NEAR(t.m2, ref.m2, 1e-12 * ref.m2) << name;
      EXPECT_NEAR(t.sum_sinr, ref.sum_sinr, 1e-13 * ref.sum_sinr) << name;
      EXPECT_NEAR(t.sum_scnr, ref.sum_scnr, 1e-13 * ref.sum_scnr) << name;
      EXPECT_EQ(t.sorted_objectives(), ref.sorted_objectives()) << name;  // the same sample
      EXPECT_EQ(t.sampled(), ref.sampled()) << name;
      const mc::stats a = mc::summarize(t), b = mc::summarize(ref);
      EXPECT_EQ(a.q05, b.q05) << name;
      EXPECT_EQ(a.q50, b.q50) << name;
      EXPECT_EQ(a.q95, b.q95) << name;
      EXPECT_NEAR(a.ci95, b.ci95, 1e-12 * b.ci95) << name;
    }
  }
}

TEST(BlockStats, MergedBlocksGiveTheTallyOfTheResultsOneByOne) {
  check_every_blocking<double>();
  check_every_blocking<float>();  // f32 results read in double, as the host reads them
}

// The moments of a block against a plain two-pass computation; a merge of two blocks
// against the moments of their union.
TEST(BlockStats, MomentsAndTheirMerge) {
  const std::vector<double> res = results<double>(1000, 9);
  const auto plain = [&](long lo, long hi) {
    mc::moments m;
    m.n = hi - lo;
    for (long i = lo; i < hi; ++i) m.mean += res[4 * i];
    m.mean /= double(m.n);
    for (long i = lo; i < hi; ++i) {
      m.m2 += (res[4 * i] - m.mean) * (res[4 * i] - m.mean);
      m.sum_sinr += res[4 * i + 1];
      m.sum_scnr += res[4 * i + 2];
    }
    return m;
  };
  const mc::moments a = mc::device::block_moments(res.data(), 1000), p = plain(0, 1000);
  EXPECT_EQ(a.n, 1000);
  EXPECT_NEAR(a.mean, p.mean, 1e-14 * p.mean);
  EXPECT_NEAR(a.m2, p.m2, 1e-12 * p.m2);
  EXPECT_NEAR(a.sum_sinr, p.sum_sinr, 1e-13 * p.sum_sinr);
  const mc::moments m = mc::merged(plain(0, 313), plain(313, 1000));
  EXPECT_EQ(m.n, 1000);
  EXPECT_NEAR(m.mean, p.mean, 1e-14 * p.mean);
  EXPECT_NEAR(m.m2, p.m2, 1e-12 * p.m2);
  EXPECT_NEAR(m.sum_scnr, p.sum_scnr, 1e-13 * p.sum_scnr);
  EXPECT_EQ(mc::merged(mc::moments{}, p).mean, p.mean);  // an empty side changes nothing
  EXPECT_EQ(mc::merged(p, mc::moments{}).m2, p.m2);
}

// Candidates: exactly the block's keys below the entry key, ascending, the smallest
// `keep`; the first failed status of a block.
TEST(BlockStats, CandidatesAndFailures) {
  const std::vector<double> res = results<double>(500, 3);
  const std::uint64_t seed = 4, entry = std::uint64_t(1) << 62;  // about a quarter of the keys
  std::vector<mc::kept> want;
  for (long i = 0; i < 500; ++i)
    if (mc::sample_key(seed, 100 + i) < entry) want.push_back({mc::sample_key(seed, 100 + i), 100 + i, res[4 * i]});
  std::sort(want.begin(), want.end(), [](const mc::kept& a, const mc::kept& b) { return a.key < b.key; });
  ASSERT_GT(want.size(), 60u);
  for (long keep : {10L, 500L}) {
    const std::vector<mc::kept> got = mc::device::block_candidates(res.data(), 500, seed, 100, entry, keep);
    ASSERT_EQ(got.size(), std::min(want.size(), size_t(keep)));
    for (size_t e = 0; e < got.size(); ++e) {
      EXPECT_EQ(got[e].key, want[e].key);
      EXPECT_EQ(got[e].index, want[e].index);
      EXPECT_EQ(got[e].objective, want[e].objective);
    }
  }
  std::vector<int> st(40, 0);
  int value = 0;
  EXPECT_EQ(mc::device::first_failure(st.data(), 40, &value), -1);
  st[17] = 3;
  st[30] = 2;
  EXPECT_EQ(mc::device::first_failure(st.data(), 40, &value), 17);
  EXPECT_EQ(value, 3);
}

// Summaries passed between processes (packed, unpacked) arrive whole, keys included.
TEST(BlockStats, PackedSummariesRoundTrip) {
  const std::vector<double> res = results<double>(300, 8);
  std::vector<mc::block_summary> blocks;
  for (long b0 : {0L, 120L, 250L}) {
    const long c = b0 == 250 ? 50 : 120;
    blocks.push_back({mc::device::block_moments(res.data() + 4 * b0, c),
                      mc::device::block_candidates(res.data() + 4 * b0, c, 6, 1000 + b0, ~std::uint64_t(0), 40)});
  }
  blocks.push_back({});  // an empty block
  const std::vector<mc::block_summary> back = mc::unpacked(mc::packed(blocks), 6);
  ASSERT_EQ(back.size(), blocks.size());
  for (size_t b = 0; b < blocks.size(); ++b) {
    EXPECT_EQ(back[b].m.n, blocks[b].m.n);
    EXPECT_EQ(back[b].m.mean, blocks[b].m.mean);
    EXPECT_EQ(back[b].m.m2, blocks[b].m.m2);
    EXPECT_EQ(back[b].m.sum_sinr, blocks[b].m.sum_sinr);
    EXPECT_EQ(back[b].m.sum_scnr, blocks[b].m.sum_scnr);
    ASSERT_EQ(back[b].candidates.size(), blocks[b].candidates.size());
    for (size_t e = 0; e < back[b].candidates.size(); ++e) {
      EXPECT_EQ(back[b].candidates[e].key, blocks[b].candidates[e].key);
      EXPECT_EQ(back[b].candidates[e].index, blocks[b].candidates[e].index);
      EXPECT_EQ(back[b].candidates[e].objective, blocks[b].candidates[e].objective);
    }
  }
}

}  // namespace
}  // namespace jcas::test
