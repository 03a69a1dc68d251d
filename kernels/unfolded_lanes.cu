// The unfolded solver for line-of-sight channels with a warp per realization and its whole
// state in shared memory (core/lanes.hpp): every product of the layer divided over the
// 32 lanes an entry or a row each, the J x J receiver and the scalars on lane 0, three
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

/// Warps (realizations) per block of the lanes kernel, and the blocks an SM must hold (its
/// register bound: 80 registers a thread in float, 96 in double, where ptxas needs no
/// stack frame and spills none: tests/backend/kernel_resources.sh).
constexpr int lanes_warps = 4;
template <class T>
constexpr int lanes_min_blocks = sizeof(T) == 4 ? 6 : 5;

namespace {

/// Warp w of block blockIdx.x runs realization blockIdx.x * lanes_warps + w, its state in
/// the w-th slot of the block's dynamic shared memory. The slot's views (lanes_slot: some
/// 70 pointers) live in static shared memory, carved by lane 0, so that no thread keeps
/// them in registers or spills them to local memory: the hot loops load the few they use.
template <class T>
__global__ void __launch_bounds__(32 * lanes_warps, lanes_min_blocks<T>) lanes_kernel(lanes_args<T> a) {
  extern __shared__ __align__(16) unsigned char lanes_smem[];
  __shared__ core::lanes_slot<T> views[lanes_warps];
  const int warp = int(threadIdx.x / 32);
  const long b = long(blockIdx.x) * lanes_warps + warp;
  if (b >= a.count) return;  // the whole warp: no lane is left waiting at a barrier
  const problem_dims& d = a.d;
  core::lanes_slot<T>& sl = views[warp];
  if (threadIdx.x % 32 == 0) {
    arena ar{reinterpret_cast<char*>(lanes_smem) + warp * a.slot_bytes};
    sl.carve(ar, d);
  }
  __syncwarp();
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
  core::unfolded_lanes<T>(warp_team{}, d, a.sys, a.p, io, sl);
}

}  // namespace

template <class T>
long lanes_slot_bytes(const problem_dims& d) {
  return (core::lanes_slot<T>::bytes(d) + 15) / 16 * 16;
}

template <class T>
bool lanes_fit(const problem_dims& d, int device) {
  int optin = 0;
  JCAS_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  return long(lanes_warps) * lanes_slot_bytes<T>(d) + long(sizeof(core::lanes_slot<T>)) * lanes_warps <= optin;
}

template <class T>
void solve_lanes(const device_batch<T>& hb, int device) {
  JCAS_CUDA_CHECK(cudaSetDevice(device));
  if (!hb.rank1) throw std::invalid_argument("products = lanes: needs line-of-sight (rank-one) channels");
  if (!lanes_fit<T>(hb.dims, device))
    throw std::invalid_argument("products = lanes: a realization's state (" +
                                std::to_string(lanes_slot_bytes<T>(hb.dims)) +
                                " bytes) does not fit a block's shared memory; use --products gemm");
  const device_model<T> model(hb.cfg.unfolded);
  const long slot = lanes_slot_bytes<T>(hb.dims);
  const size_t smem = size_t(lanes_warps) * size_t(slot);
  if (smem > 48 * 1024)
    JCAS_CUDA_CHECK(cudaFuncSetAttribute(lanes_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  chunk_set<T> cs(hb, plan::device_need{hb.what + " (a warp per realization, state in shared memory)", 0, 0});
  each_chunk(hb, cs, [&](const device_chunk<T>& ch, long n) {
    const lanes_args<T> a{hb.dims,        hb.sys,       model.up,    n,         hb.init == device_init::core,
                          hb.zf,          ch.in.h.p,    ch.in.u.p,   ch.in.v.p, ch.in.wf.p,
                          ch.out.curve.p, ch.out.res.p, ch.out.st.p, slot};
    lanes_kernel<T><<<unsigned((n + lanes_warps - 1) / lanes_warps), 32 * lanes_warps, smem>>>(a);
    JCAS_CUDA_CHECK(cudaGetLastError());
  });
}

template void solve_lanes<float>(const device_batch<float>&, int);
template void solve_lanes<double>(const device_batch<double>&, int);
template bool lanes_fit<float>(const problem_dims&, int);
template bool lanes_fit<double>(const problem_dims&, int);

}  // namespace jcas::cuda::detail
