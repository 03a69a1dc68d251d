// The unfolded solver with a warp per realization (core/team.hpp): the batch phases of
// core/batched.hpp -- the cuBLAS route's code -- run inside one kernel by the 32 threads
// of a warp on their realization, its scratch, channels and W | F staged into shared
// memory (global memory where one realization does not fit a block's shared memory).
// Against one thread per realization (solve_kernel), a warp keeps its state in on-chip
// memory and shares the products, the receiver's and surrogate's stages and the
// element-wise steps 32 ways, but runs the metrics' scalars and the receiver's Cholesky
// factor on one lane, decodes every item's indices, and shared memory bounds the
// realizations in flight per SM: which is faster is a GPU measurement
// (bench/gpu_check.sh; opt-in as --products team until then; bench/RESULTS.md has the
// counted critical path and the prediction).
#include "jcas/core/team.hpp"
#include "kernels/cuda_common.cuh"
#include "kernels/warp_team.cuh"

namespace jcas::cuda::detail {

namespace {

/// Warp w of block blockIdx.x runs realization blockIdx.x * warps + w of the chunk, its
/// slot the w-th of the block's dynamic shared memory, or of `global_slots`. At most 128
/// registers a thread (ptxas gave 255 unbounded: 8 warps an SM), so that registers allow
/// the 16 warps an SM that the float slots of the paper's configuration (13.4 KB each)
/// allow in shared memory.
template <class T>
__global__ void __launch_bounds__(128, 4) team_kernel(core::chunk<T> c, long slot_bytes, char* global_slots) {
  extern __shared__ __align__(16) unsigned char team_smem[];
  const int warp = int(threadIdx.x / 32);
  const long b = long(blockIdx.x) * (blockDim.x / 32) + warp;
  if (b >= c.count) return;  // the whole warp: no lane is left waiting at a barrier
  char* slot = global_slots ? global_slots + b * slot_bytes : reinterpret_cast<char*>(team_smem) + warp * slot_bytes;
  core::unfolded_team(warp_team{}, c, b, slot);
}

}  // namespace

template <class T>
void solve_team(const device_batch<T>& hb, int device) {
  JCAS_CUDA_CHECK(cudaSetDevice(device));
  const device_model<T> model(hb.cfg.unfolded);
  core::chunk<T> c = phase_chunk(hb, model);
  const long slot = (core::team_slot_bytes(c) + 15) / 16 * 16;
  int optin = 0;
  JCAS_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  // Warps per block: as many slots as fit 32 KB (at least 1, at most 4), so that several
  // blocks share an SM's shared memory with little left over (a prediction: unmeasured).
  const bool shared = slot <= optin;
  const int warps = shared ? int(std::clamp(32768L / slot, 1L, 4L)) : 4;
  const size_t smem = shared ? size_t(warps) * size_t(slot) : 0;
  if (smem > 48 * 1024)
    JCAS_CUDA_CHECK(cudaFuncSetAttribute(team_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  chunk_set<T> cs(hb, plan::device_need{hb.what + " (a warp per realization)", 0, shared ? 0.0 : double(slot)});
  dev_buf<char> scratch(shared ? 0 : size_t(cs.size * slot), "the warps' slots");
  char* const global_slots = shared ? nullptr : scratch.p;
  each_chunk(hb, cs, [&](const device_chunk<T>& ch, long n) {
    attach_chunk(c, ch, n, nullptr);  // each warp's scratch is its slot
    team_kernel<T><<<unsigned((n + warps - 1) / warps), unsigned(32 * warps), smem>>>(c, slot, global_slots);
    JCAS_CUDA_CHECK(cudaGetLastError());
  });
}

template void solve_team<float>(const device_batch<float>&, int);
template void solve_team<double>(const device_batch<double>&, int);

}  // namespace jcas::cuda::detail
