// Option checks and helpers shared by the subcommands.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli.hpp"
#include "jcas/cuda_backend.hpp"
#include "mpi.hpp"

namespace jcas::cli {

/// parse_device, where "cuda" under MPI is one GPU per rank on each node.
int device_of(const std::string& s) {
  const int d = parse_device(s);
  if (s != "cuda") return d;
  const mpi::world& w = mpi::get();
  return w.local_size > 1 ? w.local_rank % std::max(1, cuda::device_count()) : 0;
}

/// CPU threads of this process: the request, or under MPI the node's cores shared
/// among its ranks (0 = all cores in a single process).
int threads_per_rank(int requested) {
  const mpi::world& w = mpi::get();
  if (requested > 0 || w.local_size == 1) return requested;
  return std::max(1, omp_get_num_procs() / w.local_size);
}

/// Integer validators whose messages name the value ("must be >= 1"), not a float range.
std::string fmt_g(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", x);
  return b;
}

/// A finite number >= 0, with a message that names the value.
CLI::Validator non_negative() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        try {
          size_t used = 0;
          const double x = std::stod(v, &used);
          if (used == v.size() && std::isfinite(x) && x >= 0) return {};
        } catch (const std::exception&) {
        }
        return "value " + v + " must be a finite number >= 0";
      },
      ">=0");
}

/// A word for /bin/sh: in single quotes, each ' written as '\''.
std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// Draws PNG figures with tools/SCRIPT (Debian's python3-matplotlib), its messages on
/// stderr. The figures are a convenience beside files already written: when Python or
/// the script is missing or fails, one line says the figures were skipped.
void draw_figures(const char* who, const std::string& script, const std::string& args) {
  const std::string path = std::string(JCAS_TOOLS_DIR) + "/" + script;
  if (!std::filesystem::exists(path) || !std::filesystem::exists("/usr/bin/python3")) {
    std::fprintf(stderr, "%s: %s or /usr/bin/python3 not found; figures skipped\n", who, path.c_str());
    return;
  }
  if (std::system(("/usr/bin/python3 " + shell_quote(path) + " " + args + " >&2").c_str()) != 0)
    std::fprintf(stderr, "%s: plotting failed (figures skipped)\n", who);
}

/// --threads: 0 (all cores) .. max_threads.
CLI::Validator thread_count() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        try {
          size_t used = 0;
          const long n = std::stol(v, &used);
          if (used == v.size() && n >= 0 && n <= max_threads) return {};
        } catch (const std::exception&) {
        }
        return "value " + v + " must be an integer in 0 .. " + std::to_string(max_threads);
      },
      "0.." + std::to_string(max_threads));
}

CLI::Validator at_least(long lo) {
  return CLI::Validator(
      [lo](std::string& v) -> std::string {
        try {
          size_t used = 0;
          const long n = std::stol(v, &used);
          if (used == v.size() && n >= lo) return {};
        } catch (const std::exception&) {
        }
        return "value " + v + " must be an integer >= " + std::to_string(lo);
      },
      ">=" + std::to_string(lo));
}

void add_selection_options(CLI::App* c, io::channel_select& sel) {
  c->add_option("--users", sel.users, "K: first K users of the file")->check(at_least(1));
  c->add_option("--targets", sel.targets, "M: the first M G blocks are targets, the rest clutter")->check(at_least(1));
  c->add_option("--nr", sel.nr, "receive antennas (for .npz; default Nt)")->check(at_least(1));
  c->add_option("--limit", sel.limit, "first N realizations")->check(at_least(1));
}

}  // namespace jcas::cli
