#include <fcntl.h>
#include <hdf5.h>
#include <omp.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "channel_source.hpp"
#include "h5.hpp"
#include "io.hpp"
#include "jcas/core/channels.hpp"
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

namespace {
/// "1.23 GB": a byte count for messages.
std::string bytes_str(double b) {
  const char* unit[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
  int u = 0;
  while (b >= 1000 && u < 6) b /= 1000, ++u;
  char s[32];
  std::snprintf(s, sizeof s, u == 0 ? "%.0f %s" : "%.3g %s", b, unit[u]);
  return s;
}

/// The folder of a path ("." for a bare name).
std::string folder_of(const std::string& path) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  return dir.empty() ? std::string(".") : dir.string();
}

/// Removes temporaries of `final_path` (final_path.tmp.PID) whose process is gone: what a
/// kill -9 or a crash left behind. A live process's temporary is left alone.
void remove_stale_temporaries(const std::string& final_path) {
  namespace fs = std::filesystem;
  const fs::path p(final_path);
  const std::string prefix = p.filename().string() + ".tmp.";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(folder_of(final_path), ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string pid = name.substr(prefix.size());
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid.size() > 9) continue;
    if (::kill(pid_t(std::stol(pid)), 0) != 0 && errno == ESRCH) fs::remove(e.path(), ec);
  }
}
}  // namespace

atomic_path::atomic_path(std::string final_path) : final_(std::move(final_path)) {
  std::error_code ec;
  if (std::filesystem::is_directory(final_, ec))
    throw std::runtime_error(final_ + ": is a folder; an output needs a file name");
  remove_stale_temporaries(final_);
  tmp_ = final_ + ".tmp." + std::to_string(::getpid());
  slot_ = register_tmp(tmp_.c_str());
}
atomic_path::~atomic_path() {
  if (!done_) std::remove(tmp_.c_str());
  release_tmp(slot_);
}
void atomic_path::commit() {
  if (std::rename(tmp_.c_str(), final_.c_str()) != 0) {
    const int err = errno;
    std::error_code ec;
    if (std::filesystem::is_directory(final_, ec))
      throw std::runtime_error(final_ + ": is a folder; an output needs a file name");
    fail_write(final_, "cannot put the finished file in place", err);
  }
  done_ = true;
  release_tmp(slot_);
  slot_ = -1;
}

void fail_write(const std::string& path, const std::string& what, int err) {
  std::string why;
  struct statvfs vf {};
  const std::string dir = folder_of(path);
  const bool have_vf = ::statvfs(dir.c_str(), &vf) == 0;
  const double free_b = have_vf ? double(vf.f_bavail) * double(vf.f_frsize) : -1;
  char free_s[64] = "";
  if (have_vf) std::snprintf(free_s, sizeof free_s, "%.0f bytes free in %s", free_b, dir.c_str());
  if (err == ENOSPC || err == EDQUOT)
    why = std::string("no space left on the device (") + free_s + ")";
  else if (err == EFBIG)
    why = "file too large for this process (its file size limit, ulimit -f)";
  else if (have_vf && free_b < 1 << 20)
    why = std::string("the device is full (") + free_s + ")";
  else if (err != 0)
    why = std::strerror(err);
  throw std::runtime_error(path + ": " + what + (why.empty() ? "" : ": " + why));
}

namespace {
std::recursive_mutex hdf5_mutex;
bool in_vetting_child = false;  // set in vet_in_child's child: a single thread, the lock not its own
}  // namespace

std::unique_lock<std::recursive_mutex> hdf5_lock() {
  // The forked child inherits the mutex as locked by the parent's thread (fork copies the
  // caller's lock, not its ownership): it must not wait for it.
  if (in_vetting_child) return {};
  std::unique_lock<std::recursive_mutex> lock(hdf5_mutex);
  // HDF5's error printing is set per thread (Debian builds it thread-safe): our messages
  // replace its stack in every thread that calls it, not only the one that loaded us.
  thread_local const bool quiet_here = H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr) >= 0;
  (void)quiet_here;
  return lock;
}

void vet_in_child(const std::string& path, const std::function<void()>& read) {
  std::error_code ec;
  const double size = double(std::filesystem::file_size(path, ec));
  const unsigned limit = unsigned(60 + (ec ? 0 : size / 50e6));  // seconds: 50 MB/s and a minute
  std::fflush(nullptr);                                          // nothing buffered is written twice
  const pid_t pid = ::fork();
  if (pid < 0) return;  // no child: read it here as before
  if (pid == 0) {
    in_vetting_child = true;
    // The child's crash is reported by the parent in one line: nothing of its own (a
    // sanitizer's report, a library's message) reaches the user's terminal.
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) {
      ::dup2(null, 1);
      ::dup2(null, 2);
    }
    ::alarm(limit);
    try {
      read();
    } catch (...) {  // the parent's own read reports it
    }
    ::_exit(0);
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
    throw std::runtime_error(path + ": reading it did not finish in " + std::to_string(limit) +
                             " s (a damaged file makes the HDF5 library loop)");
  if (WIFSIGNALED(st))
    throw std::runtime_error(path + ": not readable: reading it crashed the " +
                             (path.size() >= 4 && path.substr(path.size() - 4) == ".npz" ? "zip" : "HDF5") +
                             " library (signal " + std::to_string(WTERMSIG(st)) + "; the file is damaged)");
}

text_output::text_output(const std::string& path) : ap_(path) {
  f_ = std::fopen(ap_.tmp().c_str(), "w");
  if (!f_) {
    const int err = errno;
    if (!std::filesystem::is_directory(folder_of(path)))
      throw std::runtime_error(path + ": no folder " + folder_of(path));
    fail_write(path, "cannot create file", err);
  }
}
text_output::~text_output() {
  if (f_) std::fclose(f_);
}
void text_output::commit() {
  errno = 0;
  const bool written = !std::ferror(f_) && std::fflush(f_) == 0 && ::fsync(::fileno(f_)) == 0;
  const int err = errno;
  const bool closed = std::fclose(f_) == 0;
  const int close_err = errno;
  f_ = nullptr;
  if (!written || !closed) fail_write(ap_.path(), "cannot write", written ? close_err : err);
  ap_.commit();
}

void refuse_overwrite(const std::string& out_field, const std::string& out,
                      const std::vector<std::pair<std::string, std::string>>& inputs) {
  std::error_code ec;
  if (std::filesystem::is_directory(out, ec))
    throw std::invalid_argument(out_field + " = " + out + ": is a folder; an output needs a file name");
  if (!std::filesystem::exists(out, ec)) return;
  for (const auto& [field, in] : inputs)
    if (!in.empty() && std::filesystem::exists(in, ec) && std::filesystem::equivalent(out, in, ec))
      throw std::invalid_argument(out_field + " = " + out + ": is the input " + field + " (" + in +
                                  "); writing it would destroy the input");
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
  hid& operator=(hid&& o) noexcept {
    if (this != &o) {
      if (id >= 0 && close) close(id);
      id = std::exchange(o.id, -1);
      close = o.close;
    }
    return *this;
  }
  /// Hands the identifier to the caller, who closes it.
  hid_t release() { return std::exchange(id, -1); }
  operator hid_t() const { return id; }  // NOLINT
};

struct quiet_errors {
  quiet_errors() {
    // HDF5's exit handler closes every file still open, and one whose close failed (a
    // full disk) crashes it (HDF5 1.10.8, H5F__close_cb): files are closed here, by
    // h5::output and the handles, so the library is left to the process's end.
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
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
  errno = 0;
  if (ds < 0 || H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    fail_write(path, std::string("cannot write dataset '") + name + "'", errno);
}

/// The file name of an HDF5 object, for messages.
std::string file_of(hid_t obj) {
  char name[4096] = "";
  if (H5Fget_name(obj, name, sizeof name) < 0) return "HDF5 file";
  return name;
}

template <class V>
void attr(hid_t obj, const char* name, hid_t type, const V& v) {
  hid space(H5Screate(H5S_SCALAR), H5Sclose);
  hid a(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  errno = 0;
  if (a < 0 || H5Awrite(a, type, &v) < 0)
    fail_write(file_of(obj), std::string("cannot write attribute '") + name + "'", errno);
}
void attr_i(hid_t o, const char* n, long v) { attr(o, n, H5T_NATIVE_LONG, v); }
void attr_d(hid_t o, const char* n, double v) { attr(o, n, H5T_NATIVE_DOUBLE, v); }
void attr_s(hid_t obj, const char* name, const std::string& s) {
  hid type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type, s.empty() ? 1 : s.size());
  hid space(H5Screate(H5S_SCALAR), H5Sclose);
  hid a(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  errno = 0;
  if (a < 0 || H5Awrite(a, type, s.empty() ? "" : s.c_str()) < 0)
    fail_write(file_of(obj), std::string("cannot write attribute '") + name + "'", errno);
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
  // One byte more than stored: a string stored null-padded to its full length (h5py's
  // fixed-length strings) keeps its last character beside the terminator.
  const size_t n = H5Tget_size(ft) + 1;
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
  // Closing the file closes every object still open in it and flushes them: H5Fclose's
  // result then says whether everything reached the file (h5::output::commit).
  hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
  errno = 0;
  hid f(H5Fcreate(tmp_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), H5Fclose);
  if (f < 0) {
    const int err = errno;
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    if (!dir.empty() && !std::filesystem::is_directory(dir))
      fail(path, "cannot create file: no folder " + dir.string());
    fail_write(path, "cannot create file", err);
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
  // A damaged shape can claim more elements than any file holds: refused here, so that
  // every count, size and offset computed from the dims below fits a long (2^56 elements
  // of 16 bytes each still do).
  double elements = 1;
  for (const hsize_t d : dims) elements *= double(d);
  if (elements > 0x1p56) {
    char e[32];
    std::snprintf(e, sizeof e, "%.3g", elements);
    fail(path, std::string("dataset '") + name + "' has a damaged shape (" + e + " elements)");
  }
  return dims;
}
/// Whether a file's element type can become mem_type: both floating point, or both
/// compounds of two floating-point members (complex numbers as {r, i}) that lie inside
/// the element (so that converting n elements reads what converting one does, n times).
bool convertible(hid_t file_type, hid_t mem_type) {
  const H5T_class_t fc = H5Tget_class(file_type), mc = H5Tget_class(mem_type);
  if (fc != mc) return false;
  if (fc == H5T_FLOAT) return H5Tget_size(file_type) == 4 || H5Tget_size(file_type) == 8;
  if (fc != H5T_COMPOUND || H5Tget_nmembers(file_type) != 2) return false;
  for (unsigned i = 0; i < 2; ++i) {
    hid m(H5Tget_member_type(file_type, i), H5Tclose);
    if (m < 0 || H5Tget_class(m) != H5T_FLOAT || (H5Tget_size(m) != 4 && H5Tget_size(m) != 8)) return false;
    if (H5Tget_member_offset(file_type, i) + H5Tget_size(m) > H5Tget_size(file_type)) return false;
  }
  return true;
}

/// Dataset `name` (its dims already checked: n elements) opened to be read as mem_type. A
/// damaged file is refused before HDF5 reads it where its layout says so: HDF5 1.10 can
/// crash on a contiguous dataset whose storage does not match its shape
/// (tests/host/fuzz_readers). Sets `layout`.
hid checked_dataset(hid_t file, const std::string& path, const char* name, hid_t mem_type, size_t n,
                    H5D_layout_t& layout) {
  hid ds(H5Dopen2(file, name, H5P_DEFAULT), H5Dclose);
  if (ds < 0) fail(path, std::string("cannot open dataset '") + name + "' (corrupt)");
  hid ft(H5Dget_type(ds), H5Tclose);
  if (ft < 0 || !convertible(ft, mem_type))
    fail(path, std::string("dataset '") + name + "' has the wrong element type (or is corrupt)");
  hid dcpl(H5Dget_create_plist(ds), H5Pclose);
  layout = dcpl < 0 ? H5D_LAYOUT_ERROR : H5Pget_layout(dcpl);
  const double want = double(n) * double(H5Tget_size(ft));
  const auto damaged = [&] {
    fail(path, std::string("dataset '") + name + "': its storage does not match its shape (corrupt or truncated)");
  };
  if (layout == H5D_CONTIGUOUS) {
    hsize_t file_size = 0;
    const haddr_t at = H5Dget_offset(ds);
    H5Fget_filesize(file, &file_size);
    if (n > 0 &&
        (double(H5Dget_storage_size(ds)) != want || at == HADDR_UNDEF || double(at) + want > double(file_size)))
      damaged();
  } else if (layout == H5D_COMPACT) {
    if (double(H5Dget_storage_size(ds)) != want) damaged();
  } else if (layout != H5D_CHUNKED) {
    fail(path, std::string("dataset '") + name + "' has an unknown layout (corrupt)");
  }
  return ds;
}

/// The vetting child's read of a checked dataset (io::vet_in_child): a contiguous dataset,
/// its storage so checked, is read as its first element only. What HDF5 does for the rest
/// is the same conversion of more bytes from the checked range, which cannot crash it; the
/// values themselves are checked by the parent's own read. A chunked or compact dataset
/// (its index or message is what a damaged file breaks) is read whole.
void vet_dataset(hid_t file, const std::string& path, const char* name, hid_t mem_type, size_t n) {
  H5D_layout_t layout{};
  hid ds = checked_dataset(file, path, name, mem_type, n, layout);
  if (n == 0) return;
  const bool whole = layout != H5D_CONTIGUOUS;
  hid file_space(H5Dget_space(ds), H5Sclose);
  const int rank = file_space < 0 ? -1 : H5Sget_simple_extent_ndims(file_space);
  if (rank < 1 || rank > 8) fail(path, std::string("dataset '") + name + "' has a damaged shape");
  const std::vector<hsize_t> start(size_t(rank), 0), one(size_t(rank), 1);
  const hsize_t first = 1;
  hid mem_space(H5Screate_simple(1, &first, nullptr), H5Sclose);
  std::vector<char> out(H5Tget_size(mem_type) * (whole ? n : 1));
  if ((!whole && H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start.data(), nullptr, one.data(), nullptr) < 0) ||
      H5Dread(ds, mem_type, whole ? H5S_ALL : hid_t(mem_space), whole ? H5S_ALL : hid_t(file_space), H5P_DEFAULT,
              out.data()) < 0)
    fail(path, std::string("cannot read dataset '") + name + "' (type or corrupt data)");
}

/// Rows first .. first + n - 1 (of the first dimension) of the checked dataset ds, as
/// mem_type into out.
void read_rows(hid_t ds, const std::string& path, const char* name, hid_t mem_type, long first, long n, void* out) {
  hid fs(H5Dget_space(ds), H5Sclose);
  const int rank = fs < 0 ? -1 : H5Sget_simple_extent_ndims(fs);
  if (rank < 1 || rank > 8) fail(path, std::string("dataset '") + name + "' has a damaged shape");
  std::vector<hsize_t> dims(static_cast<size_t>(rank), 0), start(static_cast<size_t>(rank), 0);
  H5Sget_simple_extent_dims(fs, dims.data(), nullptr);
  start[0] = hsize_t(first);
  dims[0] = hsize_t(n);
  hid ms(H5Screate_simple(rank, dims.data(), nullptr), H5Sclose);
  if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start.data(), nullptr, dims.data(), nullptr) < 0 ||
      H5Dread(ds, mem_type, ms, fs, H5P_DEFAULT, out) < 0)
    fail(path, std::string("cannot read dataset '") + name + "' (type or corrupt data)");
}

/// Rows at .. at + n - 1 (of the first dimension) of dataset ds from `rows` (as mem_type):
/// read_rows' counterpart, for the writers of channel and results files.
void write_rows(hid_t ds, const std::string& path, const char* name, hid_t mem_type, long at, long n,
                const void* rows) {
  if (n == 0) return;
  hid fs(H5Dget_space(ds), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(fs);
  std::vector<hsize_t> dims(static_cast<size_t>(rank), 0), start(static_cast<size_t>(rank), 0);
  H5Sget_simple_extent_dims(fs, dims.data(), nullptr);
  start[0] = hsize_t(at);
  dims[0] = hsize_t(n);
  H5Sselect_hyperslab(fs, H5S_SELECT_SET, start.data(), nullptr, dims.data(), nullptr);
  hid ms(H5Screate_simple(rank, dims.data(), nullptr), H5Sclose);
  errno = 0;
  if (H5Dwrite(ds, mem_type, ms, fs, H5P_DEFAULT, rows) < 0)
    fail_write(path, std::string("cannot write dataset '") + name + "'", errno);
}

/// A new dataset `name` of shape dims in file f, written later by rows (write_rows): its
/// storage allocated now and never filled, so that the writes touch only their bytes, not
/// the file's structure.
hid create_rows(hid_t f, const std::string& path, const char* name, hid_t type, const std::vector<hsize_t>& dims) {
  hid space(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
  hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
  H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
  errno = 0;
  hid ds(H5Dcreate2(f, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose);
  if (ds < 0) fail_write(path, std::string("cannot create dataset '") + name + "'", errno);
  return ds;
}

/// A checked dataset (checked_dataset) read by rows of its first dimension. Where HDF5
/// stores it contiguous, in the memory type's own layout, its rows are read straight from
/// the file (pread on fd: no HDF5 call, so no hdf5_lock, and no copy through HDF5's
/// buffers); its storage was checked against its shape and the file's size, so a read
/// past the file's end is a truncation, named as such. Else HDF5 reads them (a hyperslab,
/// under the lock).
struct dataset_rows {
  hid ds{-1, nullptr};
  const char* name = "";
  size_t row_bytes = 0;
  long long offset = -1;  // the raw data's place in the file; -1: through HDF5
  dataset_rows() = default;
  dataset_rows(hid_t file, const std::string& path, const char* nm, hid_t mem_type, size_t n, size_t row_elems)
      : name(nm), row_bytes(row_elems * H5Tget_size(mem_type)) {
    H5D_layout_t layout{};
    ds = checked_dataset(file, path, name, mem_type, n, layout);
    hid ft(H5Dget_type(ds), H5Tclose);
    const haddr_t at = H5Dget_offset(ds);
    if (layout == H5D_CONTIGUOUS && n > 0 && at != HADDR_UNDEF && H5Tequal(ft, mem_type) > 0)
      offset = static_cast<long long>(at);
  }
  void read(int fd, const std::string& path, hid_t mem_type, long first, long n, void* out) const {
    if (n <= 0) return;
    if (offset < 0 || fd < 0) {
      const auto lock = hdf5_lock();  // HDF5 is not thread-safe
      return read_rows(ds, path, name, mem_type, first, n, out);
    }
    char* p = static_cast<char*>(out);
    size_t left = size_t(n) * row_bytes;
    off_t at = off_t(offset + static_cast<long long>(first) * static_cast<long long>(row_bytes));
    while (left > 0) {
      const ssize_t got = ::pread(fd, p, left, at);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0)
        fail(path, std::string("cannot read dataset '") + name + "' (" +
                       (got == 0 ? std::string("the file is truncated") : std::strerror(errno)) + ")");
      p += got;
      left -= size_t(got);
      at += got;
    }
  }
};

/// Reads dataset `name` (its dims already checked: n elements) whole as mem_type; vet: the
/// vetting child's read (vet_dataset), out left empty.
template <class E>
void read_dataset(hid_t file, const std::string& path, const char* name, hid_t mem_type, std::vector<E>& out, size_t n,
                  bool vet = false) {
  if (vet) return vet_dataset(file, path, name, mem_type, n);
  H5D_layout_t layout{};
  hid ds = checked_dataset(file, path, name, mem_type, n, layout);
  out.resize(n);
  if (H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    fail(path, std::string("cannot read dataset '") + name + "' (type or corrupt data)");
}

/// B column-major rows x cols matrices -> (B, rows, cols) row-major, into out, on
/// `threads` threads (0: every core).
void to_row_major(const zd* src, long count, long rows, long cols, zd* out, int threads) {
  const int t = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for num_threads(t) schedule(static) if (t > 1 && count >= 1024)
  for (long b = 0; b < count; ++b)
    for (long r = 0; r < rows; ++r)
      for (long c = 0; c < cols; ++c) out[(b * rows + r) * cols + c] = src[b * rows * cols + c * rows + r];
}
std::vector<zd> to_row_major(const zd* src, long count, long rows, long cols) {
  std::vector<zd> out(size_t(count * rows * cols));
  to_row_major(src, count, rows, cols, out.data(), 1);
  return out;
}

}  // namespace

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
output::output(const std::string& path) : path_(path), ap_(std::make_unique<io::atomic_path>(path)) {
  f_ = io::create_file(ap_->tmp(), path).release();
}
output::~output() {
  if (f_ >= 0) H5Fclose(f_);  // not committed: the atomic_path removes the temporary
}
void output::commit() {
  errno = 0;
  const herr_t closed = H5Fclose(f_);
  const int err = errno;
  f_ = -1;
  if (closed < 0) io::fail_write(path_, "cannot finish writing the file", err);
  ap_->commit();
}

input::input(const std::string& path, const char* what) {
  if (!std::filesystem::exists(path)) io::fail(path, "file not found");
  if (H5Fis_hdf5(path.c_str()) <= 0) io::fail(path, std::string("not ") + what + " (corrupt or wrong format)");
  f_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f_ < 0) io::fail(path, std::string("cannot open ") + what);
}
input::~input() {
  if (f_ >= 0) H5Fclose(f_);
}
void write_attr(hid_t loc, const char* name, double v) { io::attr_d(loc, name, v); }
void write_string(hid_t loc, const char* name, const std::string& v) { io::attr_s(loc, name, v); }
std::string read_string(hid_t loc, const char* name) { return io::read_attr_s(loc, name); }
double read_attr(hid_t loc, const std::string& path, const char* name) { return io::read_attr_d(loc, path, name); }

}  // namespace jcas::h5

namespace jcas::io {

namespace {
bool has_dataset(hid_t f, const char* name) { return H5Lexists(f, name, H5P_DEFAULT) > 0; }

/// A channel file's datasets, checked and kept open (channel_source.hpp). vet: the
/// vetting child's read instead (vet_dataset of each), nothing kept.
struct h5_source final : channel_source {
  std::string path;
  hid f;
  hid ct = complex_type();
  dataset_rows h, g, gu, gv;
  int fd = -1;  // the file for dataset_rows' direct reads
  ~h5_source() override {
    if (fd >= 0) ::close(fd);
  }
  h5_source(const h5_source&) = delete;
  h5_source& operator=(const h5_source&) = delete;

  h5_source(const std::string& p, const channel_select& sel, bool vet) : path(p), f(open_file(p)) {
    const auto hd = dataset_dims(f, path, "H", 3);
    count = long(hd[0]);
    nt = long(hd[1]);
    kf = long(hd[2]);
    // G dense, or its rank-one factors (g_form): the sizes of the dense array either way.
    factored = !has_dataset(f, "G") && has_dataset(f, "Gu");
    long file_nr = 0, nj = 0;
    gcols = nt;
    if (factored) {
      const auto ud = dataset_dims(f, path, "Gu", 3), vd = dataset_dims(f, path, "Gv", 3);
      if (long(ud[0]) != count || long(vd[0]) != count)
        fail(path, "Gu and Gv have " + std::to_string(ud[0]) + " and " + std::to_string(vd[0]) +
                       " realizations but H has " + std::to_string(count));
      if (ud[1] != vd[1]) fail(path, "Gu has " + std::to_string(ud[1]) + " blocks but Gv has " + std::to_string(vd[1]));
      if (long(vd[2]) != nt)
        fail(path, "Gv has " + std::to_string(vd[2]) + " columns but H has Nt = " + std::to_string(nt));
      file_nr = long(ud[2]);
      nj = long(ud[1]);
      grows = nj * file_nr;
    } else {
      const auto gd = dataset_dims(f, path, "G", 3);
      if (long(gd[0]) != count)
        fail(path, "H has " + std::to_string(count) + " realizations but G has " + std::to_string(gd[0]));
      grows = long(gd[1]);
      gcols = long(gd[2]);
    }
    nr = sel.nr > 0 ? sel.nr : factored ? int(file_nr) : has_attr(f, "nr") ? int(read_attr_i(f, path, "nr")) : int(nt);
    targets = sel.targets > 0 ? sel.targets : int(has_attr(f, "targets") ? read_attr_i(f, path, "targets") : 2);
    if (factored && nr != file_nr)
      fail(path, "nr = " + std::to_string(nr) + ": the file's G factors have Nr = " + std::to_string(file_nr));
    if (has_attr(f, "snr_db")) snr_db = read_attr_d(f, path, "snr_db");
    const size_t hn = size_t(count * nt * kf);
    const size_t un = size_t(count * nj * file_nr), vn = size_t(count * nj * nt), gn = size_t(count * grows * gcols);
    if (vet) {
      vet_dataset(f, path, "H", ct, hn);
      if (factored) {
        vet_dataset(f, path, "Gu", ct, un);
        vet_dataset(f, path, "Gv", ct, vn);
      } else {
        vet_dataset(f, path, "G", ct, gn);
      }
      return;
    }
    h = dataset_rows(f, path, "H", ct, hn, size_t(nt * kf));
    if (factored) {
      gu = dataset_rows(f, path, "Gu", ct, un, size_t(nj * file_nr));
      gv = dataset_rows(f, path, "Gv", ct, vn, size_t(nj * nt));
    } else {
      g = dataset_rows(f, path, "G", ct, gn, size_t(grows * gcols));
    }
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);  // -1: every read through HDF5
  }
  void h_rows(long first, long n, zd* out) override { h.read(fd, path, ct, first, n, out); }
  void g_rows(long first, long n, zd* out) override { g.read(fd, path, ct, first, n, out); }
  void factor_rows(long first, long n, zd* u, zd* v) override {
    gu.read(fd, path, ct, first, n, u);
    gv.read(fd, path, ct, first, n, v);
  }
};
}  // namespace

std::unique_ptr<channel_source> open_h5_source(const std::string& path, const channel_select& sel) {
  const auto lock = hdf5_lock();  // HDF5 is not thread-safe
  vet_in_child(path, [&] { h5_source(path, sel, true); });
  return std::make_unique<h5_source>(path, sel, false);
}

namespace {
std::optional<drawn_from> read_drawn_from_file(const std::string& path) {
  hid f = open_file(path);
  if (!has_attr(f, "seed") || !has_attr(f, "user_dist_mean")) return std::nullopt;  // not jcas generate's
  drawn_from r;
  scenario& sc = r.sc;
  sc.dims = {int(read_attr_i(f, path, "nt")), int(read_attr_i(f, path, "nr")), int(read_attr_i(f, path, "users")),
             int(read_attr_i(f, path, "targets")), int(read_attr_i(f, path, "clutter"))};
  r.seed = std::uint64_t(read_attr_i(f, path, "seed"));
  r.first = read_attr_i(f, path, "first");
  r.count = long(dataset_dims(f, path, "H", 3)[0]);
  for (const scenario_constant& k : scenario_constants) sc.*k.member = read_attr_d(f, path, k.attribute);
  sc.clutter_reuses_target_pathloss = read_attr_i(f, path, "clutter_reuses_target_pathloss") != 0;
  try {
    validate_draw(sc, r.first, r.count);
  } catch (const std::exception& e) {
    fail(path, std::string("its generation record: ") + e.what());
  }
  return r;
}
}  // namespace

std::optional<drawn_from> read_drawn_from(const std::string& path) {
  const auto lock = hdf5_lock();  // HDF5 is not thread-safe
  if (path.size() >= 4 && path.substr(path.size() - 4) == ".npz") return std::nullopt;
  vet_in_child(path, [&] { read_drawn_from_file(path); });
  return read_drawn_from_file(path);
}

namespace {
/// A channel file's attributes (io.hpp's layout): sizes, SNR and, when generated, the
/// scenario and the draw.
void write_channel_attrs(hid_t f, const problem_dims& d, double snr_db, const scenario* sc, std::uint64_t seed,
                         long first) {
  attr_s(f, "format", "jcas-channels-1");
  attr_i(f, "nt", d.nt);
  attr_i(f, "nr", d.nr);
  attr_i(f, "users", d.k);
  attr_i(f, "targets", d.m);
  attr_i(f, "clutter", d.c);
  attr_d(f, "snr_db", snr_db);
  if (!sc) return;
  attr_i(f, "seed", long(seed));
  attr_i(f, "first", first);
  for (const scenario_constant& k : scenario_constants) attr_d(f, k.attribute, sc->*k.member);
  attr_i(f, "clutter_reuses_target_pathloss", sc->clutter_reuses_target_pathloss);
}

/// The channel file's datasets for `count` realizations (H and G, or H, Gu and Gv),
/// written block by block.
struct channel_datasets {
  hid ct = complex_type();
  g_form form;
  hid h, g, gu, gv;
  channel_datasets(hid_t f, const std::string& path, const problem_dims& d, long count, g_form gf)
      : form(gf),
        h(create(f, path, "H", {hsize_t(count), hsize_t(d.nt), hsize_t(d.k)})),
        g(gf == g_form::dense ? create(f, path, "G", {hsize_t(count), hsize_t(d.j() * d.nr), hsize_t(d.nt)})
                              : hid(-1, nullptr)),
        gu(gf == g_form::rank_one ? create(f, path, "Gu", {hsize_t(count), hsize_t(d.j()), hsize_t(d.nr)})
                                  : hid(-1, nullptr)),
        gv(gf == g_form::rank_one ? create(f, path, "Gv", {hsize_t(count), hsize_t(d.j()), hsize_t(d.nt)})
                                  : hid(-1, nullptr)) {}
  hid create(hid_t f, const std::string& path, const char* name, const std::vector<hsize_t>& dims) const {
    return create_rows(f, path, name, ct, dims);
  }
  /// Realizations at .. at + cs.count - 1 of the file from cs.
  void write(const std::string& path, const channel_set& cs, long at) const {
    const problem_dims& d = cs.dims;
    write_rows(path, h, "H", at, cs.count, to_row_major(cs.h.data(), cs.count, d.nt, d.k));
    if (form == g_form::dense) {
      // G: (B, J*Nr, Nt) row-major from J column-major Nr x Nt blocks per realization.
      const channel_set dense = cs.rank_one ? dense_form(cs) : channel_set{};
      write_rows(path, g, "G", at, cs.count,
                 to_row_major((cs.rank_one ? dense : cs).g.data(), cs.count * d.j(), d.nr, d.nt));
      return;
    }
    // Gu (B, J, Nr), Gv (B, J, Nt): each block's factors, in the order of the blocks: the
    // set's own (the same layout), or each dense block factored.
    if (cs.rank_one) {
      write_rows(path, gu, "Gu", at, cs.count, cs.gu);
      write_rows(path, gv, "Gv", at, cs.count, cs.gv);
      return;
    }
    std::vector<zd> u(size_t(cs.count) * d.j() * d.nr), v(size_t(cs.count) * d.j() * d.nt);
    for (long b = 0; b < cs.count; ++b)
      for (index_t j = 0; j < d.j(); ++j) {
        const long blk = b * d.j() + j;
        const core::cview<double> gj(reinterpret_cast<const cplx<double>*>(cs.g.data()) + blk * d.nr * d.nt, d.nr,
                                     d.nt);
        if (!core::factor_rank1<double>(gj, reinterpret_cast<cplx<double>*>(u.data()) + blk * d.nr,
                                        reinterpret_cast<cplx<double>*>(v.data()) + blk * d.nt, 1e-10))
          fail(path, "realization " + std::to_string(at + b) + ": G block " + std::to_string(j) +
                         " is not rank one (to 1e-10): write G dense");
      }
    write_rows(path, gu, "Gu", at, cs.count, u);
    write_rows(path, gv, "Gv", at, cs.count, v);
  }
  void write_rows(const std::string& path, hid_t ds, const char* name, long at, long n,
                  const std::vector<zd>& rows) const {
    io::write_rows(ds, path, name, ct, at, n, rows.data());
  }
};
}  // namespace

double channel_file_bytes(const problem_dims& d, long count, g_form form) {
  const double g = form == g_form::dense ? double(d.j()) * d.nr * d.nt : double(d.j()) * (d.nr + d.nt);
  return 16.0 * double(count) * (double(d.nt) * d.k + g);
}

void write_channels(const std::string& path, const channel_set& cs, const scenario* sc, std::uint64_t seed, long first,
                    g_form form) {
  const auto lock = hdf5_lock();  // HDF5 is not thread-safe
  h5::output f(path);
  {
    const channel_datasets ds(f, path, cs.dims, cs.count, form);
    ds.write(path, cs, 0);
    write_channel_attrs(f, cs.dims, cs.snr_db, sc, seed, first);
  }
  f.commit();
}

void generate_channels(const std::string& path, const scenario& sc, std::uint64_t seed, long first, long count,
                       double snr_db, const std::function<channel_set(long first, long n)>& draw,
                       const std::function<void(long, long)>& progress, g_form form) {
  validate_draw(sc, first, count);
  const auto lock = hdf5_lock();  // HDF5 is not thread-safe

  if (count < 1) fail(path, "count = " + std::to_string(count) + ": must be >= 1");
  const double bytes = channel_file_bytes(sc.dims, count, form) + 4096;  // and HDF5's few KB
  struct statvfs vf {};
  const std::string dir = folder_of(path);
  if (::statvfs(dir.c_str(), &vf) == 0 && double(vf.f_bavail) * double(vf.f_frsize) < bytes)
    throw std::runtime_error("count = " + std::to_string(count) + ": the file " + path + " would take " +
                             bytes_str(bytes) + "; " + bytes_str(double(vf.f_bavail) * double(vf.f_frsize)) +
                             " is free in " + dir);
  // Blocks of at most 64 MB of channels, so that memory stays bounded for any count.
  const long block = std::max(1L, std::min(count, long(64e6 / channel_set_bytes(sc.dims, 1))));
  h5::output f(path);
  {
    const channel_datasets ds(f, path, sc.dims, count, form);
    for (long b0 = 0; b0 < count; b0 += block) {
      const channel_set cs = draw(first + b0, std::min(block, count - b0));
      try {
        validate(cs);  // valid constants can still overflow (e.g. a huge zeta0-db): no such file is written
      } catch (const std::exception& e) {
        fail(path, e.what());
      }
      ds.write(path, cs, b0);
      if (progress) progress(b0 + cs.count, count);
    }
    write_channel_attrs(f, sc.dims, snr_db, &sc, seed, first);
  }
  f.commit();
}

namespace {
unfolded_model read_model_from(const hid& f, const std::string& path) {
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
  const long repeat = has_attr(f, "layer_repeat") ? read_attr_i(f, path, "layer_repeat") : 1;  // 0: by the users
  if (repeat < 0 || repeat > 1000000)
    fail(path, "layer_repeat = " + std::to_string(repeat) + ": must be 0 (by the users) or 1 .. 10^6");
  m.layer_repeat = int(repeat);
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
unfolded_model read_model_file(const std::string& path) { return read_model_from(open_file(path), path); }
}  // namespace

unfolded_model read_model(const std::string& path) {
  const auto lock = hdf5_lock();  // HDF5 is not thread-safe
  vet_in_child(path, [&] { read_model_file(path); });
  return read_model_file(path);
}

unfolded_model read_model_image(const void* bytes, std::size_t size, const std::string& name) {
  const auto lock = hdf5_lock();  // HDF5 is not thread-safe
  // The core driver over a file image: HDF5 reads the bytes as the file, no disk involved.
  hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (fapl < 0 || H5Pset_fapl_core(fapl, 1 << 16, 0) < 0 || H5Pset_file_image(fapl, const_cast<void*>(bytes), size) < 0)
    fail(name, "cannot set up an HDF5 file image");
  // A name no file has: HDF5 looks at a file of the given name where one exists (as
  // H5LTopen_file_image, which names its images "file_img<n>").
  char image_name[64];
  std::snprintf(image_name, sizeof image_name, "jcas_file_image_%p", bytes);
  hid f(H5Fopen(image_name, H5F_ACC_RDONLY, fapl), H5Fclose);
  if (f < 0) fail(name, "cannot open the HDF5 file image");
  return read_model_from(f, name);
}

void write_model_to(hid_t f, const std::string& path, const unfolded_model& model) {
  unfolded_model m = model;
  m.finalize();
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
  attr_i(f, "layer_repeat", m.layer_repeat);
  if (m.per_layer_mu) {
    write_dataset(f, path, "mu_c_layer", H5T_NATIVE_DOUBLE, {hsize_t(m.l_out)}, m.mu_c_layer.data());
    write_dataset(f, path, "mu_s_layer", H5T_NATIVE_DOUBLE, {hsize_t(m.l_out)}, m.mu_s_layer.data());
  }
}

void write_model(const std::string& path, const unfolded_model& model) {
  const auto lock = hdf5_lock();  // HDF5 is not thread-safe
  h5::output f(path);
  write_model_to(f, path, model);
  f.commit();
}

namespace {
/// Sets integer or double attribute `name` of obj, made or overwritten in place.
template <class V>
void put_attr(hid_t obj, const char* name, hid_t type, const V& v) {
  if (!has_attr(obj, name)) return attr(obj, name, type, v);
  hid a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  errno = 0;
  if (a < 0 || H5Awrite(a, type, &v) < 0)
    fail_write(file_of(obj), std::string("cannot write attribute '") + name + "'", errno);
}
}  // namespace

struct results_file::impl {
  std::string path, part;  // the file, and where it is written until commit
  bool resumable;          // a run was given: a part that holds results outlives an error
  long count;
  solve_options o;
  std::map<std::string, std::string> attrs;
  hid f{-1, nullptr};
  int slot = -1;  // in the signal handler's table while the part holds nothing to resume
  long done = 0;  // realizations in the part, first .. done - 1
  double seconds = 0;
  // Made by the first write, from its outputs' sizes (or found in a resumed part).
  solve_output first{};  // algo, dims, curve_len (no arrays)
  bool made = false;
  hid ct = complex_type();
  hid w{-1, nullptr}, fm{-1, nullptr}, curve{-1, nullptr}, objective{-1, nullptr}, min_sinr{-1, nullptr},
      min_scnr{-1, nullptr}, outer{-1, nullptr}, inner{-1, nullptr};
  std::vector<zd> rows;  // W or F in the file's order, kept for the next range

  impl(const std::string& p, long n, const solve_options& opt, const std::map<std::string, std::string>& at,
       const std::string& run, bool resume)
      : path(p), part(p + ".part"), resumable(!run.empty()), count(n), o(opt), attrs(at) {
    o.progress = {};  // kept for the attributes only
    o.stop = {};
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
      throw std::runtime_error(path + ": is a folder; an output needs a file name");
    if (std::filesystem::exists(part, ec)) {
      if (!resume)
        throw std::runtime_error(part +
                                 ": holds an interrupted solve's results: --resume continues it (the same "
                                 "settings and data), or remove it to start again");
      if (open_part(run)) return;
      f = hid(-1, nullptr);
      std::remove(part.c_str());
    }
    try {
      f = create_file(part, path);
      attr_s(f, "format", "jcas-results-part-1");
      attr_s(f, "run", run);
      put_attr(f, "done", H5T_NATIVE_LONG, done);
      put_attr(f, "seconds", H5T_NATIVE_DOUBLE, seconds);
      errno = 0;
      if (H5Fflush(f, H5F_SCOPE_LOCAL) < 0) fail_write(path, "cannot write the results file", errno);
    } catch (...) {  // the destructor does not run for a constructor that throws
      f = hid(-1, nullptr);
      std::remove(part.c_str());
      throw;
    }
    slot = register_tmp(part.c_str());  // nothing to resume yet: a signal removes it
  }
  ~impl() {
    const bool keep = resumable && done > 0 && !part.empty();  // an interrupted run's results, for --resume
    for (hid* h : {&w, &fm, &curve, &objective, &min_sinr, &min_scnr, &outer, &inner}) *h = hid(-1, nullptr);
    f = hid(-1, nullptr);
    if (!keep && !part.empty()) std::remove(part.c_str());
    release_tmp(slot);
  }
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  /// An interrupted run's part, opened to be continued where its run is this one; false
  /// where it holds no results.
  bool open_part(const std::string& run) {
    hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    if (H5Fis_hdf5(part.c_str()) <= 0 || (f = hid(H5Fopen(part.c_str(), H5F_ACC_RDWR, fapl), H5Fclose)) < 0 ||
        read_attr_s(f, "format") != "jcas-results-part-1") {
      part.clear();  // not ours to remove
      throw std::runtime_error(path +
                               ".part: cannot be resumed (damaged, or not a jcas solve's part); remove it "
                               "to start again");
    }
    done = read_attr_i(f, part, "done");
    if (done == 0) return false;  // nothing to continue (its first write was cut short): begin again
    const std::string then = read_attr_s(f, "run");
    if (then != run) {
      const std::string was = part;
      part.clear();  // kept for a resume with its own settings
      throw std::invalid_argument("resume: " + first_difference(run, then) + " (" + was + ")");
    }
    seconds = read_attr_d(f, part, "seconds");
    if (done < 0 || done > count) fail(part, "done = " + std::to_string(done) + ": damaged");
    const auto open = [&](const char* name) {
      hid ds(H5Dopen2(f, name, H5P_DEFAULT), H5Dclose);
      if (ds < 0) fail(part, std::string("cannot open dataset '") + name + "' (damaged)");
      return ds;
    };
    w = open("W");
    fm = open("F");
    curve = open("curve");
    objective = open("objective");
    min_sinr = open("min_sinr");
    min_scnr = open("min_scnr");
    outer = open("outer");
    inner = open("inner");
    const auto wd = dataset_dims(f, part, "W", 3), fd = dataset_dims(f, part, "F", 3),
               cd = dataset_dims(f, part, "curve", 2);
    if (long(wd[0]) != count)
      fail(part, "holds " + std::to_string(wd[0]) + " realizations, this solve " + std::to_string(count));
    first.algo = parse_algorithm(read_attr_s(f, "algo"));
    first.dims = {int(wd[1]), int(fd[1]), int(wd[2]), int(fd[2]), 0};
    first.curve_len = int(cd[1]);
    made = true;
    return true;
  }
  /// "FIELD = NOW, but it was begun with FIELD = THEN" at the first line of two runs'
  /// "field = value" lines that differs.
  static std::string first_difference(const std::string& now, const std::string& then) {
    const auto lines = [](const std::string& t) {
      std::vector<std::string> v;
      size_t at = 0;
      while (at < t.size()) {
        const size_t end = std::min(t.find('\n', at), t.size());
        v.push_back(t.substr(at, end - at));
        at = end + 1;
      }
      return v;
    };
    const auto a = lines(now), b = lines(then);
    for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
      const std::string x = i < a.size() ? a[i] : "(none)", y = i < b.size() ? b[i] : "(none)";
      if (x != y) return x + ", but it was begun with " + y;
    }
    return "the runs differ";
  }
  /// The datasets for `count` realizations of part's sizes (create_rows).
  void make(const solve_output& p) {
    first.algo = p.algo;
    first.dims = p.dims;
    first.curve_len = p.curve_len;
    attr_s(f, "algo", to_string(p.algo));
    const problem_dims& d = p.dims;
    const hsize_t b = hsize_t(count);
    w = create_rows(f, path, "W", ct, {b, hsize_t(d.nt), hsize_t(d.k)});
    fm = create_rows(f, path, "F", ct, {b, hsize_t(d.nr), hsize_t(d.m)});
    curve = create_rows(f, path, "curve", H5T_NATIVE_DOUBLE, {b, hsize_t(p.curve_len)});
    objective = create_rows(f, path, "objective", H5T_NATIVE_DOUBLE, {b});
    min_sinr = create_rows(f, path, "min_sinr", H5T_NATIVE_DOUBLE, {b});
    min_scnr = create_rows(f, path, "min_scnr", H5T_NATIVE_DOUBLE, {b});
    outer = create_rows(f, path, "outer", H5T_NATIVE_INT, {b});
    inner = create_rows(f, path, "inner", H5T_NATIVE_LONG, {b});
    made = true;
  }
};

results_file::results_file(const std::string& path, long count, const solve_options& o,
                           const std::map<std::string, std::string>& attrs, const std::string& run, bool resume) {
  const auto lock = hdf5_lock();  // HDF5 is not thread-safe
  p_ = std::make_unique<impl>(path, count, o, attrs, run, resume);
}
results_file::~results_file() {
  const auto lock = hdf5_lock();  // closing HDF5 objects
  p_.reset();
}
long results_file::done() const { return p_->done; }

summary_sums results_file::sums_done() const {
  const impl& r = *p_;
  summary_sums s;
  s.seconds = r.seconds;
  if (r.done == 0) return s;
  const auto lock = hdf5_lock();  // HDF5 is not thread-safe
  constexpr long block = 65536;
  solve_output part;
  for (long b0 = 0; b0 < r.done; b0 += block) {
    const long n = std::min(block, r.done - b0);
    part.count = n;
    part.objective.resize(size_t(n));
    part.min_sinr.resize(size_t(n));
    part.min_scnr.resize(size_t(n));
    part.outer.resize(size_t(n));
    read_rows(r.objective, r.part, "objective", H5T_NATIVE_DOUBLE, b0, n, part.objective.data());
    read_rows(r.min_sinr, r.part, "min_sinr", H5T_NATIVE_DOUBLE, b0, n, part.min_sinr.data());
    read_rows(r.min_scnr, r.part, "min_scnr", H5T_NATIVE_DOUBLE, b0, n, part.min_scnr.data());
    read_rows(r.outer, r.part, "outer", H5T_NATIVE_INT, b0, n, part.outer.data());
    s.add(part);  // seconds: part.seconds = 0, the total kept above
  }
  return s;
}

void results_file::write(long first, const solve_output& part, int threads) {
  impl& r = *p_;
  const long n = part.count;
  const problem_dims& d = part.dims;
  const auto lock = hdf5_lock();  // HDF5 is not thread-safe
  if (!r.made) r.make(part);
  const problem_dims& fd = r.first.dims;
  if (first != r.done || first + n > r.count || part.algo != r.first.algo || d.nt != fd.nt || d.k != fd.k ||
      d.nr != fd.nr || d.m != fd.m || part.curve_len != r.first.curve_len)
    throw std::invalid_argument(r.path + ": results of realizations " + std::to_string(first) + " .. " +
                                std::to_string(first + n - 1) + " are not the next " + std::to_string(n) + " of its " +
                                std::to_string(r.count) + " (" + std::to_string(r.done) +
                                " written), or not of the first write's sizes");
  r.rows.resize(size_t(n) * std::max(d.nt * d.k, d.nr * d.m));
  to_row_major(part.w.data(), n, d.nt, d.k, r.rows.data(), threads);
  write_rows(r.w, r.path, "W", r.ct, first, n, r.rows.data());
  to_row_major(part.f.data(), n, d.nr, d.m, r.rows.data(), threads);
  write_rows(r.fm, r.path, "F", r.ct, first, n, r.rows.data());
  write_rows(r.curve, r.path, "curve", H5T_NATIVE_DOUBLE, first, n, part.curve.data());
  write_rows(r.objective, r.path, "objective", H5T_NATIVE_DOUBLE, first, n, part.objective.data());
  write_rows(r.min_sinr, r.path, "min_sinr", H5T_NATIVE_DOUBLE, first, n, part.min_sinr.data());
  write_rows(r.min_scnr, r.path, "min_scnr", H5T_NATIVE_DOUBLE, first, n, part.min_scnr.data());
  write_rows(r.outer, r.path, "outer", H5T_NATIVE_INT, first, n, part.outer.data());
  write_rows(r.inner, r.path, "inner", H5T_NATIVE_LONG, first, n, part.inner.data());
  // Then the count that a resume trusts, and all of it to the file: counted as done only
  // once there.
  const long done = r.done + n;
  const double seconds = r.seconds + part.seconds;
  put_attr(r.f, "done", H5T_NATIVE_LONG, done);
  put_attr(r.f, "seconds", H5T_NATIVE_DOUBLE, seconds);
  errno = 0;
  if (H5Fflush(r.f, H5F_SCOPE_LOCAL) < 0) fail_write(r.path, "cannot write the results file", errno);
  r.done = done;
  r.seconds = seconds;
  if (r.resumable && r.slot >= 0) {  // now it holds results to resume from: a signal leaves it
    release_tmp(r.slot);
    r.slot = -1;
  }
}

void results_file::commit(const summary& s) {
  impl& r = *p_;
  const auto lock = hdf5_lock();  // HDF5 is not thread-safe
  if (r.done != r.count)
    throw std::logic_error(r.path + ": committed with " + std::to_string(r.done) + " of " + std::to_string(r.count) +
                           " realizations written");
  H5Adelete(r.f, "format");  // the part's
  attr_s(r.f, "format", "jcas-results-1");
  attr_d(r.f, "pt", r.o.sys.pt);
  attr_d(r.f, "delta", r.o.sys.delta);
  if (r.first.algo == algorithm::unfolded) attr_s(r.f, "model", r.o.model.provenance);
  attr_d(r.f, "mean_objective", s.mean_objective);
  attr_d(r.f, "min_sinr_db", s.min_sinr_db);
  attr_d(r.f, "min_scnr_db", s.min_scnr_db);
  attr_d(r.f, "seconds_per_realization", s.seconds_per_realization);
  for (const auto& [k, v] : r.attrs) attr_s(r.f, k.c_str(), v);
  H5Adelete(r.f, "done");
  H5Adelete(r.f, "seconds");
  H5Adelete(r.f, "run");
  // The datasets closed before the file, whose close then says whether all reached it.
  for (hid* h : {&r.w, &r.fm, &r.curve, &r.objective, &r.min_sinr, &r.min_scnr, &r.outer, &r.inner})
    *h = hid(-1, nullptr);
  errno = 0;
  const herr_t closed = H5Fclose(r.f.release());
  if (closed < 0) fail_write(r.path, "cannot finish writing the file", errno);
  if (std::rename(r.part.c_str(), r.path.c_str()) != 0)
    fail_write(r.path, "cannot put the finished file in place", errno);
  r.part.clear();  // committed: nothing to remove or keep
}

void write_results(const std::string& path, const solve_output& out, const solve_options& o,
                   const std::map<std::string, std::string>& attrs) {
  results_file r(path, out.count, o, attrs);
  r.write(0, out);
  r.commit(summarize(out));
}

}  // namespace jcas::io
