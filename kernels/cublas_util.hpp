// The checked-call macro for cuBLAS and the process-long handle, shared by the
// translation units that call it.
#pragma once
#include <cublas_v2.h>

#include <stdexcept>
#include <string>

#include "kernels/device_util.hpp"

#define JCAS_CUBLAS_CHECK(call)                                                                             \
  do {                                                                                                      \
    const cublasStatus_t s_ = (call);                                                                       \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                                        \
      throw std::runtime_error(std::string("cuBLAS error in ") + #call + ": " + cublasGetStatusString(s_)); \
  } while (0)

namespace jcas::cuda::detail {

/// This host thread's cuBLAS handle on the current device, process-long (thread_handle);
/// it runs on the legacy default stream, as all of jcas's work does.
inline cublasHandle_t blas_handle() { return thread_handle<cublasHandle_t, cublasCreate, cublasDestroy>("cuBLAS"); }

}  // namespace jcas::cuda::detail
