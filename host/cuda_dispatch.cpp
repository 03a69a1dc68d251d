// Host side of the CUDA backend: validation, W0/F0 on the host (LAPACK, identical to the
// CPU backend's starting point), channel conversion and factoring, then the kernels.
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "jcas/cuda_backend.hpp"
#include "kernels/device_batch.hpp"
#include "realization.hpp"
#include "solver_config.hpp"

namespace jcas::cuda {

namespace {
void require_device(int device) {
  std::string why;
  const int n = detail::device_count(&why);
  if (n == 0) throw std::runtime_error("device = cuda:" + std::to_string(device) + ": no usable CUDA device (" + why + ")");
  if (device < 0 || device >= n)
    throw std::runtime_error("device = cuda:" + std::to_string(device) + ": only " + std::to_string(n) +
                             " device(s) present");
}

template <class T>
solve_output solve_typed(const channel_set& cs, const solve_options& o, int device) {
  const problem_dims d = cs.dims;
  solve_output out;
  out.algo = o.algo;
  out.dims = d;
  out.count = cs.count;
  const auto t0 = std::chrono::steady_clock::now();
  cpu::init_batch(cs, o.sys, o.f0, out.w, out.f, o.threads);
  unfolded_model model = o.model;
  model.finalize();
  const std::vector<T> beta(model.beta.begin(), model.beta.end());
  detail::device_batch<T> b;
  b.dims = d;
  b.count = cs.count;
  b.sys = {T(o.sys.pt), T(o.sys.sigma_c2), T(o.sys.sigma_s2), T(o.sys.delta)};
  b.cfg = host::make_config<T>(o, model, beta.data());
  out.curve_len = b.cfg.curve_len();
  // Channels in precision T; rank-one factors when every realization allows them.
  std::vector<cplx<T>> h(size_t(cs.count * cs.h_stride())), g, u, v;
  std::vector<host::realization<T>> rs(1);
  bool all_rank1 = true;
  for (long i = 0; i < cs.count && all_rank1; ++i) {
    rs[0].load(cs, i);
    all_rank1 = rs[0].rank1;
  }
  b.rank1 = all_rank1 && cs.count > 0;
  if (b.rank1) {
    u.resize(size_t(cs.count) * d.nr * d.j());
    v.resize(size_t(cs.count) * d.nt * d.j());
  } else {
    g.resize(size_t(cs.count * cs.g_stride()));
    for (size_t i = 0; i < g.size(); ++i) g[i] = cplx<T>(T(cs.g[i].real()), T(cs.g[i].imag()));
  }
  for (long i = 0; i < cs.count; ++i) {
    for (long e = 0; e < cs.h_stride(); ++e) {
      const zd z = cs.h[i * cs.h_stride() + e];
      h[i * cs.h_stride() + e] = cplx<T>(T(z.real()), T(z.imag()));
    }
    if (b.rank1) {
      rs[0].load(cs, i);
      std::copy(rs[0].u.begin(), rs[0].u.end(), u.begin() + i * long(d.nr) * d.j());
      std::copy(rs[0].v.begin(), rs[0].v.end(), v.begin() + i * long(d.nt) * d.j());
    }
  }
  const long wf_len = long(d.nt) * d.k + long(d.nr) * d.m;
  std::vector<cplx<T>> wf(size_t(cs.count * wf_len));
  for (long i = 0; i < cs.count; ++i) {
    for (long e = 0; e < long(d.nt) * d.k; ++e) {
      const zd z = out.w[i * d.nt * d.k + e];
      wf[i * wf_len + e] = cplx<T>(T(z.real()), T(z.imag()));
    }
    for (long e = 0; e < long(d.nr) * d.m; ++e) {
      const zd z = out.f[i * d.nr * d.m + e];
      wf[i * wf_len + d.nt * d.k + e] = cplx<T>(T(z.real()), T(z.imag()));
    }
  }
  std::vector<T> curve(size_t(cs.count) * out.curve_len), res(size_t(cs.count) * 4);
  std::vector<int> st(size_t(cs.count));
  b.h = h.data();
  b.g = g.data();
  b.u = u.data();
  b.v = v.data();
  b.wf = wf.data();
  b.curve = curve.data();
  b.res = res.data();
  b.status = st.data();
  detail::solve<T>(b, device);
  for (long i = 0; i < cs.count; ++i)
    if (st[i] != 0)
      throw std::runtime_error("realization " + std::to_string(i) + ": " + to_string(o.algo) + " failed on the GPU (status " +
                               std::to_string(st[i]) + ")");
  out.curve.assign(curve.begin(), curve.end());
  out.objective.resize(cs.count);
  out.min_sinr.resize(cs.count);
  out.min_scnr.resize(cs.count);
  out.outer.resize(cs.count);
  out.inner.assign(cs.count, 0);
  for (long i = 0; i < cs.count; ++i) {
    for (long e = 0; e < long(d.nt) * d.k; ++e) out.w[i * d.nt * d.k + e] = zd(wf[i * wf_len + e].re, wf[i * wf_len + e].im);
    for (long e = 0; e < long(d.nr) * d.m; ++e) {
      const cplx<T> z = wf[i * wf_len + d.nt * d.k + e];
      out.f[i * d.nr * d.m + e] = zd(z.re, z.im);
    }
    out.objective[i] = res[4 * i];
    out.min_sinr[i] = res[4 * i + 1];
    out.min_scnr[i] = res[4 * i + 2];
    out.outer[i] = int(res[4 * i + 3]);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}
}  // namespace

int device_count(std::string* why) { return detail::device_count(why); }

channel_set generate_batch(const scenario& sc, std::uint64_t seed, long first, long count, int device) {
  validate(sc.dims);
  require_device(device);
  channel_set cs;
  cs.dims = sc.dims;
  cs.count = count;
  cs.h.resize(size_t(count * cs.h_stride()));
  cs.g.resize(size_t(count * cs.g_stride()));
  detail::generate(sc, seed, first, count, device, reinterpret_cast<cplx<double>*>(cs.h.data()),
                   reinterpret_cast<cplx<double>*>(cs.g.data()));
  return cs;
}

solve_output solve_batch(const channel_set& cs, const solve_options& o, int device) {
  validate(cs);
  validate(o, cs.dims);
  require_device(device);
  return o.prec == precision::f64 ? solve_typed<double>(cs, o, device) : solve_typed<float>(cs, o, device);
}

}  // namespace jcas::cuda
