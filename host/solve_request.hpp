// A solve as the front ends ask for it -- the command line's options, the Python module's
// keywords -- in words and numbers, turned into solve_options in one place (to_options),
// so that both accept the same words and refuse bad ones with the same message.
#pragma once
#include <optional>
#include <string>

#include "jcas/api.hpp"

namespace jcas {

struct solve_request {
  std::string algo = "unfolded", precision = "f64", f0 = "auto", products = "auto", ascent_starts = "all";
  std::optional<std::string> w0;  // empty: the model's start for unfolded, else mrt
  model_choice model;             // the trained model (if any) and the structure asked for
  std::optional<double> mu;       // AO: mu_c = mu_s
  ao_settings ao;
  ascent_settings ascent;  // its starts from ascent_starts
  bool simd = true;
  int threads = 0;
  double gpu_watchdog = 20;
  int team_lanes = 0;  // CUDA, the lanes route: 8, 16, 32 or 0 (the model's choice)
  double pt = 100, delta = 1;
};

/// The options of r, every word parsed (throws "FIELD = VALUE: ..." on a bad one) and the
/// model resolved (resolve_model), for a solve on a GPU or the CPU: f0 = auto is the
/// backend's own start, LAPACK on the CPU and in the solve kernel (lowrank) on a GPU.
solve_options to_options(const solve_request& r, bool gpu = false);

}  // namespace jcas
