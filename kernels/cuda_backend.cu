// CUDA backend: one thread per realization running the shared core (core/dispatch.hpp),
// per-thread scratch in global memory, batches in chunks. This file: device queries,
// the channel generator and the training gradient; the solve launcher is in
// kernels/cuda_common.cuh (instantiated by solve_f32.cu / solve_f64.cu). Host
// preparation (validation, W0/F0, channel factoring) is in host/cuda_dispatch.cpp.
#include "jcas/core/generator.hpp"
#include "jcas/core/training.hpp"
#include "kernels/cuda_common.cuh"

namespace jcas::cuda::detail {

namespace {

template <class T>
__global__ void loss_grad_kernel(problem_dims d, system_params<T> sys, core::unfolded_params<T> up, long count,
                                 bool rank1, const cplx<T>* h, const cplx<T>* g, const cplx<T>* u, const cplx<T>* v,
                                 const cplx<T>* wf, T scale, T* loss, T* grad, int* st, char* scratch, long ws_bytes) {
  const long b = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= count) return;
  const index_t steps = up.l_in * up.i_w;
  arena ar{scratch + b * ws_bytes};
  core::training_ws<T> ws;
  ws.carve(ar, d, up.l_out, steps);
  const long wf_len = long(d.nt) * d.k + long(d.nr) * d.m, nbeta = long(up.l_out) * up.l_in, np = nbeta + up.mu_count();
  const core::cview<T> w0(wf + b * wf_len, d.nt, d.k), f0(wf + b * wf_len + d.nt * d.k, d.nr, d.m);
  const core::cview<T> hv(h + b * d.nt * d.k, d.nt, d.k);
  T* gb = grad + b * np;
  for (long p = 0; p < np; ++p) gb[p] = 0;
  status s;
  if (rank1) {
    const core::rank1_channels<T> ch{hv, u + b * d.nr * d.j(), v + b * d.nt * d.j(), d.nr, d.nt, d.j()};
    s = core::unfolded_loss_grad<T>(ch, d, sys, up, w0, f0, scale, ws, loss + b, gb, gb + nbeta);
  } else {
    const core::dense_channels<T> ch{hv, g + b * long(d.j()) * d.nr * d.nt, d.nr, d.nt, d.j()};
    s = core::unfolded_loss_grad<T>(ch, d, sys, up, w0, f0, scale, ws, loss + b, gb, gb + nbeta);
  }
  st[b] = int(s);
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

__global__ void generate_kernel(scenario sc, std::uint64_t seed, long first, long count, cplx<double>* h,
                                cplx<double>* g) {
  const long b = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= count) return;
  const problem_dims& d = sc.dims;
  core::generate_realization(sc, seed, std::uint64_t(first + b), h + b * d.nt * d.k, g + b * long(d.j()) * d.nr * d.nt);
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

void generate(const scenario& sc, std::uint64_t seed, long first, long count, int device, cplx<double>* h,
              cplx<double>* g) {
  JCAS_CUDA_CHECK(cudaSetDevice(device));
  const problem_dims& d = sc.dims;
  const size_t hs = size_t(d.nt) * d.k, gs = size_t(d.j()) * d.nr * d.nt;
  const long chunk = chunk_size(count, (hs + gs) * sizeof(cplx<double>), 1L << 20);
  dev_buf<cplx<double>> dh(size_t(chunk) * hs), dg(size_t(chunk) * gs);
  for (long b0 = 0; b0 < count; b0 += chunk) {
    const long n = std::min(chunk, count - b0);
    const int threads = 128;
    generate_kernel<<<unsigned((n + threads - 1) / threads), threads>>>(sc, seed, first + b0, n, dh.p, dg.p);
    JCAS_CUDA_CHECK(cudaGetLastError());
    to_host(h + size_t(b0) * hs, dh.p, size_t(n) * hs);
    to_host(g + size_t(b0) * gs, dg.p, size_t(n) * gs);
  }
}

double loss_grad(const device_batch<double>& hb, double scale, double* grad, int device) {
  JCAS_CUDA_CHECK(cudaSetDevice(device));
  const problem_dims d = hb.dims;
  core::unfolded_params<double> up = hb.cfg.unfolded;
  const index_t steps = up.l_in * up.i_w;
  const long ws_bytes = core::training_ws<double>::bytes(d, up.l_out, steps);
  const long nbeta = long(up.l_out) * up.l_in, np = nbeta + up.mu_count(), n = hb.count;
  const device_model<double> model(hb.cfg.unfolded);
  // Chunks bound the per-thread training scratch (6.5 MB each at the paper's sizes, nearly all
  // of it the layers' tapes: core/training.hpp).
  const size_t item = size_t(ws_bytes) + sizeof(double) * size_t(np + 1) + sizeof(int) + input_bytes<double>(d);
  const long chunk = chunk_size(n, item, 1L << 16);
  device_inputs<double> in(hb, chunk);
  dev_buf<double> l{size_t(chunk)}, gr{size_t(chunk * np)};
  dev_buf<int> st{size_t(chunk)};
  dev_buf<char> scratch(size_t(chunk * ws_bytes));
  dev_buf<double> acc{size_t(np + 1)};  // [gradient sums..., loss sum]
  JCAS_CUDA_CHECK(cudaMemset(acc.p, 0, sizeof(double) * size_t(np + 1)));
  for (long b0 = 0; b0 < n; b0 += chunk) {
    const long c = std::min(chunk, n - b0);
    in.upload(hb, b0, c);
    const int threads = 32;
    loss_grad_kernel<double><<<unsigned((c + threads - 1) / threads), threads>>>(
        d, hb.sys, model.up, c, hb.rank1, in.h.p, in.g.p, in.u.p, in.v.p, in.wf.p, scale, l.p, gr.p, st.p, scratch.p,
        ws_bytes);
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
