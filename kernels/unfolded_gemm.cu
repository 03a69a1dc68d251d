// The unfolded solver on the GPU by batch phases (core/batched.hpp): every per-realization
// phase is one kernel over the chunk (a thread per realization, its scratch a slice of a
// global buffer), every item phase a kernel with a block per realization, the dense
// products cuBLAS strided batched GEMMs. The
// route for large arrays (Nt up to 256, K up to 64), where a realization's scratch is far
// larger than a thread's local memory or a block's shared memory and the products are
// nearly all of the work; cuda_common.cuh's solve() chooses it.
#include <type_traits>

#include "kernels/cublas_util.hpp"
#include "kernels/cuda_common.cuh"

namespace jcas::cuda::detail {

namespace {

template <class Fn>
__global__ void phase_kernel(long n, Fn fn) {
  const long b = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b < n) fn(b);
}

/// A block per realization, its threads over the items (consecutive entries: coalesced).
template <class Fn>
__global__ void item_kernel(long items, Fn fn) {
  core::phase_items(fn, long(blockIdx.x), long(threadIdx.x), items, long(blockDim.x));
}

/// A block per realization: store(b, sum over i of fn(b, i)), a tree reduction in shared
/// memory (deterministic for a given block size).
template <int Threads, class Fn, class Store>
__global__ void sum_kernel(long items, Fn fn, Store store) {
  using T = decltype(fn(0L, 0L));
  __shared__ T part[Threads];
  const long b = blockIdx.x;
  T s = 0;
  for (long i = threadIdx.x; i < items; i += Threads) s += fn(b, i);
  part[threadIdx.x] = s;
  __syncthreads();
  for (int h = Threads / 2; h > 0; h /= 2) {
    if (int(threadIdx.x) < h) part[threadIdx.x] += part[threadIdx.x + h];
    __syncthreads();
  }
  if (threadIdx.x == 0) store(b, part[0]);
}

/// cuBLAS's strided batched GEMM for precision T (cplx<T> has cuComplex's layout).
template <class T>
cublasStatus_t gemm_strided(cublasHandle_t h, const core::gemm_batch<T>& g) {
  using c = std::conditional_t<std::is_same_v<T, double>, cuDoubleComplex, cuComplex>;
  const c one{1, 0}, beta{g.beta, 0};
  const cublasOperation_t op = g.conj_a ? CUBLAS_OP_C : CUBLAS_OP_N;
  const c *a = reinterpret_cast<const c*>(g.a), *b = reinterpret_cast<const c*>(g.b);
  c* y = reinterpret_cast<c*>(g.c);
  if constexpr (std::is_same_v<T, double>)
    return cublasZgemmStridedBatched(h, op, CUBLAS_OP_N, g.m, g.n, g.k, &one, a, g.lda, g.stride_a, b, g.ldb,
                                     g.stride_b, &beta, y, g.ldc, g.stride_c, int(g.count));
  else
    return cublasCgemmStridedBatched(h, op, CUBLAS_OP_N, g.m, g.n, g.k, &one, a, g.lda, g.stride_a, b, g.ldb,
                                     g.stride_b, &beta, y, g.ldc, g.stride_c, int(g.count));
}

/// The executor of core::unfolded_batched on one device (default stream: the phases and
/// the GEMMs run in issue order).
struct cuda_exec {
  cublasHandle_t blas = blas_handle();  // this thread's, process-long (cublas_util.hpp)
  template <class Fn>
  void for_each(long n, const Fn& fn) const {
    const int threads = 128;
    phase_kernel<<<unsigned((n + threads - 1) / threads), threads>>>(n, fn);
    JCAS_CUDA_CHECK(cudaGetLastError());
  }
  template <class Fn>
  void for_each_item(long n, long items, const Fn& fn) const {
    item_kernel<<<unsigned(n), item_threads>>>(items, fn);
    JCAS_CUDA_CHECK(cudaGetLastError());
  }
  template <class Fn, class Store>
  void sum_each(long n, long items, const Fn& fn, const Store& store) const {
    sum_kernel<item_threads><<<unsigned(n), item_threads>>>(items, fn, store);
    JCAS_CUDA_CHECK(cudaGetLastError());
  }
  template <class T>
  void gemm(const core::gemm_batch<T>& g) const {
    JCAS_CUBLAS_CHECK(gemm_strided(blas, g));
  }
  static constexpr int item_threads = 128;
};

}  // namespace

template <class T>
void solve_gemm(const device_batch<T>& hb, int device) {
  JCAS_CUDA_CHECK(cudaSetDevice(device));
  const device_model<T> model(hb.cfg.unfolded);
  core::chunk<T> c = phase_chunk(hb, model);
  chunk_set<T> cs(hb, plan::device_need{hb.what + " (batch phases, cuBLAS)", 0, double(c.ws_bytes)});
  dev_buf<char> scratch(size_t(cs.size * c.ws_bytes), "the batch phases' scratch");
  const cuda_exec ex;
  each_chunk(hb, cs, [&](const device_chunk<T>& ch, long n) {
    attach_chunk(c, ch, n, scratch.p);
    core::unfolded_batched(ex, c);
  });
}

template void solve_gemm<float>(const device_batch<float>&, int);
template void solve_gemm<double>(const device_batch<double>&, int);

}  // namespace jcas::cuda::detail
