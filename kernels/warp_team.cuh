// A warp as a team of the shared core (core/team.hpp): the unfolded solver's team route
// (unfolded_team.cu) and the training step's (train_kernels.cu).
#pragma once
#include <new>

#include "jcas/config.hpp"

namespace jcas::cuda::detail {

/// Lanes are ranks, __syncwarp the barrier (it also orders the lanes' shared and global
/// memory accesses), sums by an xor butterfly (lane i and lane i ^ o add the same two
/// numbers, so every lane ends with the same total). Host instantiations exist only
/// because the core is host-device; they are never called.
struct warp_team {
  JCAS_HD int rank() const {
#ifdef __CUDA_ARCH__
    return int(threadIdx.x & 31u);
#else
    return 0;
#endif
  }
  JCAS_HD static constexpr int size() { return 32; }
  JCAS_HD void sync() const {
#ifdef __CUDA_ARCH__
    __syncwarp();
#endif
  }
  template <class T>
  JCAS_HD T sum(T x) const {
#ifdef __CUDA_ARCH__
    for (int o = 16; o > 0; o /= 2) x += __shfl_xor_sync(0xffffffffu, x, o);
#endif
    return x;
  }
};

/// Room in shared memory for an object of type V that one lane makes and the team then
/// reads (a warp's views of its workspace): a __shared__ variable may not have a
/// constructor to run, and views have default member values.
template <class V>
struct shared_room {
  alignas(V) unsigned char bytes[sizeof(V)];
  /// A value-initialised V in the room (by one lane, before the team's barrier).
  JCAS_HD V& make() { return *new (bytes) V(); }
  JCAS_HD V& operator*() { return *reinterpret_cast<V*>(bytes); }
};

}  // namespace jcas::cuda::detail
