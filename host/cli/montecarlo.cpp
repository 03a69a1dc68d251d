// `jcas montecarlo`: statistics over many realizations generated on the fly, several
// algorithms on the same channels, checkpoints, resume, and sweeps over K, delta, SNR and layers.
#include "montecarlo.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "mpi.hpp"
#include "progress.hpp"

namespace jcas::cli {

namespace {

struct mc_args {
  mc::settings s = [] {
    mc::settings d;
    d.checkpoint_seconds = 30;
    return d;
  }();
  bool chunk_given = false;
  std::string algos = "unfolded", params, out, device = "cpu";
  double delta = 1, snr_db = 20;
  bool json = false, resume = false, plot = true;
  // Sweeps: every combination is one Monte Carlo point on the same channels (same seed;
  // a user's channel does not depend on K).
  std::vector<int> sweep_users, sweep_layers;
  std::vector<double> sweep_delta, sweep_snr;
};

/// One Monte Carlo point: runs (or resumes) it, writes PREFIX.h5/.csv (rank 0) and
/// returns its final state. `reuse` (optional) holds the finished results of some of
/// s.algos on the same channels (a layers sweep: everything but the unfolded solver is
/// independent of L); only the others run, and the summary has them all.
/// With --resume a sweep point without a checkpoint starts afresh; a single run needs one.
mc::state run_mc_point(const mc_args& a, const mc::settings& s, const std::string& prefix, const std::string& label,
                       bool sweep_point, const std::map<algorithm, size_t>& reuse = {},
                       const mc::state* reused = nullptr) {
  validate(s.solve, s.sc.dims);
  mc::settings todo = s;  // the algorithms that run here
  todo.algos.clear();
  for (algorithm x : s.algos)
    if (!reuse.count(x)) todo.algos.push_back(x);
  mc::state st;
  if (!todo.algos.empty()) {
    const std::string ckpt = prefix + ".ckpt.h5";
    if (a.resume && (!sweep_point || std::filesystem::exists(ckpt))) st = mc::read_state(ckpt, todo);
    host::progress_bar bar(label, mpi::get().root());  // mc::run reports and checkpoints on rank 0 only
    mc::run(
        todo, st, [&](long d, long t) { bar.update(d, t); },
        [&](const mc::state& x) { mc::write_state(ckpt, todo, x); });
    bar.finish();
  }
  mc::state all;  // in the order of s.algos
  all.done = s.count;
  for (algorithm x : s.algos) {
    const auto it = reuse.find(x);
    const mc::state& from = it == reuse.end() ? st : *reused;
    const size_t i = it == reuse.end() ? size_t(std::find(todo.algos.begin(), todo.algos.end(), x) - todo.algos.begin())
                                       : it->second;
    all.algos.push_back(from.algos[i]);
  }
  if (mpi::get().root()) mc::write_summary(prefix + ".h5", prefix + ".csv", s, all);
  return all;
}

std::vector<mc::stats> summarize_all(const mc::state& st) {
  std::vector<mc::stats> r;
  for (const mc::tally& t : st.algos) r.push_back(mc::summarize(t));
  return r;
}

nlohmann::json stats_json(algorithm algo, const mc::stats& r) {
  return {{"algo", to_string(algo)},
          {"realizations", r.n},
          {"mean_objective", r.mean},
          {"ci95_objective", r.ci95},
          {"min_sinr_db", r.min_sinr_db},
          {"min_scnr_db", r.min_scnr_db},
          {"q05", r.q05},
          {"q50", r.q50},
          {"q95", r.q95}};
}

/// `jcas montecarlo`: N realizations generated on the fly, several algorithms on the same
/// channels, statistics with 95 % intervals, checkpoints (--checkpoint-seconds), resume; optionally a
/// sweep over K, delta, SNR and layers (PREFIX.sweep.csv, one row per point and algo).
int run_montecarlo(mc_args& a) {
  mc::settings& s = a.s;
  for (const char* ext : {".h5", ".csv", ".ckpt.h5", "_cdf.png", ".sweep.csv", "_sweep.png"})
    io::refuse_overwrite("out", a.out + ext, {{"--params", a.params}});
  s.algos.clear();
  std::stringstream ss(a.algos);
  for (std::string x; std::getline(ss, x, ',');) s.algos.push_back(parse_algorithm(x));
  s.device = device_of(a.device);
  if (!a.chunk_given && s.device >= 0) s.chunk = 65536;  // a GPU needs tens of thousands in flight
  s.solve.sys.pt = pt_of_snr_db(a.snr_db);
  s.solve.sys.delta = a.delta;
  model_choice model;  // --params, else the model shipped for each point's delta
  if (a.params == "untrained")
    model.untrained = true;
  else if (!a.params.empty())
    model.trained = io::read_model(a.params);
  s.solve.model = resolve_model(model, a.delta);
  s.solve.threads = threads_per_rank(s.solve.threads);
  const bool root = mpi::get().root();
  const bool sweep =
      !a.sweep_users.empty() || !a.sweep_delta.empty() || !a.sweep_snr.empty() || !a.sweep_layers.empty();
  if (!sweep) {
    const std::vector<mc::stats> r = summarize_all(run_mc_point(a, s, a.out, "montecarlo", false));
    if (!root) return 0;
    nlohmann::json j = nlohmann::json::array();
    if (!a.json)
      std::printf("%-16s %12s %14s %10s %12s %12s %9s %9s %9s\n", "algo", "realizations", "mean objective", "95% CI",
                  "min SINR dB", "min SCNR dB", "q05", "median", "q95");
    for (size_t i = 0; i < s.algos.size(); ++i) {
      if (a.json)
        j.push_back(stats_json(s.algos[i], r[i]));
      else
        std::printf("%-16s %12ld %14.4f %10.4f %12.2f %12.2f %9.3f %9.3f %9.3f\n", to_string(s.algos[i]).c_str(),
                    r[i].n, r[i].mean, r[i].ci95, r[i].min_sinr_db, r[i].min_scnr_db, r[i].q05, r[i].q50, r[i].q95);
    }
    if (a.json) std::cout << nlohmann::json{{"results", j}}.dump() << std::endl;
    if (a.plot) draw_figures("montecarlo", "plot_montecarlo.py", shell_quote(a.out));
    return 0;
  }
  const auto or_one = [](auto v, auto x) { return v.empty() ? decltype(v){x} : v; };
  const std::vector<int> users = or_one(a.sweep_users, s.sc.dims.k);
  const std::vector<double> deltas = or_one(a.sweep_delta, a.delta), snrs = or_one(a.sweep_snr, a.snr_db);
  const std::vector<int> layers = or_one(a.sweep_layers, s.solve.model.l_out);
  for (int k : users)
    if (k < 1) throw std::invalid_argument("sweep-users = " + std::to_string(k) + ": must be >= 1");
  for (double d : deltas)
    if (!(d >= 0) || !std::isfinite(d))
      throw std::invalid_argument("sweep-delta = " + fmt_g(d) + ": must be >= 0 and finite");
  for (double x : snrs) (void)pt_of_snr_db(x, a.sweep_snr.empty() ? "snr-db" : "sweep-snr");
  for (double d : deltas)
    for (int l : layers) (void)resolve_model(model, d).first_layers(l);  // checks the range before any work
  std::unique_ptr<io::text_output> csv = root ? std::make_unique<io::text_output>(a.out + ".sweep.csv") : nullptr;
  std::FILE* f = csv ? csv->file() : nullptr;
  if (f)
    std::fprintf(f,
                 "users,delta,snr_db,layers,algo,realizations,mean_objective,ci95_objective,min_sinr_db,"
                 "min_scnr_db,q05,q50,q95\n");
  nlohmann::json j = nlohmann::json::array();
  const size_t total = users.size() * deltas.size() * snrs.size() * layers.size();
  size_t idx = 0;
  for (int k : users)
    for (double d : deltas)
      for (double snr : snrs) {
        // Only the unfolded solver depends on L: the others run at the first L of this
        // (K, delta, SNR) and their results are reused (the same channels and settings).
        mc::state first;
        std::map<algorithm, size_t> reuse;
        for (int l : layers) {
          mc::settings p = s;
          p.sc.dims.k = k;
          p.solve.sys.delta = d;
          p.solve.sys.pt = pt_of_snr_db(snr, "sweep-snr");
          p.solve.model = resolve_model(model, d).first_layers(l);
          char tag[160];
          std::snprintf(tag, sizeof tag, "K%d_delta%g_snr%g_L%d", k, d, snr, l);
          char label[200];
          std::snprintf(label, sizeof label, "point %zu/%zu %s", ++idx, total, tag);
          const std::string prefix = a.out + "." + tag;
          if (!a.resume) std::filesystem::remove(prefix + ".ckpt.h5");
          const mc::state st = run_mc_point(a, p, prefix, label, true, reuse, &first);
          if (reuse.empty()) {
            first = st;
            for (size_t i = 0; i < p.algos.size(); ++i)
              if (p.algos[i] != algorithm::unfolded) reuse[p.algos[i]] = i;
          }
          const std::vector<mc::stats> r = summarize_all(st);
          for (size_t i = 0; i < p.algos.size() && root; ++i) {
            std::fprintf(f, "%d,%g,%g,%d,%s,%ld,%.10g,%.10g,%.6g,%.6g,%.10g,%.10g,%.10g\n", k, d, snr, l,
                         to_string(p.algos[i]).c_str(), r[i].n, r[i].mean, r[i].ci95, r[i].min_sinr_db,
                         r[i].min_scnr_db, r[i].q05, r[i].q50, r[i].q95);
            nlohmann::json o = stats_json(p.algos[i], r[i]);
            o["users"] = k;
            o["delta"] = d;
            o["snr_db"] = snr;
            o["layers"] = l;
            j.push_back(o);
            if (!a.json)
              std::printf(
                  "K %2d delta %6g snr %5g L %3d  %-16s mean %.4f +- %.4f  min SINR %6.2f dB  min SCNR %6.2f dB\n", k,
                  d, snr, l, to_string(p.algos[i]).c_str(), r[i].mean, r[i].ci95, r[i].min_sinr_db, r[i].min_scnr_db);
          }
        }
      }
  if (!root) return 0;
  csv->commit();
  if (a.json) std::cout << nlohmann::json{{"results", j}}.dump() << std::endl;
  if (a.plot) draw_figures("montecarlo", "plot_montecarlo.py", shell_quote(a.out) + " --sweep");
  return 0;
}

}  // namespace

command add_montecarlo(CLI::App& app) {
  CLI::App* c = app.add_subcommand("montecarlo", "statistics over many realizations generated on the fly");
  auto a = std::make_shared<mc_args>();
  c->add_option("--count", a->s.count, "realizations")->check(at_least(1));
  c->add_option("--chunk", a->s.chunk, "realizations per chunk (default 4096 on the CPU, 65536 on a GPU)")
      ->check(at_least(1));
  c->add_option("--checkpoint-seconds", a->s.checkpoint_seconds,
                "seconds between checkpoints (PREFIX.ckpt.h5; 0: after every chunk; always after the last)")
      ->check(non_negative());
  c->add_option("--gpu-watchdog", a->s.solve.gpu_watchdog,
                "CUDA: stop a device call that runs past this many times its predicted time plus a minute (0: no "
                "limit)")
      ->check(non_negative());
  c->add_option("--seed", a->s.seed, "channel seed");
  c->add_option("--algos", a->algos, "comma-separated algorithms, run on the same channels");
  c->add_option("--params", a->params,
                "unfolded: parameter file, or 'untrained'; default: the model shipped for each delta (models/)");
  c->add_option("--users", a->s.sc.dims.k, "K")->check(at_least(1));
  c->add_option("--targets", a->s.sc.dims.m, "M")->check(at_least(1));
  c->add_option("--clutter", a->s.sc.dims.c, "C")->check(at_least(0));
  c->add_option("--nt", a->s.sc.dims.nt, "transmit antennas")->check(at_least(1));
  c->add_option("--nr", a->s.sc.dims.nr, "receive antennas")->check(at_least(1));
  c->add_option("--delta", a->delta, "trade-off weight");
  c->add_option("--snr-db", a->snr_db, "Pt = 10^(snr/10)");
  c->add_option("--device", a->device, "cpu, cuda or cuda:N");
  c->add_option("--threads", a->s.solve.threads, "CPU threads (0 = all)")->check(thread_count());
  c->add_option("--out", a->out, "output prefix: PREFIX.h5, PREFIX.csv, PREFIX.ckpt.h5")->required();
  c->add_flag("--resume", a->resume, "continue from PREFIX.ckpt.h5");
  c->add_flag("--json", a->json, "one JSON object on stdout");
  c->add_flag("!--no-plot", a->plot, "skip the figures (PREFIX_cdf.png, or PREFIX_sweep.png for a sweep)");
  c->add_option("--sweep-users", a->sweep_users, "sweep: K values (same channels: user k's channel is fixed)")
      ->delimiter(',');
  c->add_option("--sweep-delta", a->sweep_delta, "sweep: delta values")->delimiter(',');
  c->add_option("--sweep-snr", a->sweep_snr, "sweep: SNR values [dB]")->delimiter(',');
  c->add_option("--sweep-layers", a->sweep_layers, "sweep: unfolded layers (the first L of the model)")->delimiter(',');
  return {c, [a, c] {
            a->chunk_given = c->count("--chunk") > 0;
            return run_montecarlo(*a);
          }};
}

}  // namespace jcas::cli
