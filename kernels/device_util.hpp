// Small device-memory helpers shared by the CUDA translation units: the checked-call
// macro, an owning buffer, and host <-> device copies. CUDA runtime only.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
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

/// Free and total bytes of the current device.
inline std::pair<size_t, size_t> device_memory() {
  size_t free_b = 0, total_b = 0;
  JCAS_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  return {free_b, total_b};
}

/// An owning device buffer of n elements. A failed allocation says what the buffer was
/// for, how many bytes it asked and what the device had free, in one line.
template <class E>
struct dev_buf {
  E* p = nullptr;
  explicit dev_buf(size_t n, const char* what = "a buffer") {
    const cudaError_t e = cudaMalloc(&p, n * sizeof(E) + 1);
    if (e == cudaSuccess) return;
    (void)cudaGetLastError();  // a later cudaGetLastError would report it again
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw std::runtime_error(std::string("device memory: cannot allocate ") + plan::bytes_str(double(n * sizeof(E))) +
                             " for " + what + " (" + cudaGetErrorString(e) + "; " + plan::bytes_str(double(free_b)) +
                             " free of " + plan::bytes_str(double(total_b)) + ")");
  }
  ~dev_buf() { cudaFree(p); }
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
