// The double solve kernel with its scratch in local memory (kernels/cuda_common.cuh), in its
// own translation unit so that it compiles in parallel with the others.
#include "kernels/cuda_common.cuh"

namespace jcas::cuda::detail {
template cudaError_t launch_solve<double, local_slot_bytes>(const solve_args<double>&);
template size_t slot_stack_bytes<double>();
}  // namespace jcas::cuda::detail
