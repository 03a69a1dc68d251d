// Data files. Layouts (documented for h5py / MATLAB users in README.md):
//   channel file  /H (B, Nt, K) complex, /G (B, J*Nr, Nt) complex (row blocks G_1..G_J,
//                 the .npz layout of SPEC.md 8), attributes nt nr users targets clutter
//                 and, when generated, seed first and the scenario constants.
//   model file    /beta (L_out, L_in), attributes format l_out l_in i_w frozen mu_c mu_s
//                 provenance.
//   results file  /W (B, Nt, K), /F (B, Nr, M), /curve (B, L+1), /objective, /min_sinr,
//                 /min_scnr (linear), /outer, /inner, attributes algo and the summary.
// Complex numbers are HDF5 compounds {r, i} of doubles (h5py reads them as complex128).
// Every writer writes to a temporary name and renames: no partial file is left behind.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "jcas/api.hpp"

namespace jcas::io {

/// What to take from a channel file. -1 = as stored (npz: targets default 2, nr = nt).
struct channel_select {
  int users = -1, targets = -1, nr = -1;
  long limit = -1;  // first N realizations
};

/// A channel file (.h5 or .npz, by extension) opened to be read range by range, so that a
/// file of any size is solved in bounded memory (host/solve_file.hpp). The constructor
/// vets the file once (vet_in_child) and checks its shapes and the selection; read(first,
/// n, cs) puts realizations first .. first + n - 1 of the selection into cs, in
/// channel_set's layout (G in the file's form), their values checked, an error naming the
/// file and the realization's number in it. cs's vectors are reused: their memory is
/// touched once for a run of equal ranges. A .npz (a zip member has no ranges) is read
/// whole when opened. Throws std::runtime_error naming the file and the field.
class channel_file {
 public:
  explicit channel_file(const std::string& path, const channel_select& sel = {});
  ~channel_file();
  channel_file(const channel_file&) = delete;
  channel_file& operator=(const channel_file&) = delete;
  const std::string& path() const;
  const problem_dims& dims() const;  // the selection's
  long count() const;                // realizations the selection takes
  bool rank_one() const;             // G stored as its rank-one factors (g_form::rank_one)
  double snr_db() const;             // the file's, else 20
  /// Host bytes of one realization of the selection in a channel_set and the reader's
  /// buffers: what a range costs in memory.
  double bytes_per_realization() const;
  /// threads: the parts of the range read, converted and checked at once (0: every core).
  void read(long first, long n, channel_set& cs, int threads = 1);

  struct impl;

 private:
  std::unique_ptr<impl> p_;
};

/// The whole selection of a channel file: channel_file's read of every realization.
channel_set read_channels(const std::string& path, const channel_select& sel = {});
/// The scenario's real constants by name: a channel file's attribute (jcas generate's
/// record) and the Python module's keyword (the CLI's option without "--", "_" for "-").
struct scenario_constant {
  const char* attribute;
  const char* keyword;
  double scenario::*member;
};
inline constexpr scenario_constant scenario_constants[] = {{"user_dist_mean", "user_dist", &scenario::user_dist_mean},
                                                           {"user_dist_std", "user_dist_std", &scenario::user_dist_std},
                                                           {"sens_dist_mean", "sens_dist", &scenario::sens_dist_mean},
                                                           {"sens_dist_std", "sens_dist_std", &scenario::sens_dist_std},
                                                           {"height", "height", &scenario::height},
                                                           {"zeta0_db", "zeta0_db", &scenario::zeta0_db},
                                                           {"eps_c", "eps_c", &scenario::eps_c},
                                                           {"eps_s", "eps_s", &scenario::eps_s},
                                                           {"angle_min", "angle_min", &scenario::angle_min},
                                                           {"angle_max", "angle_max", &scenario::angle_max},
                                                           {"rician_k", "rician_k", &scenario::rician_k},
                                                           {"noise_db", "noise_db", &scenario::noise_db}};

/// How a channel file was drawn, as `jcas generate` records it: the scenario (sizes and
/// every constant), the seed, the index of its first realization and how many it holds.
struct drawn_from {
  scenario sc;
  std::uint64_t seed = 0;
  long first = 0, count = 0;
};
/// The record of a channel file (.h5) made by jcas generate; empty for any other file
/// (a .npz, or channels written by other code). Throws naming the file and the attribute
/// where the record is there but damaged.
std::optional<drawn_from> read_drawn_from(const std::string& path);

/// How a channel file holds G: dense (`G (B, J*Nr, Nt)`), or, for line-of-sight channels,
/// as rank-one factors G_j = u_j v_j^H (`Gu (B, J, Nr)`, `Gv (B, J, Nt)`: Nr + Nt numbers a
/// block instead of Nr Nt). The readers take either: a rank-one file gives a set that
/// holds the factors (channel_set::rank_one), exactly as written.
enum class g_form { dense, rank_one };
/// File bytes of `count` realizations' H and G in that form (without HDF5's few KB).
double channel_file_bytes(const problem_dims& d, long count, g_form form);

void write_channels(const std::string& path, const channel_set& cs, const scenario* sc = nullptr,
                    std::uint64_t seed = 0, long first = 0, g_form form = g_form::dense);
/// Realizations first .. first+count-1 of (sc, seed) into a channel file, drawn by
/// draw(first, n) (the CPU or CUDA generator) and written in blocks of at most 64 MB, so
/// that memory stays bounded for any count; a file that would not fit the free space of
/// its folder is refused before anything is drawn. rank_one: a G_j that is not rank one
/// to 1e-10 (relative) is refused naming it.
void generate_channels(const std::string& path, const scenario& sc, std::uint64_t seed, long first, long count,
                       double snr_db, const std::function<channel_set(long first, long n)>& draw,
                       const std::function<void(long done, long total)>& progress = {}, g_form form = g_form::dense);

unfolded_model read_model(const std::string& path);
/// A model file's bytes held in memory (the shipped models compiled in); name for messages.
unfolded_model read_model_image(const void* bytes, std::size_t size, const std::string& name);
void write_model(const std::string& path, const unfolded_model& m);

/// A results file (the layout above) written range by range, in order, that an
/// interrupted run can continue. It is written as PATH.part and renamed to PATH by
/// commit(s), which adds the attributes with the summary s of every realization and
/// checks the close first. The first write(first, part) makes its datasets for `count`
/// realizations of part's sizes; each write stores the next part.count realizations,
/// then records how many the part holds (done()) and flushes it. Given a `run` (what the
/// results depend on, "field = value" lines), an error or a signal removes a part that
/// holds nothing and keeps one that holds results: a results_file made again with resume =
/// true and the same run continues it; a different run is refused, naming the first field
/// that differs, and without resume an existing part is refused (it is an interrupted
/// run's). A part that holds no results is begun again by any resume. Without a run the
/// part is a temporary, removed unless committed.
class results_file {
 public:
  results_file(const std::string& path, long count, const solve_options& o,
               const std::map<std::string, std::string>& attrs = {}, const std::string& run = {}, bool resume = false);
  ~results_file();
  results_file(const results_file&) = delete;
  results_file& operator=(const results_file&) = delete;
  long done() const;  // realizations written (a resumed part's, at first)
  /// The summary sums of the realizations written before this run resumed the part, read
  /// back in order (and the seconds their solves took).
  summary_sums sums_done() const;
  /// first = done(); threads: W and F put in the file's order at once (0: every core).
  void write(long first, const solve_output& part, int threads = 1);
  void commit(const summary& s);

  struct impl;

 private:
  std::unique_ptr<impl> p_;
};
/// A whole solve's results file: results_file with one write.
void write_results(const std::string& path, const solve_output& out, const solve_options& o,
                   const std::map<std::string, std::string>& attrs = {});

/// Writes via a temporary sibling and renames on success; removes it on failure, and,
/// once remove_temporaries_on_signal() has run, on SIGINT, SIGTERM and SIGHUP too. The
/// constructor refuses a path that names a folder, and removes temporaries of the same
/// path that a killed process (kill -9, a crash) left behind.
class atomic_path {
 public:
  explicit atomic_path(std::string final_path);
  ~atomic_path();
  const std::string& tmp() const { return tmp_; }
  const std::string& path() const { return final_; }
  /// Renames the temporary into place; the caller has closed it and checked the close.
  void commit();
  atomic_path(const atomic_path&) = delete;
  atomic_path& operator=(const atomic_path&) = delete;

 private:
  std::string final_, tmp_;
  bool done_ = false;
  int slot_ = -1;  // in the signal handler's table of live temporaries
};

/// A new text file (CSV, logs) at `path` through an atomic_path: commit() checks every
/// write, the flush to disk and the close before the rename.
class text_output {
 public:
  explicit text_output(const std::string& path);
  ~text_output();
  text_output(const text_output&) = delete;
  text_output& operator=(const text_output&) = delete;
  std::FILE* file() const { return f_; }
  void commit();

 private:
  atomic_path ap_;
  std::FILE* f_ = nullptr;
};

/// "PATH: WHAT", with what the file system says of the failure that errno `err` (0: not
/// known) left: no space left on the device (and how much its folder has free), the file
/// size limit, or errno's words. For failures to write or close an output file.
[[noreturn]] void fail_write(const std::string& path, const std::string& what, int err);

/// Runs read() once in a child process before the caller reads `path` itself: HDF5 1.10
/// crashes (and can loop) on some damaged files -- tests/host/fuzz_readers.cpp found
/// several within a few hundred mutations -- so a file is read here only after a child
/// read it to the end. A child that crashed, or ran past a minute plus a second per 50
/// MB, gives std::runtime_error naming the file; one that threw leaves the error to the
/// caller's read, which throws the same. Every file reader of jcas goes through it.
void vet_in_child(const std::string& path, const std::function<void()>& read);

/// Refuses to write `out` (given as option `out_field`) where it is one of the inputs
/// (field name, path) -- the same file under any spelling -- or a folder: writing would
/// destroy the input. Inputs that do not exist are skipped.
void refuse_overwrite(const std::string& out_field, const std::string& out,
                      const std::vector<std::pair<std::string, std::string>>& inputs);

/// The lock every jcas function that calls HDF5 holds while it does (recursive: they nest).
/// HDF5 is thread-safe only where it was built so (Debian's is; many builds are not), and
/// jcas's files are read and written from several threads at once: models trained side by
/// side (`jcas train` with several files), Python threads with the GIL released, a solve's
/// reader and writer (host/solve_file.hpp). Held across io::vet_in_child's fork, so that
/// no other thread is inside HDF5 when the child starts. Each thread that takes it has
/// HDF5's own error printing off (per thread in a thread-safe build).
std::unique_lock<std::recursive_mutex> hdf5_lock();

/// Installs handlers for SIGINT, SIGTERM and SIGHUP that remove every atomic_path
/// temporary still being written, then die of the signal as the default would: an
/// interrupted run leaves its finished files and checkpoints and nothing half-written.
void remove_temporaries_on_signal();

}  // namespace jcas::io
