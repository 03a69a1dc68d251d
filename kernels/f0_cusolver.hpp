// F0 on the device through the CUDA libraries (SPEC.md 3, f0_method::cusolver):
// for every realization b and target m of a chunk, the principal generalised
// eigenvector of the pencil (A_m, B_m) by
//   1. pencil_kernel     A_m, B_m from the channels and W0 (core::f0_pencil)
//   2. potrfBatched      B_m = L L^H                                  (cuSOLVER)
//   3. trsmBatched x 2   C = L^{-1} A_m L^{-H}                         (cuBLAS)
//   4. XsyevBatched      C y = lambda y, eigenvalues ascending        (cuSOLVER)
//   5. back_kernel       f_m = L^{-H} y_last / ||.||, into W|F       (core::trsv_lower_h)
// The same reduction LAPACK's zhegv performs on the host (host/f0_lapack.cpp).
#pragma once
#include <memory>

#include "jcas/core/init.hpp"

namespace jcas::cuda::detail {

template <class T>
class f0_cusolver_route {
 public:
  /// Handles and device buffers for up to `chunk` realizations of shape d.
  f0_cusolver_route(const problem_dims& d, long chunk);
  ~f0_cusolver_route();
  f0_cusolver_route(const f0_cusolver_route&) = delete;
  f0_cusolver_route& operator=(const f0_cusolver_route&) = delete;

  /// Device bytes per realization (for chunk sizing), excluding the eigen-solver's
  /// workspace, which is sized on construction.
  static size_t bytes_per_item(const problem_dims& d);
  /// The most device bytes the batched eigen-solver's workspace may take: the matrices of
  /// a chunk go through it in calls small enough to fit (plan::batch_within), whatever
  /// the library asks per matrix.
  static constexpr double workspace_budget = 1 << 30;

  /// n <= chunk realizations in device memory (the solve kernel's layout): wf holds W0
  /// on entry; its F part receives F0 (unit-norm columns). A failed factorisation or
  /// eigen-solve throws, naming realization `first + i`.
  void run(const system_params<T>& sys, bool rank1, const cplx<T>* h, const cplx<T>* g, const cplx<T>* u,
           const cplx<T>* v, cplx<T>* wf, long n, long first);

 private:
  struct impl;
  std::unique_ptr<impl> p_;
};

}  // namespace jcas::cuda::detail
