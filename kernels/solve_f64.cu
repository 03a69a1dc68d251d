// The CUDA solve launcher for double (kernels/cuda_common.cuh), in its own translation
// unit so that the two precisions compile in parallel.
#include "kernels/cuda_common.cuh"

namespace jcas::cuda::detail {
template void solve<double>(const device_batch<double>&, int);
}  // namespace jcas::cuda::detail
