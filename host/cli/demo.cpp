// `jcas demo` (the main job on the built-in default scenario) and `jcas reproduce` (the
// paper's figures, drawn by tools/reproduce.py).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli.hpp"
#include "progress.hpp"

namespace jcas::cli {

namespace {

struct demo_args {
  long train = 500;
  int epochs = 30;
  std::string out = "demo_out";
  long test = 100;
  std::uint64_t seed = 2;
  int threads = 0;
  std::string device = "cpu";
};

/// The main job on the built-in default scenario: held-out channels, every solver,
/// one comparison table (SPEC.md section 8 has the reference's numbers beside it).
int run_demo(const demo_args& a) {
  const int dev = device_of(a.device);
  scenario sc;
  const channel_set test = cpu::generate_batch(sc, a.seed, 0, a.test, a.threads);
  std::filesystem::create_directories(a.out);
  const std::string train_file = a.out + "/train.h5", test_file = a.out + "/test.h5";
  io::write_channels(train_file, cpu::generate_batch(sc, 1, 0, a.train, a.threads), &sc, 1, 0);
  io::write_channels(test_file, test, &sc, a.seed, 0);
  train_args ta;
  ta.data = train_file;
  ta.out = {a.out + "/model.h5"};
  ta.ts.epochs = a.epochs;
  ta.threads = a.threads;
  ta.device = a.device;
  std::fprintf(stderr, "training the unfolded optimiser: %ld realizations (seed 1), %d epochs, batch 32 ...\n", a.train,
               a.epochs);
  const auto t0 = std::chrono::steady_clock::now();
  const unfolded_model trained = run_train(ta, true).front();
  const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "default scenario: Nt %d, Nr %d, K %d, M %d, C %d, SNR 20 dB, delta 1; %ld test realizations (seed %llu)\n",
      sc.dims.nt, sc.dims.nr, sc.dims.k, sc.dims.m, sc.dims.c, a.test, (unsigned long long)a.seed);
  std::printf("training: %.1f s on %s (%d epochs); model in %s/model.h5\n", train_s, a.device.c_str(), a.epochs,
              a.out.c_str());
  std::printf("%-28s %14s %12s %12s %12s %14s\n", "method", "mean objective", "min SINR dB", "min SCNR dB",
              "iterations", "ms/realization");
  model_choice untrained_choice;
  untrained_choice.untrained = true;
  const unfolded_model untrained = resolve_model(untrained_choice, 1), shipped = shipped_model(1);
  const struct {
    const char* name;
    algorithm algo;
    const unfolded_model* model;  // the unfolded solver's
    const char* file;
    bool plot;  // the ascent's curve is per stage, not per iteration: table only
  } methods[] = {{"unfolded (trained)", algorithm::unfolded, &trained, "unfolded_trained", true},
                 {"unfolded (shipped model)", algorithm::unfolded, &shipped, "unfolded_shipped", true},
                 {"unfolded (untrained)", algorithm::unfolded, &untrained, "unfolded_untrained", true},
                 {"AO backtracking", algorithm::ao_backtracking, nullptr, "ao_backtracking", true},
                 {"heuristic [32]", algorithm::heuristic, nullptr, "heuristic", true},
                 {"AO fixed step", algorithm::ao_fixed, nullptr, "ao_fixed", true},
                 {"AO monotone (new)", algorithm::ao_monotone, nullptr, "ao_monotone", true},
                 {"ascent (yardstick, slow)", algorithm::ascent, nullptr, "ascent", false}};
  std::string plot_args;
  for (const auto& m : methods) {
    solve_options o;
    o.algo = m.algo;
    if (m.model) o.model = *m.model;
    o.threads = a.threads;
    host::progress_bar bar(m.name);
    o.progress = [&](long d, long t) { bar.update(d, t); };
    const solve_output out = solve_batch(executor{dev, a.threads}, test, o);
    bar.finish();
    const std::string file = a.out + "/" + m.file + ".h5";
    io::write_results(file, out, o, {{"data", test_file}, {"device", a.device}});
    if (m.plot) plot_args += " " + shell_quote(std::string(m.name) + "=" + file);
    const summary s = summarize(out);
    std::printf("%-28s %14.4f %12.2f %12.2f %12.1f %14.4f\n", m.name, s.mean_objective, s.min_sinr_db, s.min_scnr_db,
                s.mean_iterations, 1e3 * s.seconds_per_realization);
    std::fflush(stdout);
  }
  draw_figures("demo", "plot_results.py", shell_quote(a.out + "/demo") + plot_args);
  std::printf("results, model and figures in %s/\n", a.out.c_str());
  return 0;
}

struct reproduce_args {
  std::string out = "reproduce_out", device = "cpu";
  bool quick = false;
};

/// `jcas reproduce`: the paper's Fig. 2, 3a, 3b and Table I (tools/reproduce.py drives
/// this binary and draws the PNGs with Debian's matplotlib).
int run_reproduce(const reproduce_args& a) {
  const std::string script = std::string(JCAS_TOOLS_DIR) + "/reproduce.py";
  if (!std::filesystem::exists(script)) throw std::runtime_error("reproduce: " + script + " not found");
  if (!std::filesystem::exists("/usr/bin/python3"))
    throw std::runtime_error("reproduce: /usr/bin/python3 not found (tools/install_deps.sh installs it)");
  const std::string self = std::filesystem::canonical("/proc/self/exe").string();
  device_of(a.device);
  const auto quote = [](const std::string& x) {
    std::string q = "'";
    for (char c : x) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
  };
  const std::string cmd = "/usr/bin/python3 " + quote(script) + " --jcas " + quote(self) + " --out " + quote(a.out) +
                          " --device " + quote(a.device) + (a.quick ? " --quick" : "");
  const int rc = std::system(cmd.c_str());
  return rc == 0 ? 0 : 1;
}

}  // namespace

command add_demo(CLI::App& app) {
  auto a = std::make_shared<demo_args>();
  CLI::App* c = app.add_subcommand("demo", "the main job on the built-in default scenario");
  c->add_option("--train", a->train, "training realizations (seed 1)")->check(at_least(1));
  c->add_option("--epochs", a->epochs, "training epochs")->check(at_least(0));
  c->add_option("--out", a->out, "folder for the data, model and results");
  c->add_option("--test", a->test, "held-out realizations")->check(at_least(1));
  c->add_option("--seed", a->seed, "seed of the held-out set");
  c->add_option("--threads", a->threads, "CPU threads (0 = all)")->check(thread_count());
  c->add_option("--device", a->device, "cpu, cuda or cuda:N");
  return {c, [a] { return run_demo(*a); }};
}

command add_reproduce(CLI::App& app) {
  auto a = std::make_shared<reproduce_args>();
  CLI::App* c = app.add_subcommand("reproduce", "the paper's Fig. 2, 3a, 3b and Table I as PNG files and markdown");
  c->add_option("--out", a->out, "output folder (default reproduce_out)");
  c->add_option("--device", a->device, "cpu, cuda or cuda:N (training and unfolded solves)");
  c->add_flag("--quick", a->quick, "a small configuration (minutes -> seconds)");
  return {c, [a] { return run_reproduce(*a); }};
}

}  // namespace jcas::cli
