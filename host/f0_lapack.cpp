#include "f0_lapack.hpp"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#define lapack_complex_float std::complex<float>
#define lapack_complex_double std::complex<double>
#include <lapacke.h>

namespace jcas::host {

void f0_lapack(const problem_dims& d, const system_params<double>& sys, const zd* p, zd* f) {
  const int nr = d.nr;
  std::vector<zd> a(size_t(nr) * nr), b(size_t(nr) * nr);
  std::vector<double> ev(nr);
  auto pcol = [&](int j, int k) { return p + (size_t(j) * d.k + k) * nr; };
  for (int m = 0; m < d.m; ++m) {
    // A_m = P_m P_m^H, B_m = sum_{j != m} P_j P_j^H + Nr sigma_s^2 I (full storage).
    for (int c = 0; c < nr; ++c)
      for (int r = 0; r < nr; ++r) {
        zd sa = 0, sb = r == c ? zd(nr * sys.sigma_s2) : zd(0);
        for (int j = 0; j < d.j(); ++j)
          for (int k = 0; k < d.k; ++k) {
            const zd v = pcol(j, k)[r] * std::conj(pcol(j, k)[c]);
            (j == m ? sa : sb) += v;
          }
        a[r + size_t(c) * nr] = sa;
        b[r + size_t(c) * nr] = sb;
      }
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
