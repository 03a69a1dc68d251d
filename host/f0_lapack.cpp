#include "f0_lapack.hpp"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "jcas/core/init.hpp"

#define lapack_complex_float std::complex<float>
#define lapack_complex_double std::complex<double>
#include <lapacke.h>

namespace jcas::host {

void f0_lapack(const problem_dims& d, const system_params<double>& sys, const zd* p, zd* f) {
  const int nr = d.nr;
  std::vector<zd> a(size_t(nr) * nr), b(size_t(nr) * nr);
  std::vector<double> ev(nr);
  core::mview<double> av(reinterpret_cast<cplx<double>*>(a.data()), nr, nr);
  core::mview<double> bv(reinterpret_cast<cplx<double>*>(b.data()), nr, nr);
  for (int m = 0; m < d.m; ++m) {
    core::f0_pencil<double>(d, sys, reinterpret_cast<const cplx<double>*>(p), m, av, bv);
    const lapack_int info = LAPACKE_zhegv(LAPACK_COL_MAJOR, 1, 'V', 'L', nr, a.data(), nr, b.data(), nr, ev.data());
    if (info != 0)
      throw std::runtime_error("F0: LAPACK zhegv failed for target " + std::to_string(m) + " (info " +
                               std::to_string(info) + ")");
    // Eigenvalues ascend: the principal eigenvector is the last column.
    const zd* x = a.data() + size_t(nr - 1) * nr;
    double n = 0;
    for (int r = 0; r < nr; ++r) n += std::norm(x[r]);
    n = std::sqrt(n);
    for (int r = 0; r < nr; ++r) f[r + size_t(m) * nr] = x[r] / n;
  }
}

}  // namespace jcas::host
