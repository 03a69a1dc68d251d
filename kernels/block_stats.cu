// Monte Carlo's block statistics on the GPU (kernels/block_stats.hpp by Thrust's CUDA
// system): what the solve's chunk hook (device_batch::reduce) calls on each chunk's results.
#include "kernels/block_stats.hpp"
#include "kernels/device_batch.hpp"

namespace jcas::cuda::detail {

template <class T>
mc::block_summary summarize_block(const T* res, long n, std::uint64_t seed, long first, std::uint64_t entry,
                                  long keep) {
  return {mc::device::block_moments(res, n), mc::device::block_candidates(res, n, seed, first, entry, keep)};
}
template mc::block_summary summarize_block<float>(const float*, long, std::uint64_t, long, std::uint64_t, long);
template mc::block_summary summarize_block<double>(const double*, long, std::uint64_t, long, std::uint64_t, long);

long first_failure(const int* status, long n, int* value) { return mc::device::first_failure(status, n, value); }

}  // namespace jcas::cuda::detail
