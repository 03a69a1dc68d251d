// Small dense linear algebra of the core against Eigen.
#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>

#include "helpers.hpp"

namespace jcas::test {
namespace {

Mat random_hpd(std::mt19937_64& rng, int n) {
  std::normal_distribution<double> g(0, 1);
  Mat a(n, n);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < n; ++i) a(i, j) = {g(rng), g(rng)};
  return a * a.adjoint() + Mat::Identity(n, n);
}

class SizesTest : public ::testing::TestWithParam<int> {};

TEST_P(SizesTest, CholeskySolveMatchesEigen) {
  std::mt19937_64 rng(GetParam());
  const int n = GetParam();
  const Mat a = random_hpd(rng, n);
  cmat l(a);
  ASSERT_EQ(core::cholesky<double>(l.view()), status::ok);
  Mat b = Mat::Random(n, 1);
  cmat x(b);
  core::cholesky_solve<double>(l.view(), x.v.data());
  EXPECT_LT(rel(x.eigen(), a.ldlt().solve(b)), 1e-12);
}

TEST_P(SizesTest, HermitianJacobiMatchesEigen) {
  std::mt19937_64 rng(100 + GetParam());
  const int n = GetParam();
  const Mat a = random_hpd(rng, n) - 3.0 * Mat::Identity(n, n);
  cmat w(a), v(n, n);
  std::vector<double> ev(n);
  ASSERT_EQ(core::hermitian_eig<double>(w.view(), ev.data(), v.view()), status::ok);
  Eigen::SelfAdjointEigenSolver<Mat> es(a);
  std::vector<double> sorted = ev;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < n; ++i)
    EXPECT_NEAR(sorted[i], es.eigenvalues()(i), 1e-10 * es.eigenvalues().cwiseAbs().maxCoeff());
  // A V = V diag(ev), V unitary.
  const Mat vm = v.eigen();
  Mat lam = Mat::Zero(n, n);
  for (int i = 0; i < n; ++i) lam(i, i) = ev[i];
  EXPECT_LT(rel(a * vm, vm * lam), 1e-11);
  EXPECT_LT(rel(vm.adjoint() * vm, Mat::Identity(n, n)), 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Core, SizesTest, ::testing::Values(1, 2, 3, 7, 16, 33));

TEST(Cholesky, RejectsIndefinite) {
  Mat a = Mat::Identity(3, 3);
  a(1, 1) = -1;
  cmat l(a);
  EXPECT_EQ(core::cholesky<double>(l.view()), status::not_positive_definite);
}

TEST(FactorRank1, RecognisesRankOneAndRejectsRankTwo) {
  std::mt19937_64 rng(3);
  const Mat u = Mat::Random(5, 1), v = Mat::Random(7, 1);
  const Mat g1 = u * v.adjoint();
  cmat a(g1), uu(5, 1), vv(7, 1);
  ASSERT_TRUE(core::factor_rank1<double>(a.view(), uu.v.data(), vv.v.data(), 1e-12));
  EXPECT_LT(rel(uu.eigen() * vv.eigen().adjoint(), g1), 1e-14);
  cmat b(Mat(g1 + Mat::Random(5, 1) * Mat::Random(7, 1).adjoint() * 1e-3));
  EXPECT_FALSE(core::factor_rank1<double>(b.view(), uu.v.data(), vv.v.data(), 1e-10));
}

}  // namespace
}  // namespace jcas::test
