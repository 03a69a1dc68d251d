// solve_options (host, double) -> core::solver_config<T> (plain data for any backend).
#pragma once
#include <vector>

#include "jcas/api.hpp"
#include "jcas/core/dispatch.hpp"

namespace jcas::host {

/// A finalized model's tables in precision T (the config points into them).
template <class T>
struct model_tables {
  std::vector<T> beta, mu_c, mu_s;
  explicit model_tables(const unfolded_model& m)
      : beta(m.beta.begin(), m.beta.end()),
        mu_c(m.mu_c_layer.begin(), m.mu_c_layer.end()),
        mu_s(m.mu_s_layer.begin(), m.mu_s_layer.end()) {}
};

/// Core parameters of a finalized model; tables must outlive the result.
template <class T>
core::unfolded_params<T> make_unfolded(const unfolded_model& model, const model_tables<T>& t) {
  core::unfolded_params<T> u;
  u.l_out = model.l_out;
  u.l_in = model.l_in;
  u.i_w = model.i_w;
  u.frozen = model.frozen;
  u.mu_c = T(model.mu_c);
  u.mu_s = T(model.mu_s);
  u.beta = t.beta.data();
  u.loss_final_weight = T(model.loss_final_weight);
  if (model.per_layer_mu) {
    u.mu_c_layer = t.mu_c.data();
    u.mu_s_layer = t.mu_s.data();
  }
  return u;
}

/// tables must outlive the returned config (it points into them).
template <class T>
core::solver_config<T> make_config(const solve_options& o, const unfolded_model& model, const model_tables<T>& t) {
  core::solver_config<T> c;
  c.algo = o.algo;
  c.unfolded = make_unfolded<T>(model, t);
  c.outer = {T(o.ao.mu_c), T(o.ao.mu_s), T(o.ao.outer_tol), o.ao.max_outer};
  c.fixed = {T(o.ao.fixed_step), T(o.ao.inner_tol), o.ao.fixed_max_steps};
  c.backtracking = {T(o.ao.bt_t0),     T(o.ao.bt_shrink), T(o.ao.bt_armijo),
                    T(o.ao.inner_tol), o.ao.bt_max_steps, o.ao.bt_max_shrinks};
  c.heuristic = {T(o.ao.inner_tol), o.ao.fp_max_steps};
  // ao-monotone: the backtracking settings; every W-step starts again at t0.
  c.monotone = {T(o.ao.bt_t0), T(o.ao.bt_shrink), T(0), T(o.ao.inner_tol), o.ao.bt_max_steps, o.ao.bt_max_shrinks};
  const ascent_settings& a = o.ascent;
  c.ascent.mu_first = T(a.mu_first);
  c.ascent.mu_last = T(a.mu_last);
  c.ascent.stages = a.stages;
  c.ascent.step.tol = T(a.tol);
  c.ascent.step.max_steps = a.max_steps;
  c.ascent.starts = a.starts;
  c.ascent.seed = a.seed;
  return c;
}

}  // namespace jcas::host
