// Monte Carlo at scale (issue 5, first part): channels generated on the fly chunk by
// chunk (realization i is the same whatever the chunking), every chosen algorithm on the
// same channels, per-realization results kept for exact quantiles and CDFs, statistics in
// the paper's convention, checkpoint after every chunk.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "jcas/api.hpp"

namespace jcas::mc {

struct settings {
  scenario sc{};
  std::uint64_t seed = 1;
  long count = 10000, chunk = 4096;
  std::vector<algorithm> algos = {algorithm::unfolded};
  solve_options solve{};  // model, sys, ao settings, precision, threads (algo is overridden)
  int device = -1;        // -1: CPU, else CUDA device
};

/// Per-algorithm, per-realization results of the realizations done so far.
struct state {
  long done = 0;
  std::vector<std::vector<double>> objective, min_sinr, min_scnr;  // [algo][realization]
};

struct stats {
  long n = 0;
  double mean = 0, ci95 = 0;                           // objective: mean and half-width of the 95 % interval
  double min_sinr_db = 0, min_scnr_db = 0;             // dB of the mean linear minimum (SPEC.md 2)
  double q05 = 0, q25 = 0, q50 = 0, q75 = 0, q95 = 0;  // objective quantiles
};
stats summarize(const std::vector<double>& objective, const std::vector<double>& sinr, const std::vector<double>& scnr);

/// Continues s until st.done == s.count. on_chunk is called after every chunk (e.g. to
/// checkpoint); progress(done, total).
void run(const settings& s, state& st, const std::function<void(long, long)>& progress,
         const std::function<void(const state&)>& on_chunk);

/// Checkpoint: per-realization results plus what they belong to (seed, algos, dims).
void write_state(const std::string& path, const settings& s, const state& st);
/// Reads a checkpoint and checks that it belongs to s (throws naming the field).
state read_state(const std::string& path, const settings& s);

/// Summary files: HDF5 (stats as attributes per algorithm group, sorted objective =
/// the empirical CDF) and CSV (one row per algorithm).
void write_summary(const std::string& h5_path, const std::string& csv_path, const settings& s, const state& st);

}  // namespace jcas::mc
