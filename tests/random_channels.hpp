// Random channel sets shared by the test executables.
#pragma once
#include <cstdint>
#include <random>

#include "jcas/api.hpp"

namespace jcas::test {

/// `count` realizations with Gaussian H and G_j (G scaled by 0.2): not rank one, so they
/// take the dense channel path.
inline channel_set dense_random(const problem_dims& d, long count, std::uint64_t seed) {
  channel_set cs;
  cs.dims = d;
  cs.count = count;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n(0, 1);
  for (long i = 0; i < cs.count * cs.h_stride(); ++i) cs.h.emplace_back(n(rng), n(rng));
  for (long i = 0; i < cs.count * cs.g_stride(); ++i) cs.g.emplace_back(0.2 * n(rng), 0.2 * n(rng));
  return cs;
}

}  // namespace jcas::test
