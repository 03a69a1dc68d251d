// The CUDA solve launcher for float and its global-scratch kernel (kernels/cuda_common.cuh),
// in their own translation unit so that the precisions and placements compile in parallel.
#include "kernels/cuda_common.cuh"

namespace jcas::cuda::detail {
template void solve<float>(const device_batch<float>&, int);
template cudaError_t launch_solve<float, 0>(const solve_args<float>&);
}  // namespace jcas::cuda::detail
