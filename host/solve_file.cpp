// host/solve_file.hpp: a channel file solved range by range, the file's reads and writes
// beside the solve.
#include "solve_file.hpp"

#include <algorithm>
#include <cmath>
#include <future>
#include <string>

namespace jcas::host {

long file_range(const io::channel_file& in, const solve_options& o, double budget) {
  const double per = in.bytes_per_realization() + solve_output_bytes(in.dims(), 1, o);
  long r = 1;
  while (r < 65536 && double(2 * r) * per <= budget) r *= 2;
  return r;
}

file_solved solve_file(const executor& ex, io::channel_file& in, const solve_options& o, io::results_file* out,
                       long range) {
  if (range < 1) reject("chunk", double(range), "must be >= 1");
  const long count = in.count();
  require_memory(in.path() + ": solving in ranges of " + std::to_string(std::min(range, count)) + " realizations",
                 double(std::min(range, count)) *
                     (2 * in.bytes_per_realization() + (out ? 2 : 1) * solve_output_bytes(in.dims(), 1, o)));
  // Two ranges' channels (one solving, the next being read) and two ranges' outputs (one
  // being written, the next being solved). The futures are declared after the buffers, so
  // that an error joins the reads and writes in flight before their buffers go.
  channel_set sets[2];
  solve_output outs[2];
  summary_sums sums;
  file_solved r;
  std::future<void> reading, writing;
  const auto read_at = [&](int slot, long first) { in.read(first, std::min(range, count - first), sets[slot]); };
  reading = std::async(std::launch::async, read_at, 0, 0L);
  solve_options po = o;
  int slot = 0;
  for (long first = 0; first < count; first += range, slot = 1 - slot) {
    reading.get();  // range `first` is in sets[slot]
    if (first + range < count) reading = std::async(std::launch::async, read_at, 1 - slot, first + range);
    if (o.progress) po.progress = [&o, first, count](long done, long) { o.progress(first + done, count); };
    solve_output res = solve_batch(ex, sets[slot], po);
    sums.add(res);
    r.simd_count += res.simd_count;
    ++r.ranges;
    if (writing.valid()) writing.get();  // the range before, written from outs[1 - slot]
    if (out) {
      outs[slot] = std::move(res);
      writing = std::async(std::launch::async, [out, &outs, slot, first] { out->write(first, outs[slot]); });
    }
  }
  if (writing.valid()) writing.get();
  r.s = sums.result();
  return r;
}

}  // namespace jcas::host
