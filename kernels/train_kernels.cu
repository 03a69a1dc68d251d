// The training gradient on the GPU (SPEC.md 6, eq. 19): each realization's loss and
// gradient through all layers (core/training.hpp) by a warp -- its workspace's near part
// in the block's shared memory where it fits, else all of it in global memory -- or by a
// thread, then the deterministic sum over the chunk's realizations. Host preparation is in
// host/cuda_dispatch.cpp (loss_and_gradient); the kernels' resources are held to a budget
// by tests/backend/kernel_resources.sh.
#include "jcas/core/training.hpp"
#include "kernels/cuda_common.cuh"
#include "kernels/warp_team.cuh"

namespace jcas::cuda::detail {

namespace {

/// One chunk of a training step: inputs, and one loss, gradient and status per realization.
template <class T>
struct train_args {
  problem_dims d;
  system_params<T> sys;
  core::unfolded_params<T> up;
  long count;
  bool rank1;
  const cplx<T>*h, *g, *u, *v, *wf;
  T scale;
  T *loss, *grad;
  int* st;
  char* scratch;  // count x ws_bytes: each realization's workspace, or (the shared kernel) its far part
  long ws_bytes;
};

/// What a realization's step reads through views: its workspace (carved) and its channels.
/// A warp keeps them in shared memory, written by lane 0, so that no lane holds them on
/// its stack (tests/backend/kernel_resources.sh).
template <class T>
struct train_views {
  core::training_ws<T> ws;
  core::rank1_channels<T> r1;
  core::dense_channels<T> dense;

  /// Realization b's views: the workspace from near and far (one arena: all of it in global
  /// memory, with the tapes kept while they fit core::tape_budget; near in shared memory:
  /// the tape recomputed), the channels from the chunk's inputs.
  template <class A, class B>
  __device__ void carve(A& near, B& far, const train_args<T>& a, long b, long budget) {
    const problem_dims& d = a.d;
    ws.carve(near, far, d, a.up.l_out, a.up.l_in * a.up.i_w, budget);
    const core::cview<T> hv(a.h + b * d.nt * d.k, d.nt, d.k);
    if (a.rank1)
      r1 = {hv, a.u + b * d.nr * d.j(), a.v + b * d.nt * d.j(), d.nr, d.nt, d.j()};
    else
      dense = {hv, a.g + b * long(d.j()) * d.nr * d.nt, d.nr, d.nt, d.j()};
  }
  /// Line-of-sight channels (H, u_j, v_j: 3 KB in double at the paper's size) from `near`
  /// instead: r1's views point there; copy_channels fills them.
  template <class A>
  JCAS_HD void channels_near(A& near, const problem_dims& d) {
    const cplx<T>* h = near.template take<cplx<T>>(long(d.nt) * d.k);
    const cplx<T>* u = near.template take<cplx<T>>(long(d.nr) * d.j());
    const cplx<T>* v = near.template take<cplx<T>>(long(d.nt) * d.j());
    r1 = {core::cview<T>(h, d.nt, d.k), u, v, d.nr, d.nt, d.j()};
  }
  /// Realization b's channels into channels_near's copies, divided over `lanes` lanes.
  __device__ void copy_channels(const train_args<T>& a, long b, int lane, int lanes) const {
    const problem_dims& d = a.d;
    const long nh = long(d.nt) * d.k, nu = long(d.nr) * d.j(), nv = long(d.nt) * d.j();
    cplx<T>* h = const_cast<cplx<T>*>(r1.h.data);
    cplx<T>* u = const_cast<cplx<T>*>(r1.u);
    cplx<T>* v = const_cast<cplx<T>*>(r1.v);
    for (long e = lane; e < nh + nu + nv; e += lanes) {
      if (e < nh)
        h[e] = a.h[b * nh + e];
      else if (e < nh + nu)
        u[e - nh] = a.u[b * nu + e - nh];
      else
        v[e - nh - nu] = a.v[b * nv + e - nh - nu];
    }
  }
  /// Bytes of the shared route's dynamic shared memory: the workspace's near part, the
  /// tape recomputed, and line-of-sight channels.
  static long near_bytes(const problem_dims& d, const core::unfolded_params<T>& up, bool rank1) {
    arena_counter near, far;
    train_views tv;
    tv.ws.carve(near, far, d, up.l_out, up.l_in * up.i_w, 0);
    if (rank1) tv.channels_near(near, d);
    return near.used;
  }
};

/// Realization b's loss and gradient by `team` (every rank calls it) with its views
/// carved: core/training.hpp.
JCAS_NO_EXEC_CHECK
template <class T, class Team>
__device__ void loss_grad_one(const Team& team, long b, const train_args<T>& a, train_views<T>& tv) {
  const problem_dims& d = a.d;
  const long wf_len = long(d.nt) * d.k + long(d.nr) * d.m, nbeta = long(a.up.l_out) * a.up.l_in,
             np = nbeta + a.up.mu_count();
  const core::cview<T> w0(a.wf + b * wf_len, d.nt, d.k), f0(a.wf + b * wf_len + d.nt * d.k, d.nr, d.m);
  T* gb = a.grad + b * np;
  for (long p = team.rank(); p < np; p += team.size()) gb[p] = 0;
  team.sync();
  const status s = a.rank1 ? core::unfolded_loss_grad<T>(tv.r1, d, a.sys, a.up, w0, f0, a.scale, tv.ws, a.loss + b, gb,
                                                         gb + nbeta, core::no_marks{}, team)
                           : core::unfolded_loss_grad<T>(tv.dense, d, a.sys, a.up, w0, f0, a.scale, tv.ws, a.loss + b,
                                                         gb, gb + nbeta, core::no_marks{}, team);
  if (team.rank() == 0) a.st[b] = int(s);
}

/// A thread per realization: a step of B realizations is the time of one thread's whole
/// forward and backward pass (bench/RESULTS.md: at least 12.6 s for the paper's training).
template <class T>
__global__ void loss_grad_kernel(const __grid_constant__ train_args<T> a) {
  const long b = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= a.count) return;
  arena ar{a.scratch + b * a.ws_bytes};
  train_views<T> tv;
  tv.carve(ar, ar, a, b, core::tape_budget);
  loss_grad_one(core::serial_team{}, b, a, tv);
}

/// Warps (realizations) per block of the training's warp kernel with its workspace in
/// global memory.
constexpr int train_warps = 4;

/// A warp per realization (core/training.hpp, team pieces): D(W), the steps and their
/// adjoints divided over the 32 lanes, the metrics' scalars and the Cholesky factors on
/// lane 0; the whole workspace, the tapes of every layer kept, in global memory.
template <class T>
__global__ void __launch_bounds__(32 * train_warps) loss_grad_warp_kernel(const __grid_constant__ train_args<T> a) {
  __shared__ train_views<T> views[train_warps];
  const int warp = int(threadIdx.x / 32);
  const long b = long(blockIdx.x) * train_warps + warp;
  if (b >= a.count) return;  // the whole warp: no lane is left waiting at a barrier
  if (threadIdx.x % 32 == 0) {
    arena ar{a.scratch + b * a.ws_bytes};
    views[warp].carve(ar, ar, a, b, core::tape_budget);
  }
  __syncwarp();
  loss_grad_one(warp_team{}, b, a, views[warp]);
}

/// A warp per realization as above, a block each, the workspace's near part (one layer's
/// tape, recomputed in the backward, the adjoints, the metrics, near copies of the layer's
/// states) and line-of-sight channels in the block's shared memory: everything a phase
/// reads, 74.9 KB in double at the paper's size (3 blocks an SM). Only the saved (W, F) of
/// every layer are in global memory, written once a layer forward and read once backward.
template <class T>
__global__ void __launch_bounds__(32) loss_grad_shared_kernel(const __grid_constant__ train_args<T> a) {
  extern __shared__ __align__(16) unsigned char near_smem[];
  __shared__ train_views<T> tv;
  const long b = blockIdx.x;
  if (threadIdx.x == 0) {
    arena near{reinterpret_cast<char*>(near_smem)}, far{a.scratch + b * a.ws_bytes};
    tv.carve(near, far, a, b, 0);
    if (a.rank1) tv.channels_near(near, a.d);
  }
  __syncwarp();
  if (a.rank1) tv.copy_channels(a, b, int(threadIdx.x), 32);
  __syncwarp();
  loss_grad_one(warp_team{}, b, a, tv);
}

/// Deterministic reduction over realizations: thread p < np adds the chunk's gradients
/// of parameter p, thread np its losses, into acc, in realization order, the order of a
/// sequential host loop: the sum is the same bit for bit whatever the chunking or launch
/// shape, and only np + 1 numbers leave the device.
__global__ void accumulate_kernel(long count, long np, const double* grad, const double* loss, double* acc) {
  const long p = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p > np) return;
  double s = acc[p];
  if (p < np)
    for (long i = 0; i < count; ++i) s += grad[i * np + p];  // coalesced across p
  else
    for (long i = 0; i < count; ++i) s += loss[i];
  acc[p] = s;
}

}  // namespace

/// Bytes of a realization's training workspace in a block's shared memory (its near part,
/// the tape recomputed) when the warp route may put it there and it fits the device, else 0.
long train_near_bytes(const device_batch<double>& hb, int device) {
  if (hb.train != train_kernel::warp) return 0;
  const core::unfolded_params<double>& up = hb.cfg.unfolded;
  const long near = train_views<double>::near_bytes(hb.dims, up, hb.rank1);
  int optin = 0;
  JCAS_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  return near + long(sizeof(train_views<double>)) <= optin ? near : 0;
}

double loss_grad(const device_batch<double>& hb, double scale, double* grad, int device) {
  JCAS_CUDA_CHECK(cudaSetDevice(device));
  const problem_dims d = hb.dims;
  core::unfolded_params<double> up = hb.cfg.unfolded;
  const index_t steps = up.l_in * up.i_w;
  const long near = train_near_bytes(hb, device);
  // In shared memory only the saved states are global; else the whole workspace is (6.5 MB
  // a realization at the paper's sizes, nearly all of it the layers' tapes: core/training.hpp).
  const long ws_bytes = near > 0 ? core::training_ws<double>::far_bytes(d, up.l_out)
                                 : core::training_ws<double>::bytes(d, up.l_out, steps);
  const long nbeta = long(up.l_out) * up.l_in, np = nbeta + up.mu_count(), n = hb.count;
  const device_model<double> model(hb.cfg.unfolded);
  // Chunks bound the per-realization global scratch.
  const size_t item =
      size_t(ws_bytes) + sizeof(double) * size_t(np + 1) + sizeof(int) + input_bytes<double>(d, hb.rank1);
  const long chunk = chunk_size(
      n, plan::device_need{"CUDA training step", double(sizeof(double) * 4 * size_t(np)), double(item)}, 1L << 16);
  device_inputs<double> in(hb, chunk);
  dev_buf<double> l{size_t(chunk), "the losses"}, gr{size_t(chunk * np), "the gradients"};
  dev_buf<int> st{size_t(chunk), "the statuses"};
  dev_buf<char> scratch(size_t(chunk * ws_bytes), near > 0 ? "the training states" : "the training tapes");
  dev_buf<double> acc{size_t(np + 1), "the gradient sums"};  // [gradient sums..., loss sum]
  JCAS_CUDA_CHECK(cudaMemset(acc.p, 0, sizeof(double) * size_t(np + 1)));
  if (near > 48 * 1024)
    JCAS_CUDA_CHECK(
        cudaFuncSetAttribute(loss_grad_shared_kernel<double>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(near)));
  for (long b0 = 0; b0 < n; b0 += chunk) {
    const long c = std::min(chunk, n - b0);
    in.upload(hb, b0, c);
    const train_args<double> ta{d,      hb.sys,  model.up, c,   hb.rank1, in.h.p, in.g.p,    in.u.p,
                                in.v.p, in.wf.p, scale,    l.p, gr.p,     st.p,   scratch.p, ws_bytes};
    if (hb.train == train_kernel::thread)
      loss_grad_kernel<double><<<unsigned((c + 31) / 32), 32>>>(ta);
    else if (near > 0)
      loss_grad_shared_kernel<double><<<unsigned(c), 32, size_t(near)>>>(ta);
    else
      loss_grad_warp_kernel<double><<<unsigned((c + train_warps - 1) / train_warps), 32 * train_warps>>>(ta);
    JCAS_CUDA_CHECK(cudaGetLastError());
    accumulate_kernel<<<unsigned((np + 1 + 127) / 128), 128>>>(c, np, gr.p, l.p, acc.p);
    JCAS_CUDA_CHECK(cudaGetLastError());
    JCAS_CUDA_CHECK(cudaDeviceSynchronize());
    to_host(hb.status + b0, st.p, size_t(c));
  }
  std::vector<double> sums(size_t(np + 1));
  to_host(sums.data(), acc.p, size_t(np + 1));
  std::copy(sums.begin(), sums.begin() + np, grad);
  return sums[size_t(np)];
}

}  // namespace jcas::cuda::detail
