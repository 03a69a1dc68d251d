// The CUDA solve launcher for float (kernels/cuda_common.cuh), in its own translation
// unit so that the two precisions compile in parallel.
#include "kernels/cuda_common.cuh"

namespace jcas::cuda::detail {
template void solve<float>(const device_batch<float>&, int);
}  // namespace jcas::cuda::detail
