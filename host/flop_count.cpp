// host/flop_count.hpp: the shared core instantiated with the counting scalar.
#include "flop_count.hpp"

#include <stdexcept>
#include <vector>

#include "jcas/core/dispatch.hpp"
#include "jcas/core/training.hpp"
#include "realization.hpp"
#include "solver_config.hpp"

namespace jcas::host {

namespace {

using counting::fc;

/// Runs fn(channels, W0, F0) in the counting scalar on the first min(sample, count)
/// realizations of cs, W0/F0 from cpu::init_batch (not counted); returns the mean count.
template <class Fn>
double mean_count(const channel_set& cs, const system_params<double>& sys, f0_method f0m, w0_method w0m, long sample,
                  Fn&& fn) {
  const long n = std::min(sample, cs.count);
  if (n <= 0) throw std::invalid_argument("counted_flops: sample: " + std::to_string(sample) + " (must be >= 1)");
  channel_set sub = cs;
  sub.count = n;
  sub.h.resize(size_t(n * cs.h_stride()));
  sub.g.resize(size_t(n * cs.g_stride()));
  std::vector<zd> w0, f0;
  cpu::init_batch(sub, sys, f0m == f0_method::cusolver ? f0_method::lapack : f0m, w0, f0, 1, w0m);
  const problem_dims d = cs.dims;
  const long nw = long(d.nt) * d.k, nf = long(d.nr) * d.m;
  std::vector<cplx<fc>> wf(size_t(nw + nf));
  realization<fc> rc;
  counting::ops = 0;
  for (long b = 0; b < n; ++b) {
    rc.load(sub, b);
    load_start<fc>(w0, f0, d, b, wf.data());
    status st = status::ok;
    rc.visit([&](const auto& ch) {
      st = fn(ch, core::mview<fc>(wf.data(), d.nt, d.k), core::mview<fc>(wf.data() + nw, d.nr, d.m));
    });
    if (st != status::ok)
      throw std::runtime_error("counted_flops: realization " + std::to_string(b) + ": " + to_string(st));
  }
  return double(counting::ops) / double(n);
}

system_params<fc> counted(const system_params<double>& s) { return {s.pt, s.sigma_c2, s.sigma_s2, s.delta}; }

}  // namespace

double counted_flops(const channel_set& cs, const solve_options& o, long sample) {
  unfolded_model model = o.model;
  model.finalize();
  const model_tables<fc> tables(model);
  const core::solver_config<fc> cfg = make_config<fc>(o, model, tables);
  const problem_dims d = cs.dims;
  const system_params<fc> sys = counted(o.sys);
  std::vector<char> scratch(size_t(core::solver_ws<fc>::bytes(d, cfg.smooth())));
  std::vector<fc> curve(size_t(cfg.curve_len()));
  return mean_count(cs, o.sys, o.f0, start_of(o), sample, [&](const auto& ch, core::mview<fc> w, core::mview<fc> f) {
    arena ar{scratch.data()};
    core::solver_ws<fc> ws;
    ws.carve(ar, d, cfg.smooth());
    core::solve_result<fc> res;
    return core::solve_one<fc>(ch, d, sys, cfg, w, f, curve.data(), ws, res);
  });
}

double counted_train_flops(const channel_set& cs, const unfolded_model& m, const system_params<double>& s,
                           long sample) {
  unfolded_model model = m;
  model.finalize();
  const model_tables<fc> tables(model);
  const core::unfolded_params<fc> up = make_unfolded<fc>(model, tables);
  const problem_dims d = cs.dims;
  const system_params<fc> sys = counted(s);
  const index_t steps = up.l_in * up.i_w;
  std::vector<char> scratch(size_t(core::training_ws<fc>::bytes(d, up.l_out, steps)));
  std::vector<fc> grad(size_t(long(up.l_out) * up.l_in + up.mu_count()));
  return mean_count(cs, s, f0_method::lapack, w0_method::mrt, sample,
                    [&](const auto& ch, core::mview<fc> w, core::mview<fc> f) {
                      arena ar{scratch.data()};
                      core::training_ws<fc> ws;
                      ws.carve(ar, d, up.l_out, steps);
                      fc loss = 0;
                      return core::unfolded_loss_grad<fc>(ch, d, sys, up, w, f, fc(1), ws, &loss, grad.data(),
                                                          grad.data() + long(up.l_out) * up.l_in);
                    });
}

}  // namespace jcas::host
