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
  /// Set (the trainer): realization b of the chunk is input idx[b] (its channels and start;
  /// outputs stay at b), and the shared mu_c, mu_s are mu[0], mu[1] in device memory (the
  /// parameters change there between steps); up's tables point there too.
  const long* idx = nullptr;
  const T* mu = nullptr;
  JCAS_HD long src(long b) const { return idx ? idx[b] : b; }
};

/// What a realization's step reads through views: its workspace (carved) and its channels.
/// A warp keeps them in shared memory, written by lane 0, so that no lane holds them on
/// its stack (tests/backend/kernel_resources.sh).
template <class T>
struct train_views {
  core::training_ws<T> ws;
  core::rank1_channels<T> r1;
  core::dense_channels<T> dense;
  core::unfolded_params<T> up;  // the step's model: a.up, its shared mu from a.mu where set (the trainer's)

  /// Realization b's views: the workspace from near and far (one arena: all of it in global
  /// memory, with the tapes kept while they fit core::tape_budget; near in shared memory:
  /// the tape recomputed), the channels from the chunk's inputs.
  template <class A, class B>
  __device__ void carve(A& near, B& far, const train_args<T>& a, long b, long budget) {
    const problem_dims& d = a.d;
    ws.carve(near, far, d, a.up.l_out, a.up.l_in * a.up.i_w, budget);
    up = a.up;
    if (a.mu) up.mu_c = a.mu[0], up.mu_s = a.mu[1];
    const long s = a.src(b);
    const core::cview<T> hv(a.h + s * d.nt * d.k, d.nt, d.k);
    if (a.rank1)
      r1 = {hv, a.u + s * d.nr * d.j(), a.v + s * d.nt * d.j(), d.nr, d.nt, d.j()};
    else
      dense = {hv, a.g + s * long(d.j()) * d.nr * d.nt, d.nr, d.nt, d.j()};
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
    const long nh = long(d.nt) * d.k, nu = long(d.nr) * d.j(), nv = long(d.nt) * d.j(), s = a.src(b);
    cplx<T>* h = const_cast<cplx<T>*>(r1.h.data);
    cplx<T>* u = const_cast<cplx<T>*>(r1.u);
    cplx<T>* v = const_cast<cplx<T>*>(r1.v);
    for (long e = lane; e < nh + nu + nv; e += lanes) {
      if (e < nh)
        h[e] = a.h[s * nh + e];
      else if (e < nh + nu)
        u[e - nh] = a.u[s * nu + e - nh];
      else
        v[e - nh - nu] = a.v[s * nv + e - nh - nu];
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
             np = nbeta + a.up.mu_count(), src = a.src(b);
  const core::cview<T> w0(a.wf + src * wf_len, d.nt, d.k), f0(a.wf + src * wf_len + d.nt * d.k, d.nr, d.m);
  T* gb = a.grad + b * np;
  for (long p = team.rank(); p < np; p += team.size()) gb[p] = 0;
  team.sync();
  const status s = a.rank1 ? core::unfolded_loss_grad<T>(tv.r1, d, a.sys, tv.up, w0, f0, a.scale, tv.ws, a.loss + b, gb,
                                                         gb + nbeta, core::no_marks{}, team)
                           : core::unfolded_loss_grad<T>(tv.dense, d, a.sys, tv.up, w0, f0, a.scale, tv.ws, a.loss + b,
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
  __shared__ shared_room<train_views<T>> views[train_warps];
  const int warp = int(threadIdx.x / 32);
  const long b = long(blockIdx.x) * train_warps + warp;
  if (b >= a.count) return;  // the whole warp: no lane is left waiting at a barrier
  if (threadIdx.x % 32 == 0) {
    arena ar{a.scratch + b * a.ws_bytes};
    views[warp].make().carve(ar, ar, a, b, core::tape_budget);
  }
  __syncwarp();
  loss_grad_one(warp_team{}, b, a, *views[warp]);
}

/// A warp per realization as above, a block each, the workspace's near part (one layer's
/// tape, recomputed in the backward, the adjoints, the metrics, near copies of the layer's
/// states) and line-of-sight channels in the block's shared memory: everything a phase
/// reads, 74.9 KB in double at the paper's size (3 blocks an SM). Only the saved (W, F) of
/// every layer are in global memory, written once a layer forward and read once backward.
template <class T>
__global__ void __launch_bounds__(32) loss_grad_shared_kernel(const __grid_constant__ train_args<T> a) {
  extern __shared__ __align__(16) unsigned char near_smem[];
  __shared__ shared_room<train_views<T>> room;
  train_views<T>& tv = *room;
  const long b = blockIdx.x;
  if (threadIdx.x == 0) {
    arena near{reinterpret_cast<char*>(near_smem)}, far{a.scratch + b * a.ws_bytes};
    room.make().carve(near, far, a, b, 0);
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
/// shape, and only np + 1 numbers leave the device. Where `bad` is set, thread np also
/// keeps the chunk's first failed realization, unless one is kept: bad = {step, input
/// index (idx[i], else i), status}.
__global__ void accumulate_kernel(long count, long np, const double* grad, const double* loss, double* acc,
                                  const int* st, const long* idx, long step, long* bad) {
  const long p = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p > np) return;
  double s = acc[p];
  if (p < np)
    for (long i = 0; i < count; ++i) s += grad[i * np + p];  // coalesced across p
  else
    for (long i = 0; i < count; ++i) s += loss[i];
  acc[p] = s;
  if (p == np && bad && bad[0] < 0)
    for (long i = 0; i < count; ++i)
      if (st[i] != 0) {
        bad[0] = step, bad[1] = idx ? idx[i] : i, bad[2] = st[i];
        break;
      }
}

/// One Adam step (core::adam_update, the host's formula) of parameter p < np on the
/// step's summed gradient acc[p]; thread np keeps the step's loss acc[np] in *loss. acc is
/// left zero for the next step.
__global__ void adam_kernel(long np, const core::adam_coeffs c, double* theta, double* m, double* v, double* acc,
                            double* loss) {
  const long p = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p > np) return;
  if (p < np)
    core::adam_update(p, theta[p], acc[p], m[p], v[p], c);
  else
    *loss = acc[np];
  acc[p] = 0;
}

/// Threads a block of the per-parameter kernels, and their blocks for np + 1 threads.
constexpr int param_threads = 128;
inline unsigned param_blocks(long np) { return unsigned((np + 1 + param_threads - 1) / param_threads); }

/// What a step's gradient needs on the device beside its inputs: the kernel, its shared
/// memory, each realization's scratch, and the per-realization losses, gradients and
/// statuses of a chunk of at most `chunk` realizations. Sized for a batch of realizations
/// of hb's sizes and channel form (hb.rank1) on the current device.
struct gradient_buffers {
  train_kernel kernel;
  long near, ws_bytes, np;
  size_t resident;  // the inputs' bytes a realization that chunk was sized beside
  long chunk;
  dev_buf<double> l, gr;
  dev_buf<int> st;
  dev_buf<char> scratch;

  static long params(const core::unfolded_params<double>& up) { return long(up.l_out) * up.l_in + up.mu_count(); }
  /// Global bytes of a realization's training workspace: the saved states only where the
  /// rest is in shared memory (near > 0), else all of it (6.5 MB at the paper's sizes,
  /// nearly all of it the layers' tapes: core/training.hpp).
  static long workspace(const device_batch<double>& hb, long near) {
    const core::unfolded_params<double>& up = hb.cfg.unfolded;
    return near > 0 ? core::training_ws<double>::far_bytes(hb.dims, up.l_out)
                    : core::training_ws<double>::bytes(hb.dims, up.l_out, up.l_in * up.i_w);
  }
  /// Realizations a chunk: `batch` at most, fewer where the device's memory bounds them
  /// beside `resident` bytes a realization (inputs kept for the whole run: the trainer's).
  static long chunk_of(const device_batch<double>& hb, long batch, long np, long ws_bytes, size_t resident) {
    const size_t item = size_t(ws_bytes) + sizeof(double) * size_t(np + 1) + sizeof(int) + resident;
    return chunk_size(batch,
                      plan::device_need{"CUDA training step", double(sizeof(double) * 4 * size_t(np)), double(item)},
                      1L << 16);
  }
  gradient_buffers(const device_batch<double>& hb, long batch, size_t resident_bytes, int device)
      : kernel(hb.train),
        near(train_near_bytes(hb, device)),
        ws_bytes(workspace(hb, near)),
        np(params(hb.cfg.unfolded)),
        resident(resident_bytes),
        chunk(chunk_of(hb, batch, np, ws_bytes, resident_bytes)),
        l(size_t(chunk), "the losses"),
        gr(size_t(chunk * np), "the gradients"),
        st(size_t(chunk), "the statuses"),
        scratch(size_t(chunk * ws_bytes), near > 0 ? "the training states" : "the training tapes") {
    if (near > 48 * 1024)
      JCAS_CUDA_CHECK(cudaFuncSetAttribute(loss_grad_shared_kernel<double>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           int(near)));
    // All of the SM's unified L1 / shared memory as shared memory: 3 blocks of 77.3 KB (at
    // the paper's size, with the static views and the 1 KB the system keeps a block) need
    // 231.8 of its 233.5 KB (228 KiB).
    if (near > 0)
      JCAS_CUDA_CHECK(cudaFuncSetAttribute(loss_grad_shared_kernel<double>,
                                           cudaFuncAttributePreferredSharedMemoryCarveout,
                                           int(cudaSharedmemCarveoutMaxShared)));
  }

  /// Queues ta.count <= chunk realizations' losses and gradients (ta's outputs, scratch
  /// and ws_bytes are set here) and their sum into acc on `stream`: accumulate_kernel,
  /// with bad.
  void queue(train_args<double> ta, double* acc, long step, long* bad, cudaStream_t stream) {
    ta.loss = l.p, ta.grad = gr.p, ta.st = st.p, ta.scratch = scratch.p, ta.ws_bytes = ws_bytes;
    const long c = ta.count;
    if (kernel == train_kernel::thread)
      loss_grad_kernel<double><<<unsigned((c + 31) / 32), 32, 0, stream>>>(ta);
    else if (near > 0)
      loss_grad_shared_kernel<double><<<unsigned(c), 32, size_t(near), stream>>>(ta);
    else
      loss_grad_warp_kernel<double><<<unsigned((c + train_warps - 1) / train_warps), 32 * train_warps, 0, stream>>>(ta);
    JCAS_CUDA_CHECK(cudaGetLastError());
    accumulate_kernel<<<param_blocks(np), param_threads, 0, stream>>>(c, np, gr.p, l.p, acc, st.p, ta.idx, step, bad);
    JCAS_CUDA_CHECK(cudaGetLastError());
  }
};

/// A chunk's kernel arguments for hb's sizes and model `up`, its inputs from `in`.
train_args<double> args_of(const device_batch<double>& hb, const core::unfolded_params<double>& up,
                           const device_inputs<double>& in, long count, double scale) {
  train_args<double> ta{};
  ta.d = hb.dims, ta.sys = hb.sys, ta.up = up, ta.count = count, ta.rank1 = hb.rank1;
  ta.h = in.h.p, ta.g = in.g.p, ta.u = in.u.p, ta.v = in.v.p, ta.wf = in.wf.p, ta.scale = scale;
  return ta;
}

/// SPEC.md 3's start of realizations b0 .. b0 + n - 1 of a set drawn on the device (rank
/// one): W0 = Pi_S(H) or Pi_S(zero-forcing) (zf), F0 by the rank-one closed form, into
/// wf; a thread each, its f0_ws in scratch (n x ws_bytes). The solve kernel's start
/// (kernels/cuda_common.cuh), alone.
__global__ void start_kernel(const problem_dims d, const system_params<double> sys, bool zf, long b0, long n,
                             const cplx<double>* h, const cplx<double>* u, const cplx<double>* v, cplx<double>* wf,
                             char* scratch, long ws_bytes, int* st) {
  const long i = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const long b = b0 + i, wf_len = long(d.nt) * d.k + long(d.nr) * d.m;
  arena ar{scratch + i * ws_bytes};
  core::f0_ws<double> f0w;
  f0w.carve(ar, d);
  const core::rank1_channels<double> ch{core::cview<double>(h + b * d.nt * d.k, d.nt, d.k),
                                        u + b * d.nr * d.j(),
                                        v + b * d.nt * d.j(),
                                        d.nr,
                                        d.nt,
                                        d.j()};
  const core::mview<double> w(wf + b * wf_len, d.nt, d.k), f(wf + b * wf_len + d.nt * d.k, d.nr, d.m);
  st[i] = int(core::start_wf<double>(ch, d, sys, zf, w, f, f0w));
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
  const device_model<double> model(hb.cfg.unfolded);
  const long n = hb.count;
  gradient_buffers gb(hb, n, input_bytes<double>(hb.dims, hb.rank1), device);
  const long np = gb.np, chunk = gb.chunk;
  device_inputs<double> in(hb, chunk);
  dev_buf<double> acc{size_t(np + 1), "the gradient sums"};  // [gradient sums..., loss sum]
  JCAS_CUDA_CHECK(cudaMemset(acc.p, 0, sizeof(double) * size_t(np + 1)));
  for (long b0 = 0; b0 < n; b0 += chunk) {
    const long c = std::min(chunk, n - b0);
    in.upload(hb, b0, c);
    gb.queue(args_of(hb, model.up, in, c, scale), acc.p, 0, nullptr, cudaStreamLegacy);
    JCAS_CUDA_CHECK(cudaDeviceSynchronize());
    to_host(hb.status + b0, gb.st.p, size_t(c));
  }
  std::vector<double> sums(size_t(np + 1));
  to_host(sums.data(), acc.p, size_t(np + 1));
  std::copy(sums.begin(), sums.begin() + np, grad);
  return sums[size_t(np)];
}

/// Steps a trainer keeps in flight at most: a step waits for the one this many before it,
/// so that the host sees the losses (the progress) step by step and a stop waits for at
/// most this many, while the device always has the next steps queued.
constexpr int step_window = 8;

/// Host memory the device writes (mapped, pinned): the steps' losses, read by the host
/// once their step's event has completed, without a copy that would wait for the queue.
struct mapped_losses {
  double* host = nullptr;
  double* dev = nullptr;
  explicit mapped_losses(long n) {
    JCAS_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&host), sizeof(double) * size_t(n), cudaHostAllocMapped));
    JCAS_CUDA_CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&dev), host, 0));
  }
  ~mapped_losses() { cudaFreeHost(host); }
  mapped_losses(const mapped_losses&) = delete;
  mapped_losses& operator=(const mapped_losses&) = delete;
  double at(long i) const { return *static_cast<volatile const double*>(host + i); }
};

/// The trainer's device side (device_batch.hpp): the run's realizations resident, the
/// epoch's order, the parameters and Adam's moments, a step's buffers, and the queued
/// steps' losses, events and first failure.
///
/// Its kernels run on a stream of its own, non-blocking: trainers of different host
/// threads (several models trained at once) then run side by side on one device, and the
/// legacy default stream that jcas's other work and its buffers' pool use neither waits
/// for them nor makes them wait. What a trainer does on the legacy stream (allocations,
/// frees, copies, the draw, thrust) sits between to_legacy() and from_legacy(): after the
/// trainer's queued kernels, before its next ones.
struct train_state {
  int device;
  cudaStream_t stream = nullptr;
  cudaEvent_t joint = nullptr;  // records where one stream's work ends for the other to wait
  device_batch<double> hb;      // the sizes, the model's structure, the kernel; no host arrays kept
  long max_batch, np, nbeta, count = 0;
  std::unique_ptr<device_inputs<double>> data;  // every realization of the set, uploaded once
  std::unique_ptr<gradient_buffers> grad;
  dev_buf<double> theta, m, v, acc;
  dev_buf<long> bad;  // {step, realization, status} of the first failure; step -1: none
  std::unique_ptr<dev_buf<long>> order;
  std::unique_ptr<mapped_losses> losses;  // one per step queued since the last wait
  cudaEvent_t done_ev[step_window] = {};  // step q's completion in slot q % step_window
  // Steps since the last wait: queued; known to be done; whose losses train_done returned.
  long order_len = 0, queued = 0, seen = 0, reported = 0;

  train_state(const device_batch<double>& b, long batch, int dev)
      : device(dev),
        hb(b),
        max_batch(batch),
        np(gradient_buffers::params(b.cfg.unfolded)),
        nbeta(long(b.cfg.unfolded.l_out) * b.cfg.unfolded.l_in),
        theta(size_t(np), "the model's parameters"),
        m(size_t(np), "Adam's first moments"),
        v(size_t(np), "Adam's second moments"),
        acc(size_t(np + 1), "the gradient sums"),
        bad(3, "the first failure") {
    JCAS_CUDA_CHECK(nonblocking_stream(&stream));
    JCAS_CUDA_CHECK(cudaEventCreateWithFlags(&joint, cudaEventDisableTiming));
    for (cudaEvent_t& e : done_ev) JCAS_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    JCAS_CUDA_CHECK(cudaMemset(acc.p, 0, sizeof(double) * size_t(np + 1)));
    JCAS_CUDA_CHECK(cudaMemset(bad.p, 0xff, sizeof(long) * 3));  // -1
    from_legacy();
  }
  ~train_state() {
    if (stream) cudaStreamSynchronize(stream);  // nothing queued writes to what is freed
    for (cudaEvent_t e : done_ev)
      if (e) cudaEventDestroy(e);
    if (joint) cudaEventDestroy(joint);
    if (stream) cudaStreamDestroy(stream);
  }
  /// The legacy stream's next work (a free, a copy, a kernel) waits for the trainer's queued
  /// kernels.
  void to_legacy() const { join(stream, cudaStreamLegacy); }
  /// The trainer's next kernels wait for the legacy stream's queued work (an allocation,
  /// a copy, the draw).
  void from_legacy() const { join(cudaStreamLegacy, stream); }
  void join(cudaStream_t from, cudaStream_t to) const {
    JCAS_CUDA_CHECK(cudaEventRecord(joint, from));
    JCAS_CUDA_CHECK(cudaStreamWaitEvent(to, joint, 0));  // the event as recorded now: joint may be reused
  }
  train_state(const train_state&) = delete;
  train_state& operator=(const train_state&) = delete;
  /// The model the step kernels read: beta and per-layer mu in theta, shared mu there too.
  core::unfolded_params<double> model() const {
    core::unfolded_params<double> up = hb.cfg.unfolded;
    up.beta = theta.p;
    if (up.per_layer_mu()) up.mu_c_layer = theta.p + nbeta, up.mu_s_layer = theta.p + nbeta + up.l_out;
    return up;
  }
};

void train_state_deleter::operator()(train_state* s) const noexcept {
  if (!s) return;
  cudaSetDevice(s->device);
  delete s;
}

/// The step's buffers for the set's sizes and channel form (s.hb): kept where they fit it,
/// else made anew (the old ones back to the pool first). Resident beside them: the set's
/// inputs and its order (two longs) a realization.
void fit_step_buffers(train_state& s) {
  const size_t resident = input_bytes<double>(s.hb.dims, s.hb.rank1) + 2 * sizeof(long);
  const long near = train_near_bytes(s.hb, s.device);
  if (s.grad && s.grad->near == near && s.grad->ws_bytes == gradient_buffers::workspace(s.hb, near) &&
      s.grad->resident == resident)
    return;
  s.grad.reset();
  s.grad = std::make_unique<gradient_buffers>(s.hb, s.max_batch, resident, s.device);
}

train_handle train_open(const device_batch<double>& hb, long max_batch, int device) {
  JCAS_CUDA_CHECK(cudaSetDevice(device));
  if (max_batch < 1) throw std::invalid_argument("trainer: batch " + std::to_string(max_batch) + " must be >= 1");
  train_handle s(new train_state(hb, max_batch, device));
  s->hb.h = s->hb.g = s->hb.u = s->hb.v = nullptr, s->hb.wf = nullptr, s->hb.status = nullptr;
  train_load(*s, hb);
  return s;
}

void train_load(train_state& s, const device_batch<double>& hb) {
  JCAS_CUDA_CHECK(cudaSetDevice(s.device));
  if (hb.dims != s.hb.dims) throw std::logic_error("trainer: a set of other sizes than the trainer's");
  if (hb.count < 1) throw std::invalid_argument("trainer: no realizations");
  s.to_legacy();
  s.data.reset();  // the old set's memory back to the pool first
  s.hb.rank1 = hb.rank1;
  fit_step_buffers(s);
  s.data = std::make_unique<device_inputs<double>>(hb, hb.count);
  s.data->upload(hb, 0, hb.count);
  s.count = hb.count;
  s.from_legacy();
}

long train_draw(train_state& s, const device_draw& draw, long count, bool zf, int* status) {
  JCAS_CUDA_CHECK(cudaSetDevice(s.device));
  const problem_dims& d = s.hb.dims;
  if (count < 1) throw std::invalid_argument("trainer: no realizations to draw");
  if (draw.sc.dims != d) throw std::logic_error("trainer: a draw of other sizes than the trainer's");
  device_batch<double> hb = s.hb;
  hb.count = count;
  hb.rank1 = true;
  hb.draw = draw;
  s.to_legacy();
  s.data.reset();
  s.hb.rank1 = true;
  fit_step_buffers(s);  // for rank-one channels
  s.data = std::make_unique<device_inputs<double>>(hb, count);
  s.data->upload(hb, 0, count);  // drawn on the device (hb.draw): no copy
  // The start, in chunks whose scratch is bounded; the first failure's status comes back.
  const long ws_bytes = core::f0_ws<double>::bytes(d);
  const long chunk =
      chunk_size(count, plan::device_need{"the training set's start", 0, double(ws_bytes + 4)}, 1L << 16);
  dev_buf<char> scratch(size_t(chunk * ws_bytes), "the start's scratch");
  dev_buf<int> st(size_t(count), "the start's statuses");
  s.from_legacy();  // the draw and the allocations first
  for (long b0 = 0; b0 < count; b0 += chunk) {
    const long n = std::min(chunk, count - b0);
    start_kernel<<<unsigned((n + 127) / 128), 128, 0, s.stream>>>(
        d, s.hb.sys, zf, b0, n, s.data->h.p, s.data->u.p, s.data->v.p, s.data->wf.p, scratch.p, ws_bytes, st.p + b0);
    JCAS_CUDA_CHECK(cudaGetLastError());
  }
  s.count = count;
  s.to_legacy();  // the statuses' search and the scratch's free after the start
  return first_failure(st.p, count, status);
}

void train_order(train_state& s, const long* order, long n) {
  JCAS_CUDA_CHECK(cudaSetDevice(s.device));
  for (long i = 0; i < n; ++i)
    if (order[i] < 0 || order[i] >= s.count)
      throw std::out_of_range("trainer: order[" + std::to_string(i) + "] = " + std::to_string(order[i]) +
                              " is not a realization of the " + std::to_string(s.count) + " loaded");
  if (s.queued > 0) throw std::logic_error("trainer: a new order while steps are queued");
  s.to_legacy();
  if (n > s.order_len || !s.order) {
    s.order.reset(), s.losses.reset();
    s.order = std::make_unique<dev_buf<long>>(size_t(n), "the epoch's order");
    s.losses = std::make_unique<mapped_losses>(n);
    s.order_len = n;
  }
  to_device(s.order->p, order, size_t(n));
  s.from_legacy();
}

void train_set(train_state& s, const double* theta, const double* m, const double* v) {
  JCAS_CUDA_CHECK(cudaSetDevice(s.device));
  s.to_legacy();
  to_device(s.theta.p, theta, size_t(s.np));
  to_device(s.m.p, m, size_t(s.np));
  to_device(s.v.p, v, size_t(s.np));
  s.from_legacy();
}

void train_step(train_state& s, long lo, long hi, const core::adam_coeffs& c) {
  JCAS_CUDA_CHECK(cudaSetDevice(s.device));
  if (!s.order || lo < 0 || hi > s.order_len || hi <= lo || hi - lo > s.max_batch)
    throw std::out_of_range("trainer: step on positions " + std::to_string(lo) + " .. " + std::to_string(hi) +
                            " of an order of " + std::to_string(s.order_len) + ", batches of at most " +
                            std::to_string(s.max_batch));
  if (s.queued >= s.order_len) throw std::logic_error("trainer: more steps queued than the order has positions");
  if (s.queued - s.seen >= step_window) {  // the window is full: wait for its first step
    JCAS_CUDA_CHECK(cudaEventSynchronize(s.done_ev[(s.queued - step_window) % step_window]));
    s.seen = s.queued - step_window + 1;
  }
  gradient_buffers& g = *s.grad;
  const core::unfolded_params<double> up = s.model();
  const long n = hi - lo;
  for (long b0 = 0; b0 < n; b0 += g.chunk) {
    train_args<double> ta = args_of(s.hb, up, *s.data, std::min(g.chunk, n - b0), -1.0 / double(n));
    ta.idx = s.order->p + lo + b0;
    if (!up.per_layer_mu()) ta.mu = s.theta.p + s.nbeta;
    g.queue(ta, s.acc.p, s.queued, s.bad.p, s.stream);
  }
  adam_kernel<<<param_blocks(s.np), param_threads, 0, s.stream>>>(s.np, c, s.theta.p, s.m.p, s.v.p, s.acc.p,
                                                                  s.losses->dev + s.queued);
  JCAS_CUDA_CHECK(cudaGetLastError());
  JCAS_CUDA_CHECK(cudaEventRecord(s.done_ev[s.queued % step_window], s.stream));
  ++s.queued;
}

namespace {
/// The losses of steps reported .. upto - 1 (done), appended to `losses`.
void take_losses(train_state& s, long upto, std::vector<double>& losses) {
  for (; s.reported < upto; ++s.reported) losses.push_back(s.losses->at(s.reported));
}
}  // namespace

void train_done(train_state& s, std::vector<double>& losses) {
  JCAS_CUDA_CHECK(cudaSetDevice(s.device));
  losses.clear();
  while (s.seen < s.queued) {  // the window's slots of seen .. queued - 1 are distinct
    const cudaError_t e = cudaEventQuery(s.done_ev[s.seen % step_window]);
    if (e == cudaErrorNotReady) {
      (void)cudaGetLastError();  // not an error: not done yet
      break;
    }
    JCAS_CUDA_CHECK(e);
    ++s.seen;
  }
  take_losses(s, s.seen, losses);
}

long train_wait(train_state& s, std::vector<double>& losses, long* realization, int* status) {
  JCAS_CUDA_CHECK(cudaSetDevice(s.device));
  JCAS_CUDA_CHECK(cudaStreamSynchronize(s.stream));  // this trainer's steps, not other threads' work
  losses.clear();
  take_losses(s, s.queued, losses);
  long bad[3];
  to_host(bad, s.bad.p, 3);
  s.queued = s.seen = s.reported = 0;
  if (bad[0] < 0) return -1;
  *realization = bad[1];
  *status = int(bad[2]);
  JCAS_CUDA_CHECK(cudaMemsetAsync(s.bad.p, 0xff, sizeof(long) * 3, s.stream));
  return bad[0];
}

void train_get(train_state& s, double* theta, double* m, double* v) {
  JCAS_CUDA_CHECK(cudaSetDevice(s.device));
  JCAS_CUDA_CHECK(cudaStreamSynchronize(s.stream));
  to_host(theta, s.theta.p, size_t(s.np));
  to_host(m, s.m.p, size_t(s.np));
  to_host(v, s.v.p, size_t(s.np));
}

}  // namespace jcas::cuda::detail
