// One entry point that runs any solver of SPEC.md section 5 on one realization, so
// that every backend calls the same code.
#pragma once
#include "jcas/core/ascent.hpp"

namespace jcas::core {

/// Plain-data description of a solve (copyable to the device by value).
template <class T>
struct solver_config {
  algorithm algo = algorithm::unfolded;
  unfolded_params<T> unfolded{};
  ao_outer<T> outer{};
  pgd_fixed<T> fixed{};
  pgd_backtracking<T> backtracking{};
  fixed_point<T> heuristic{};
  climb_params<T> monotone{T(1), T(0.3), T(0), T(1e-4), 1000, 50};  // W-steps of ao-monotone
  ascent_params<T> ascent{};
  /// Length of the objective curve this configuration writes.
  JCAS_HD int curve_len() const {
    if (algo == algorithm::unfolded) return unfolded.l_out + 1;
    if (algo == algorithm::ascent) return ascent.curve_len();
    return outer.max_outer + 1;
  }
  /// Whether the solver needs solver_ws::sm (pass to carve and bytes).
  JCAS_HD bool smooth() const { return algo == algorithm::ao_monotone || algo == algorithm::ascent; }
};

template <class T, class Ch>
JCAS_HD inline status solve_one(const Ch& ch, const problem_dims& d, const system_params<T>& sys,
                                const solver_config<T>& cfg, mview<T> w, mview<T> f, T* curve, solver_ws<T>& ws,
                                solve_result<T>& res) {
  switch (cfg.algo) {
    case algorithm::unfolded:
      return unfolded_forward<T>(ch, d, sys, cfg.unfolded, w, f, curve, ws, res);
    case algorithm::ao_fixed:
      return ao_solve<T>(ch, d, sys, cfg.outer, cfg.fixed, w, f, curve, ws, res);
    case algorithm::ao_backtracking:
      return ao_solve<T>(ch, d, sys, cfg.outer, cfg.backtracking, w, f, curve, ws, res);
    case algorithm::heuristic:
      return ao_solve<T>(ch, d, sys, cfg.outer, cfg.heuristic, w, f, curve, ws, res);
    case algorithm::ao_monotone:
      return ao_monotone_solve<T>(ch, d, sys, cfg.outer, cfg.monotone, w, f, curve, nullptr, ws, res);
    case algorithm::ascent:
      return ascent_solve<T>(ch, d, sys, cfg.ascent, w, f, curve, ws, res);
  }
  return status::ok;
}

}  // namespace jcas::core
