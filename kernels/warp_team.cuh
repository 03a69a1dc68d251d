// A warp, or 8 or 16 of its lanes, as a team of the shared core (core/team.hpp): the
// unfolded solver's team and lanes routes (unfolded_team.cu, unfolded_lanes.cu) and the
// training step's (train_kernels.cu).
#pragma once
#include <new>

#include "jcas/config.hpp"

namespace jcas::cuda::detail {

/// A team of G consecutive lanes of a warp (G = 8, 16 or 32; 32 / G teams a warp, each
/// on its own realization): ranks are lane % G, the barrier __syncwarp over the team's
/// lanes (it also orders their shared and global memory accesses), sums by an xor
/// butterfly inside the team (lane i and lane i ^ o add the same two numbers, so every
/// lane ends with the same total). Host instantiations exist only because the core is
/// host-device; they are never called.
template <int G>
struct lane_group {
  static_assert(G == 8 || G == 16 || G == 32, "a team is 8, 16 or 32 lanes of a warp");
  JCAS_HD int rank() const {
#ifdef __CUDA_ARCH__
    return int(threadIdx.x & unsigned(G - 1));
#else
    return 0;
#endif
  }
  JCAS_HD static constexpr int size() { return G; }
  /// The team's lanes in the warp.
  JCAS_HD static unsigned mask() {
#ifdef __CUDA_ARCH__
    if constexpr (G == 32)
      return 0xffffffffu;
    else
      return ((1u << G) - 1u) << (threadIdx.x & 31u & ~unsigned(G - 1));
#else
    return 0;
#endif
  }
  JCAS_HD void sync() const {
#ifdef __CUDA_ARCH__
    __syncwarp(mask());
#endif
  }
  template <class T>
  JCAS_HD T sum(T x) const {
#ifdef __CUDA_ARCH__
    const unsigned m = mask();
    for (int o = G / 2; o > 0; o /= 2) x += __shfl_xor_sync(m, x, o);
#endif
    return x;
  }
};

/// A whole warp as one team.
using warp_team = lane_group<32>;

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
