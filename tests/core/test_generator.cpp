// Scenario generator (SPEC.md section 7): reproducibility and statistics.
#include <gtest/gtest.h>

#include <cmath>

#include "helpers.hpp"

namespace jcas::test {
namespace {

TEST(Generator, IndependentOfBatchSplitAndThreads) {
  scenario sc;
  const channel_set whole = cpu::generate_batch(sc, 42, 0, 40, 1);
  const channel_set a = cpu::generate_batch(sc, 42, 0, 17, 2), b = cpu::generate_batch(sc, 42, 17, 23, 2);
  std::vector<zd> h = a.h, g = a.g;
  h.insert(h.end(), b.h.begin(), b.h.end());
  g.insert(g.end(), b.g.begin(), b.g.end());
  EXPECT_EQ(h, whole.h);
  EXPECT_EQ(g, whole.g);
  const channel_set other = cpu::generate_batch(sc, 43, 0, 40, 1);
  EXPECT_NE(other.h, whole.h);
}

TEST(Generator, UserChannelsDoNotDependOnTheUserCount) {
  scenario s4, s2;
  s2.dims.k = 2;
  const channel_set a = cpu::generate_batch(s4, 9, 0, 5), b = cpu::generate_batch(s2, 9, 0, 5);
  for (long r = 0; r < 5; ++r)
    for (long i = 0; i < b.h_stride(); ++i) EXPECT_EQ(b.h[r * b.h_stride() + i], a.h[r * a.h_stride() + i]);
  EXPECT_EQ(a.g, b.g);
}

TEST(Generator, SensingChannelsAreLineOfSightWithTheCodePathLoss) {
  scenario sc;
  sc.sens_dist_std = 0;  // fixed distance: |G| known exactly
  const channel_set cs = cpu::generate_batch(sc, 3, 0, 10);
  const double d = std::sqrt(10.0 * 10 + 10.0 * 10);
  const double amp = 0.1 * std::pow(d, -2.0) / 1e-4;  // beta^2 / sigma, zeta0 = -10 dB
  for (long b = 0; b < cs.count; ++b) {
    host::realization<double> rc;
    rc.load(cs, b);
    EXPECT_TRUE(rc.rank1);
    for (int j = 0; j < cs.dims.j(); ++j) {
      double fro = 0;
      for (long i = 0; i < long(cs.dims.nr) * cs.dims.nt; ++i) fro += std::norm(cs.g[b * cs.g_stride() + j * 256 + i]);
      EXPECT_NEAR(std::sqrt(fro), amp, 1e-12 * amp);  // ||a_r a_t^H||_F = 1
    }
  }
}

TEST(Generator, MeanUserGainAndRicianFactor) {
  scenario sc;
  sc.user_dist_std = 0;
  sc.rician_k = 3;
  const long n = 4000;
  const channel_set cs = cpu::generate_batch(sc, 77, 0, n);
  const double d = std::sqrt(100.0 * 100 + 100);
  const double gain = 0.1 * std::pow(d, -3.0) / 1e-8;  // beta_c^2 / sigma^2
  double power = 0, los = 0;
  for (long b = 0; b < n; ++b)
    for (int k = 0; k < cs.dims.k; ++k) {
      // Recover user k's angle from its own stream: same draws, same order as the generator.
      core::philox_stream rng(77, std::uint32_t(k), std::uint64_t(b));
      rng.normal();
      const double phi = sc.angle_min + (sc.angle_max - sc.angle_min) * rng.uniform();
      zd proj = 0;
      double p = 0;
      for (int t = 0; t < cs.dims.nt; ++t) {
        const zd h = cs.h[b * cs.h_stride() + k * cs.dims.nt + t];
        const cplx<double> a = core::steering(t, cs.dims.nt, phi);
        proj += std::conj(zd(a.re, a.im)) * h;
        p += std::norm(h);
      }
      power += p;
      los += std::norm(proj);
    }
  const double cnt = double(n) * cs.dims.k;
  EXPECT_NEAR(power / cnt / gain, 1.0, 0.01);
  // E|a^H h|^2 / gain = K/(K+1) + 1/((K+1) Nt).
  const double expect = 3.0 / 4 + 1.0 / (4 * 16);
  EXPECT_NEAR(los / cnt / gain, expect, 0.01);
}

TEST(Generator, DistancesAndAnglesFollowTheirDistributions) {
  // Angles uniform in [-pi/3, pi), distance normal: check through the streams directly.
  double sum = 0, sum2 = 0, amin = 10, amax = -10;
  scenario sc;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    core::philox_stream rng(1, 0, std::uint64_t(i));
    const double eta = rng.normal();
    const double phi = sc.angle_min + (sc.angle_max - sc.angle_min) * rng.uniform();
    sum += eta;
    sum2 += eta * eta;
    amin = std::min(amin, phi);
    amax = std::max(amax, phi);
  }
  EXPECT_NEAR(sum / n, 0, 0.03);
  EXPECT_NEAR(sum2 / n, 1, 0.03);
  EXPECT_GT(amin, -M_PI / 3);
  EXPECT_LT(amin, -M_PI / 3 + 0.01);
  EXPECT_LT(amax, M_PI);
  EXPECT_GT(amax, M_PI - 0.01);
}

TEST(Generator, PaperPresetIsWeakerByTwentyDbRoundTrip) {
  scenario code, paper = scenario::paper_text();
  code.height = paper.height;
  code.clutter_reuses_target_pathloss = paper.clutter_reuses_target_pathloss;
  const channel_set a = cpu::generate_batch(code, 2, 0, 3), b = cpu::generate_batch(paper, 2, 0, 3);
  // Sensing G carries beta^2: -20 dB of zeta0 is a factor 100 in amplitude.
  for (size_t i = 0; i < a.g.size(); i += 97) {
    ASSERT_GT(std::abs(b.g[i]), 0);
    EXPECT_NEAR(std::abs(a.g[i]) / std::abs(b.g[i]), 100.0, 1e-9);
  }
}

TEST(Generator, RefusesEveryBadConstantByName) {
  EXPECT_NO_THROW(validate(scenario{}));
  EXPECT_NO_THROW(validate(scenario::paper_text()));
  const double nan = std::nan(""), inf = INFINITY;
  const struct {
    double scenario::*field;
    double value;
    const char* name;
  } cases[] = {{&scenario::user_dist_mean, 0, "user-dist"},
               {&scenario::user_dist_std, -1, "user-dist-std"},
               {&scenario::sens_dist_mean, nan, "sens-dist"},
               {&scenario::sens_dist_std, inf, "sens-dist-std"},
               {&scenario::height, -1, "height"},
               {&scenario::zeta0_db, nan, "zeta0-db"},
               {&scenario::eps_c, -2, "eps-c"},
               {&scenario::eps_s, inf, "eps-s"},
               {&scenario::angle_min, nan, "angle-min"},
               {&scenario::angle_max, -2, "angle-max"},
               {&scenario::rician_k, -0.5, "rician-k"},
               {&scenario::noise_db, -inf, "noise-db"}};
  for (const auto& c : cases) {
    scenario sc;
    sc.*c.field = c.value;
    try {
      (void)cpu::generate_batch(sc, 1, 0, 2);
      ADD_FAILURE() << c.name << " = " << c.value << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).rfind(std::string(c.name) + " = ", 0), 0u) << e.what();
    }
  }
  EXPECT_THROW((void)cpu::generate_batch(scenario{}, 1, -1, 2), std::invalid_argument);  // first
}

}  // namespace
}  // namespace jcas::test
