// Scenario generator (SPEC.md section 7). Every random number of realization b comes
// from Philox4x32-10 keyed by the seed, with the counter (draw, entity, b): channels
// depend only on (seed, b) -- not on batch split, thread, device or process count --
// and user k's channel does not change when K or the target count does.
#pragma once
#include <Random123/philox.h>

#include <cstdint>

#include "jcas/complex.hpp"
#include "jcas/dims.hpp"

namespace jcas {

/// Every constant of the channel model. Defaults: the reference code's constants,
/// which produced the paper's figures (SPEC.md section 7).
struct scenario {
  problem_dims dims{};
  double user_dist_mean = 100, user_dist_std = 20;  // m, d = mean + std * eta
  double sens_dist_mean = 10, sens_dist_std = 2;    // targets and clutter
  double height = 10;                               // d <- sqrt(d^2 + height^2)
  double zeta0_db = -10;                            // path loss at 1 m
  double eps_c = 3, eps_s = 2;                      // beta = sqrt(zeta0 d^-eps)
  double angle_min = -3.14159265358979323846 / 3, angle_max = 3.14159265358979323846;
  double rician_k = 5;                         // linear
  double noise_db = -80;                       // sigma^2; channels divided by sigma
  bool clutter_reuses_target_pathloss = true;  // the reference's quirk

  /// The constants stated in the paper's text: zeta0 = -30 dB, Rician factor 3 dB,
  /// independent clutter path loss, no height offset.
  static scenario paper_text() {
    scenario s;
    s.zeta0_db = -30;
    s.rician_k = 1.9952623149688795;  // 10^(3/10)
    s.clutter_reuses_target_pathloss = false;
    s.height = 0;
    return s;
  }
};

namespace core {

/// A stream of uniforms and normals from Philox4x32-10 for one (seed, entity, index).
class philox_stream {
 public:
  JCAS_HD philox_stream(std::uint64_t seed, std::uint32_t entity, std::uint64_t index) {
    key_ = {{std::uint32_t(seed), std::uint32_t(seed >> 32)}};
    ctr_ = {{0u, entity, std::uint32_t(index), std::uint32_t(index >> 32)}};
  }
  /// Uniform in (0, 1) with 53 random bits.
  JCAS_HD double uniform() {
    if (pos_ >= 4) refill();
    const std::uint32_t a = buf_.v[pos_++], b = buf_.v[pos_++];
    return (double(a >> 5) * 67108864.0 + double(b >> 6) + 0.5) * (1.0 / 9007199254740992.0);
  }
  /// Standard normal (Box-Muller; the second value of each pair is kept for the next call).
  JCAS_HD double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = uniform(), u2 = uniform();
    const double r = sqrt(-2.0 * log(u1)), t = 6.283185307179586476925 * u2;
    spare_ = r * sin(t);
    has_spare_ = true;
    return r * cos(t);
  }

 private:
  JCAS_HD void refill() {
    buf_ = r123::Philox4x32()(ctr_, key_);
    ctr_.v[0] += 1;
    pos_ = 0;
  }
  r123::Philox4x32::key_type key_;
  r123::Philox4x32::ctr_type ctr_;
  r123::Philox4x32::ctr_type buf_{};
  int pos_ = 4;
  bool has_spare_ = false;
  double spare_ = 0;
};

/// ULA steering vector a_N(phi)_n = exp(j pi sin(phi) n) / sqrt(N), n = 0..N-1.
JCAS_HD inline cplx<double> steering(int n, int count, double phi) {
  return expi(3.14159265358979323846 * sin(phi) * n) / sqrt(double(count));
}

JCAS_HD inline double pathloss_amplitude(double zeta0_db, double dist, double eps) {
  return sqrt(pow(10.0, zeta0_db / 10.0) * pow(dist, -eps));
}

constexpr std::uint32_t sensing_entity_base = 1u << 20;

/// One realization's users: h (Nt x K, column-major), Rician (SPEC.md 7).
JCAS_HD inline void generate_users(const scenario& sc, std::uint64_t seed, std::uint64_t index, cplx<double>* h) {
  const problem_dims& d = sc.dims;
  const double sigma = sqrt(pow(10.0, sc.noise_db / 10.0));
  const double los = sqrt(sc.rician_k / (sc.rician_k + 1)), nlos = sqrt(1 / (sc.rician_k + 1));
  for (index_t k = 0; k < d.k; ++k) {
    philox_stream rng(seed, std::uint32_t(k), index);
    const double d0 = sc.user_dist_mean + sc.user_dist_std * rng.normal();
    const double phi = sc.angle_min + (sc.angle_max - sc.angle_min) * rng.uniform();
    const double beta = pathloss_amplitude(sc.zeta0_db, sqrt(d0 * d0 + sc.height * sc.height), sc.eps_c) / sigma;
    cplx<double>* hk = h + long(k) * d.nt;
    double nn = 0;
    for (index_t n = 0; n < d.nt; ++n) {
      const double re = rng.normal(), im = rng.normal();
      hk[n] = cplx<double>(re, im);  // CN(0, 2): scale is irrelevant after normalising
      nn += re * re + im * im;
    }
    const double inv = 1 / sqrt(nn);
    for (index_t n = 0; n < d.nt; ++n) hk[n] = (steering(n, d.nt, phi) * los + hk[n] * (nlos * inv)) * beta;
  }
}

/// Sensing entity i (a target, then the clutter) of one realization: its line-of-sight
/// G_i = amp a_r(phi) a_t(phi)^H (SPEC.md 7).
struct sensing_draw {
  double amp, phi;
};
JCAS_HD inline sensing_draw draw_sensing(const scenario& sc, std::uint64_t seed, std::uint64_t index, index_t i) {
  const problem_dims& d = sc.dims;
  const double sigma = sqrt(pow(10.0, sc.noise_db / 10.0));
  philox_stream rng(seed, sensing_entity_base + std::uint32_t(i), index);
  double eta = rng.normal();
  const double phi = sc.angle_min + (sc.angle_max - sc.angle_min) * rng.uniform();
  if (i >= d.m && sc.clutter_reuses_target_pathloss && d.m > 0) {
    // Clutter i reuses the distance draw of target (i - M) mod M.
    philox_stream t(seed, sensing_entity_base + std::uint32_t((i - d.m) % d.m), index);
    eta = t.normal();
  }
  const double d0 = sc.sens_dist_mean + sc.sens_dist_std * eta;
  const double beta = pathloss_amplitude(sc.zeta0_db, sqrt(d0 * d0 + sc.height * sc.height), sc.eps_s);
  return {beta * beta / sigma, phi};
}

/// One realization: h (Nt x K, column-major) and g (J blocks Nr x Nt, column-major).
JCAS_HD inline void generate_realization(const scenario& sc, std::uint64_t seed, std::uint64_t index, cplx<double>* h,
                                         cplx<double>* g) {
  const problem_dims& d = sc.dims;
  generate_users(sc, seed, index, h);
  for (index_t i = 0; i < d.j(); ++i) {
    const sensing_draw e = draw_sensing(sc, seed, index, i);
    cplx<double>* gi = g + long(i) * d.nr * d.nt;
    for (index_t c = 0; c < d.nt; ++c) {
      const cplx<double> at = conj(steering(c, d.nt, e.phi));
      for (index_t r = 0; r < d.nr; ++r) gi[r + long(c) * d.nr] = steering(r, d.nr, e.phi) * at * e.amp;
    }
  }
}

/// The same realization with each G_j as its factors G_j = u_j v_j^H: u (J x Nr) =
/// amp a_r, v (J x Nt) = a_t; their product is generate_realization's G_j up to rounding.
JCAS_HD inline void generate_realization_rank1(const scenario& sc, std::uint64_t seed, std::uint64_t index,
                                               cplx<double>* h, cplx<double>* u, cplx<double>* v) {
  const problem_dims& d = sc.dims;
  generate_users(sc, seed, index, h);
  for (index_t i = 0; i < d.j(); ++i) {
    const sensing_draw e = draw_sensing(sc, seed, index, i);
    for (index_t r = 0; r < d.nr; ++r) u[long(i) * d.nr + r] = steering(r, d.nr, e.phi) * e.amp;
    for (index_t c = 0; c < d.nt; ++c) v[long(i) * d.nt + c] = steering(c, d.nt, e.phi);
  }
}

}  // namespace core
}  // namespace jcas
