#include <hdf5.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <utility>
#include <vector>

#include "h5.hpp"
#include "io.hpp"
#include "version.hpp"

namespace jcas::io {

namespace {

// The temporaries being written, for the signal handler: lock-free slots, so that the
// handler only reads atomics and calls unlink (both async-signal-safe). A path that finds
// no free slot is still written and renamed; only a signal would leave it behind.
constexpr int live_slots = 32;
std::atomic<const char*> live_tmp[live_slots];
static_assert(std::atomic<const char*>::is_always_lock_free);

int register_tmp(const char* path) {
  for (int i = 0; i < live_slots; ++i) {
    const char* expected = nullptr;
    if (live_tmp[i].compare_exchange_strong(expected, path)) return i;
  }
  return -1;
}
void release_tmp(int slot) {
  if (slot >= 0) live_tmp[slot].store(nullptr);
}

extern "C" void remove_live_tmp_and_reraise(int sig) {
  for (auto& p : live_tmp)
    if (const char* path = p.load()) ::unlink(path);
  ::signal(sig, SIG_DFL);  // then die of the signal as if there were no handler (exit status 128 + sig)
  ::raise(sig);
}

}  // namespace

void remove_temporaries_on_signal() {
  struct sigaction sa {};
  sa.sa_handler = remove_live_tmp_and_reraise;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    // An ignored signal stays ignored (nohup; SIGINT of a background job of a script).
    if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler != SIG_IGN) ::sigaction(sig, &sa, nullptr);
  }
}

atomic_path::atomic_path(std::string final_path) : final_(std::move(final_path)) {
  tmp_ = final_ + ".tmp." + std::to_string(::getpid());
  slot_ = register_tmp(tmp_.c_str());
}
atomic_path::~atomic_path() {
  if (!done_) std::remove(tmp_.c_str());
  release_tmp(slot_);
}
void atomic_path::commit() {
  if (std::rename(tmp_.c_str(), final_.c_str()) != 0)
    throw std::runtime_error("out: cannot rename '" + tmp_ + "' to '" + final_ + "'");
  done_ = true;
  release_tmp(slot_);
  slot_ = -1;
}

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

/// Owns one HDF5 identifier.
struct hid {
  hid_t id = -1;
  herr_t (*close)(hid_t) = nullptr;
  hid(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  ~hid() {
    if (id >= 0 && close) close(id);
  }
  hid(const hid&) = delete;
  hid& operator=(const hid&) = delete;
  hid(hid&& o) noexcept : id(o.id), close(o.close) { o.id = -1; }
  /// Hands the identifier to the caller, who closes it.
  hid_t release() { return std::exchange(id, -1); }
  operator hid_t() const { return id; }  // NOLINT
};

struct quiet_errors {
  quiet_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
const quiet_errors quiet;  // our messages replace the HDF5 error stack

hid complex_type() {
  hid t(H5Tcreate(H5T_COMPOUND, 2 * sizeof(double)), H5Tclose);
  H5Tinsert(t, "r", 0, H5T_NATIVE_DOUBLE);
  H5Tinsert(t, "i", sizeof(double), H5T_NATIVE_DOUBLE);
  return t;
}

void write_dataset(hid_t file, const std::string& path, const char* name, hid_t mem_type,
                   const std::vector<hsize_t>& dims, const void* data) {
  hid space(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
  hid ds(H5Dcreate2(file, name, mem_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  if (ds < 0 || H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    fail(path, std::string("cannot write dataset '") + name + "'");
}

template <class V>
void attr(hid_t obj, const char* name, hid_t type, const V& v) {
  hid space(H5Screate(H5S_SCALAR), H5Sclose);
  hid a(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  H5Awrite(a, type, &v);
}
void attr_i(hid_t o, const char* n, long v) { attr(o, n, H5T_NATIVE_LONG, v); }
void attr_d(hid_t o, const char* n, double v) { attr(o, n, H5T_NATIVE_DOUBLE, v); }
void attr_s(hid_t obj, const char* name, const std::string& s) {
  hid type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type, s.empty() ? 1 : s.size());
  hid space(H5Screate(H5S_SCALAR), H5Sclose);
  hid a(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  H5Awrite(a, type, s.empty() ? "" : s.c_str());
}

bool has_attr(hid_t obj, const char* name) { return H5Aexists(obj, name) > 0; }
long read_attr_i(hid_t obj, const std::string& path, const char* name) {
  if (!has_attr(obj, name)) fail(path, std::string("missing attribute '") + name + "'");
  long v = 0;
  hid a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  if (H5Aread(a, H5T_NATIVE_LONG, &v) < 0) fail(path, std::string("cannot read attribute '") + name + "'");
  return v;
}
double read_attr_d(hid_t obj, const std::string& path, const char* name) {
  if (!has_attr(obj, name)) fail(path, std::string("missing attribute '") + name + "'");
  double v = 0;
  hid a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  if (H5Aread(a, H5T_NATIVE_DOUBLE, &v) < 0) fail(path, std::string("cannot read attribute '") + name + "'");
  return v;
}
std::string read_attr_s(hid_t obj, const char* name) {
  if (!has_attr(obj, name)) return {};
  hid a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  hid ft(H5Aget_type(a), H5Tclose);
  const size_t n = H5Tget_size(ft);
  hid mt(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(mt, n);
  std::string s(n, '\0');
  H5Aread(a, mt, s.data());
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

hid open_file(const std::string& path) {
  if (!std::filesystem::exists(path)) fail(path, "file not found");
  if (H5Fis_hdf5(path.c_str()) <= 0) fail(path, "not an HDF5 file (corrupt or wrong format)");
  hid f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (f < 0) fail(path, "cannot open HDF5 file");
  return f;
}
/// A new file at tmp_path (atomic_path's temporary of `path`, which errors name: the
/// user never asked for the temporary), stamped with what built jcas.
hid create_file(const std::string& tmp_path, const std::string& path) {
  hid f(H5Fcreate(tmp_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (f < 0) {
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    fail(path, !dir.empty() && !std::filesystem::is_directory(dir) ? "cannot create file: no folder " + dir.string()
                                                                   : "cannot create file (permissions?)");
  }
  attr_s(f, "jcas_version", version());
  return f;
}

/// Reads dataset `name` of the expected rank; returns its dims.
std::vector<hsize_t> dataset_dims(hid_t file, const std::string& path, const char* name, int rank) {
  if (H5Lexists(file, name, H5P_DEFAULT) <= 0) fail(path, std::string("missing dataset '") + name + "'");
  hid ds(H5Dopen2(file, name, H5P_DEFAULT), H5Dclose);
  hid sp(H5Dget_space(ds), H5Sclose);
  if (H5Sget_simple_extent_ndims(sp) != rank)
    fail(path, std::string("dataset '") + name + "' has rank " + std::to_string(H5Sget_simple_extent_ndims(sp)) +
                   ", expected " + std::to_string(rank));
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(sp, dims.data(), nullptr);
  return dims;
}
template <class E>
void read_dataset(hid_t file, const std::string& path, const char* name, hid_t mem_type, std::vector<E>& out,
                  size_t n) {
  hid ds(H5Dopen2(file, name, H5P_DEFAULT), H5Dclose);
  out.resize(n);
  if (H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    fail(path, std::string("cannot read dataset '") + name + "' (type or corrupt data)");
}

/// (B, rows, cols) row-major  <->  B column-major rows x cols matrices.
std::vector<zd> to_row_major(const zd* src, long count, long rows, long cols) {
  std::vector<zd> out(size_t(count * rows * cols));
  for (long b = 0; b < count; ++b)
    for (long r = 0; r < rows; ++r)
      for (long c = 0; c < cols; ++c) out[(b * rows + r) * cols + c] = src[b * rows * cols + c * rows + r];
  return out;
}

}  // namespace

channel_set channels_from_arrays(const std::string& path, const std::vector<zd>& hall, const std::vector<zd>& gall,
                                 long count, long nt, long kf, long grows, long gcols, int nr, int targets,
                                 const channel_select& sel) {
  if (gcols != nt) fail(path, "G has " + std::to_string(gcols) + " columns but H has Nt = " + std::to_string(nt));
  if (nr < 1) fail(path, "nr = " + std::to_string(nr) + ": must be >= 1");
  if (grows % nr != 0)
    fail(path, "G rows = " + std::to_string(grows) + " is not a multiple of nr = " + std::to_string(nr));
  const long nj = grows / nr;
  if (targets < 1 || targets > nj)
    fail(path, "targets = " + std::to_string(targets) + ": the file has " + std::to_string(nj) + " G blocks");
  const int users = sel.users < 0 ? int(kf) : sel.users;
  if (users < 1 || users > kf)
    fail(path, "users = " + std::to_string(users) + ": the file has " + std::to_string(kf) + " users");
  if (sel.limit == 0 || sel.limit < -1) fail(path, "limit = " + std::to_string(sel.limit) + ": must be >= 1");
  const long b_count = sel.limit > 0 ? std::min(sel.limit, count) : count;
  channel_set cs;
  cs.dims = {int(nt), nr, users, targets, int(nj - targets)};
  cs.count = b_count;
  cs.h.resize(size_t(b_count * cs.h_stride()));
  cs.g.resize(size_t(b_count * cs.g_stride()));
  for (long b = 0; b < b_count; ++b) {
    for (long k = 0; k < users; ++k)
      for (long n = 0; n < nt; ++n) cs.h[b * cs.h_stride() + k * nt + n] = hall[(b * nt + n) * kf + k];
    for (long j = 0; j < nj; ++j)
      for (long c = 0; c < nt; ++c)
        for (long r = 0; r < nr; ++r)
          cs.g[b * cs.g_stride() + (j * nt + c) * nr + r] = gall[(b * grows + j * nr + r) * gcols + c];
  }
  try {
    validate(cs);
  } catch (const std::exception& e) {
    fail(path, e.what());
  }
  return cs;
}

}  // namespace jcas::io

namespace jcas::h5 {

void write_doubles(hid_t loc, const std::string& path, const std::string& name, const std::vector<double>& v) {
  static const double none = 0;  // HDF5 wants a buffer even for zero elements
  io::write_dataset(loc, path, name.c_str(), H5T_NATIVE_DOUBLE, {hsize_t(v.size())}, v.empty() ? &none : v.data());
}
std::vector<double> read_doubles(hid_t loc, const std::string& path, const std::string& name) {
  const auto dims = io::dataset_dims(loc, path, name.c_str(), 1);
  std::vector<double> v;
  if (dims[0] == 0) return v;
  io::read_dataset(loc, path, name.c_str(), H5T_NATIVE_DOUBLE, v, size_t(dims[0]));
  return v;
}
hid_t create_file(const std::string& tmp_path, const std::string& path) {
  return io::create_file(tmp_path, path).release();
}
void write_attr(hid_t loc, const char* name, double v) { io::attr_d(loc, name, v); }
double read_attr(hid_t loc, const std::string& path, const char* name) { return io::read_attr_d(loc, path, name); }

}  // namespace jcas::h5

namespace jcas::io {

channel_set read_channels(const std::string& path, const channel_select& sel) {
  if (path.size() >= 4 && path.substr(path.size() - 4) == ".npz") return read_npz(path, sel);
  hid f = open_file(path);
  const auto hd = dataset_dims(f, path, "H", 3);
  const auto gd = dataset_dims(f, path, "G", 3);
  if (hd[0] != gd[0]) fail(path, "H has " + std::to_string(hd[0]) + " realizations but G has " + std::to_string(gd[0]));
  const int nr = sel.nr > 0 ? sel.nr : int(has_attr(f, "nr") ? read_attr_i(f, path, "nr") : long(hd[1]));
  const int targets = sel.targets > 0 ? sel.targets : int(has_attr(f, "targets") ? read_attr_i(f, path, "targets") : 2);
  hid ct = complex_type();
  std::vector<zd> hall, gall;
  read_dataset(f, path, "H", ct, hall, size_t(hd[0] * hd[1] * hd[2]));
  read_dataset(f, path, "G", ct, gall, size_t(gd[0] * gd[1] * gd[2]));
  channel_set cs = channels_from_arrays(path, hall, gall, long(hd[0]), long(hd[1]), long(hd[2]), long(gd[1]),
                                        long(gd[2]), nr, targets, sel);
  if (has_attr(f, "snr_db")) cs.snr_db = read_attr_d(f, path, "snr_db");
  return cs;
}

void write_channels(const std::string& path, const channel_set& cs, const scenario* sc, std::uint64_t seed,
                    long first) {
  atomic_path ap(path);
  {
    hid f = create_file(ap.tmp(), path);
    hid ct = complex_type();
    const problem_dims& d = cs.dims;
    const auto hr = to_row_major(cs.h.data(), cs.count, d.nt, d.k);
    write_dataset(f, path, "H", ct, {hsize_t(cs.count), hsize_t(d.nt), hsize_t(d.k)}, hr.data());
    // G: (B, J*Nr, Nt) row-major from J column-major Nr x Nt blocks per realization.
    const auto gr = to_row_major(cs.g.data(), cs.count * d.j(), d.nr, d.nt);
    write_dataset(f, path, "G", ct, {hsize_t(cs.count), hsize_t(d.j() * d.nr), hsize_t(d.nt)}, gr.data());
    attr_s(f, "format", "jcas-channels-1");
    attr_i(f, "nt", d.nt);
    attr_i(f, "nr", d.nr);
    attr_i(f, "users", d.k);
    attr_i(f, "targets", d.m);
    attr_i(f, "clutter", d.c);
    attr_d(f, "snr_db", cs.snr_db);
    if (sc) {
      attr_i(f, "seed", long(seed));
      attr_i(f, "first", first);
      attr_d(f, "user_dist_mean", sc->user_dist_mean);
      attr_d(f, "user_dist_std", sc->user_dist_std);
      attr_d(f, "sens_dist_mean", sc->sens_dist_mean);
      attr_d(f, "sens_dist_std", sc->sens_dist_std);
      attr_d(f, "height", sc->height);
      attr_d(f, "zeta0_db", sc->zeta0_db);
      attr_d(f, "eps_c", sc->eps_c);
      attr_d(f, "eps_s", sc->eps_s);
      attr_d(f, "angle_min", sc->angle_min);
      attr_d(f, "angle_max", sc->angle_max);
      attr_d(f, "rician_k", sc->rician_k);
      attr_d(f, "noise_db", sc->noise_db);
      attr_i(f, "clutter_reuses_target_pathloss", sc->clutter_reuses_target_pathloss);
    }
  }
  ap.commit();
}

unfolded_model read_model(const std::string& path) {
  hid f = open_file(path);
  if (read_attr_s(f, "format") != "jcas-unfolded-model-1")
    fail(path, "format = '" + read_attr_s(f, "format") + "': not a jcas model file");
  unfolded_model m;
  m.l_out = int(read_attr_i(f, path, "l_out"));
  m.l_in = int(read_attr_i(f, path, "l_in"));
  m.i_w = int(read_attr_i(f, path, "i_w"));
  m.frozen = read_attr_i(f, path, "frozen") != 0;
  m.mu_c = read_attr_d(f, path, "mu_c");
  m.mu_s = read_attr_d(f, path, "mu_s");
  m.provenance = read_attr_s(f, "provenance");
  const auto bd = dataset_dims(f, path, "beta", 2);
  if (long(bd[0]) != m.l_out || long(bd[1]) != m.l_in)
    fail(path, "beta is " + std::to_string(bd[0]) + " x " + std::to_string(bd[1]) +
                   ", expected l_out x l_in = " + std::to_string(m.l_out) + " x " + std::to_string(m.l_in));
  read_dataset(f, path, "beta", H5T_NATIVE_DOUBLE, m.beta, size_t(bd[0] * bd[1]));
  m.per_layer_mu = has_attr(f, "per_layer_mu") && read_attr_i(f, path, "per_layer_mu") != 0;
  m.w0 = has_attr(f, "w0_zf") && read_attr_i(f, path, "w0_zf") != 0 ? w0_method::zf : w0_method::mrt;
  if (m.per_layer_mu) {
    for (const char* name : {"mu_c_layer", "mu_s_layer"}) {
      const auto md = dataset_dims(f, path, name, 1);
      if (long(md[0]) != m.l_out)
        fail(path, std::string(name) + " has " + std::to_string(md[0]) +
                       " values, expected l_out = " + std::to_string(m.l_out));
    }
    read_dataset(f, path, "mu_c_layer", H5T_NATIVE_DOUBLE, m.mu_c_layer, size_t(m.l_out));
    read_dataset(f, path, "mu_s_layer", H5T_NATIVE_DOUBLE, m.mu_s_layer, size_t(m.l_out));
  }
  try {
    m.finalize();
  } catch (const std::exception& e) {
    fail(path, e.what());
  }
  return m;
}

void write_model(const std::string& path, const unfolded_model& model) {
  unfolded_model m = model;
  m.finalize();
  atomic_path ap(path);
  {
    hid f = create_file(ap.tmp(), path);
    write_dataset(f, path, "beta", H5T_NATIVE_DOUBLE, {hsize_t(m.l_out), hsize_t(m.l_in)}, m.beta.data());
    attr_s(f, "format", "jcas-unfolded-model-1");
    attr_i(f, "l_out", m.l_out);
    attr_i(f, "l_in", m.l_in);
    attr_i(f, "i_w", m.i_w);
    attr_i(f, "frozen", m.frozen);
    attr_d(f, "mu_c", m.mu_c);
    attr_d(f, "mu_s", m.mu_s);
    attr_s(f, "provenance", m.provenance);
    attr_i(f, "per_layer_mu", m.per_layer_mu);
    attr_i(f, "w0_zf", m.w0 == w0_method::zf);
    if (m.per_layer_mu) {
      write_dataset(f, path, "mu_c_layer", H5T_NATIVE_DOUBLE, {hsize_t(m.l_out)}, m.mu_c_layer.data());
      write_dataset(f, path, "mu_s_layer", H5T_NATIVE_DOUBLE, {hsize_t(m.l_out)}, m.mu_s_layer.data());
    }
  }
  ap.commit();
}

void write_results(const std::string& path, const solve_output& out, const solve_options& o,
                   const std::map<std::string, std::string>& attrs) {
  atomic_path ap(path);
  {
    hid f = create_file(ap.tmp(), path);
    hid ct = complex_type();
    const problem_dims& d = out.dims;
    const hsize_t b = hsize_t(out.count);
    write_dataset(f, path, "W", ct, {b, hsize_t(d.nt), hsize_t(d.k)},
                  to_row_major(out.w.data(), out.count, d.nt, d.k).data());
    write_dataset(f, path, "F", ct, {b, hsize_t(d.nr), hsize_t(d.m)},
                  to_row_major(out.f.data(), out.count, d.nr, d.m).data());
    write_dataset(f, path, "curve", H5T_NATIVE_DOUBLE, {b, hsize_t(out.curve_len)}, out.curve.data());
    write_dataset(f, path, "objective", H5T_NATIVE_DOUBLE, {b}, out.objective.data());
    write_dataset(f, path, "min_sinr", H5T_NATIVE_DOUBLE, {b}, out.min_sinr.data());
    write_dataset(f, path, "min_scnr", H5T_NATIVE_DOUBLE, {b}, out.min_scnr.data());
    write_dataset(f, path, "outer", H5T_NATIVE_INT, {b}, out.outer.data());
    write_dataset(f, path, "inner", H5T_NATIVE_LONG, {b}, out.inner.data());
    const summary s = summarize(out);
    attr_s(f, "format", "jcas-results-1");
    attr_s(f, "algo", to_string(out.algo));
    attr_d(f, "pt", o.sys.pt);
    attr_d(f, "delta", o.sys.delta);
    attr_d(f, "mean_objective", s.mean_objective);
    attr_d(f, "min_sinr_db", s.min_sinr_db);
    attr_d(f, "min_scnr_db", s.min_scnr_db);
    attr_d(f, "seconds_per_realization", s.seconds_per_realization);
    for (const auto& [k, v] : attrs) attr_s(f, k.c_str(), v);
  }
  ap.commit();
}

}  // namespace jcas::io
