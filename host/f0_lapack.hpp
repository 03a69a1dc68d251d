// F0 (SPEC.md section 3) through LAPACK's Hermitian-definite generalised eigensolver.
#pragma once
#include "jcas/api.hpp"

namespace jcas::host {
/// p: J blocks Nr x K holding P_j = G_j W0. Writes unit-norm f_m (Nr x M, column-major).
/// Throws std::runtime_error when LAPACK reports a failure.
void f0_lapack(const problem_dims& d, const system_params<double>& sys, const zd* p, zd* f);
}  // namespace jcas::host
