// The checked-call macro for cuBLAS, shared by the translation units that call it.
#pragma once
#include <cublas_v2.h>

#include <stdexcept>
#include <string>

#define JCAS_CUBLAS_CHECK(call)                                                                             \
  do {                                                                                                      \
    const cublasStatus_t s_ = (call);                                                                       \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                                        \
      throw std::runtime_error(std::string("cuBLAS error in ") + #call + ": " + cublasGetStatusString(s_)); \
  } while (0)
