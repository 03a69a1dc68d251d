// io::channel_file: a channel file read range by range (io.hpp), over either source
// (channel_source.hpp). The selection of users, targets and realizations, the conversion
// from the file's C-order rows to channel_set's column-major matrices, and the check of
// the values live here, once for both formats and for every range.
#include <omp.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "channel_source.hpp"
#include "io.hpp"

namespace jcas::io {

namespace {
[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}
bool is_npz(const std::string& path) { return path.size() >= 4 && path.substr(path.size() - 4) == ".npz"; }
}  // namespace

struct channel_file::impl {
  std::string path;
  std::unique_ptr<channel_source> src;
  problem_dims dims{};                // the selection's
  long count = 0;                     // the selection's realizations
  std::vector<std::vector<zd>> rows;  // each part's file rows (read), kept for the next range

  /// The selection checked against the file's shapes (messages name the file).
  impl(std::string p, const channel_select& sel) : path(std::move(p)) {
    {
      const auto lock = hdf5_lock();  // HDF5 is not thread-safe
      src = is_npz(path) ? open_npz_source(path, sel) : open_h5_source(path, sel);
    }
    const channel_source& s = *src;
    if (s.count < 1) fail(path, "holds no realizations");
    if (s.gcols != s.nt)
      fail(path, "G has " + std::to_string(s.gcols) + " columns but H has Nt = " + std::to_string(s.nt));
    if (s.nr < 1) fail(path, "nr = " + std::to_string(s.nr) + ": must be >= 1");
    if (s.grows % s.nr != 0)
      fail(path, "G rows = " + std::to_string(s.grows) + " is not a multiple of nr = " + std::to_string(s.nr));
    const long nj = s.grows / s.nr;
    if (s.targets < 1 || s.targets > nj)
      fail(path, "targets = " + std::to_string(s.targets) + ": the file has " + std::to_string(nj) + " G blocks");
    const int users = sel.users < 0 ? int(s.kf) : sel.users;
    if (users < 1 || users > s.kf)
      fail(path, "users = " + std::to_string(users) + ": the file has " + std::to_string(s.kf) + " users");
    if (sel.limit == 0 || sel.limit < -1) fail(path, "limit = " + std::to_string(sel.limit) + ": must be >= 1");
    count = sel.limit > 0 ? std::min(sel.limit, s.count) : s.count;
    dims = {int(s.nt), s.nr, users, s.targets, int(nj - s.targets)};
    try {
      validate(dims);
    } catch (const std::exception& e) {
      fail(path, e.what());
    }
  }
  ~impl() {
    const auto lock = hdf5_lock();  // closing the source's HDF5 objects
    src.reset();
  }
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;
};

channel_file::channel_file(const std::string& path, const channel_select& sel)
    : p_(std::make_unique<impl>(path, sel)) {}
channel_file::~channel_file() = default;
const std::string& channel_file::path() const { return p_->path; }
const problem_dims& channel_file::dims() const { return p_->dims; }
long channel_file::count() const { return p_->count; }
bool channel_file::rank_one() const { return p_->src->factored; }
double channel_file::snr_db() const { return p_->src->snr_db.value_or(20); }

double channel_file::bytes_per_realization() const {
  const channel_source& s = *p_->src;
  // The set's arrays, and the rows the source holds for H (and a dense G) while converting.
  return channel_set_bytes(p_->dims, 1, s.factored) + 16.0 * (s.nt * s.kf + (s.factored ? 0 : s.grows * s.gcols));
}

void channel_file::read(long first, long n, channel_set& cs, int threads) {
  impl& f = *p_;
  channel_source& s = *f.src;
  if (first < 0 || n < 0 || first + n > f.count)
    throw std::invalid_argument("realizations " + std::to_string(first) + " .. " + std::to_string(first + n - 1) +
                                ": " + f.path + " has " + std::to_string(f.count) + " (selected)");
  const problem_dims& d = f.dims;
  cs.dims = d;
  cs.count = n;
  cs.snr_db = snr_db();
  cs.rank_one = s.factored;
  cs.h.resize(size_t(n * cs.h_stride()));
  cs.g.resize(s.factored ? 0 : size_t(n * cs.g_stride()));
  cs.gu.resize(s.factored ? size_t(n * cs.gu_stride()) : 0);
  cs.gv.resize(s.factored ? size_t(n * cs.gv_stride()) : 0);
  // Parts of at least 256 realizations, one a thread, each read, converted and checked on
  // its own (its rows in a buffer of its own, kept for the next range).
  const long parts = std::max(1L, std::min(long(threads > 0 ? threads : omp_get_max_threads()), n / 256));
  if (long(f.rows.size()) < parts) f.rows.resize(size_t(parts));
  std::vector<std::string> errors(static_cast<size_t>(parts));
#pragma omp parallel for num_threads(int(parts)) schedule(static) if (parts > 1)
  for (long p = 0; p < parts; ++p) {
    const long b0 = n * p / parts, m = n * (p + 1) / parts - b0;
    try {
      std::vector<zd>& rows = f.rows[size_t(p)];
      // H: row-major (B, Nt, Kf) -> column-major Nt x K, the first K users.
      rows.resize(size_t(m * std::max(s.nt * s.kf, s.factored ? 0 : s.grows * s.gcols)));
      s.h_rows(first + b0, m, rows.data());
      zd* h = cs.h.data() + b0 * cs.h_stride();
      for (long b = 0; b < m; ++b)
        for (long k = 0; k < d.k; ++k)
          for (long i = 0; i < d.nt; ++i) h[b * cs.h_stride() + k * d.nt + i] = rows[size_t((b * d.nt + i) * s.kf + k)];
      if (s.factored) {
        // Gu (B, J, Nr) and Gv (B, J, Nt): channel_set's layout already.
        s.factor_rows(first + b0, m, cs.gu.data() + b0 * cs.gu_stride(), cs.gv.data() + b0 * cs.gv_stride());
      } else {
        // G: row-major (B, J*Nr, Nt) -> J column-major Nr x Nt blocks a realization.
        s.g_rows(first + b0, m, rows.data());
        zd* g = cs.g.data() + b0 * cs.g_stride();
        for (long b = 0; b < m; ++b)
          for (long j = 0; j < d.j(); ++j)
            for (long c = 0; c < d.nt; ++c)
              for (long r = 0; r < d.nr; ++r)
                g[b * cs.g_stride() + (j * d.nt + c) * d.nr + r] =
                    rows[size_t((b * s.grows + j * d.nr + r) * s.gcols + c)];
      }
      validate(channel_view(cs).slice(b0, m), first + b0);  // named by their number in the file
    } catch (const std::exception& e) {
      errors[size_t(p)] = e.what();
    }
  }
  for (const std::string& e : errors)  // the first part's error: the first realization's
    if (!e.empty()) fail(f.path, e.rfind(f.path + ": ", 0) == 0 ? e.substr(f.path.size() + 2) : e);
}

channel_set read_channels(const std::string& path, const channel_select& sel) {
  channel_file f(path, sel);
  require_memory(path + ": reading " + std::to_string(f.count()) + " realizations",
                 double(f.count()) * f.bytes_per_realization());
  channel_set cs;
  f.read(0, f.count(), cs, 0);
  return cs;
}

}  // namespace jcas::io
