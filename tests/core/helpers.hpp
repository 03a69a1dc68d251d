// Glue between the Eigen reference (reference.hpp) and the core's views.
#pragma once
#include <gtest/gtest.h>

#include "jcas/core/dispatch.hpp"
#include "jcas/core/init.hpp"
#include "realization.hpp"
#include "reference.hpp"

namespace jcas::test {

using ref::Mat;

/// Owning storage for a core matrix, initialised from an Eigen matrix.
struct cmat {
  std::vector<cplx<double>> v;
  int r = 0, c = 0;
  cmat(int rows, int cols) : v(size_t(rows) * cols), r(rows), c(cols) {}
  explicit cmat(const Mat& m) : v(size_t(m.size())), r(int(m.rows())), c(int(m.cols())) {
    for (size_t i = 0; i < v.size(); ++i) v[i] = {m.data()[i].real(), m.data()[i].imag()};
  }
  core::mview<double> view() { return {v.data(), r, c, r}; }
  Mat eigen() const {
    Mat m(r, c);
    for (size_t i = 0; i < v.size(); ++i) m.data()[i] = {v[i].re, v[i].im};
    return m;
  }
};

/// Scratch for any core workspace type.
template <class Ws>
struct workspace {
  std::vector<char> bytes;
  Ws ws;
  explicit workspace(const problem_dims& d) {
    bytes.resize(size_t(Ws::bytes(d)));
    arena a{bytes.data()};
    ws.carve(a, d);
  }
};

/// Relative Frobenius distance.
inline double rel(const Mat& a, const Mat& b) { return (a - b).norm() / std::max(b.norm(), 1e-300); }

/// Loads a reference problem into the core's representation (rank-one if possible).
struct loaded {
  channel_set cs;
  host::realization<double> rc;
  problem_dims d;
  system_params<double> sys;
  explicit loaded(const ref::problem& p) : cs(ref::to_channels(p)) {
    rc.load(cs, 0);
    d = cs.dims;
    sys = {p.pt, p.sc2, p.ss2, p.delta};
  }
};

}  // namespace jcas::test
