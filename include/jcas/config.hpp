// Build-wide annotations shared by host (g++) and device (nvcc) code.
#pragma once

#if defined(__CUDACC__)
#define JCAS_HD __host__ __device__
#define JCAS_FORCEINLINE __forceinline__
#else
#define JCAS_HD
#define JCAS_FORCEINLINE inline __attribute__((always_inline))
#endif

namespace jcas {
using index_t = int;
}  // namespace jcas
