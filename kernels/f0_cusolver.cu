// F0 by cuSOLVER / cuBLAS: see kernels/f0_cusolver.hpp for the five steps.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/cublas_util.hpp"
#include "kernels/device_util.hpp"
#include "kernels/f0_cusolver.hpp"

#define JCAS_CUSOLVER_CHECK(call)                                                                                  \
  do {                                                                                                             \
    const cusolverStatus_t s_ = (call);                                                                            \
    if (s_ != CUSOLVER_STATUS_SUCCESS)                                                                             \
      throw std::runtime_error(std::string("cuSOLVER error in ") + #call + ": status " + std::to_string(int(s_))); \
  } while (0)

namespace jcas::cuda::detail {

namespace {

/// This host thread's cuSOLVER handle on the current device, process-long (thread_handle).
cusolverDnHandle_t solver_handle() {
  return thread_handle<cusolverDnHandle_t, cusolverDnCreate, cusolverDnDestroy>("cuSOLVER");
}

/// The libraries' complex type and data-type tags for precision T (cplx<T> has the
/// same layout: two T's, real first).
template <class T>
struct lib;
template <>
struct lib<double> {
  using c = cuDoubleComplex;
  static constexpr cudaDataType complex_type = CUDA_C_64F, real_type = CUDA_R_64F;
  static cusolverStatus_t potrf(cusolverDnHandle_t h, int n, c** a, int* info, int batch) {
    return cusolverDnZpotrfBatched(h, CUBLAS_FILL_MODE_LOWER, n, a, n, info, batch);
  }
  static cublasStatus_t trsm(cublasHandle_t h, cublasSideMode_t side, cublasOperation_t op, int n, const c* const* l,
                             c* const* b, int batch) {
    const c one = make_cuDoubleComplex(1, 0);
    return cublasZtrsmBatched(h, side, CUBLAS_FILL_MODE_LOWER, op, CUBLAS_DIAG_NON_UNIT, n, n, &one, l, n, b, n, batch);
  }
};
template <>
struct lib<float> {
  using c = cuComplex;
  static constexpr cudaDataType complex_type = CUDA_C_32F, real_type = CUDA_R_32F;
  static cusolverStatus_t potrf(cusolverDnHandle_t h, int n, c** a, int* info, int batch) {
    return cusolverDnCpotrfBatched(h, CUBLAS_FILL_MODE_LOWER, n, a, n, info, batch);
  }
  static cublasStatus_t trsm(cublasHandle_t h, cublasSideMode_t side, cublasOperation_t op, int n, const c* const* l,
                             c* const* b, int batch) {
    const c one = make_cuComplex(1, 0);
    return cublasCtrsmBatched(h, side, CUBLAS_FILL_MODE_LOWER, op, CUBLAS_DIAG_NON_UNIT, n, n, &one, l, n, b, n, batch);
  }
};

/// Step 1: one thread per realization forms P = [G_j W0] and the M pencils.
template <class T>
__global__ void pencil_kernel(problem_dims d, system_params<T> sys, long n, bool rank1, const cplx<T>* h,
                              const cplx<T>* g, const cplx<T>* u, const cplx<T>* v, const cplx<T>* wf, cplx<T>* p,
                              cplx<T>* a, cplx<T>* b) {
  const long i = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const long wf_len = long(d.nt) * d.k + long(d.nr) * d.m, nn = long(d.nr) * d.nr;
  const core::cview<T> w(wf + i * wf_len, d.nt, d.k);
  cplx<T>* pi = p + i * long(d.j()) * d.k * d.nr;
  core::visit_batch_channels<T>(d, rank1, h, g, u, v, i, [&](const auto& ch) { core::f0_products<T>(ch, d, w, pi); });
  for (index_t m = 0; m < d.m; ++m) {
    const long e = (i * d.m + m) * nn;
    core::f0_pencil<T>(d, sys, pi, m, core::mview<T>(a + e, d.nr, d.nr), core::mview<T>(b + e, d.nr, d.nr));
  }
}

/// Pointer arrays of the batched calls: matrix e of a and b.
template <class T>
__global__ void pointers_kernel(long count, long nn, cplx<T>* a, cplx<T>* b, cplx<T>** pa, cplx<T>** pb) {
  const long e = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= count) return;
  pa[e] = a + e * nn;
  pb[e] = b + e * nn;
}

/// Step 5: one thread per (realization, target): f_m = L^{-H} y / ||L^{-H} y||, y the
/// eigenvector of the largest eigenvalue (the last column: they ascend).
template <class T>
__global__ void back_kernel(problem_dims d, long n, const cplx<T>* a, const cplx<T>* l, cplx<T>* wf) {
  const long e = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= n * d.m) return;
  const long i = e / d.m, nn = long(d.nr) * d.nr;
  const index_t m = index_t(e % d.m);
  const long wf_len = long(d.nt) * d.k + long(d.nr) * d.m;
  cplx<T>* fm = wf + i * wf_len + long(d.nt) * d.k + long(m) * d.nr;
  const cplx<T>* y = a + e * nn + long(d.nr - 1) * d.nr;
  for (index_t r = 0; r < d.nr; ++r) fm[r] = y[r];
  core::trsv_lower_h<T>(core::cview<T>(l + e * nn, d.nr, d.nr), fm);
  const T s = sqrt(core::nrm2sq(d.nr, fm));
  for (index_t r = 0; r < d.nr; ++r) fm[r] = fm[r] / s;
}

inline unsigned blocks(long n, int threads) { return unsigned((n + threads - 1) / threads); }

}  // namespace

template <class T>
struct f0_cusolver_route<T>::impl {
  problem_dims d;
  long chunk;
  long mats;  // chunk * M
  cusolverDnHandle_t solver = nullptr;
  cublasHandle_t blas = nullptr;
  cusolverDnParams_t params = nullptr;
  dev_buf<cplx<T>> p, a, b;
  dev_buf<T> eval;
  dev_buf<cplx<T>*> pa, pb;
  dev_buf<int> info_potrf, info_syev;
  long syev_batch = 1;  // matrices per XsyevBatched call (plan::batch_within)
  size_t dev_ws = 0, host_ws = 0;
  std::unique_ptr<dev_buf<char>> dws;
  std::vector<char> hws;

  impl(const problem_dims& dm, long ch)
      : d(dm),
        chunk(ch),
        mats(ch * dm.m),
        p(size_t(ch) * dm.j() * dm.k * dm.nr, "F0 (cusolver): the products G_j W0"),
        a(size_t(ch) * dm.m * dm.nr * dm.nr, "F0 (cusolver): the pencils' A_m"),
        b(size_t(ch) * dm.m * dm.nr * dm.nr, "F0 (cusolver): the pencils' B_m"),
        eval(size_t(ch) * dm.m * dm.nr, "F0 (cusolver): the eigenvalues"),
        pa(size_t(ch) * dm.m, "F0 (cusolver): pointer arrays"),
        pb(size_t(ch) * dm.m, "F0 (cusolver): pointer arrays"),
        info_potrf(size_t(ch) * dm.m, "F0 (cusolver): Cholesky infos"),
        info_syev(size_t(ch) * dm.m, "F0 (cusolver): eigen-solver infos") {
    solver = solver_handle();
    blas = blas_handle();
    JCAS_CUSOLVER_CHECK(cusolverDnCreateParams(&params));
    // The eigen-solver's workspace, asked for one and for two matrices: its part per
    // matrix bounds the matrices a call may take (n * lda * batch <= INT32_MAX is the
    // routine's own bound) within workspace_budget.
    const auto ws_of = [&](long batch) {
      size_t dev = 0, host = 0;
      JCAS_CUSOLVER_CHECK(cusolverDnXsyevBatched_bufferSize(
          solver, params, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, d.nr, lib<T>::complex_type, a.p, d.nr,
          lib<T>::real_type, eval.p, lib<T>::complex_type, &dev, &host, batch));
      return std::pair<size_t, size_t>{dev, host};
    };
    const auto one = ws_of(1), two = ws_of(2);
    const double per_matrix = double(two.first) - double(one.first);
    syev_batch = plan::batch_within(mats, long(INT_MAX) / (long(d.nr) * d.nr), double(one.first) - per_matrix,
                                    per_matrix, workspace_budget);
    std::tie(dev_ws, host_ws) = ws_of(syev_batch);
    dws = std::make_unique<dev_buf<char>>(dev_ws, "F0 (cusolver): the eigen-solver's workspace");
    hws.resize(host_ws + 1);
  }
  ~impl() {
    if (params) cusolverDnDestroyParams(params);
  }

  /// Throws on the first non-zero info among the first `count` matrices.
  void check_info(const int* dev_info, long count, long first, const char* what) const {
    std::vector<int> info(static_cast<size_t>(count));
    to_host(info.data(), dev_info, size_t(count));
    for (long e = 0; e < count; ++e)
      if (info[e] != 0)
        throw std::runtime_error("realization " + std::to_string(first + e / d.m) + ": F0 (cusolver) " + what +
                                 " failed for target " + std::to_string(e % d.m) + " (info " + std::to_string(info[e]) +
                                 ")");
  }
};

template <class T>
f0_cusolver_route<T>::f0_cusolver_route(const problem_dims& d, long chunk) : p_(std::make_unique<impl>(d, chunk)) {}
template <class T>
f0_cusolver_route<T>::~f0_cusolver_route() = default;

template <class T>
size_t f0_cusolver_route<T>::bytes_per_item(const problem_dims& d) {
  return size_t(plan::f0_route_bytes_per_item(d.nr, d.k, d.m, d.j(), sizeof(T)));
}

template <class T>
void f0_cusolver_route<T>::run(const system_params<T>& sys, bool rank1, const cplx<T>* h, const cplx<T>* g,
                               const cplx<T>* u, const cplx<T>* v, cplx<T>* wf, long n, long first) {
  impl& s = *p_;
  const problem_dims& d = s.d;
  if (n > s.chunk) throw std::logic_error("f0_cusolver_route: chunk exceeded");
  const long mats = n * d.m, nn = long(d.nr) * d.nr;
  using C = typename lib<T>::c;
  pencil_kernel<T><<<blocks(n, 64), 64>>>(d, sys, n, rank1, h, g, u, v, wf, s.p.p, s.a.p, s.b.p);
  JCAS_CUDA_CHECK(cudaGetLastError());
  pointers_kernel<T><<<blocks(mats, 256), 256>>>(mats, nn, s.a.p, s.b.p, s.pa.p, s.pb.p);
  JCAS_CUDA_CHECK(cudaGetLastError());
  // The batched calls take int batch counts: INT_MAX matrices at most per call.
  for (long e0 = 0; e0 < mats; e0 += INT_MAX) {
    const int nb = int(std::min<long>(INT_MAX, mats - e0));
    C** pb = reinterpret_cast<C**>(s.pb.p + e0);
    C** pa = reinterpret_cast<C**>(s.pa.p + e0);
    JCAS_CUSOLVER_CHECK(lib<T>::potrf(s.solver, d.nr, pb, s.info_potrf.p + e0, nb));  // B = L L^H
    // A <- L^{-1} A, then A <- A L^{-H}: C = L^{-1} A L^{-H}, Hermitian.
    JCAS_CUBLAS_CHECK(lib<T>::trsm(s.blas, CUBLAS_SIDE_LEFT, CUBLAS_OP_N, d.nr, pb, pa, nb));
    JCAS_CUBLAS_CHECK(lib<T>::trsm(s.blas, CUBLAS_SIDE_RIGHT, CUBLAS_OP_C, d.nr, pb, pa, nb));
  }
  for (long e0 = 0; e0 < mats; e0 += s.syev_batch) {
    const long nb = std::min(s.syev_batch, mats - e0);
    JCAS_CUSOLVER_CHECK(cusolverDnXsyevBatched(s.solver, s.params, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER,
                                               d.nr, lib<T>::complex_type, s.a.p + e0 * nn, d.nr, lib<T>::real_type,
                                               s.eval.p + e0 * d.nr, lib<T>::complex_type, s.dws->p, s.dev_ws,
                                               s.hws.data(), s.host_ws, s.info_syev.p + e0, nb));
  }
  back_kernel<T><<<blocks(mats, 64), 64>>>(d, n, s.a.p, s.b.p, wf);
  JCAS_CUDA_CHECK(cudaGetLastError());
  JCAS_CUDA_CHECK(cudaDeviceSynchronize());
  s.check_info(s.info_potrf.p, mats, first, "Cholesky of B_m");
  s.check_info(s.info_syev.p, mats, first, "eigen-solve");
}

template class f0_cusolver_route<float>;
template class f0_cusolver_route<double>;

}  // namespace jcas::cuda::detail
