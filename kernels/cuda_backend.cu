// CUDA backend: one thread per realization running the shared core (core/dispatch.hpp),
// per-thread scratch in global memory, batches in chunks. This file: device queries and
// the channel generator; the training gradient is in kernels/train_kernels.cu, the solve
// launcher in kernels/cuda_common.cuh (instantiated by solve_f32.cu / solve_f64.cu). Host
// preparation (validation, W0/F0, channel factoring) is in host/cuda_dispatch.cpp.
#include "jcas/core/generator.hpp"
#include "kernels/cuda_common.cuh"

namespace jcas::cuda::detail {

namespace {

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

}  // namespace jcas::cuda::detail
