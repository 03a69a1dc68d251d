// Where io::channel_file's realizations come from: a channel file's arrays as stored, read
// range by range (io_hdf5.cpp: HDF5 hyperslabs; io_npz.cpp: the arrays read whole). Internal
// to the host library; io::channel_file (channel_file.cpp) selects, converts and checks.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "io.hpp"

namespace jcas::io {

/// A channel file's shapes (checked against each other by the source) and its rows, in C
/// order: H (B, Nt, Kf); G dense (B, J*Nr, Nt), or its factors Gu (B, J, Nr), Gv (B, J, Nt).
struct channel_source {
  long count = 0;  // realizations in the file
  long nt = 0, kf = 0, grows = 0, gcols = 0;
  int nr = 0;       // rows of a G block: the selection's, else the file's
  int targets = 2;  // the selection's, else the file's, else 2
  bool factored = false;
  std::optional<double> snr_db;
  virtual ~channel_source() = default;
  /// H's rows of realizations first .. first + n - 1 into h (n, Nt, Kf). Calls for
  /// disjoint ranges may run at once, from several threads.
  virtual void h_rows(long first, long n, zd* h) = 0;
  /// G's rows (dense files) into g (n, J*Nr, Nt).
  virtual void g_rows(long first, long n, zd* g) = 0;
  /// The factors' rows (factored files), into u (n, J, Nr) and v (n, J, Nt).
  virtual void factor_rows(long first, long n, zd* u, zd* v) = 0;
};

/// The .h5 source (io_hdf5.cpp): the file vetted in a child (vet_in_child), its datasets'
/// shapes, types and storage checked, kept open; rows read straight from the file where
/// HDF5 stores them contiguous in the memory layout, else through HDF5. Its calls take
/// hdf5_lock() where they call HDF5; its destruction needs it held.
std::unique_ptr<channel_source> open_h5_source(const std::string& path, const channel_select& sel);
/// The .npz source (io_npz.cpp): Hall and Gall read whole (vetted in a child first).
std::unique_ptr<channel_source> open_npz_source(const std::string& path, const channel_select& sel);

}  // namespace jcas::io
