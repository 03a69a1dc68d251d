// A batch's realizations in precision T and in the batch layout of the CUDA kernels and
// the batched-GEMM route (core/batched.hpp): realization-major arrays of H, of the
// rank-one factors u_j, v_j (when every G_j of every realization is rank one) or of
// the dense G_j, and of the starting points W0 | F0.
#pragma once
#include <omp.h>

#include <algorithm>
#include <vector>

#include "realization.hpp"

namespace jcas::host {

template <class T>
struct batch_inputs {
  std::vector<cplx<T>> h, g, u, v, wf;
  bool rank1 = false;
  /// Realizations idx of cs with their starts (w0, f0: every realization of cs), on
  /// `threads` threads (0: all cores). One pass: each realization's G_j are factored
  /// straight into u and v; where one is not rank one, the dense G of all of them are
  /// copied instead. (Before, two single-threaded passes, a realization's vectors
  /// allocated in each: 0.8 s for 65536 realizations on the 2-core development machine,
  /// where the first H200 run spent about 1.2 s of such a GPU solve outside its layers.)
  batch_inputs(const channel_view& cs, const std::vector<zd>& w0, const std::vector<zd>& f0,
               const std::vector<long>& idx, int threads = 0) {
    const problem_dims d = cs.dims;
    const long n = long(idx.size()), wf_len = long(d.nt) * d.k + long(d.nr) * d.m, nu = long(d.nr) * d.j(),
               nv = long(d.nt) * d.j();
    h.resize(size_t(n * cs.h_stride()));
    wf.resize(size_t(n * wf_len));
    u.resize(size_t(n * nu));
    v.resize(size_t(n * nv));
    const auto to_t = [](const zd& z) { return cplx<T>(T(z.real()), T(z.imag())); };
    int dense = 0;  // realizations with a G_j that is not rank one
#pragma omp parallel num_threads(threads > 0 ? threads : omp_get_max_threads()) reduction(+ : dense)
    {
      std::vector<cplx<double>> ud(static_cast<size_t>(d.nr)), vd(static_cast<size_t>(d.nt));
#pragma omp for schedule(static)
      for (long i = 0; i < n; ++i) {
        const long b = idx[size_t(i)];
        for (long e = 0; e < cs.h_stride(); ++e)
          h[size_t(i * cs.h_stride() + e)] = to_t(cs.h[size_t(b * cs.h_stride() + e)]);
        load_start<T>(w0, f0, d, b, wf.data() + i * wf_len);
        if (cs.rank_one) {  // the set's own factors
          for (long e = 0; e < nu; ++e) u[size_t(i * nu + e)] = to_t(cs.gu[size_t(b * nu + e)]);
          for (long e = 0; e < nv; ++e) v[size_t(i * nv + e)] = to_t(cs.gv[size_t(b * nv + e)]);
          continue;
        }
        const cplx<double>* gb = reinterpret_cast<const cplx<double>*>(cs.g) + b * cs.g_stride();
        for (index_t j = 0; j < d.j(); ++j) {
          if (!core::factor_rank1<double>(core::cview<double>(gb + long(j) * d.nr * d.nt, d.nr, d.nt), ud.data(),
                                          vd.data(), 1e-10)) {
            ++dense;
            break;
          }
          for (index_t r = 0; r < d.nr; ++r) u[size_t(i * nu + long(j) * d.nr + r)] = cplx<T>(ud[size_t(r)]);
          for (index_t c = 0; c < d.nt; ++c) v[size_t(i * nv + long(j) * d.nt + c)] = cplx<T>(vd[size_t(c)]);
        }
      }
    }
    rank1 = n > 0 && dense == 0;
    if (rank1) return;
    u.clear();
    v.clear();
    g.resize(size_t(n * cs.g_stride()));
#pragma omp parallel for num_threads(threads > 0 ? threads : omp_get_max_threads()) schedule(static)
    for (long i = 0; i < n; ++i)
      for (long e = 0; e < cs.g_stride(); ++e)
        g[size_t(i * cs.g_stride() + e)] = to_t(cs.g[size_t(idx[size_t(i)] * cs.g_stride() + e)]);
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

}  // namespace jcas::host
