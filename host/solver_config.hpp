// solve_options (host, double) -> core::solver_config<T> (plain data for any backend).
#pragma once
#include "jcas/api.hpp"
#include "jcas/core/dispatch.hpp"

namespace jcas::host {

/// beta must outlive the returned config (it points into it).
template <class T>
core::solver_config<T> make_config(const solve_options& o, const unfolded_model& model, const T* beta) {
  core::solver_config<T> c;
  c.algo = o.algo;
  c.unfolded.l_out = model.l_out;
  c.unfolded.l_in = model.l_in;
  c.unfolded.i_w = model.i_w;
  c.unfolded.frozen = model.frozen;
  c.unfolded.mu_c = T(model.mu_c);
  c.unfolded.mu_s = T(model.mu_s);
  c.unfolded.beta = beta;
  c.outer = {T(o.ao.mu_c), T(o.ao.mu_s), T(o.ao.outer_tol), o.ao.max_outer};
  c.fixed = {T(o.ao.fixed_step), T(o.ao.inner_tol), o.ao.fixed_max_steps};
  c.backtracking = {T(o.ao.bt_t0), T(o.ao.bt_shrink), T(o.ao.bt_armijo), T(o.ao.inner_tol), o.ao.bt_max_steps,
                    o.ao.bt_max_shrinks};
  c.heuristic = {T(o.ao.inner_tol), o.ao.fp_max_steps};
  return c;
}

}  // namespace jcas::host
