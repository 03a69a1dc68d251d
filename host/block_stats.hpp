// Monte Carlo's statistics of a block of realizations, the part that the host and the
// device share (issue 26): the sample key of a realization, a block's moments, and a
// sample candidate. The host's tally (host/montecarlo.hpp) adds results one by one; a
// block summarised on the device (kernels/block_stats.hpp, by Thrust) enters it whole:
// its moments merged, its candidates offered to the sample.
#pragma once
#include <cstdint>
#include <vector>

#include "jcas/api.hpp"
#include "jcas/config.hpp"

namespace jcas::mc {

/// The key of realization `index` in a run of `seed` (splitmix64 of both): the sample for
/// the quantiles keeps the realizations of the smallest keys. A bijection of the index for
/// a given seed, so no two realizations of a run share a key.
JCAS_HD inline std::uint64_t sample_key(std::uint64_t seed, long index) {
  const auto mix = [](std::uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  return mix(seed ^ mix(std::uint64_t(index)));
}

/// A realization offered to the sample.
struct kept {
  std::uint64_t key;
  long index;
  double objective;
};

/// A block's moments: its count, the mean of the objective and the sum of its squared
/// deviations from that mean, the sums of the linear minimum SINR and SCNR.
struct moments {
  long n = 0;
  double mean = 0, m2 = 0, sum_sinr = 0, sum_scnr = 0;
};

/// A block of results summarised where it was computed: its moments, and the candidates
/// for the sample (the block's realizations whose keys are below the sample's entry key
/// at the time, the `sample_size` smallest of them at most, ascending by key).
struct block_summary {
  moments m;
  std::vector<kept> candidates;
};

/// a and b merged (Chan, Golub and LeVeque's pairwise update): the moments of both blocks.
inline moments merged(const moments& a, const moments& b) {
  if (a.n == 0) return b;
  if (b.n == 0) return a;
  moments r;
  r.n = a.n + b.n;
  const double na = double(a.n), nb = double(b.n), n = double(r.n), d = b.mean - a.mean;
  r.mean = a.mean + d * (nb / n);
  r.m2 = a.m2 + b.m2 + d * d * (na * nb / n);
  r.sum_sinr = a.sum_sinr + b.sum_sinr;
  r.sum_scnr = a.sum_scnr + b.sum_scnr;
  return r;
}

/// Block summaries as doubles, to pass between processes (mpi::allgather_concat): each as
/// its moments and its candidates' (index, objective); unpacked, the keys follow from the
/// indices and `seed`.
inline std::vector<double> packed(const std::vector<block_summary>& blocks) {
  std::vector<double> p;
  for (const block_summary& b : blocks) {
    p.insert(p.end(), {double(b.m.n), b.m.mean, b.m.m2, b.m.sum_sinr, b.m.sum_scnr, double(b.candidates.size())});
    for (const kept& k : b.candidates) p.insert(p.end(), {double(k.index), k.objective});
  }
  return p;
}
inline std::vector<block_summary> unpacked(const std::vector<double>& p, std::uint64_t seed) {
  std::vector<block_summary> r;
  for (size_t i = 0; i + 6 <= p.size();) {
    block_summary b;
    b.m = {long(p[i]), p[i + 1], p[i + 2], p[i + 3], p[i + 4]};
    const size_t c = size_t(p[i + 5]);
    i += 6;
    for (size_t e = 0; e < c && i + 2 <= p.size(); ++e, i += 2)
      b.candidates.push_back({sample_key(seed, long(p[i])), long(p[i]), p[i + 1]});
    r.push_back(std::move(b));
  }
  return r;
}

}  // namespace jcas::mc

namespace jcas::cuda {

/// Realizations first .. first + count - 1 of (sc, seed) drawn on the device and solved
/// there by o, as cuda::solve_drawn does, each device chunk's results summarised on the
/// device (kernels/block_stats.hpp): its moments and its sample candidates below `entry`,
/// `keep` at most. One summary per device chunk, in order; nothing per realization crosses
/// to the host. A failed realization throws, naming it. (host/cuda_dispatch.cpp; without
/// CUDA, host/cuda_stub.cpp throws.)
std::vector<mc::block_summary> summarize_drawn(const scenario& sc, std::uint64_t seed, long first, long count,
                                               const solve_options& o, long keep, std::uint64_t entry, int device = 0);

}  // namespace jcas::cuda
