// The `jcas` command line: one file per subcommand (generate.cpp, solve.cpp, train.cpp,
// montecarlo.cpp, demo.cpp with reproduce, bench.cpp), each registering its options and
// returning how to run it; main.cpp parses and dispatches. Shared option checks here.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "io.hpp"
#include "jcas/api.hpp"
#include "training.hpp"

namespace jcas::cli {

/// A registered subcommand: its parser and what runs it once parsed (the exit status).
struct command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};
command add_generate(CLI::App& app);
command add_solve(CLI::App& app);
command add_train(CLI::App& app);
command add_montecarlo(CLI::App& app);
command add_bench(CLI::App& app);
command add_demo(CLI::App& app);
command add_reproduce(CLI::App& app);

/// parse_device, where "cuda" under MPI is one GPU per rank on each node.
int device_of(const std::string& s);
/// CPU threads of this process: the request, or under MPI the node's cores shared
/// among its ranks (0 = all cores in a single process).
int threads_per_rank(int requested);
/// %g of x.
std::string fmt_g(double x);
/// A word for /bin/sh: in single quotes, each ' written as '\''.
std::string shell_quote(const std::string& s);
/// Draws PNG figures with tools/SCRIPT (Debian's python3-matplotlib), its messages on
/// stderr; where Python or the script is missing or fails, one line says they were skipped.
void draw_figures(const char* who, const std::string& script, const std::string& args);
/// Option checks whose messages name the value: a finite number >= 0, --threads
/// (0 .. max_threads), an integer >= lo.
CLI::Validator non_negative();
CLI::Validator thread_count();
CLI::Validator at_least(long lo);
/// What to take from a channel file (solve, train): each given value must be >= 1 (the
/// file's own values are the default).
void add_selection_options(CLI::App* c, io::channel_select& sel);

/// `jcas train`'s settings; run_train trains and writes the models (one a file of `out`;
/// delta and iw hold one value for all of them or one a model) and returns them. Several
/// models train side by side, each in a thread of its own (on a GPU each on a stream of
/// its own: cuda::trainer). Shared by `train` and `demo`.
struct train_args {
  std::string data, validation;
  std::vector<std::string> out;
  io::channel_select sel;
  train::settings ts;
  int outer = 150, inner = 3, threads = 0;
  std::vector<int> iw{2};
  bool frozen = false, resume = false, per_layer_mu = false, plot = true;
  std::string init;
  std::vector<double> delta{1};
  double final_weight = 0;
  std::string w0 = "mrt", layer_repeat = "1";
  std::optional<double> snr_db;
  std::string device = "cpu";
};

std::vector<unfolded_model> run_train(const train_args& a, bool quiet = false);

}  // namespace jcas::cli
