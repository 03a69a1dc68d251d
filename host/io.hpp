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
#include <cstdint>
#include <map>
#include <string>

#include "jcas/api.hpp"

namespace jcas::io {

/// What to take from a channel file. -1 = as stored (npz: targets default 2, nr = nt).
struct channel_select {
  int users = -1, targets = -1, nr = -1;
  long limit = -1;  // first N realizations
};

/// Reads .h5 or .npz (by extension). Throws std::runtime_error naming file and field.
channel_set read_channels(const std::string& path, const channel_select& sel = {});
channel_set read_npz(const std::string& path, const channel_select& sel = {});
void write_channels(const std::string& path, const channel_set& cs, const scenario* sc = nullptr,
                    std::uint64_t seed = 0, long first = 0);

/// Shared by the .h5 and .npz readers: file arrays Hall (B, Nt, Kf) and Gall
/// (B, J*Nr, Nt) in C order to a channel_set, with the selection applied and validated.
channel_set channels_from_arrays(const std::string& path, const std::vector<zd>& hall, const std::vector<zd>& gall,
                                 long count, long nt, long kf, long grows, long gcols, int nr, int targets,
                                 const channel_select& sel);

unfolded_model read_model(const std::string& path);
void write_model(const std::string& path, const unfolded_model& m);

void write_results(const std::string& path, const solve_output& out, const solve_options& o,
                   const std::map<std::string, std::string>& attrs = {});

/// Writes via a temporary sibling and renames on success; removes it on failure, and,
/// once remove_temporaries_on_signal() has run, on SIGINT, SIGTERM and SIGHUP too.
class atomic_path {
 public:
  explicit atomic_path(std::string final_path);
  ~atomic_path();
  const std::string& tmp() const { return tmp_; }
  void commit();
  atomic_path(const atomic_path&) = delete;
  atomic_path& operator=(const atomic_path&) = delete;

 private:
  std::string final_, tmp_;
  bool done_ = false;
  int slot_ = -1;  // in the signal handler's table of live temporaries
};

/// Installs handlers for SIGINT, SIGTERM and SIGHUP that remove every atomic_path
/// temporary still being written, then die of the signal as the default would: an
/// interrupted run leaves its finished files and checkpoints and nothing half-written.
void remove_temporaries_on_signal();

}  // namespace jcas::io
