// Problem sizes and the physical parameters of one solve (SPEC.md section 1).
#pragma once
#include "jcas/config.hpp"

namespace jcas {

/// Sizes of one realization. J = M + C sensing channels: the first M are targets.
struct problem_dims {
  index_t nt = 16, nr = 16, k = 4, m = 2, c = 2;
  JCAS_HD index_t j() const { return m + c; }
  /// Columns of the factored surrogate Hessian B_t = L diag(d) L^H (core/layer.hpp).
  JCAS_HD index_t rank_bt() const { return k + j() * m; }
};
/// The same sizes, every one of them.
JCAS_HD inline bool operator==(const problem_dims& a, const problem_dims& b) {
  return a.nt == b.nt && a.nr == b.nr && a.k == b.k && a.m == b.m && a.c == b.c;
}
JCAS_HD inline bool operator!=(const problem_dims& a, const problem_dims& b) { return !(a == b); }

/// Powers and trade-off of one solve. Reference normalisation: unit noise,
/// pt = 10^(snr_db/10).
template <class T>
struct system_params {
  T pt = 100;      // total transmit power; per-antenna limit is pt / nt
  T sigma_c2 = 1;  // user noise power (common to all users)
  T sigma_s2 = 1;  // radar noise power per receive antenna
  T delta = 1;     // weight of min sensing MI in the objective
};

/// The solvers of SPEC.md section 5, then two beyond the paper (core/ascent.hpp).
enum class algorithm { unfolded, ao_fixed, ao_backtracking, heuristic, ao_monotone, ascent };

/// Starting points of the ascent solver (core/ascent.hpp), a bit mask.
enum ascent_start : int { start_given = 1, start_zf = 2, start_random = 4, start_nulls = 8, start_all = 15 };

/// Status codes returned by core code (core never throws).
enum class status : int { ok = 0, not_positive_definite = 1, non_finite = 2, no_convergence = 3 };

}  // namespace jcas
