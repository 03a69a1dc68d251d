// Build-wide annotations shared by host (g++) and device (nvcc) code.
#pragma once

#if defined(__CUDACC__)
#define JCAS_HD __host__ __device__
#define JCAS_FORCEINLINE __forceinline__
// Before a host-device template whose callees may be host-only (a kernel launcher as
// executor) or device-only: nvcc then skips the execution-space check of the calls in
// instantiations that the other side never runs.
#define JCAS_NO_EXEC_CHECK _Pragma("nv_exec_check_disable")
#else
#define JCAS_HD
#define JCAS_FORCEINLINE inline __attribute__((always_inline))
#define JCAS_NO_EXEC_CHECK
#endif

// Inlined by force in device code only: where an executor or a workspace passed by
// reference to a call would otherwise sit on a GPU thread's stack (local memory), and the
// host compiler's own choice is kept.
#if defined(__CUDA_ARCH__)
#define JCAS_DEVICE_INLINE __forceinline__
#else
#define JCAS_DEVICE_INLINE inline
#endif

namespace jcas {
using index_t = int;
}  // namespace jcas
