// One realization's channels taken out of a channel_set into precision T, as rank-one
// factors (G_j = u_j v_j^H): the set's own where it holds them, else the dense G_j's when
// every one is rank one to 1e-10; else dense.
#pragma once
#include <vector>

#include "jcas/api.hpp"
#include "jcas/core/channels.hpp"

namespace jcas::host {

template <class T>
struct realization {
  problem_dims d{};
  std::vector<cplx<T>> h, g, u, v;
  bool rank1 = false;

  void load(const channel_view& cs, long b) {
    d = cs.dims;
    h.resize(size_t(cs.h_stride()));
    const zd* hb = cs.h + b * cs.h_stride();
    for (long i = 0; i < cs.h_stride(); ++i) h[i] = cplx<T>(T(hb[i].real()), T(hb[i].imag()));
    if (cs.rank_one) {
      rank1 = true;
      const zd *ub = cs.gu + b * cs.gu_stride(), *vb = cs.gv + b * cs.gv_stride();
      u.resize(size_t(cs.gu_stride()));
      v.resize(size_t(cs.gv_stride()));
      for (long i = 0; i < cs.gu_stride(); ++i) u[i] = cplx<T>(T(ub[i].real()), T(ub[i].imag()));
      for (long i = 0; i < cs.gv_stride(); ++i) v[i] = cplx<T>(T(vb[i].real()), T(vb[i].imag()));
      return;
    }
    const zd* gb = cs.g + b * cs.g_stride();
    std::vector<cplx<double>> ud(size_t(d.nr) * d.j()), vd(size_t(d.nt) * d.j());
    rank1 = true;
    for (index_t j = 0; j < d.j() && rank1; ++j) {
      const core::cview<double> gj(reinterpret_cast<const cplx<double>*>(gb) + long(j) * d.nr * d.nt, d.nr, d.nt);
      rank1 = core::factor_rank1<double>(gj, ud.data() + long(j) * d.nr, vd.data() + long(j) * d.nt, 1e-10);
    }
    if (rank1) {
      u.assign(ud.size(), {});
      v.assign(vd.size(), {});
      for (size_t i = 0; i < ud.size(); ++i) u[i] = cplx<T>(ud[i]);
      for (size_t i = 0; i < vd.size(); ++i) v[i] = cplx<T>(vd[i]);
    } else {
      g.resize(size_t(cs.g_stride()));
      for (long i = 0; i < cs.g_stride(); ++i) g[i] = cplx<T>(T(gb[i].real()), T(gb[i].imag()));
    }
  }
  core::cview<T> hview() const { return {h.data(), d.nt, d.k, d.nt}; }
  /// Calls fn with rank1_channels<T> or dense_channels<T>.
  template <class Fn>
  void visit(Fn&& fn) const {
    if (rank1)
      fn(core::rank1_channels<T>{hview(), u.data(), v.data(), d.nr, d.nt, d.j()});
    else
      fn(core::dense_channels<T>{hview(), g.data(), d.nr, d.nt, d.j()});
  }
};

/// Realization b's start (W0 | F0, from a batch's double arrays) into wf in precision T:
/// W (Nt x K) then F (Nr x M).
template <class T>
void load_start(const std::vector<zd>& w0, const std::vector<zd>& f0, const problem_dims& d, long b, cplx<T>* wf) {
  const long nw = long(d.nt) * d.k, nf = long(d.nr) * d.m;
  for (long i = 0; i < nw; ++i) wf[i] = cplx<T>(T(w0[b * nw + i].real()), T(w0[b * nw + i].imag()));
  for (long i = 0; i < nf; ++i) wf[nw + i] = cplx<T>(T(f0[b * nf + i].real()), T(f0[b * nf + i].imag()));
}

/// The inverse of load_start: wf (W | F in precision T) into realization b of w and f.
template <class T>
void store_solution(const cplx<T>* wf, const problem_dims& d, long b, std::vector<zd>& w, std::vector<zd>& f) {
  const long nw = long(d.nt) * d.k, nf = long(d.nr) * d.m;
  for (long i = 0; i < nw; ++i) w[b * nw + i] = zd(wf[i].re, wf[i].im);
  for (long i = 0; i < nf; ++i) f[b * nf + i] = zd(wf[nw + i].re, wf[nw + i].im);
}

}  // namespace jcas::host
