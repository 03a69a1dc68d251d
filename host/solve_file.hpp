// A channel file solved range by range (`jcas solve --data`): read, solved and its results
// written in ranges of realizations, so that a file of any size is solved in bounded
// memory; while one range solves, the next is read and the one before written, so that a
// GPU's solve does not wait on the file (issue 26), nor a CPU's on the disk.
#pragma once
#include "io.hpp"
#include "jcas/api.hpp"

namespace jcas::host {

/// Realizations a range takes by default: the most that `budget` bytes hold of the file's
/// channels (io::channel_file::bytes_per_realization) and the solve's outputs
/// (solve_output_bytes), a power of two from 1 to 65536. On a GPU a range of 32768 or more
/// runs as chunks whose copies and conversions overlap the kernels (the backend's
/// pipeline), beside the file's next read and last write. Two ranges are in memory at a
/// time, three with a results file.
long file_range(const io::channel_file& in, const solve_options& o, double budget = 512e6);

/// What solve_file gives back: the summary of every realization, and how they ran.
struct file_solved {
  summary s;
  long simd_count = 0;  // realizations solved in SIMD lanes (solve_output::simd_count)
  long ranges = 0;
  double wall_seconds = 0;  // of the whole call: reading, solving, writing (s.seconds_per_realization: the solves')
};

/// Solves every realization of `in` under o on ex, `range` realizations at a time (>= 1,
/// else refused naming "chunk"), and writes each range's results to `out` where given
/// (committed by the caller); a resumed `out` (io::results_file::done) continues after
/// its realizations. o.progress sees realizations of the whole file. The summary of them
/// all is summarize's of the whole batch, to the bit (summary_sums); the per-realization
/// results are those of one solve_batch call on the whole file.
file_solved solve_file(const executor& ex, io::channel_file& in, const solve_options& o, io::results_file* out,
                       long range);

/// What a solve's results depend on, as io::results_file's run: "field = value" lines of
/// the data (the file, its size and time, the selection) and of every option that can
/// change a result (the algorithm and its settings, the model's numbers, the precision,
/// the device, the routes). A resume whose run differs is refused.
std::string solve_run(const executor& ex, const io::channel_file& in, const io::channel_select& sel,
                      const solve_options& o);

}  // namespace jcas::host
