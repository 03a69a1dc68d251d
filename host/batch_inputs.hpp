// A batch's realizations in precision T and in the batch layout of the CUDA kernels and
// the batched-GEMM route (core/batched.hpp): realization-major arrays of H, of the
// rank-one factors u_j, v_j (when every G_j of every realization is rank one) or of
// the dense G_j, and of the starting points W0 | F0.
#pragma once
#include <algorithm>
#include <vector>

#include "realization.hpp"

namespace jcas::host {

template <class T>
struct batch_inputs {
  std::vector<cplx<T>> h, g, u, v, wf;
  bool rank1 = false;
  /// Realizations idx of cs with their starts (w0, f0: every realization of cs).
  batch_inputs(const channel_set& cs, const std::vector<zd>& w0, const std::vector<zd>& f0,
               const std::vector<long>& idx) {
    const problem_dims d = cs.dims;
    const long n = long(idx.size()), wf_len = long(d.nt) * d.k + long(d.nr) * d.m;
    realization<T> rc;
    rank1 = n > 0;
    for (long i = 0; i < n && rank1; ++i) {
      rc.load(cs, idx[i]);
      rank1 = rc.rank1;
    }
    h.resize(size_t(n * cs.h_stride()));
    wf.resize(size_t(n * wf_len));
    if (rank1) {
      u.resize(size_t(n) * d.nr * d.j());
      v.resize(size_t(n) * d.nt * d.j());
    } else {
      g.resize(size_t(n * cs.g_stride()));
    }
    for (long i = 0; i < n; ++i) {
      const long b = idx[i];
      for (long e = 0; e < cs.h_stride(); ++e) {
        const zd z = cs.h[b * cs.h_stride() + e];
        h[i * cs.h_stride() + e] = cplx<T>(T(z.real()), T(z.imag()));
      }
      if (rank1) {
        rc.load(cs, b);
        std::copy(rc.u.begin(), rc.u.end(), u.begin() + i * long(d.nr) * d.j());
        std::copy(rc.v.begin(), rc.v.end(), v.begin() + i * long(d.nt) * d.j());
      } else {
        for (long e = 0; e < cs.g_stride(); ++e) {
          const zd z = cs.g[b * cs.g_stride() + e];
          g[i * cs.g_stride() + e] = cplx<T>(T(z.real()), T(z.imag()));
        }
      }
      load_start<T>(w0, f0, d, b, wf.data() + i * wf_len);
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

}  // namespace jcas::host
