// A batch's realizations in precision T and in the batch layout of the CUDA kernels and
// the batched-GEMM route (core/batched.hpp): realization-major arrays of H, of the
// rank-one factors u_j, v_j (when every G_j of every realization is rank one) or of
// the dense G_j, and of the starting points W0 | F0. batch_convert writes any range of
// realizations in that layout (a GPU solve converts each chunk as it stages its copies,
// while the device computes the chunk before); batch_inputs holds a whole batch of them.
// solve_sink is the way back: a range of a batch route's outputs into a solve_output.
#pragma once
#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "realization.hpp"

namespace jcas::host {

/// Realizations idx of cs with their starts (w0, f0: every realization of cs; empty where
/// the solve computes the start) in precision T, a range at a time, on `threads` threads
/// (0: all cores). Element i of a range is realization idx[i0 + i].
template <class T>
class batch_convert {
 public:
  /// Where cs holds dense G, one pass factors every G_j straight into u and v (kept here):
  /// whether the batch is rank one is a property of the whole batch. Where one is not rank
  /// one, the dense G are converted range by range instead.
  batch_convert(const channel_view& cs, const std::vector<zd>& w0, const std::vector<zd>& f0, std::vector<long> idx,
                int threads = 0)
      : cs_(cs), w0_(w0), f0_(f0), idx_(std::move(idx)), threads_(threads > 0 ? threads : omp_get_max_threads()) {
    const problem_dims d = cs.dims;
    const long n = count();
    rank1_ = n > 0;
    if (cs.rank_one || n == 0) return;
    u_.resize(size_t(n * nu()));
    v_.resize(size_t(n * nv()));
    int dense = 0;  // realizations with a G_j that is not rank one
#pragma omp parallel num_threads(threads_) reduction(+ : dense)
    {
      std::vector<cplx<double>> ud(static_cast<size_t>(d.nr)), vd(static_cast<size_t>(d.nt));
#pragma omp for schedule(static)
      for (long i = 0; i < n; ++i) {
        const cplx<double>* gb = reinterpret_cast<const cplx<double>*>(cs.g) + idx_[size_t(i)] * cs.g_stride();
        for (index_t j = 0; j < d.j(); ++j) {
          if (!core::factor_rank1<double>(core::cview<double>(gb + long(j) * d.nr * d.nt, d.nr, d.nt), ud.data(),
                                          vd.data(), 1e-10)) {
            ++dense;
            break;
          }
          for (index_t r = 0; r < d.nr; ++r) u_[size_t(i * nu() + long(j) * d.nr + r)] = cplx<T>(ud[size_t(r)]);
          for (index_t c = 0; c < d.nt; ++c) v_[size_t(i * nv() + long(j) * d.nt + c)] = cplx<T>(vd[size_t(c)]);
        }
      }
    }
    rank1_ = dense == 0;
    if (!rank1_) u_ = {}, v_ = {};
  }
  long count() const { return long(idx_.size()); }
  bool rank1() const { return rank1_; }
  long hs() const { return cs_.h_stride(); }
  long gs() const { return cs_.g_stride(); }
  long nu() const { return long(cs_.dims.nr) * cs_.dims.j(); }
  long nv() const { return long(cs_.dims.nt) * cs_.dims.j(); }
  long wf_len() const { return long(cs_.dims.nt) * cs_.dims.k + long(cs_.dims.nr) * cs_.dims.m; }

  /// Elements i0 .. i0+n-1 of the batch into `to` (n x its length): H, dense G (not
  /// rank1()), the factors u, v (rank1()), W0 | F0.
  void h(long i0, long n, cplx<T>* to) const {
    rows(i0, n, to, hs(), [&](long b) { return cs_.h + b * hs(); });
  }
  void g(long i0, long n, cplx<T>* to) const {
    rows(i0, n, to, gs(), [&](long b) { return cs_.g + b * gs(); });
  }
  void u(long i0, long n, cplx<T>* to) const { factors(i0, n, to, u_, nu(), cs_.gu); }
  void v(long i0, long n, cplx<T>* to) const { factors(i0, n, to, v_, nv(), cs_.gv); }
  void wf(long i0, long n, cplx<T>* to) const {
    each(n, [&](long i) { load_start<T>(w0_, f0_, cs_.dims, idx_[size_t(i0 + i)], to + i * wf_len()); });
  }

 private:
  channel_view cs_;
  const std::vector<zd>& w0_;
  const std::vector<zd>& f0_;
  std::vector<long> idx_;
  int threads_;
  bool rank1_ = false;
  std::vector<cplx<T>> u_, v_;  // dense G that are all rank one: their factors, element-major

  template <class Fn>
  void each(long n, const Fn& fn) const {
#pragma omp parallel for num_threads(threads_) schedule(static) if (n > 64)
    for (long i = 0; i < n; ++i) fn(i);
  }
  /// Each element's `len` doubles at from(realization) rounded to T.
  template <class From>
  void rows(long i0, long n, cplx<T>* to, long len, const From& from) const {
    each(n, [&](long i) {
      const zd* src = from(idx_[size_t(i0 + i)]);
      for (long e = 0; e < len; ++e) to[i * len + e] = cplx<T>(T(src[e].real()), T(src[e].imag()));
    });
  }
  /// The set's own factors (cs.rank_one), else those the constructor found.
  void factors(long i0, long n, cplx<T>* to, const std::vector<cplx<T>>& found, long len, const zd* own) const {
    if (cs_.rank_one) return rows(i0, n, to, len, [&](long b) { return own + b * len; });
    std::copy(found.begin() + i0 * len, found.begin() + (i0 + n) * len, to);
  }
};

template <class T>
struct batch_inputs {
  std::vector<cplx<T>> h, g, u, v, wf;
  bool rank1 = false;
  /// Realizations idx of cs with their starts (batch_convert), whole.
  batch_inputs(const channel_view& cs, const std::vector<zd>& w0, const std::vector<zd>& f0,
               const std::vector<long>& idx, int threads = 0) {
    const batch_convert<T> c(cs, w0, f0, idx, threads);
    const long n = c.count();
    rank1 = c.rank1();
    h.resize(size_t(n * c.hs()));
    wf.resize(size_t(n * c.wf_len()));
    c.h(0, n, h.data());
    c.wf(0, n, wf.data());
    if (rank1) {
      u.resize(size_t(n * c.nu()));
      v.resize(size_t(n * c.nv()));
      c.u(0, n, u.data());
      c.v(0, n, v.data());
    } else {
      g.resize(size_t(n * c.gs()));
      c.g(0, n, g.data());
    }
  }
  /// Points a batch description (core::chunk, the CUDA backend's device_batch: members
  /// rank1, h, g, u, v, wf) at these arrays.
  template <class Batch>
  void attach(Batch& b) {
    b.rank1 = rank1;
    b.h = h.data();
    b.g = g.data();
    b.u = u.data();
    b.v = v.data();
    b.wf = wf.data();
  }
};

/// A chunk's outputs on the host (core::chunk's curve, res and st arrays) for the
/// batch routes run on the CPU.
template <class T>
struct chunk_outputs {
  std::vector<T> curve, res;  // n x curve_len, n x {objective, min_gamma_c, min_gamma_s, outer}
  std::vector<int> st;        // n
  /// Room for n realizations, every entry `fill` (the statuses int(fill)).
  void reset(long n, int curve_len, T fill) {
    curve.assign(size_t(n) * size_t(curve_len), fill);
    res.assign(size_t(n) * 4, fill);
    st.assign(size_t(n), int(double(fill)));
  }
  /// Points a core::chunk's output arrays at these.
  template <class Chunk>
  void attach(Chunk& c) {
    c.curve = curve.data();
    c.res = res.data();
    c.st = st.data();
  }
};

/// Realization b's results from a batch route's row res = {objective, min_gamma_c,
/// min_gamma_s, outer} (the CUDA kernels' and core::chunk's layout) into out.
template <class T>
void store_results(const T* res, long b, solve_output& out) {
  out.objective[b] = double(res[0]);
  out.min_sinr[b] = double(res[1]);
  out.min_scnr[b] = double(res[2]);
  out.outer[b] = int(res[3]);
}

/// The whole pages of [begin, end) (memory this process owns, as a vector's reserved
/// capacity) faulted in writable, in slices on `threads` threads, their contents unchanged
/// (Linux's MADV_POPULATE_WRITE; nothing where the kernel lacks it: the first writes then
/// fault them in). Fresh memory's page faults are the larger part of its first touch, and
/// they scale with threads where a zeroing loop does not (jcas_bench --host-parts).
inline void prefault(std::uintptr_t begin, std::uintptr_t end, int threads) {
#ifdef MADV_POPULATE_WRITE
  constexpr std::uintptr_t page = 4096, least = 1 << 20;  // a slice: at least 1 MB
  begin = (begin + page - 1) & ~(page - 1);
  end &= ~(page - 1);
  if (end <= begin) return;
  const std::uintptr_t len = end - begin;
  const long slices = long(std::min<std::uintptr_t>(std::uintptr_t(threads), std::max<std::uintptr_t>(1, len / least)));
  const std::uintptr_t slice = (len / std::uintptr_t(slices) + page - 1) & ~(page - 1);
#pragma omp parallel for num_threads(int(slices)) schedule(static) if (slices > 1)
  for (long t = 0; t < slices; ++t) {
    const std::uintptr_t s = std::uintptr_t(t) * slice, l = s < len ? std::min(slice, len - s) : 0;
    if (l) (void)madvise(reinterpret_cast<void*>(begin + s), l, MADV_POPULATE_WRITE);
  }
#else
  (void)begin, (void)end, (void)threads;
#endif
}

/// The way back from a batch route: elements i0 .. i0+n-1 of a range of its outputs (T,
/// the batch layout) into realizations b0 + i of a solve's output (prepared by
/// reserve_results), on `threads` threads (0: all cores). W, F and the curves grow with
/// the ranges: their first touch of fresh memory (page faults and zeroing: about 1.1 us a
/// realization on one thread at the paper's sizes on the development machine, more than
/// the conversions themselves; jcas_bench --host-parts) then falls in each range, which a
/// GPU solve makes while the device computes another chunk. A failed status throws,
/// naming the realization and `where` ("unfolded", "unfolded failed on the GPU").
template <class T>
struct solve_sink {
  solve_output& out;
  std::string where;
  int threads = 0;
  void wf(long b0, long n, const cplx<T>* from) const {
    const long nw = long(out.dims.nt) * out.dims.k, nf = long(out.dims.nr) * out.dims.m;
    grow(out.w, (b0 + n) * nw);
    grow(out.f, (b0 + n) * nf);
    each(n, [&](long i) { store_solution<T>(from + i * (nw + nf), out.dims, b0 + i, out.w, out.f); });
  }
  void curve(long b0, long n, const T* from) const {
    const long len = out.curve_len;
    grow(out.curve, (b0 + n) * len);
    each(n, [&](long i) {
      for (long e = 0; e < len; ++e) out.curve[size_t((b0 + i) * len + e)] = double(from[i * len + e]);
    });
  }
  void results(long b0, long n, const T* from) const {
    each(n, [&](long i) { store_results<T>(from + 4 * i, b0 + i, out); });
  }
  void status(long b0, long n, const int* from) const {
    for (long i = 0; i < n; ++i)
      if (from[i] != int(status::ok))
        throw std::runtime_error("realization " + std::to_string(b0 + i) + ": " + where + ": " +
                                 to_string(jcas::status(from[i])));
  }

 private:
  /// v to `size` elements, where it is shorter: the new pages of its reserved memory
  /// faulted in on the sink's threads first (prefault), so that the one thread of
  /// resize's zeroing only writes.
  template <class V>
  void grow(V& v, long size) const {
    const size_t from = v.size(), to = size_t(size);
    if (to <= from) return;
    if (to <= v.capacity()) {
      const auto at = reinterpret_cast<std::uintptr_t>(v.data());
      prefault(at + from * sizeof(v[0]), at + to * sizeof(v[0]), threads > 0 ? threads : omp_get_max_threads());
    }
    v.resize(to);
  }
  template <class Fn>
  void each(long n, const Fn& fn) const {
#pragma omp parallel for num_threads(threads > 0 ? threads : omp_get_max_threads()) schedule(static) if (n > 64)
    for (long i = 0; i < n; ++i) fn(i);
  }
};

/// Prepares out (out.count realizations, out.curve_len set) for a solve_sink: room for W, F
/// and the curves, unless not `solutions` (reserved: they grow with the sink's ranges), the
/// per-realization results sized; every realization's W-update count is `inner`.
inline void reserve_results(solve_output& out, long inner, bool solutions = true) {
  const size_t n = size_t(out.count);
  if (solutions) {
    out.w.reserve(n * size_t(out.dims.nt) * out.dims.k);
    out.f.reserve(n * size_t(out.dims.nr) * out.dims.m);
    out.curve.reserve(n * size_t(out.curve_len));
  }
  out.objective.resize(n);
  out.min_sinr.resize(n);
  out.min_scnr.resize(n);
  out.outer.resize(n);
  out.inner.assign(n, inner);
}

}  // namespace jcas::host
