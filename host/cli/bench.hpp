// `jcas bench`: throughput of the CPU and CUDA backends side by side in one run.
#pragma once
#include <string>
#include <vector>

namespace jcas::cli {
struct bench_args {
  std::vector<long> batches = {256, 4096};
  std::string devices = "cpu,cuda";
  bool json = false, quick = false;
  int threads = 0;
  int repeats = 3;  // timed runs per row; the row is their median
  /// The most seconds a row's timed runs may take together: a row whose first timing
  /// projects more runs on fewer realizations (its batch column says how many).
  double max_seconds = 10;
};
int run_bench(const bench_args& a);
}  // namespace jcas::cli
