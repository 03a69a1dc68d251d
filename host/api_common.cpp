// Backend-independent pieces of the batch API: names, validation, summaries.
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <fstream>
#include <span>
#include <sstream>
#include <stdexcept>

#include "io.hpp"
#include "jcas/api.hpp"
#include "jcas/core/channels.hpp"
#include "jcas/cuda_backend.hpp"
#include "shipped_models.hpp"
#include "solve_request.hpp"

namespace jcas {

namespace {
[[noreturn]] void bad(const std::string& field, const std::string& value, const std::string& why) {
  throw std::invalid_argument(field + " = " + value + ": " + why);
}
std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}
}  // namespace

void reject(const std::string& field, double value, const std::string& why) { bad(field, num(value), why); }
void require_finite(double v, const std::string& field) {
  if (!std::isfinite(v)) reject(field, v, "must be finite");
}
void require_positive(double v, const std::string& field) {
  if (!(v > 0) || !std::isfinite(v)) reject(field, v, "must be positive and finite");
}
void require_non_negative(double v, const std::string& field) {
  if (!(v >= 0) || !std::isfinite(v)) reject(field, v, "must be finite and >= 0");
}

std::string bytes_str(double b) {
  const char* unit[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
  int u = 0;
  while (b >= 1000 && u < 6) b /= 1000, ++u;
  char s[32];
  std::snprintf(s, sizeof s, u == 0 ? "%.0f %s" : "%.3g %s", b, unit[u]);
  return s;
}

void require_memory(const std::string& what, double bytes) {
  double avail = -1;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    double kb = 0;
    meminfo >> kb;
    if (key == "MemAvailable:") {
      avail = kb * 1024;
      break;
    }
    meminfo.ignore(256, '\n');
  }
  // Three quarters of it: the rest is the process's other memory and the machine's.
  if (avail >= 0 && bytes > 0.75 * avail)
    throw std::runtime_error(what + " needs " + bytes_str(bytes) + " of memory; " + bytes_str(avail) + " is available");
}

double channel_set_bytes(const problem_dims& d, long count, bool rank_one) {
  const double g = rank_one ? double(d.j()) * (d.nr + d.nt) : double(d.j()) * d.nr * d.nt;
  return 16.0 * double(count) * (double(d.nt) * d.k + g);
}

namespace {
/// ch's sizes, SNR and H, G left empty: what copy_of, dense_form and rank_one_form fill in.
channel_set with_h_of(const channel_view& ch) {
  channel_set cs;
  cs.dims = ch.dims;
  cs.count = ch.count;
  cs.snr_db = ch.snr_db;
  cs.h.assign(ch.h, ch.h + ch.count * ch.h_stride());
  return cs;
}
}  // namespace

channel_set sized_channels(const problem_dims& d, long count, bool rank_one) {
  require_memory("the channels of " + std::to_string(count) + " realizations", channel_set_bytes(d, count, rank_one));
  channel_set cs;
  cs.dims = d;
  cs.count = count;
  cs.rank_one = rank_one;
  cs.h.resize(size_t(count * cs.h_stride()));
  if (rank_one) {
    cs.gu.resize(size_t(count * cs.gu_stride()));
    cs.gv.resize(size_t(count * cs.gv_stride()));
  } else {
    cs.g.resize(size_t(count * cs.g_stride()));
  }
  return cs;
}

channel_set copy_of(const channel_view& ch) {
  channel_set cs = with_h_of(ch);
  cs.rank_one = ch.rank_one;
  if (ch.rank_one) {
    cs.gu.assign(ch.gu, ch.gu + ch.count * ch.gu_stride());
    cs.gv.assign(ch.gv, ch.gv + ch.count * ch.gv_stride());
  } else {
    cs.g.assign(ch.g, ch.g + ch.count * ch.g_stride());
  }
  return cs;
}

channel_set dense_form(const channel_view& ch) {
  if (!ch.rank_one) return copy_of(ch);
  const problem_dims& d = ch.dims;
  channel_set cs = with_h_of(ch);
  cs.g.resize(size_t(ch.count * ch.g_stride()));
  for (long blk = 0; blk < ch.count * d.j(); ++blk) {  // G_j(r, c) = u_j(r) conj(v_j(c)), column-major
    const zd *u = ch.gu + blk * d.nr, *v = ch.gv + blk * d.nt;
    zd* g = cs.g.data() + blk * d.nr * d.nt;
    for (int c = 0; c < d.nt; ++c)
      for (int r = 0; r < d.nr; ++r) g[r + long(c) * d.nr] = u[r] * std::conj(v[c]);
  }
  return cs;
}

channel_set rank_one_form(const channel_view& ch) {
  if (ch.rank_one) return copy_of(ch);
  const problem_dims& d = ch.dims;
  channel_set cs = with_h_of(ch);
  cs.rank_one = true;
  cs.gu.resize(size_t(ch.count * ch.gu_stride()));
  cs.gv.resize(size_t(ch.count * ch.gv_stride()));
  for (long blk = 0; blk < ch.count * d.j(); ++blk) {
    const zd* g = ch.g + blk * d.nr * d.nt;
    auto* u = reinterpret_cast<cplx<double>*>(cs.gu.data() + blk * d.nr);
    auto* v = reinterpret_cast<cplx<double>*>(cs.gv.data() + blk * d.nt);
    if (std::all_of(g, g + long(d.nr) * d.nt, [](const zd& z) { return z == zd(0); })) continue;  // u = v = 0
    if (!core::factor_rank1<double>(core::cview<double>(reinterpret_cast<const cplx<double>*>(g), d.nr, d.nt), u, v,
                                    1e-10))
      throw std::invalid_argument("G of realization " + std::to_string(blk / d.j()) + ", block " +
                                  std::to_string(blk % d.j()) +
                                  ": not rank one (to 1e-10, relative), so it has no factors G_j = u_j v_j^H");
  }
  return cs;
}

double solve_output_bytes(const problem_dims& d, long count, const solve_options& o) {
  const double curve = o.algo == algorithm::unfolded ? double(o.model.l_out) * o.model.repeats_at(d.k) + 1.0
                       : o.algo == algorithm::ascent
                           ? double(__builtin_popcount(unsigned(o.ascent.starts))) * o.ascent.stages + 1.0
                           : o.ao.max_outer + 1.0;
  // W | F twice (the start and the result), the curve in double and in the solve's
  // precision, and seven numbers a realization.
  return double(count) * (2 * 16.0 * (double(d.nt) * d.k + double(d.nr) * d.m) + 16 * curve + 56);
}

void unfolded_model::finalize() {
  if (l_out < 1) bad("outer layers", std::to_string(l_out), "must be >= 1");
  if (l_in < 1) bad("inner steps", std::to_string(l_in), "must be >= 1");
  if (i_w < 1) bad("iw", std::to_string(i_w), "must be >= 1");
  require_positive(mu_c, "mu_c");
  require_positive(mu_s, "mu_s");
  if (layer_repeat < 0) bad("layer-repeat", std::to_string(layer_repeat), "must be >= 1, or 0: by the users");
  require_memory("a model of " + std::to_string(l_out) + " x " + std::to_string(l_in) + " layers' step sizes",
                 8.0 * double(l_out) * double(l_in) * (per_layer_mu ? 3 : 1));
  if (beta.empty()) beta.assign(size_t(l_out) * l_in, 0.01);
  if (beta.size() != size_t(l_out) * l_in)
    bad("beta", std::to_string(beta.size()) + " values",
        "expected outer x inner = " + std::to_string(size_t(l_out) * l_in));
  for (size_t i = 0; i < beta.size(); ++i)
    if (!std::isfinite(beta[i])) bad("beta[" + std::to_string(i) + "]", num(beta[i]), "must be finite");
  if (!per_layer_mu) {
    mu_c_layer.clear();
    mu_s_layer.clear();
    return;
  }
  if (mu_c_layer.empty()) mu_c_layer.assign(size_t(l_out), mu_c);
  if (mu_s_layer.empty()) mu_s_layer.assign(size_t(l_out), mu_s);
  for (const auto* t : {&mu_c_layer, &mu_s_layer}) {
    if (t->size() != size_t(l_out))
      bad("per-layer mu", std::to_string(t->size()) + " values", "expected L_out = " + std::to_string(l_out));
    for (size_t i = 0; i < t->size(); ++i)
      if (!std::isfinite((*t)[i])) bad("per-layer mu[" + std::to_string(i) + "]", num((*t)[i]), "must be finite");
  }
}

int unfolded_model::repeats_at(int k) const {
  if (layer_repeat > 0) return layer_repeat;
  return std::max((k + 3) / 4, k > 0 ? 4 / k : 1);
}

unfolded_model unfolded_model::run_at(const problem_dims& d) const {
  unfolded_model m = *this;
  m.finalize();
  const int r = m.repeats_at(d.k);
  m.layer_repeat = 1;
  if (r == 1) return m;
  if (double(m.l_out) * r > 1e9) bad("layer-repeat", std::to_string(r), "L_out x repeats exceeds 10^9 layers");
  const auto stretch = [&](const std::vector<double>& t, size_t row) {
    std::vector<double> out;
    out.reserve(t.size() * size_t(r));
    for (size_t l = 0; l < t.size() / row; ++l)
      for (int i = 0; i < r; ++i) out.insert(out.end(), t.begin() + long(l * row), t.begin() + long((l + 1) * row));
    return out;
  };
  m.beta = stretch(m.beta, size_t(m.l_in));
  if (m.per_layer_mu) {
    m.mu_c_layer = stretch(m.mu_c_layer, 1);
    m.mu_s_layer = stretch(m.mu_s_layer, 1);
  }
  m.l_out *= r;
  m.finalize();
  return m;
}

unfolded_model unfolded_model::first_layers(int layers) const {
  if (layers < 1 || layers > l_out)
    bad("layers", std::to_string(layers), "must be in 1 .. L_out = " + std::to_string(l_out));
  unfolded_model m = *this;
  m.finalize();
  m.l_out = layers;
  m.beta.resize(size_t(layers) * l_in);
  if (m.per_layer_mu) {
    m.mu_c_layer.resize(size_t(layers));
    m.mu_s_layer.resize(size_t(layers));
  }
  return m;
}

algorithm parse_algorithm(const std::string& s) {
  if (s == "unfolded") return algorithm::unfolded;
  if (s == "ao-fixed") return algorithm::ao_fixed;
  if (s == "ao-backtracking") return algorithm::ao_backtracking;
  if (s == "heuristic") return algorithm::heuristic;
  if (s == "ao-monotone") return algorithm::ao_monotone;
  if (s == "ascent") return algorithm::ascent;
  bad("algo", s, "unknown algorithm (unfolded, ao-fixed, ao-backtracking, heuristic, ao-monotone, ascent)");
}

unfolded_model shipped_model(double delta) {
  if (!(delta >= 0) || !std::isfinite(delta)) bad("delta", num(delta), "must be >= 0 and finite");
  const std::span<const io::shipped_file> files = io::shipped_files();
  if (files.empty()) throw std::runtime_error("no model was shipped with this build (models/)");
  const auto distance = [&](const io::shipped_file& f) { return std::abs(std::log1p(delta) - std::log1p(f.delta)); };
  const io::shipped_file& f =
      *std::min_element(files.begin(), files.end(), [&](auto& a, auto& b) { return distance(a) < distance(b); });
  unfolded_model m = io::read_model_image(f.bytes, f.size, f.name);
  m.provenance = "shipped " + std::string(f.name) + ": " + m.provenance;
  return m;
}

unfolded_model resolve_model(const model_choice& c, double delta) {
  const bool shipped = !c.trained && !c.untrained && !c.outer && !c.inner;
  unfolded_model m = c.trained ? *c.trained : shipped ? shipped_model(delta) : unfolded_model{};
  if (c.outer || c.inner) {
    if (c.trained && ((c.outer && *c.outer != m.l_out) || (c.inner && *c.inner != m.l_in)))
      throw std::invalid_argument("outer/inner: the parameter file fixes L_out = " + std::to_string(m.l_out) +
                                  ", L_in = " + std::to_string(m.l_in));
    if (c.outer) m.l_out = *c.outer;
    if (c.inner) m.l_in = *c.inner;
    if (!c.trained) m.beta.clear();
  }
  if (c.iw) m.i_w = *c.iw;
  if (c.frozen) m.frozen = true;
  if (c.layer_repeat) m.layer_repeat = *c.layer_repeat;
  m.finalize();
  return m;
}

solve_options to_options(const solve_request& r, bool gpu) {
  solve_options o;
  o.algo = parse_algorithm(r.algo);
  o.prec = parse_precision(r.precision);
  o.f0 = r.f0 == "auto" ? (gpu ? f0_method::lowrank : f0_method::lapack) : parse_f0(r.f0);
  if (r.w0) o.w0 = parse_w0(*r.w0);
  o.products = parse_products(r.products);
  o.model = resolve_model(r.model, r.delta);
  o.ao = r.ao;
  if (r.mu) o.ao.mu_c = o.ao.mu_s = *r.mu;
  o.ascent = r.ascent;
  o.ascent.starts = parse_ascent_starts(r.ascent_starts);
  o.simd = r.simd;
  o.threads = r.threads;
  o.gpu_watchdog = r.gpu_watchdog;
  o.team_lanes = r.team_lanes;
  o.sys.pt = r.pt;
  o.sys.delta = r.delta;
  return o;
}

f0_method parse_f0(const std::string& s) {
  if (s == "lapack") return f0_method::lapack;
  if (s == "lowrank") return f0_method::lowrank;
  if (s == "cusolver") return f0_method::cusolver;
  bad("f0", s, "must be auto, lapack, lowrank or cusolver");
}

precision parse_precision(const std::string& s) {
  if (s == "f64") return precision::f64;
  if (s == "f32") return precision::f32;
  bad("precision", s, "must be f64 or f32");
}

int parse_layer_repeat(const std::string& s, const std::string& field) {
  if (s == "users") return 0;
  size_t used = 0;
  int r = 0;
  try {
    r = std::stoi(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || s.empty() || r < 1) bad(field, s, "must be users or a whole number >= 1");
  return r;
}
std::string layer_repeat_text(int r) { return r == 0 ? "users" : std::to_string(r); }

w0_method parse_w0(const std::string& s) {
  if (s == "mrt") return w0_method::mrt;
  if (s == "zf") return w0_method::zf;
  bad("w0", s, "must be mrt or zf");
}

int parse_device(const std::string& s) {
  if (s == "cpu") return -1;
  if (s == "cuda") return 0;
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.size() < 12 &&
      s.find_first_not_of("0123456789", 5) == std::string::npos)
    return std::stoi(s.substr(5));
  bad("device", s, "expected cpu, cuda or cuda:N");
}

double pt_of_snr_db(double snr_db, const std::string& field) {
  const double pt = std::pow(10.0, snr_db / 10.0);
  if (!std::isfinite(snr_db) || !(pt > 0) || !std::isfinite(pt))
    bad(field, num(snr_db), "must be finite, with Pt = 10^(snr/10) positive and finite");
  return pt;
}

std::string to_string(algorithm a) {
  switch (a) {
    case algorithm::unfolded:
      return "unfolded";
    case algorithm::ao_fixed:
      return "ao-fixed";
    case algorithm::ao_backtracking:
      return "ao-backtracking";
    case algorithm::heuristic:
      return "heuristic";
    case algorithm::ao_monotone:
      return "ao-monotone";
    case algorithm::ascent:
      return "ascent";
  }
  return "?";
}

std::string to_string(status s) {
  switch (s) {
    case status::ok:
      return "ok";
    case status::not_positive_definite:
      return "matrix not positive definite (Q or B_m)";
    case status::non_finite:
      return "non-finite value";
    case status::no_convergence:
      return "no convergence";
  }
  return "unknown status " + std::to_string(int(s));
}

void validate(const problem_dims& d) {
  if (d.nt < 1) bad("nt", std::to_string(d.nt), "must be >= 1");
  if (d.nr < 1) bad("nr", std::to_string(d.nr), "must be >= 1");
  if (d.k < 1) bad("users", std::to_string(d.k), "must be >= 1");
  if (d.m < 1) bad("targets", std::to_string(d.m), "must be >= 1");
  if (d.c < 0) bad("clutter", std::to_string(d.c), "must be >= 0");
}

void validate(const scenario& sc) {
  validate(sc.dims);
  require_positive(sc.user_dist_mean, "user-dist");
  require_non_negative(sc.user_dist_std, "user-dist-std");
  require_positive(sc.sens_dist_mean, "sens-dist");
  require_non_negative(sc.sens_dist_std, "sens-dist-std");
  require_non_negative(sc.height, "height");
  require_finite(sc.zeta0_db, "zeta0-db");
  require_non_negative(sc.eps_c, "eps-c");
  require_non_negative(sc.eps_s, "eps-s");
  require_finite(sc.angle_min, "angle-min");
  require_finite(sc.angle_max, "angle-max");
  if (!(sc.angle_min <= sc.angle_max)) reject("angle-max", sc.angle_max, "must be >= angle-min = " + num(sc.angle_min));
  require_non_negative(sc.rician_k, "rician-k");
  require_finite(sc.noise_db, "noise-db");
}

void validate_draw(const scenario& sc, long first, long count) {
  validate(sc);
  if (first < 0) bad("first", std::to_string(first), "must be >= 0");
  if (count < 0) bad("count", std::to_string(count), "must be >= 0");
}

/// The received power above the noise that each precision resolves (SPEC.md 1: channels
/// are divided by the noise amplitude, Pt = 10^(SNR/10)). Measured on the reference
/// scenario (37 dB) scaled up and down: f32 loses 8 % of the objective at 77 dB and
/// returns NaN at 117 dB; f64 loses the unfolded solver's accuracy from about 177 dB and
/// LAPACK's F0 fails at 197 dB; below the floors the metrics underflow (f32 NaN at -563
/// dB). Kept well inside.
struct power_band {
  double lo_db, hi_db;
};
constexpr power_band f32_band{-200, 65}, f64_band{-1000, 130};

void validate_range(const channel_view& ch, const system_params<double>& sys, precision p) {
  const power_band band = p == precision::f32 ? f32_band : f64_band;
  const problem_dims& d = ch.dims;
  for (long b = 0; b < ch.count; ++b) {
    double top = 0;  // Pt max(||h_k||^2 / sigma_c^2, ||G_j||_F^2 / sigma_s^2)
    for (int k = 0; k < d.k; ++k) {
      double s = 0;
      for (int n = 0; n < d.nt; ++n) s += std::norm(ch.h[size_t(b * ch.h_stride() + long(k) * d.nt + n)]);
      top = std::max(top, s / sys.sigma_c2);
    }
    for (int j = 0; j < d.j(); ++j) {
      double s = 0;  // ||G_j||_F^2, = ||u_j||^2 ||v_j||^2 for the factors
      if (ch.rank_one) {
        double su = 0, sv = 0;
        for (int r = 0; r < d.nr; ++r) su += std::norm(ch.gu[size_t(b * ch.gu_stride() + long(j) * d.nr + r)]);
        for (int c = 0; c < d.nt; ++c) sv += std::norm(ch.gv[size_t(b * ch.gv_stride() + long(j) * d.nt + c)]);
        s = su * sv;
      } else {
        const long g0 = b * ch.g_stride() + long(j) * d.nr * d.nt;
        for (long e = 0; e < long(d.nr) * d.nt; ++e) s += std::norm(ch.g[size_t(g0 + e)]);
      }
      top = std::max(top, s / sys.sigma_s2);
    }
    const double db = 10 * std::log10(top * sys.pt);
    if (db >= band.lo_db && db <= band.hi_db) continue;
    std::ostringstream m;
    m << "realization " << b << ": with pt = " << num(sys.pt) << " (" << num(10 * std::log10(sys.pt))
      << " dB) its strongest channel is received " << (std::isfinite(db) ? num(std::round(db)) : std::string("-inf"))
      << " dB above the noise, outside the " << num(band.lo_db) << " .. " << num(band.hi_db) << " dB that "
      << (p == precision::f32 ? "f32" : "f64") << " resolves"
      << (p == precision::f32 && db > band.hi_db ? " (use --precision f64)" : "")
      << "; channels must be divided by the noise amplitude (SPEC.md 1), or change --snr-db";
    throw std::invalid_argument(m.str());
  }
}

void validate(const channel_view& ch, long first) {
  validate(ch.dims);
  if (ch.count < 0) bad("count", std::to_string(ch.count), "must be >= 0");
  const auto check = [&](const zd* v, long stride, const char* name) {
    for (long i = 0; i < ch.count * stride; ++i)
      if (!std::isfinite(v[i].real()) || !std::isfinite(v[i].imag())) {
        std::ostringstream s;
        s << v[i];
        bad(std::string(name) + " of realization " + std::to_string(first + i / stride), s.str(),
            "channels must be finite (entry " + std::to_string(i % stride) + ")");
      }
  };
  check(ch.h, ch.h_stride(), "H");
  if (ch.rank_one) {
    check(ch.gu, ch.gu_stride(), "G's factor u");
    check(ch.gv, ch.gv_stride(), "G's factor v");
  } else {
    check(ch.g, ch.g_stride(), "G");
  }
}

void validate(const channel_set& ch) {
  validate(ch.dims);
  if (ch.count < 0) bad("count", std::to_string(ch.count), "must be >= 0");
  if (ch.h.size() != size_t(ch.count * ch.h_stride()))
    bad("H size", std::to_string(ch.h.size()), "expected " + std::to_string(ch.count * ch.h_stride()));
  const auto size = [&](const std::vector<zd>& v, long stride, const char* name) {
    if (v.size() != size_t(ch.count * stride))
      bad(name, std::to_string(v.size()), "expected " + std::to_string(ch.count * stride));
  };
  if (ch.rank_one) {
    size(ch.gu, ch.gu_stride(), "G's factor u size");
    size(ch.gv, ch.gv_stride(), "G's factor v size");
    if (!ch.g.empty()) bad("G size", std::to_string(ch.g.size()), "expected 0: the set holds G as its factors");
  } else {
    size(ch.g, ch.g_stride(), "G size");
  }
  validate(channel_view(ch));
}

void validate(const solve_options& o, const problem_dims& d) {
  validate(d);
  require_positive(o.sys.pt, "pt");
  require_positive(o.sys.sigma_c2, "sigma_c2");
  require_positive(o.sys.sigma_s2, "sigma_s2");
  if (!(o.sys.delta >= 0) || !std::isfinite(o.sys.delta)) bad("delta", num(o.sys.delta), "must be >= 0 and finite");
  if (o.threads < 0 || o.threads > max_threads)
    bad("threads", std::to_string(o.threads), "must be in 0 .. " + std::to_string(max_threads));
  require_non_negative(o.gpu_watchdog, "gpu watchdog");
  if (o.gpu_chunk < 0) bad("gpu chunk", std::to_string(o.gpu_chunk), "must be >= 0");
  if (o.team_lanes != 0 && o.team_lanes != 8 && o.team_lanes != 16 && o.team_lanes != 32)
    bad("team lanes", std::to_string(o.team_lanes), "must be 8, 16, 32 or 0 (the model's choice)");
  const ao_settings& ao = o.ao;
  require_positive(ao.mu_c, "ao mu_c");
  require_positive(ao.mu_s, "ao mu_s");
  if (ao.max_outer < 1) bad("max-outer", std::to_string(ao.max_outer), "must be >= 1");
  require_non_negative(ao.outer_tol, "outer-tol");
  require_non_negative(ao.inner_tol, "inner-tol");
  require_positive(ao.fixed_step, "step");
  if (ao.fixed_max_steps < 1) bad("fixed max steps", std::to_string(ao.fixed_max_steps), "must be >= 1");
  require_positive(ao.bt_t0, "backtracking t0");
  if (!(ao.bt_shrink > 0 && ao.bt_shrink < 1)) reject("backtracking shrink", ao.bt_shrink, "must be in (0, 1)");
  require_non_negative(ao.bt_armijo, "backtracking armijo");
  if (ao.bt_max_steps < 1) bad("backtracking max steps", std::to_string(ao.bt_max_steps), "must be >= 1");
  if (ao.bt_max_shrinks < 0) bad("backtracking max shrinks", std::to_string(ao.bt_max_shrinks), "must be >= 0");
  if (ao.fp_max_steps < 1) bad("heuristic max steps", std::to_string(ao.fp_max_steps), "must be >= 1");
  const ascent_settings& a = o.ascent;
  require_positive(a.mu_first, "ascent mu_first");
  require_positive(a.mu_last, "ascent mu_last");
  if (a.stages < 1) bad("ascent stages", std::to_string(a.stages), "must be >= 1");
  if (a.max_steps < 1) bad("ascent max steps", std::to_string(a.max_steps), "must be >= 1");
  require_non_negative(a.tol, "ascent tol");
  if (!(a.mu_first <= a.mu_last)) reject("ascent mu_last", a.mu_last, "must be >= ascent mu = " + num(a.mu_first));
  if (a.starts < 1 || a.starts > start_all)
    bad("ascent starts", std::to_string(a.starts), "must be a non-empty subset");
  if ((batch_phases(o.products) || o.products == products_route::lanes) && o.algo != algorithm::unfolded)
    bad("products", to_string(o.products),
        "only --algo unfolded has the batch-phase and lanes routes (algo = " + to_string(o.algo) + ")");
}

products_route parse_products(const std::string& s) {
  for (products_route r : {products_route::automatic, products_route::loops, products_route::gemm, products_route::team,
                           products_route::lanes})
    if (to_string(r) == s) return r;  // the names live in to_string only
  bad("products", s, "must be auto, loops, gemm, team or lanes");
  return products_route::automatic;
}

std::string to_string(products_route r) {
  switch (r) {
    case products_route::loops:
      return "loops";
    case products_route::gemm:
      return "gemm";
    case products_route::team:
      return "team";
    case products_route::lanes:
      return "lanes";
    case products_route::automatic:
      break;
  }
  return "auto";
}

w0_method start_of(const solve_options& o) {
  if (o.w0) return *o.w0;
  return o.algo == algorithm::unfolded ? o.model.w0 : w0_method::mrt;
}

int parse_ascent_starts(const std::string& s) {
  if (s == "all") return start_all;
  int mask = 0;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');) {
    if (x == "given" || x == "mrt")
      mask |= start_given;
    else if (x == "zf")
      mask |= start_zf;
    else if (x == "random")
      mask |= start_random;
    else if (x == "nulls")
      mask |= start_nulls;
    else
      bad("ascent starts", x, "unknown start (given/mrt, zf, random, nulls, all)");
  }
  if (mask == 0) bad("ascent starts", s, "no start given");
  return mask;
}

channel_set generate_batch(const executor& ex, const scenario& sc, std::uint64_t seed, long first, long count,
                           bool rank_one) {
  if (ex.gpu()) cuda::order_after(ex.stream, ex.device);
  return ex.gpu() ? cuda::generate_batch(sc, seed, first, count, ex.device, rank_one)
                  : cpu::generate_batch(sc, seed, first, count, ex.threads, rank_one);
}

solve_output solve_batch(const executor& ex, const channel_view& ch, const solve_options& o) {
  if (ex.gpu()) cuda::order_after(ex.stream, ex.device);
  if (ex.threads <= 0 || ex.threads == o.threads)
    return ex.gpu() ? cuda::solve_batch(ch, o, ex.device) : cpu::solve_batch(ch, o);
  solve_options with = o;
  with.threads = ex.threads;
  return ex.gpu() ? cuda::solve_batch(ch, with, ex.device) : cpu::solve_batch(ch, with);
}

void summary_sums::add(const solve_output& part) {
  for (long b = 0; b < part.count; ++b) {
    objective += part.objective[b];
    min_sinr += part.min_sinr[b];
    min_scnr += part.min_scnr[b];
    outer += part.outer[b];
  }
  count += part.count;
  seconds += part.seconds;
}

summary summary_sums::result() const {
  summary s;
  s.realizations = count;
  if (count == 0) return s;
  const double n = double(count);
  s.mean_objective = objective / n;
  s.min_sinr_db = 10 * std::log10(min_sinr / n);  // SPEC.md 2: dB of the mean linear minimum
  s.min_scnr_db = 10 * std::log10(min_scnr / n);
  s.mean_iterations = outer / n;
  s.seconds_per_realization = seconds / n;
  return s;
}

summary summarize(const solve_output& out) {
  summary_sums s;
  s.add(out);
  return s.result();
}

}  // namespace jcas
