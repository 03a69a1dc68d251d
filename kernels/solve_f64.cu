// The CUDA solve launcher for double and its global-scratch kernel (kernels/cuda_common.cuh),
// in their own translation unit so that the precisions and placements compile in parallel.
#include "kernels/cuda_common.cuh"

namespace jcas::cuda::detail {
template void solve<double>(const device_batch<double>&, int);
template cudaError_t launch_solve<double, 0>(const solve_args<double>&);
}  // namespace jcas::cuda::detail
