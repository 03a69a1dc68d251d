// Small device-memory helpers shared by the CUDA translation units: the checked-call
// macro, an owning buffer, and host <-> device copies. CUDA runtime only.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <stdexcept>
#include <string>

#define JCAS_CUDA_CHECK(call)                                                                          \
  do {                                                                                                 \
    const cudaError_t e_ = (call);                                                                     \
    if (e_ != cudaSuccess)                                                                             \
      throw std::runtime_error(std::string("CUDA error in ") + #call + ": " + cudaGetErrorString(e_)); \
  } while (0)

namespace jcas::cuda::detail {

template <class E>
struct dev_buf {
  E* p = nullptr;
  explicit dev_buf(size_t n) { JCAS_CUDA_CHECK(cudaMalloc(&p, n * sizeof(E) + 1)); }
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
