// The checked-call macro for cuBLAS and the process-long handle, shared by the
// translation units that call it.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <map>
#include <stdexcept>
#include <string>

#define JCAS_CUBLAS_CHECK(call)                                                                             \
  do {                                                                                                      \
    const cublasStatus_t s_ = (call);                                                                       \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                                        \
      throw std::runtime_error(std::string("cuBLAS error in ") + #call + ": " + cublasGetStatusString(s_)); \
  } while (0)

namespace jcas::cuda::detail {

/// This host thread's cuBLAS handle on the current device (issue 26: a device context that
/// lives as long as the process): created on the first call and kept until the thread
/// ends, instead of a cublasCreate (library set-up and a workspace allocation) per solve.
/// It runs on the legacy default stream, as all of jcas's work does.
inline cublasHandle_t blas_handle() {
  struct handles {
    std::map<int, cublasHandle_t> of;
    ~handles() {
      for (auto& [device, h] : of) cublasDestroy(h);  // at thread exit; errors past the runtime's end ignored
    }
  };
  thread_local handles mine;
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) throw std::runtime_error("cuBLAS: no current CUDA device");
  auto it = mine.of.find(device);
  if (it == mine.of.end()) {
    cublasHandle_t h = nullptr;
    JCAS_CUBLAS_CHECK(cublasCreate(&h));
    it = mine.of.emplace(device, h).first;
  }
  return it->second;
}

}  // namespace jcas::cuda::detail
