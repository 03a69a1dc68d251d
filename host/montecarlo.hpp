// Monte Carlo at scale: channels generated on the fly chunk by chunk (realization i is
// the same whatever the chunking), every chosen algorithm on the same channels, statistics
// in the paper's convention kept in bounded memory for any count (tally), checkpoints.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "block_stats.hpp"
#include "jcas/api.hpp"

namespace jcas::mc {

struct settings {
  scenario sc{};
  std::uint64_t seed = 1;
  long count = 10000, chunk = 4096;
  std::vector<algorithm> algos = {algorithm::unfolded};
  solve_options solve{};  // model, sys, ao settings, precision, threads (algo is overridden)
  int device = -1;        // -1: CPU, else CUDA device
  /// run() calls on_checkpoint after a chunk once this many seconds have passed since the
  /// last call (0: after every chunk), and always after the last chunk: a checkpoint holds
  /// every realization's results, so writing one per small chunk costs O(count^2) bytes.
  double checkpoint_seconds = 0;
  /// Quantiles and the CDF come from every realization up to this many, beyond it from
  /// a uniform sample of this many (tally).
  long sample_size = 1L << 20;
};

/// One algorithm's results over the realizations done so far, in memory bounded by the
/// sample size whatever the count: exact running sums for the mean objective, its
/// interval and the paper's min SINR / SCNR (added realization by realization in index
/// order: the same bits whatever the chunking, the process count or a resume), and for
/// quantiles and the CDF the objectives of the realizations whose keys hash(seed, index)
/// are the `sample_size` smallest: all of them up to that count, beyond it a uniform
/// sample that is again the same whatever the chunking, process count or resume.
///
/// A block summarised on a GPU (block_summary, host/block_stats.hpp) enters whole instead:
/// its moments merged pairwise (the same statistics up to rounding, the same bits for the
/// same chunking), its candidates offered to the sample (the same sample, bit for bit).
struct tally {
  using kept = mc::kept;
  long n = 0;
  double mean = 0, m2 = 0;            // objective: Welford's mean and sum of squared deviations
  double sum_sinr = 0, sum_scnr = 0;  // linear minima
  std::vector<kept> sample;           // a max-heap on key once it holds sample_size
  void add(std::uint64_t seed, long index, double objective, double sinr, double scnr, long sample_size);
  /// A block's moments and sample candidates, after the realizations added so far.
  void merge(const block_summary& b, long sample_size);
  /// The sample's part of add: k enters while the sample is short of sample_size, else
  /// in place of the largest key when its key is smaller.
  void offer(const kept& k, long sample_size);
  /// A realization's key must be below this to enter the sample; while the sample is short
  /// every key enters, and this is the largest key.
  std::uint64_t entry_key(long sample_size) const;
  bool sampled() const { return n > long(sample.size()); }
  std::vector<double> sorted_objectives() const;  // the sample's, ascending
};

/// Every algorithm's tally (in the order of settings::algos) after `done` realizations.
struct state {
  long done = 0;
  std::vector<tally> algos;
};

struct stats {
  long n = 0;
  double mean = 0, ci95 = 0;                           // objective: mean and half-width of the 95 % interval
  double min_sinr_db = 0, min_scnr_db = 0;             // dB of the mean linear minimum (SPEC.md 2)
  double q05 = 0, q25 = 0, q50 = 0, q75 = 0, q95 = 0;  // objective quantiles (of the sample beyond its size)
  bool sampled = false;                                // quantiles from a sample
};
stats summarize(const tally& t);
/// The same for per-realization results held by the caller (every one kept).
stats summarize(const std::vector<double>& objective, const std::vector<double>& sinr, const std::vector<double>& scnr);

/// Continues s until st.done == s.count. on_checkpoint is called after a chunk as
/// s.checkpoint_seconds says, and after the last; progress(done, total) after every chunk.
/// s.solve.stop is polled inside each solve and between chunks (jcas::stopped; st then
/// holds the whole chunks done, as a checkpoint would; under MPI every rank must agree).
void run(const settings& s, state& st, const std::function<void(long, long)>& progress,
         const std::function<void(const state&)>& on_checkpoint);

/// Checkpoint: per-realization results plus what they belong to (seed, algos, dims).
void write_state(const std::string& path, const settings& s, const state& st);
/// Reads a checkpoint and checks that it belongs to s (throws naming the field).
state read_state(const std::string& path, const settings& s);

/// Summary files: HDF5 (stats as attributes per algorithm group, the sorted objectives
/// of the tally's sample = the empirical CDF, attribute cdf_sampled when it is a sample)
/// and CSV (one row per algorithm).
void write_summary(const std::string& h5_path, const std::string& csv_path, const settings& s, const state& st);

}  // namespace jcas::mc
