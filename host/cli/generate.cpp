// `jcas generate`: channel realizations of a scenario into an HDF5 file.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli.hpp"
#include "progress.hpp"

namespace jcas::cli {

namespace {

struct generate_args {
  long count = 1000, first = 0;
  std::uint64_t seed = 1;
  std::string preset = "code", out;
  double snr_db = 20;
  scenario sc;
  std::string device = "cpu";
  int threads = 0;
  bool rank_one = false;
};

void add_scenario_options(CLI::App* c, generate_args& a) {
  scenario& s = a.sc;
  c->add_option("--count", a.count, "number of realizations")->check(at_least(1));
  c->add_option("--first", a.first, "index of the first realization")->check(at_least(0));
  c->add_option("--seed", a.seed, "random seed");
  c->add_option("--preset", a.preset, "code (constants of the reference code) or paper (constants of the text)")
      ->check(CLI::IsMember({"code", "paper"}));
  c->add_option("--users", s.dims.k, "K")->check(at_least(1));
  c->add_option("--targets", s.dims.m, "M")->check(at_least(1));
  c->add_option("--clutter", s.dims.c, "C")->check(at_least(0));
  c->add_option("--nt", s.dims.nt, "transmit antennas")->check(at_least(1));
  c->add_option("--nr", s.dims.nr, "receive antennas")->check(at_least(1));
  c->add_option("--snr-db", a.snr_db, "SNR recorded with the set (solve's default Pt = 10^(snr/10))");
  c->add_option("--user-dist", s.user_dist_mean, "mean user distance [m]");
  c->add_option("--user-dist-std", s.user_dist_std, "std of user distance [m]");
  c->add_option("--sens-dist", s.sens_dist_mean, "mean target/clutter distance [m]");
  c->add_option("--sens-dist-std", s.sens_dist_std, "std of target/clutter distance [m]");
  c->add_option("--height", s.height, "height offset [m]");
  c->add_option("--zeta0-db", s.zeta0_db, "path loss at 1 m [dB]");
  c->add_option("--eps-c", s.eps_c, "user path loss exponent");
  c->add_option("--eps-s", s.eps_s, "sensing path loss exponent");
  c->add_option("--angle-min", s.angle_min, "smallest angle [rad]");
  c->add_option("--angle-max", s.angle_max, "largest angle [rad]");
  c->add_option("--rician-k", s.rician_k, "Rician factor (linear)")->check(non_negative());
  c->add_option("--noise-db", s.noise_db, "noise power [dB]");
  c->add_flag("!--independent-clutter", s.clutter_reuses_target_pathloss,
              "draw clutter path loss independently (the code reuses target i-M's)");
  c->add_option("--device", a.device, "cpu, cuda or cuda:N");
  c->add_option("--threads", a.threads, "CPU threads (0 = all)")->check(thread_count());
  c->add_flag("--rank-one", a.rank_one,
              "store each G_j as its factors u_j, v_j (datasets Gu, Gv: (Nr + Nt) / (Nr Nt) of the bytes); "
              "every reader multiplies them out");
  c->add_option("--out", a.out, "output HDF5 file")->required();
}

int run_generate(generate_args& a, CLI::App* c) {
  if (a.preset == "paper") {
    // Preset first, then any constant given explicitly on the command line wins.
    scenario p = scenario::paper_text();
    p.dims = a.sc.dims;
    auto given = [&](const char* o) { return c->count(o) > 0; };
    if (!given("--zeta0-db")) a.sc.zeta0_db = p.zeta0_db;
    if (!given("--rician-k")) a.sc.rician_k = p.rician_k;
    if (!given("--height")) a.sc.height = p.height;
    if (!given("--independent-clutter")) a.sc.clutter_reuses_target_pathloss = p.clutter_reuses_target_pathloss;
  }
  const int dev = device_of(a.device);
  (void)pt_of_snr_db(a.snr_db);  // recorded with the set: solve's default Pt
  host::progress_bar bar("generate");
  io::generate_channels(
      a.out, a.sc, a.seed, a.first, a.count, a.snr_db,
      [&](long first, long n) {
        return generate_batch(executor{dev, a.threads}, a.sc, a.seed, first, n, a.rank_one);
      },
      [&](long done, long total) { bar.update(done, total); }, a.rank_one ? io::g_form::rank_one : io::g_form::dense);
  bar.finish();
  const problem_dims& d = a.sc.dims;
  std::fprintf(stderr, "wrote %ld realizations (Nt %d, Nr %d, K %d, M %d, C %d%s) to %s\n", a.count, d.nt, d.nr, d.k,
               d.m, d.c, a.rank_one ? ", G as rank-one factors" : "", a.out.c_str());
  return 0;
}

}  // namespace

command add_generate(CLI::App& app) {
  CLI::App* c = app.add_subcommand("generate", "draw channel realizations of a scenario into an HDF5 file");
  auto a = std::make_shared<generate_args>();
  add_scenario_options(c, *a);
  return {c, [a, c] { return run_generate(*a, c); }};
}

}  // namespace jcas::cli
