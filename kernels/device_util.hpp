// Small device-memory helpers shared by the CUDA translation units: the checked-call
// macro, the process-long memory pool, an owning buffer drawn from it, and host <->
// device copies. CUDA runtime only.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "host/device_plan.hpp"

#define JCAS_CUDA_CHECK(call)                                                                          \
  do {                                                                                                 \
    const cudaError_t e_ = (call);                                                                     \
    if (e_ != cudaSuccess)                                                                             \
      throw std::runtime_error(std::string("CUDA error in ") + #call + ": " + cudaGetErrorString(e_)); \
  } while (0)

namespace jcas::cuda::detail {

/// The process-long memory pool of `device` (issue 26): its default pool, told once to
/// keep what is freed (release threshold: all of it), so that the buffers of a solve after
/// the first come from memory the process already holds, without a driver allocation or
/// the device-wide synchronisation of cudaFree. Null where the device has no memory pools
/// (dev_buf then uses cudaMalloc).
inline cudaMemPool_t keeping_pool(int device) {
  constexpr int most = 64;
  static std::once_flag once[most];
  static cudaMemPool_t pool[most] = {};
  if (device < 0 || device >= most) return nullptr;
  std::call_once(once[device], [device] {
    int supported = 0;
    cudaMemPool_t p = nullptr;
    std::uint64_t keep = ~std::uint64_t(0);
    if (cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, device) == cudaSuccess && supported &&
        cudaDeviceGetDefaultMemPool(&p, device) == cudaSuccess &&
        cudaMemPoolSetAttribute(p, cudaMemPoolAttrReleaseThreshold, &keep) == cudaSuccess)
      pool[device] = p;
    (void)cudaGetLastError();  // an unsupported query must not be reported by a later call
  });
  return pool[device];
}

inline int current_device() {
  int device = 0;
  JCAS_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

/// Free and total bytes of the current device; free counts the memory its pool holds
/// unused (keeping_pool), which the next buffers reuse.
inline std::pair<size_t, size_t> device_memory() {
  size_t free_b = 0, total_b = 0;
  JCAS_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  if (cudaMemPool_t pool = keeping_pool(current_device())) {
    std::uint64_t reserved = 0, used = 0;
    JCAS_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved));
    JCAS_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used));
    free_b += size_t(reserved - std::min(used, reserved));
  }
  return {free_b, total_b};
}

/// Gives the memory the current device's pool holds unused back to the driver, for an
/// allocation outside the pool (cudaMalloc: the Python module's arrays, the libraries'
/// own workspaces) that found too little free.
inline void release_pool() {
  if (cudaMemPool_t pool = keeping_pool(current_device())) {
    JCAS_CUDA_CHECK(cudaDeviceSynchronize());  // frees queued on the stream have happened
    JCAS_CUDA_CHECK(cudaMemPoolTrimTo(pool, 0));
  }
}

/// This host thread's library handle of type H on the current device (issue 26: a device
/// context that lives as long as the process): made by Create(&h) on the first call and
/// kept until the thread ends, when Destroy(h) releases it (an error past the runtime's
/// end is ignored), instead of a handle (library set-up, a workspace) per call. Slot tells
/// apart several handles of one kind (two streams).
template <class H, auto Create, auto Destroy, int Slot = 0>
H thread_handle(const char* library) {
  struct handles {
    std::map<int, H> of;
    ~handles() {
      for (auto& [device, h] : of) Destroy(h);
    }
  };
  thread_local handles mine;
  const int device = current_device();
  auto it = mine.of.find(device);
  if (it == mine.of.end()) {
    H h = nullptr;
    const int status = int(Create(&h));
    if (status != 0)
      throw std::runtime_error(std::string(library) + ": cannot create a handle on device " + std::to_string(device) +
                               " (status " + std::to_string(status) + ")");
    it = mine.of.emplace(device, h).first;
  }
  return it->second;
}

/// An owning device buffer of n elements, from the device's keeping pool in the order of
/// the legacy default stream that all of jcas's work runs on (or from cudaMalloc where the
/// device has no pools). A failed allocation says what the buffer was for, how many bytes
/// it asked and what the device had free, in one line.
template <class E>
struct dev_buf {
  E* p = nullptr;
  bool pooled = false;
  explicit dev_buf(size_t n, const char* what = "a buffer") {
    pooled = keeping_pool(current_device()) != nullptr;
    const size_t bytes = n * sizeof(E) + 1;
    const cudaError_t e = pooled ? cudaMallocAsync(reinterpret_cast<void**>(&p), bytes, cudaStreamLegacy)
                                 : cudaMalloc(reinterpret_cast<void**>(&p), bytes);
    if (e == cudaSuccess) return;
    p = nullptr;
    (void)cudaGetLastError();  // a later cudaGetLastError would report it again
    const size_t free_b = device_memory().first, total_b = device_memory().second;
    throw std::runtime_error(std::string("device memory: cannot allocate ") + plan::bytes_str(double(n * sizeof(E))) +
                             " for " + what + " (" + cudaGetErrorString(e) + "; " + plan::bytes_str(double(free_b)) +
                             " free of " + plan::bytes_str(double(total_b)) + ")");
  }
  ~dev_buf() {
    if (!p) return;
    if (pooled)
      cudaFreeAsync(p, cudaStreamLegacy);  // back to the pool once the stream's work on it is done
    else
      cudaFree(p);
  }
  dev_buf(const dev_buf&) = delete;
  dev_buf& operator=(const dev_buf&) = delete;
};

template <class E>
void to_device(E* dst, const E* src, size_t n) {
  if (n) JCAS_CUDA_CHECK(cudaMemcpy(dst, src, n * sizeof(E), cudaMemcpyHostToDevice));
}
template <class E>
void to_host(E* dst, const E* src, size_t n) {
  if (n) JCAS_CUDA_CHECK(cudaMemcpy(dst, src, n * sizeof(E), cudaMemcpyDeviceToHost));
}

}  // namespace jcas::cuda::detail
