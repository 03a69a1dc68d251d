// CUDA backend: one thread per realization running the shared core (core/dispatch.hpp),
// per-thread scratch in global memory, batches in chunks. This file: device queries,
// the channel generator and the training gradient (a warp per realization by default); the solve launcher is in
// kernels/cuda_common.cuh (instantiated by solve_f32.cu / solve_f64.cu). Host
// preparation (validation, W0/F0, channel factoring) is in host/cuda_dispatch.cpp.
#include "jcas/core/generator.hpp"
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
  char* scratch;  // count x ws_bytes
  long ws_bytes;
};

/// Realization b's loss and gradient by `team` (every rank calls it): core/training.hpp.
JCAS_NO_EXEC_CHECK
template <class T, class Team>
__device__ void loss_grad_one(const Team& team, long b, const train_args<T>& a) {
  const problem_dims& d = a.d;
  const index_t steps = a.up.l_in * a.up.i_w;
  arena ar{a.scratch + b * a.ws_bytes};
  core::training_ws<T> ws;
  ws.carve(ar, d, a.up.l_out, steps);
  const long wf_len = long(d.nt) * d.k + long(d.nr) * d.m, nbeta = long(a.up.l_out) * a.up.l_in,
             np = nbeta + a.up.mu_count();
  const core::cview<T> w0(a.wf + b * wf_len, d.nt, d.k), f0(a.wf + b * wf_len + d.nt * d.k, d.nr, d.m);
  const core::cview<T> hv(a.h + b * d.nt * d.k, d.nt, d.k);
  T* gb = a.grad + b * np;
  for (long p = team.rank(); p < np; p += team.size()) gb[p] = 0;
  team.sync();
  status s;
  if (a.rank1) {
    const core::rank1_channels<T> ch{hv, a.u + b * d.nr * d.j(), a.v + b * d.nt * d.j(), d.nr, d.nt, d.j()};
    s = core::unfolded_loss_grad<T>(ch, d, a.sys, a.up, w0, f0, a.scale, ws, a.loss + b, gb, gb + nbeta,
                                    core::no_marks{}, team);
  } else {
    const core::dense_channels<T> ch{hv, a.g + b * long(d.j()) * d.nr * d.nt, d.nr, d.nt, d.j()};
    s = core::unfolded_loss_grad<T>(ch, d, a.sys, a.up, w0, f0, a.scale, ws, a.loss + b, gb, gb + nbeta,
                                    core::no_marks{}, team);
  }
  if (team.rank() == 0) a.st[b] = int(s);
}

/// A thread per realization: a step of B realizations is the time of one thread's whole
/// forward and backward pass (bench/RESULTS.md: at least 12.6 s for the paper's training).
template <class T>
__global__ void loss_grad_kernel(train_args<T> a) {
  const long b = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= a.count) return;
  loss_grad_one(core::serial_team{}, b, a);
}

/// A warp per realization (core/training.hpp, team pieces): D(W), the steps and their
/// adjoints divided over the 32 lanes, the metrics and the receiver on lane 0.
template <class T>
__global__ void __launch_bounds__(128) loss_grad_warp_kernel(train_args<T> a) {
  const long b = (long(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  if (b >= a.count) return;  // the whole warp: no lane is left waiting at a barrier
  loss_grad_one(warp_team{}, b, a);
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

/// A thread per realization: H and G dense.
__global__ void generate_kernel(scenario sc, std::uint64_t seed, long first, long count, cplx<double>* h,
                                cplx<double>* g) {
  const long b = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= count) return;
  const problem_dims& d = sc.dims;
  core::generate_realization(sc, seed, std::uint64_t(first + b), h + b * d.nt * d.k, g + b * long(d.j()) * d.nr * d.nt);
}

/// A thread per realization: H and G's factors u, v (SPEC.md 7) drawn in double, directly
/// into h, u, v for T = double, else into the realization's slice of `staging` and then
/// rounded to T element by element (as the host rounds a double set: host/batch_inputs.hpp).
template <class T>
__global__ void draw_kernel(scenario sc, std::uint64_t seed, long first, long count, cplx<T>* h, cplx<T>* u, cplx<T>* v,
                            cplx<double>* staging) {
  const long b = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= count) return;
  const problem_dims& d = sc.dims;
  const long hs = long(d.nt) * d.k, us = long(d.j()) * d.nr, vs = long(d.j()) * d.nt;
  const std::uint64_t index = std::uint64_t(first + b);
  if constexpr (std::is_same_v<T, double>) {
    core::generate_realization_rank1(sc, seed, index, h + b * hs, u + b * us, v + b * vs);
  } else {
    cplx<double>* s = staging + b * (hs + us + vs);
    core::generate_realization_rank1(sc, seed, index, s, s + hs, s + hs + us);
    for (long e = 0; e < hs; ++e) h[b * hs + e] = cplx<T>(s[e]);
    for (long e = 0; e < us; ++e) u[b * us + e] = cplx<T>(s[hs + e]);
    for (long e = 0; e < vs; ++e) v[b * vs + e] = cplx<T>(s[hs + us + e]);
  }
}

}  // namespace

int device_count(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why) *why = cudaGetErrorString(e);
    return 0;
  }
  if (n == 0 && why) *why = "no CUDA device";
  return n;
}

void* device_alloc(std::size_t bytes, int device) {
  JCAS_CUDA_CHECK(cudaSetDevice(device));
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes);
  if (e == cudaErrorMemoryAllocation) {  // the pool may hold what is missing (device_util.hpp)
    (void)cudaGetLastError();
    release_pool();
    e = cudaMalloc(&p, bytes);
  }
  JCAS_CUDA_CHECK(e);
  return p;
}
void device_free(void* p, int device) noexcept {
  if (!p) return;
  if (cudaSetDevice(device) == cudaSuccess) cudaFree(p);
}
void copy_to_host(void* host, const void* dev, std::size_t bytes, int device) {
  JCAS_CUDA_CHECK(cudaSetDevice(device));
  JCAS_CUDA_CHECK(cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost));
}
void copy_to_device(void* dev, const void* host, std::size_t bytes, int device) {
  JCAS_CUDA_CHECK(cudaSetDevice(device));
  JCAS_CUDA_CHECK(cudaMemcpy(dev, host, bytes, cudaMemcpyHostToDevice));
}

void order_after(std::uintptr_t stream, int device) {
  JCAS_CUDA_CHECK(cudaSetDevice(device));
  const cudaStream_t s = stream == 2 ? cudaStreamPerThread : reinterpret_cast<cudaStream_t>(stream);
  cudaEvent_t ev;
  JCAS_CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
  cudaError_t e = cudaEventRecord(ev, s);
  if (e == cudaSuccess) e = cudaStreamWaitEvent(cudaStreamLegacy, ev, 0);  // jcas's stream waits
  cudaEventDestroy(ev);  // released once the wait is done; the wait stays queued
  JCAS_CUDA_CHECK(e);
}

device_peaks peaks(int device) {
  cudaDeviceProp p{};
  JCAS_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  const auto attr = [&](cudaDeviceAttr a) {
    int v = 0;
    JCAS_CUDA_CHECK(cudaDeviceGetAttribute(&v, a, device));
    return double(v);
  };
  // FP32 / FP64 FMA lanes per SM (CUDA C++ Programming Guide, arithmetic throughput table).
  struct lanes {
    int major, minor, fp32, fp64;
  };
  constexpr lanes table[] = {{7, 0, 64, 32},  {8, 0, 64, 32},   {8, 6, 128, 2}, {8, 9, 128, 2},
                             {9, 0, 128, 64}, {10, 0, 128, 64}, {12, 0, 128, 2}};
  device_peaks r;
  r.name = p.name;
  const double hz = attr(cudaDevAttrClockRate) * 1e3, sm_hz = attr(cudaDevAttrMultiProcessorCount) * hz;
  for (const lanes& l : table)
    if (l.major == p.major && l.minor == p.minor) {
      r.fp32 = 2 * l.fp32 * sm_hz;
      r.fp64 = 2 * l.fp64 * sm_hz;
      r.fp64_thread = 2 * hz * std::min(1.0, l.fp64 / 128.0);  // 4 partitions an SM (sm_70 on), 32 threads a warp
    }
  r.dram = 2 * attr(cudaDevAttrMemoryClockRate) * 1e3 * attr(cudaDevAttrGlobalMemoryBusWidth) / 8;
  return r;
}

template <class T>
void draw_on_device(const device_draw& draw, long b0, long n, cplx<T>* h, cplx<T>* u, cplx<T>* v,
                    cplx<double>* staging) {
  if (n <= 0) return;
  draw_kernel<T><<<unsigned((n + 127) / 128), 128>>>(draw.sc, draw.seed, draw.first + b0, n, h, u, v, staging);
  JCAS_CUDA_CHECK(cudaGetLastError());
}
template void draw_on_device<float>(const device_draw&, long, long, cplx<float>*, cplx<float>*, cplx<float>*,
                                    cplx<double>*);
template void draw_on_device<double>(const device_draw&, long, long, cplx<double>*, cplx<double>*, cplx<double>*,
                                     cplx<double>*);

void generate(const scenario& sc, std::uint64_t seed, long first, long count, int device, cplx<double>* h,
              cplx<double>* g, cplx<double>* u, cplx<double>* v) {
  JCAS_CUDA_CHECK(cudaSetDevice(device));
  const problem_dims& d = sc.dims;
  const bool dense = g != nullptr;
  const size_t hs = size_t(d.nt) * d.k, gs = dense ? size_t(d.j()) * d.nr * d.nt : 0,
               us = dense ? 0 : size_t(d.j()) * d.nr, vs = dense ? 0 : size_t(d.j()) * d.nt;
  const long chunk = chunk_size(
      count, plan::device_need{"CUDA channel generator", 0, double((hs + gs + us + vs) * sizeof(cplx<double>))},
      1L << 20);
  dev_buf<cplx<double>> dh(size_t(chunk) * hs, "the channels H"), dg(size_t(chunk) * gs, "the channels G"),
      du(size_t(chunk) * us, "G's factors u"), dv(size_t(chunk) * vs, "G's factors v");
  const device_draw draw{sc, seed, first};
  for (long b0 = 0; b0 < count; b0 += chunk) {
    const long n = std::min(chunk, count - b0);
    if (dense) {
      generate_kernel<<<unsigned((n + 127) / 128), 128>>>(sc, seed, first + b0, n, dh.p, dg.p);
      JCAS_CUDA_CHECK(cudaGetLastError());
    } else {
      draw_on_device<double>(draw, b0, n, dh.p, du.p, dv.p, nullptr);
    }
    to_host(h + size_t(b0) * hs, dh.p, size_t(n) * hs);
    if (dense) {
      to_host(g + size_t(b0) * gs, dg.p, size_t(n) * gs);
    } else {
      to_host(u + size_t(b0) * us, du.p, size_t(n) * us);
      to_host(v + size_t(b0) * vs, dv.p, size_t(n) * vs);
    }
  }
}

double loss_grad(const device_batch<double>& hb, double scale, double* grad, int device) {
  JCAS_CUDA_CHECK(cudaSetDevice(device));
  const problem_dims d = hb.dims;
  core::unfolded_params<double> up = hb.cfg.unfolded;
  const index_t steps = up.l_in * up.i_w;
  const long ws_bytes = core::training_ws<double>::bytes(d, up.l_out, steps);
  const long nbeta = long(up.l_out) * up.l_in, np = nbeta + up.mu_count(), n = hb.count;
  const bool by_warp = hb.train_by_warp;
  const device_model<double> model(hb.cfg.unfolded);
  // Chunks bound the per-thread training scratch (6.5 MB each at the paper's sizes, nearly all
  // of it the layers' tapes: core/training.hpp).
  const size_t item =
      size_t(ws_bytes) + sizeof(double) * size_t(np + 1) + sizeof(int) + input_bytes<double>(d, hb.rank1);
  const long chunk = chunk_size(
      n, plan::device_need{"CUDA training step", double(sizeof(double) * 4 * size_t(np)), double(item)}, 1L << 16);
  device_inputs<double> in(hb, chunk);
  dev_buf<double> l{size_t(chunk), "the losses"}, gr{size_t(chunk * np), "the gradients"};
  dev_buf<int> st{size_t(chunk), "the statuses"};
  dev_buf<char> scratch(size_t(chunk * ws_bytes), "the training tapes");
  dev_buf<double> acc{size_t(np + 1), "the gradient sums"};  // [gradient sums..., loss sum]
  JCAS_CUDA_CHECK(cudaMemset(acc.p, 0, sizeof(double) * size_t(np + 1)));
  for (long b0 = 0; b0 < n; b0 += chunk) {
    const long c = std::min(chunk, n - b0);
    in.upload(hb, b0, c);
    const train_args<double> ta{d,      hb.sys,  model.up, c,   hb.rank1, in.h.p, in.g.p,    in.u.p,
                                in.v.p, in.wf.p, scale,    l.p, gr.p,     st.p,   scratch.p, ws_bytes};
    if (by_warp)
      loss_grad_warp_kernel<double><<<unsigned((c + 3) / 4), 128>>>(ta);
    else
      loss_grad_kernel<double><<<unsigned((c + 31) / 32), 32>>>(ta);
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
