// The unfolded solver for line-of-sight channels with a team of 8, 16 or 32 lanes per
// realization and its whole state in shared memory (core/lanes.hpp): every product of the
// layer divided over the team's lanes an entry or a row each, the metrics and steps 1-5 an
// item a lane, the softmin weights and the J x J core's factor on its lane 0, three
// __syncwarp a W-step. The route --products auto takes on a GPU for rank-one channels
// whose slot fits a block's shared memory (bench/RESULTS.md has the counted model and the
// rate it predicts).
#include "jcas/core/lanes.hpp"
#include "kernels/cuda_common.cuh"
#include "kernels/warp_team.cuh"

namespace jcas::cuda::detail {

/// The lanes kernel's arguments: the chunk's arrays and the slot's size.
template <class T>
struct lanes_args {
  problem_dims d;
  system_params<T> sys;
  core::unfolded_params<T> p;
  long count;
  bool init, zf;
  const cplx<T>*h, *u, *v;
  cplx<T>* wf;
  T *curve, *res;
  int* st;
  long slot_bytes;
};

/// Warps per block of the lanes kernel at most, and the blocks of that many an SM must
/// hold (its register bound: 80 registers a thread in float, 96 in double, where ptxas
/// needs no stack frame and spills none: tests/backend/kernel_resources.sh).
constexpr int lanes_warps = core::lanes_most_warps;
template <class T>
constexpr int lanes_min_blocks = sizeof(T) == 4 ? 6 : 5;

namespace {

/// Team t = threadIdx.x / G of block blockIdx.x (G lanes, 32 / G teams a warp, blockDim.x
/// / G teams a block) runs realization blockIdx.x * blockDim.x / G + t, its state in the
/// t-th slot of the block's dynamic shared memory (slots core::lanes_slot_stride apart).
/// The slot's views (lanes_slot: some 70 pointers) live in static shared memory, carved by
/// the team's lane 0, so that no thread keeps them in registers or spills them to local
/// memory: the hot loops load the few they use.
template <class T, int G>
__global__ void __launch_bounds__(32 * lanes_warps, lanes_min_blocks<T>) lanes_kernel(lanes_args<T> a) {
  extern __shared__ __align__(16) unsigned char lanes_smem[];
  __shared__ core::lanes_slot<T> views[lanes_warps * 32 / G];
  const int t = int(threadIdx.x / G);
  const long b = long(blockIdx.x) * (blockDim.x / G) + t;
  if (b >= a.count) return;  // the whole team: no lane is left waiting at a barrier
  const problem_dims& d = a.d;
  core::lanes_slot<T>& sl = views[t];
  const lane_group<G> team;
  if (team.rank() == 0) {
    arena ar{reinterpret_cast<char*>(lanes_smem) + t * a.slot_bytes};
    sl.carve(ar, d);
  }
  team.sync();
  const long wf_len = long(d.nt) * d.k + long(d.nr) * d.m, clen = long(a.p.l_out) + 1;
  const core::lanes_io<T> io{a.h + b * long(d.nt) * d.k,
                             a.u + b * long(d.nr) * d.j(),
                             a.v + b * long(d.nt) * d.j(),
                             a.wf + b * wf_len,
                             a.curve + b * clen,
                             a.res + 4 * b,
                             a.st + b,
                             a.init,
                             a.zf};
  core::unfolded_lanes<T>(team, d, a.sys, a.p, io, sl);
}

void check_team_lanes(int g) {
  if (g != 8 && g != 16 && g != 32)
    throw std::invalid_argument("team lanes = " + std::to_string(g) + ": must be 8, 16 or 32");
}

/// A block's shared memory at most on the device (the opt-in limit).
long block_room(int device) {
  int optin = 0;
  JCAS_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  return optin;
}

template <class T, int G>
void launch_lanes(const device_batch<T>& hb, const device_model<T>& model, long slot, int warps) {
  const int teams = warps * 32 / G;
  const size_t smem = size_t(teams) * size_t(slot);
  if (smem > 48 * 1024)
    JCAS_CUDA_CHECK(cudaFuncSetAttribute(lanes_kernel<T, G>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  chunk_set<T> cs(hb, plan::device_need{
                          hb.what + " (" + std::to_string(G) + " lanes a realization, state in shared memory)", 0, 0});
  each_chunk(hb, cs, [&](const device_chunk<T>& ch, long n) {
    const lanes_args<T> a{hb.dims,        hb.sys,       model.up,    n,         hb.init == device_init::core,
                          hb.zf,          ch.in.h.p,    ch.in.u.p,   ch.in.v.p, ch.in.wf.p,
                          ch.out.curve.p, ch.out.res.p, ch.out.st.p, slot};
    lanes_kernel<T, G><<<unsigned((n + teams - 1) / teams), 32 * warps, smem>>>(a);
    JCAS_CUDA_CHECK(cudaGetLastError());
  });
}

}  // namespace

template <class T>
bool lanes_fit(const problem_dims& d, int device, int g) {
  return core::lanes_block_warps<T>(d, g, block_room(device)) > 0;
}

template <class T>
void solve_lanes(const device_batch<T>& hb, int device) {
  JCAS_CUDA_CHECK(cudaSetDevice(device));
  if (!hb.rank1) throw std::invalid_argument("products = lanes: needs line-of-sight (rank-one) channels");
  check_team_lanes(hb.team_lanes);
  // The team size asked for (or the model's choice: host/gpu_model.hpp), else the next
  // larger one whose block fits; blocks of 4 warps, or of 2 or 1 where 4 do not fit.
  const long room = block_room(device);
  int g = hb.team_lanes;
  while (g < 32 && core::lanes_block_warps<T>(hb.dims, g, room) == 0) g *= 2;
  const int warps = core::lanes_block_warps<T>(hb.dims, g, room);
  if (warps == 0)
    throw std::invalid_argument("products = lanes: a realization's state (" +
                                std::to_string(core::lanes_slot_stride<T>(hb.dims)) +
                                " bytes) does not fit a block's shared memory; use --products gemm or team");
  const device_model<T> model(hb.cfg.unfolded);
  const long slot = core::lanes_slot_stride<T>(hb.dims);
  if (g == 8) return launch_lanes<T, 8>(hb, model, slot, warps);
  if (g == 16) return launch_lanes<T, 16>(hb, model, slot, warps);
  launch_lanes<T, 32>(hb, model, slot, warps);
}

template void solve_lanes<float>(const device_batch<float>&, int);
template void solve_lanes<double>(const device_batch<double>&, int);
template bool lanes_fit<float>(const problem_dims&, int, int);
template bool lanes_fit<double>(const problem_dims&, int, int);

}  // namespace jcas::cuda::detail
