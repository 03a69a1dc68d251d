// Files: HDF5 round trips, .npz import from archives written here with libzip,
// and clear errors for missing, corrupt or inconsistent files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>

#include "io.hpp"
#include "jcas/api.hpp"
#include "shipped_models.hpp"
#include "solve_file.hpp"

namespace jcas::test {
namespace {

namespace fs = std::filesystem;

struct tmpdir {
  fs::path p;
  tmpdir() {
    p = fs::temp_directory_path() / ("jcas_test_" + std::to_string(::getpid()) + "_" +
                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(p);
  }
  ~tmpdir() { fs::remove_all(p); }
  std::string operator/(const std::string& n) const { return (p / n).string(); }
  bool only(const std::string& n) const {  // nothing but n in the folder (no temp files)
    for (const auto& e : fs::directory_iterator(p))
      if (e.path().filename() != n) return false;
    return true;
  }
};

template <class Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Hdf5, ChannelRoundTripKeepsEveryBitAndShape) {
  tmpdir t;
  scenario sc;
  sc.dims = {6, 5, 3, 2, 1};
  const channel_set a = cpu::generate_batch(sc, 4, 10, 7);
  io::write_channels(t / "c.h5", a, &sc, 4, 10);
  EXPECT_TRUE(t.only("c.h5"));
  const channel_set b = io::read_channels(t / "c.h5");
  EXPECT_EQ(b.dims.nt, 6);
  EXPECT_EQ(b.dims.nr, 5);
  EXPECT_EQ(b.dims.k, 3);
  EXPECT_EQ(b.dims.m, 2);
  EXPECT_EQ(b.dims.c, 1);
  EXPECT_EQ(a.h, b.h);
  EXPECT_EQ(a.g, b.g);
  // Selection: first 2 users, 3 realizations, all three blocks as targets.
  const channel_set c = io::read_channels(t / "c.h5", {2, 3, -1, 3});
  EXPECT_EQ(c.count, 3);
  EXPECT_EQ(c.dims.k, 2);
  EXPECT_EQ(c.dims.m, 3);
  EXPECT_EQ(c.dims.c, 0);
  for (long i = 0; i < c.h_stride(); ++i) EXPECT_EQ(c.h[i], a.h[i]);
}

// G as rank-one factors (io::g_form::rank_one): the file holds Gu and Gv instead of G, a
// fraction of the bytes; reading gives the factors (channel_set::rank_one), whose product is
// G within rounding; a G that is not rank one is refused naming it, and no file is left.
TEST(Hdf5, RankOneFormRoundTripsWithinRounding) {
  tmpdir t;
  scenario sc;
  sc.dims = {6, 5, 3, 2, 1};
  const channel_set a = cpu::generate_batch(sc, 4, 10, 7);
  io::write_channels(t / "r.h5", a, &sc, 4, 10, io::g_form::rank_one);
  io::write_channels(t / "d.h5", a, &sc, 4, 10);
  EXPECT_LT(double(fs::file_size(t / "r.h5")), 0.7 * double(fs::file_size(t / "d.h5")));
  EXPECT_NEAR(
      io::channel_file_bytes(sc.dims, 7, io::g_form::rank_one) / io::channel_file_bytes(sc.dims, 7, io::g_form::dense),
      (18.0 + 3 * 11) / (18.0 + 3 * 30), 1e-15);
  const channel_set r = io::read_channels(t / "r.h5");
  EXPECT_TRUE(r.rank_one);
  EXPECT_EQ(r.count, 7);
  EXPECT_EQ(r.dims.nr, 5);
  EXPECT_EQ(r.dims.m, 2);
  EXPECT_EQ(r.dims.c, 1);
  EXPECT_EQ(a.h, r.h);
  const channel_set b = dense_form(r);
  ASSERT_EQ(a.g.size(), b.g.size());
  double scale = 0, err = 0;
  for (size_t i = 0; i < a.g.size(); ++i) {
    scale = std::max(scale, std::abs(a.g[i]));
    err = std::max(err, std::abs(a.g[i] - b.g[i]));
  }
  EXPECT_LE(err, 4e-15 * scale);  // a few units in the last place
  EXPECT_GT(scale, 0);
  // The selection applies as to a dense file.
  const channel_set c = io::read_channels(t / "r.h5", {2, 3, -1, 3});
  EXPECT_EQ(c.dims.k, 2);
  EXPECT_EQ(c.dims.m, 3);
  EXPECT_EQ(c.dims.c, 0);
  EXPECT_EQ(c.count, 3);
  EXPECT_EQ(c.gu, std::vector<zd>(r.gu.begin(), r.gu.begin() + 3 * 3 * 5));
  EXPECT_EQ(c.gv, std::vector<zd>(r.gv.begin(), r.gv.begin() + 3 * 3 * 6));
  EXPECT_EQ(error_of([&] {
              io::read_channels(t / "r.h5", {-1, -1, 4, -1});
            }),
            t / "r.h5" + ": nr = 4: the file's G factors have Nr = 5");
  // Not rank one: realization 1's second block gets a second term.
  channel_set dense = a;
  dense.g[size_t(dense.g_stride() + 30 + 1)] += zd(1, 0);
  EXPECT_EQ(error_of([&] { io::write_channels(t / "x.h5", dense, nullptr, 0, 0, io::g_form::rank_one); }),
            t / "x.h5" + ": realization 1: G block 1 is not rank one (to 1e-10): write G dense");
  EXPECT_FALSE(fs::exists(t / "x.h5"));
}

// A set that holds G as its factors (channel_set::rank_one) is written as they are to a
// rank-one file, which reads back the same bits, and multiplied out to a dense one.
TEST(Hdf5, RankOneSetsAreWrittenAsTheirFactors) {
  tmpdir t;
  scenario sc;
  sc.dims = {6, 5, 3, 2, 1};
  const channel_set a = cpu::generate_batch(sc, 4, 10, 7, 0, true);
  io::write_channels(t / "r.h5", a, &sc, 4, 10, io::g_form::rank_one);
  io::write_channels(t / "d.h5", a, &sc, 4, 10);
  const channel_set r = io::read_channels(t / "r.h5"), d = io::read_channels(t / "d.h5");
  EXPECT_TRUE(r.rank_one);
  EXPECT_EQ(r.h, a.h);
  EXPECT_EQ(r.gu, a.gu);
  EXPECT_EQ(r.gv, a.gv);
  EXPECT_FALSE(d.rank_one);
  EXPECT_EQ(d.h, a.h);
  EXPECT_EQ(d.g, dense_form(a).g);  // written multiplied out
}

// jcas generate's record of a draw (what train --fresh draws more of): read back whole;
// absent from a file written without one.
TEST(Hdf5, GenerationRecordRoundTrips) {
  tmpdir t;
  scenario sc = scenario::paper_text();
  sc.dims = {6, 5, 3, 2, 1};
  sc.sens_dist_std = 3.5;
  const channel_set a = cpu::generate_batch(sc, 9, 10, 7);
  io::write_channels(t / "c.h5", a, &sc, 9, 10);
  io::write_channels(t / "bare.h5", a);
  const std::optional<io::drawn_from> r = io::read_drawn_from(t / "c.h5");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->seed, 9u);
  EXPECT_EQ(r->first, 10);
  EXPECT_EQ(r->count, 7);
  EXPECT_EQ(r->sc.dims.nr, 5);
  EXPECT_EQ(r->sc.dims.c, 1);
  EXPECT_EQ(r->sc.sens_dist_std, 3.5);
  EXPECT_EQ(r->sc.zeta0_db, sc.zeta0_db);
  EXPECT_EQ(r->sc.clutter_reuses_target_pathloss, false);
  // The record draws the file's realizations again, bit for bit.
  const channel_set b = cpu::generate_batch(r->sc, r->seed, r->first, r->count);
  EXPECT_EQ(a.h, b.h);
  EXPECT_EQ(a.g, b.g);
  EXPECT_FALSE(io::read_drawn_from(t / "bare.h5").has_value());
}

TEST(Hdf5, ModelAndResultsRoundTrip) {
  tmpdir t;
  unfolded_model m;
  m.l_out = 4;
  m.l_in = 2;
  m.i_w = 3;
  m.frozen = true;
  m.mu_c = 7;
  m.mu_s = 9;
  m.beta = {1, 2, 3, 4, 5, 6, 7, 8};
  m.provenance = "test";
  io::write_model(t / "m.h5", m);
  const unfolded_model r = io::read_model(t / "m.h5");
  EXPECT_EQ(r.beta, m.beta);
  EXPECT_EQ(r.l_out, 4);
  EXPECT_EQ(r.i_w, 3);
  EXPECT_TRUE(r.frozen);
  EXPECT_EQ(r.mu_s, 9);
  EXPECT_EQ(r.provenance, "test");

  const channel_set cs = cpu::generate_batch(scenario{}, 1, 0, 3);
  solve_options o;
  o.model.l_out = 3;
  const solve_output out = cpu::solve_batch(cs, o);
  io::write_results(t / "r.h5", out, o);
  EXPECT_TRUE(fs::file_size(t / "r.h5") > 1000);
  // A model file is not a channel file, and the error says which dataset is missing.
  EXPECT_NE(error_of([&] { io::read_channels(t / "m.h5"); }).find("missing dataset 'H'"), std::string::npos);
  EXPECT_NE(error_of([&] { io::read_model(t / "r.h5"); }).find("not a jcas model file"), std::string::npos);
}

TEST(Hdf5, MissingAndCorruptFiles) {
  tmpdir t;
  EXPECT_NE(error_of([&] { io::read_channels(t / "nope.h5"); }).find("file not found"), std::string::npos);
  std::ofstream(t / "bad.h5") << "garbage";
  EXPECT_NE(error_of([&] { io::read_channels(t / "bad.h5"); }).find("not an HDF5 file"), std::string::npos);
  // Truncated real file.
  const channel_set cs = cpu::generate_batch(scenario{}, 1, 0, 50);
  io::write_channels(t / "ok.h5", cs);
  fs::resize_file(t / "ok.h5", fs::file_size(t / "ok.h5") / 2);
  EXPECT_NE(error_of([&] { io::read_channels(t / "ok.h5"); }), "(no error)");
}

TEST(Hdf5, FailedWriteLeavesNoFile) {
  tmpdir t;
  const channel_set cs = cpu::generate_batch(scenario{}, 1, 0, 2);
  EXPECT_THROW(io::write_channels(t / "no_such_dir/x.h5", cs), std::runtime_error);
  EXPECT_TRUE(fs::is_empty(t.p));
}

// A signal during a write removes the temporary and kills the process as the default
// action would; the final file never appears, and a committed one stays.
TEST(Hdf5, SignalDuringWriteLeavesNoTemporary) {
  tmpdir t;
  const std::string done = t / "done.h5", busy = t / "busy.h5";
  {
    io::atomic_path ap(done);
    std::ofstream(ap.tmp()) << "finished";
    ap.commit();
  }
  io::atomic_path ap(busy);  // made before fork: the child only calls async-signal-safe functions
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    io::remove_temporaries_on_signal();
    const int fd = ::open(ap.tmp().c_str(), O_CREAT | O_WRONLY, 0644);
    if (fd < 0 || ::write(fd, "half", 4) != 4) ::_exit(3);
    ::raise(SIGTERM);
    ::_exit(4);  // not reached: the handler re-raises with the default action
  }
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(st)) << "child exit status " << (WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  EXPECT_EQ(WTERMSIG(st), SIGTERM);
  EXPECT_FALSE(fs::exists(ap.tmp()));
  EXPECT_FALSE(fs::exists(busy));
  EXPECT_TRUE(fs::exists(done));
}

// --- .npz ----------------------------------------------------------------------------

std::string npy(const std::string& descr, const std::vector<long>& shape, const void* data, size_t bytes,
                bool fortran = false) {
  std::string sh = "(";
  for (long s : shape) sh += std::to_string(s) + ", ";
  sh += ")";
  std::string header =
      "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + sh + ", }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += char(1);
  out += char(0);
  out += char(header.size() & 0xff);
  out += char(header.size() >> 8);
  out += header;
  out.append(static_cast<const char*>(data), bytes);
  return out;
}

void write_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& members) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr);
  std::vector<std::string> keep;
  keep.reserve(members.size());
  for (const auto& [name, bytes] : members) {
    keep.push_back(bytes);
    zip_source_t* s = zip_source_buffer(z, keep.back().data(), keep.back().size(), 0);
    ASSERT_GE(zip_file_add(z, name.c_str(), s, ZIP_FL_OVERWRITE), 0);
  }
  ASSERT_EQ(zip_close(z), 0);
}

/// The reference's layout from a channel_set: Hall (B, Nt, Kmax), Gall (B, J*Nr, Nt), C order.
std::pair<std::vector<zd>, std::vector<zd>> reference_layout(const channel_set& cs) {
  const problem_dims& d = cs.dims;
  std::vector<zd> hall(cs.h.size()), gall(cs.g.size());
  for (long b = 0; b < cs.count; ++b) {
    for (int n = 0; n < d.nt; ++n)
      for (int k = 0; k < d.k; ++k) hall[(b * d.nt + n) * d.k + k] = cs.h[b * cs.h_stride() + k * d.nt + n];
    for (int j = 0; j < d.j(); ++j)
      for (int r = 0; r < d.nr; ++r)
        for (int c = 0; c < d.nt; ++c)
          gall[(b * d.j() * d.nr + j * d.nr + r) * d.nt + c] = cs.g[b * cs.g_stride() + (j * d.nt + c) * d.nr + r];
  }
  return {hall, gall};
}

TEST(Npz, ImportMatchesTheGeneratedChannels) {
  tmpdir t;
  scenario sc;
  sc.dims = {8, 8, 6, 2, 2};  // Kmax = 6 in the file
  const channel_set cs = cpu::generate_batch(sc, 3, 0, 5);
  auto [hall, gall] = reference_layout(cs);
  write_zip(t / "d.npz", {{"Hall.npy", npy("<c16", {5, 8, 6}, hall.data(), hall.size() * 16)},
                          {"Gall.npy", npy("<c16", {5, 32, 8}, gall.data(), gall.size() * 16)}});
  const channel_set all = io::read_channels(t / "d.npz");
  EXPECT_EQ(all.h, cs.h);
  EXPECT_EQ(all.g, cs.g);
  EXPECT_EQ(all.dims.m, 2);
  EXPECT_EQ(all.dims.c, 2);
  // --users 4 --targets 1 --limit 3
  const channel_set sel = io::read_channels(t / "d.npz", {4, 1, -1, 3});
  EXPECT_EQ(sel.count, 3);
  EXPECT_EQ(sel.dims.k, 4);
  EXPECT_EQ(sel.dims.m, 1);
  EXPECT_EQ(sel.dims.c, 3);
  for (long b = 0; b < 3; ++b)
    for (long i = 0; i < sel.h_stride(); ++i) EXPECT_EQ(sel.h[b * sel.h_stride() + i], cs.h[b * cs.h_stride() + i]);
  EXPECT_EQ(std::vector<zd>(cs.g.begin(), cs.g.begin() + 3 * cs.g_stride()), sel.g);
}

TEST(Npz, BadFilesGiveOneClearError) {
  tmpdir t;
  std::vector<zd> h(2 * 4 * 2, zd(1, 0)), g(2 * 12 * 4, zd(0, 1));
  const auto H = npy("<c16", {2, 4, 2}, h.data(), h.size() * 16);
  const auto G = npy("<c16", {2, 12, 4}, g.data(), g.size() * 16);
  write_zip(t / "ok.npz", {{"Hall.npy", H}, {"Gall.npy", G}});
  // 12 rows: nr 4 gives J = 3; nr 5 does not divide.
  EXPECT_NO_THROW(io::read_channels(t / "ok.npz", {-1, 2, 4, -1}));
  EXPECT_NE(error_of([&] {
              io::read_channels(t / "ok.npz", {-1, 2, 5, -1});
            }).find("not a multiple of nr = 5"),
            std::string::npos);
  EXPECT_NE(error_of([&] { io::read_channels(t / "ok.npz", {3, 2, 4, -1}); }).find("users = 3"), std::string::npos);
  EXPECT_NE(error_of([&] { io::read_channels(t / "ok.npz", {-1, 4, 4, -1}); }).find("targets = 4"), std::string::npos);
  write_zip(t / "noG.npz", {{"Hall.npy", H}});
  EXPECT_NE(error_of([&] { io::read_channels(t / "noG.npz"); }).find("missing array 'Gall.npy'"), std::string::npos);
  std::vector<double> real(16);
  write_zip(t / "real.npz", {{"Hall.npy", npy("<f8", {2, 4, 2}, real.data(), 128)}, {"Gall.npy", G}});
  EXPECT_NE(error_of([&] { io::read_channels(t / "real.npz"); }).find("dtype = '<f8'"), std::string::npos);
  write_zip(t / "short.npz", {{"Hall.npy", H.substr(0, H.size() - 16)}, {"Gall.npy", G}});
  EXPECT_NE(error_of([&] { io::read_channels(t / "short.npz"); }).find("corrupt"), std::string::npos);
  h[3] = zd(std::numeric_limits<double>::infinity(), 0);
  write_zip(t / "inf.npz", {{"Hall.npy", npy("<c16", {2, 4, 2}, h.data(), h.size() * 16)}, {"Gall.npy", G}});
  EXPECT_NE(error_of([&] {
              io::read_channels(t / "inf.npz", {-1, 2, 4, -1});
            }).find("must be finite"),
            std::string::npos);
  std::ofstream(t / "junk.npz") << "not a zip";
  EXPECT_NE(error_of([&] { io::read_channels(t / "junk.npz"); }).find("not a readable .npz"), std::string::npos);
}

// --- files by range (io::channel_file, io::results_file, host::solve_file) -------------

/// Every value of dataset `name` of an HDF5 file as doubles (a complex entry as two).
std::vector<double> dataset_doubles(const std::string& path, const char* name) {
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
  const hid_t ft = H5Dget_type(ds), sp = H5Dget_space(ds);
  const bool complex = H5Tget_class(ft) == H5T_COMPOUND;
  hid_t mt = H5T_NATIVE_DOUBLE;
  if (complex) {
    mt = H5Tcreate(H5T_COMPOUND, 16);
    H5Tinsert(mt, "r", 0, H5T_NATIVE_DOUBLE);
    H5Tinsert(mt, "i", 8, H5T_NATIVE_DOUBLE);
  }
  std::vector<double> v(size_t(H5Sget_simple_extent_npoints(sp)) * (complex ? 2 : 1));
  const herr_t rc = H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  if (complex) H5Tclose(mt);
  H5Sclose(sp);
  H5Tclose(ft);
  H5Dclose(ds);
  H5Fclose(f);
  if (f < 0 || ds < 0 || rc < 0) ADD_FAILURE() << path << ": cannot read " << name;
  return v;
}
/// Two results files hold the same values in every dataset, to the bit.
void expect_same_results(const std::string& a, const std::string& b) {
  for (const char* name : {"W", "F", "curve", "objective", "min_sinr", "min_scnr", "outer", "inner"})
    EXPECT_EQ(dataset_doubles(a, name), dataset_doubles(b, name)) << name;
}

// A range of a channel file is the same slice of the whole file's read, to the bit: both
// forms of G in .h5, a .npz, with a selection of users, targets and realizations, in
// ranges of every size from 1 to 4 read into one reused set.
TEST(ChannelFile, RangesAreSlicesOfTheWholeRead) {
  tmpdir t;
  scenario sc;
  sc.dims = {6, 5, 3, 2, 1};
  const channel_set drawn = cpu::generate_batch(sc, 8, 0, 11, 1, true);
  io::write_channels(t / "dense.h5", drawn, &sc, 8, 0, io::g_form::dense);
  io::write_channels(t / "factors.h5", drawn, &sc, 8, 0, io::g_form::rank_one);
  const channel_set dense = dense_form(drawn);
  auto [hall, gall] = reference_layout(dense);
  write_zip(t / "d.npz", {{"Hall.npy", npy("<c16", {11, 6, 3}, hall.data(), hall.size() * 16)},
                          {"Gall.npy", npy("<c16", {11, 15, 6}, gall.data(), gall.size() * 16)}});
  const io::channel_select sel{2, 1, 5, 9};  // users 2, targets 1, nr 5, the first 9
  for (const char* name : {"dense.h5", "factors.h5", "d.npz"}) {
    SCOPED_TRACE(name);
    const channel_set whole = io::read_channels(t / name, sel);
    io::channel_file f(t / name, sel);
    ASSERT_EQ(f.count(), 9);
    EXPECT_EQ(f.dims().k, 2);
    EXPECT_EQ(f.dims().m, 1);
    EXPECT_EQ(f.dims().c, 2);
    EXPECT_EQ(f.rank_one(), std::string(name) == "factors.h5");
    EXPECT_EQ(whole.rank_one, f.rank_one());
    channel_set part;
    for (long n = 1; n <= 4; ++n)
      for (long first = 0; first < f.count(); first += n) {
        const long m = std::min(n, f.count() - first);
        f.read(first, m, part);
        const channel_set want = copy_of(channel_view(whole).slice(first, m));
        EXPECT_EQ(part.count, m);
        EXPECT_EQ(part.h, want.h) << first << " + " << m;
        EXPECT_EQ(part.g, want.g) << first << " + " << m;
        EXPECT_EQ(part.gu, want.gu) << first << " + " << m;
        EXPECT_EQ(part.gv, want.gv) << first << " + " << m;
      }
    EXPECT_THROW(f.read(8, 2, part), std::invalid_argument);
    EXPECT_THROW(f.read(-1, 1, part), std::invalid_argument);
  }
}

// A file whose complex numbers are stored in another type (single precision, as h5py
// writes complex64) is read by HDF5's conversion, range by range, not straight from the
// file: the same values.
TEST(ChannelFile, AnotherStoredTypeIsConvertedByRange) {
  tmpdir t;
  scenario sc;
  sc.dims = {4, 3, 2, 1, 1};
  const channel_set drawn = dense_form(cpu::generate_batch(sc, 6, 0, 5, 1, true));
  auto [hall, gall] = reference_layout(drawn);
  const hid_t f = H5Fcreate((t / "c64.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t c64 = H5Tcreate(H5T_COMPOUND, 8), c128 = H5Tcreate(H5T_COMPOUND, 16);
  H5Tinsert(c64, "r", 0, H5T_IEEE_F32LE);
  H5Tinsert(c64, "i", 4, H5T_IEEE_F32LE);
  H5Tinsert(c128, "r", 0, H5T_NATIVE_DOUBLE);
  H5Tinsert(c128, "i", 8, H5T_NATIVE_DOUBLE);
  const auto put = [&](const char* name, std::vector<hsize_t> dims, const std::vector<zd>& v) {
    const hid_t sp = H5Screate_simple(3, dims.data(), nullptr);
    const hid_t ds = H5Dcreate2(f, name, c64, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(H5Dwrite(ds, c128, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0);
    H5Dclose(ds);
    H5Sclose(sp);
  };
  put("H", {5, 4, 2}, hall);
  put("G", {5, 6, 4}, gall);
  H5Tclose(c64);
  H5Tclose(c128);
  H5Fclose(f);
  io::channel_file in(t / "c64.h5", {-1, 1, 3, -1});
  channel_set part;
  for (long first = 0; first < 5; first += 2) {
    const long n = std::min(2L, 5 - first);
    in.read(first, n, part);
    // Single precision's rounding (HDF5's own conversion), at the right place.
    for (long i = 0; i < n * part.h_stride(); ++i) {
      const zd want = drawn.h[size_t(first * part.h_stride() + i)];
      EXPECT_LE(std::abs(part.h[size_t(i)] - want), 1.2e-7 * std::abs(want)) << i;
    }
    for (long i = 0; i < n * part.g_stride(); ++i) {
      const zd want = drawn.g[size_t(first * part.g_stride() + i)];
      EXPECT_LE(std::abs(part.g[size_t(i)] - want), 1.2e-7 * std::abs(want)) << i;
    }
  }
}

// A range read by several threads, a part each, is the range one thread reads; a bad
// value is named by its realization in the file, the earlier part's where two hold one.
TEST(ChannelFile, ThreadsReadTheSameRangeAndNameTheFirstBadValue) {
  tmpdir t;
  scenario sc;
  sc.dims = {4, 3, 2, 1, 1};
  channel_set cs = cpu::generate_batch(sc, 5, 0, 1000, 1, true);
  io::write_channels(t / "f.h5", cs, nullptr, 0, 0, io::g_form::rank_one);
  io::write_channels(t / "d.h5", cs, nullptr, 0, 0, io::g_form::dense);
  for (const char* name : {"f.h5", "d.h5"}) {
    io::channel_file f(t / name);
    channel_set one, three;
    f.read(100, 900, one, 1);
    f.read(100, 900, three, 3);
    EXPECT_EQ(one.h, three.h) << name;
    EXPECT_EQ(one.g, three.g) << name;
    EXPECT_EQ(one.gu, three.gu) << name;
    EXPECT_EQ(one.gv, three.gv) << name;
  }
  cs.h[900 * cs.h_stride()] = zd(std::numeric_limits<double>::infinity(), 0);
  cs.gu[500 * cs.gu_stride() + 1] = zd(std::numeric_limits<double>::quiet_NaN(), 0);
  io::write_channels(t / "bad.h5", cs, nullptr, 0, 0, io::g_form::rank_one);
  io::channel_file f(t / "bad.h5");
  channel_set part;
  const std::string e = error_of([&] { f.read(100, 900, part, 3); });
  EXPECT_NE(e.find("bad.h5: G's factor u of realization 500 = "), std::string::npos) << e;  // parts from 100, 400, 700
  EXPECT_NE(error_of([&] { f.read(800, 200, part, 3); }).find("H of realization 900 = (inf,0)"), std::string::npos);
}

// A non-finite channel is found by the range that holds it, and named by its number in
// the file, not in the range.
TEST(ChannelFile, ABadValueIsNamedByItsRealizationInTheFile) {
  tmpdir t;
  channel_set cs = cpu::generate_batch(scenario{}, 2, 0, 10, 1, true);
  cs.gv[7 * cs.gv_stride() + 3] = zd(0, std::numeric_limits<double>::quiet_NaN());
  io::write_channels(t / "c.h5", cs, nullptr, 0, 0, io::g_form::rank_one);
  io::channel_file f(t / "c.h5");
  channel_set part;
  EXPECT_NO_THROW(f.read(0, 6, part));
  const std::string e = error_of([&] { f.read(6, 3, part); });
  EXPECT_NE(e.find("c.h5: G's factor v of realization 7 = "), std::string::npos) << e;
  EXPECT_NE(e.find("must be finite (entry 3)"), std::string::npos) << e;
  EXPECT_NO_THROW(f.read(8, 2, part));
}

// Results written range by range are those of one write; a range out of order is
// refused; a results file not committed that holds nothing leaves nothing behind.
TEST(ResultsFile, RangesWriteWhatOneWriteDoes) {
  tmpdir t;
  const channel_set cs = cpu::generate_batch(scenario{}, 3, 0, 9, 1, true);
  solve_options o;
  o.model.l_out = 4;
  const solve_output out = cpu::solve_batch(cs, o);
  io::write_results(t / "whole.h5", out, o, {{"data", "x"}});
  {
    io::results_file r(t / "parts.h5", out.count, o, {{"data", "x"}});
    EXPECT_THROW(r.write(3, cpu::solve_batch(channel_view(cs).slice(3, 3), o)), std::invalid_argument);
    for (long first : {0L, 3L, 6L}) r.write(first, cpu::solve_batch(channel_view(cs).slice(first, 3), o));
    EXPECT_EQ(r.done(), 9);
    r.commit(summarize(out));
  }
  expect_same_results(t / "whole.h5", t / "parts.h5");
  EXPECT_FALSE(fs::exists(t / "parts.h5.part"));
  {
    io::results_file r(t / "dropped.h5", out.count, o);
    EXPECT_TRUE(fs::exists(t / "dropped.h5.part"));
  }
  {  // without a run to resume, a part is a temporary even once it holds results
    io::results_file r(t / "dropped.h5", out.count, o);
    r.write(0, out);
  }
  for (const auto& e : fs::directory_iterator(t.p))
    EXPECT_EQ(e.path().filename().string().find("dropped"), std::string::npos) << e.path();
}

// W and F put in the file's order by several threads are those one thread writes.
TEST(ResultsFile, ThreadsWriteWhatOneThreadWrites) {
  tmpdir t;
  solve_output out;
  out.algo = algorithm::ao_fixed;
  out.dims = {5, 3, 2, 2, 1};
  out.count = 2000;
  out.curve_len = 3;
  for (long i = 0; i < 2000 * 10; ++i) out.w.push_back(zd(double(i), -0.5 * double(i)));
  for (long i = 0; i < 2000 * 6; ++i) out.f.push_back(zd(0.25 * double(i), double(i % 7)));
  out.curve.assign(2000 * 3, 1.5);
  out.objective.assign(2000, 2);
  out.min_sinr.assign(2000, 3);
  out.min_scnr.assign(2000, 4);
  out.outer.assign(2000, 5);
  out.inner.assign(2000, 6);
  for (const int threads : {1, 3}) {
    io::results_file r(t / ("r" + std::to_string(threads) + ".h5"), 2000, solve_options{});
    r.write(0, out, threads);
    r.commit(summarize(out));
  }
  expect_same_results(t / "r1.h5", t / "r3.h5");
  const std::vector<double> w = dataset_doubles(t / "r3.h5", "W");                    // (B, Nt, K) row-major
  EXPECT_EQ(w[size_t(2 * ((1999 * 5 + 4) * 2 + 1))], double(1999 * 10 + 1 * 5 + 4));  // W(4, 1) of the last
}

// An interrupted results file keeps what it holds as FILE.part; the same run resumes it
// to the file one run writes, a different run or a run without resume is refused.
TEST(ResultsFile, AnInterruptedFileResumesOnlyForItsOwnRun) {
  tmpdir t;
  const channel_set cs = cpu::generate_batch(scenario{}, 3, 0, 9, 1, true);
  solve_options o;
  o.model.l_out = 4;
  const solve_output out = cpu::solve_batch(cs, o);
  io::write_results(t / "whole.h5", out, o);
  const std::string run = "algo = unfolded\nlayers = 4\n";
  {
    io::results_file r(t / "r.h5", 9, o, {}, run);
    r.write(0, cpu::solve_batch(channel_view(cs).slice(0, 4), o));
  }  // interrupted
  EXPECT_TRUE(fs::exists(t / "r.h5.part"));
  EXPECT_FALSE(fs::exists(t / "r.h5"));
  EXPECT_NE(error_of([&] { io::results_file r(t / "r.h5", 9, o, {}, run); }).find("--resume continues it"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              io::results_file r(t / "r.h5", 9, o, {}, "algo = unfolded\nlayers = 5\n", true);
            }).find("resume: layers = 5, but it was begun with layers = 4"),
            std::string::npos);
  EXPECT_TRUE(fs::exists(t / "r.h5.part"));  // a refused resume keeps it
  {
    io::results_file r(t / "r.h5", 9, o, {}, run, true);
    ASSERT_EQ(r.done(), 4);
    const summary_sums s = r.sums_done();
    summary_sums want;
    want.add(cpu::solve_batch(channel_view(cs).slice(0, 4), o));
    EXPECT_EQ(s.count, 4);
    EXPECT_EQ(s.objective, want.objective);
    EXPECT_EQ(s.min_sinr, want.min_sinr);
    EXPECT_EQ(s.outer, want.outer);
    r.write(4, cpu::solve_batch(channel_view(cs).slice(4, 5), o));
    r.commit(summarize(out));
  }
  expect_same_results(t / "whole.h5", t / "r.h5");
  EXPECT_FALSE(fs::exists(t / "r.h5.part"));
  // A part cut short before its first results (a kill -9): a resume, of any run, begins
  // again; nothing is lost.
  {
    io::results_file r(t / "s.h5", 9, o, {}, run);
    fs::copy_file(t / "s.h5.part", t / "copy");
  }
  EXPECT_FALSE(fs::exists(t / "s.h5.part"));
  fs::rename(t / "copy", t / "s.h5.part");
  {
    io::results_file r(t / "s.h5", 9, o, {}, "another run\n", true);
    EXPECT_EQ(r.done(), 0);
    r.write(0, out);
    r.commit(summarize(out));
  }
  expect_same_results(t / "whole.h5", t / "s.h5");
}

// A file solved in ranges, the next read and the last written beside each solve, gives
// one whole solve_batch call's results and summary, to the bit: the unfolded solver in
// SIMD lanes (ranges that split its groups of 4), and ao-monotone.
TEST(SolveFile, RangesGiveTheWholeBatchsResultsAndSummary) {
  tmpdir t;
  const channel_set cs = cpu::generate_batch(scenario{}, 4, 0, 13, 1, true);
  io::write_channels(t / "c.h5", cs, nullptr, 0, 0, io::g_form::rank_one);
  for (const algorithm algo : {algorithm::unfolded, algorithm::ao_monotone}) {
    SCOPED_TRACE(to_string(algo));
    solve_options o;
    o.algo = algo;
    o.model.l_out = 6;
    o.ao.max_outer = 5;
    o.threads = 2;
    const solve_output whole = cpu::solve_batch(cs, o);
    io::write_results(t / "whole.h5", whole, o);
    io::channel_file in(t / "c.h5");
    for (long range : {5L, 13L, 64L}) {
      long calls = 0, last = 0;
      solve_options po = o;
      po.progress = [&](long done, long total) {
        EXPECT_EQ(total, 13);
        EXPECT_GE(done, last);
        last = done;
        ++calls;
      };
      host::file_solved r;
      {
        io::results_file out(t / "parts.h5", in.count(), o);
        r = host::solve_file(executor{}, in, po, &out, range);
        out.commit(r.s);
      }
      EXPECT_EQ(r.ranges, (13 + range - 1) / range);
      EXPECT_EQ(last, 13);
      EXPECT_GE(calls, r.ranges);
      const summary w = summarize(whole);
      EXPECT_EQ(r.s.realizations, 13);
      EXPECT_EQ(r.s.mean_objective, w.mean_objective);
      EXPECT_EQ(r.s.min_sinr_db, w.min_sinr_db);
      EXPECT_EQ(r.s.min_scnr_db, w.min_scnr_db);
      EXPECT_EQ(r.s.mean_iterations, w.mean_iterations);
      expect_same_results(t / "whole.h5", t / "parts.h5");
      fs::remove(t / "parts.h5");
    }
    EXPECT_THROW(host::solve_file(executor{}, in, o, nullptr, 0), std::invalid_argument);
    fs::remove(t / "whole.h5");
  }
}

// A solve stopped after its first range keeps that range's results; resumed, it solves
// the rest only, to the whole solve's results file and summary.
TEST(SolveFile, AStoppedSolveResumesToTheWholeResults) {
  tmpdir t;
  const channel_set cs = cpu::generate_batch(scenario{}, 4, 0, 13, 1, true);
  io::write_channels(t / "c.h5", cs, nullptr, 0, 0, io::g_form::rank_one);
  solve_options o;
  o.model.l_out = 6;
  const solve_output whole = cpu::solve_batch(cs, o);
  io::write_results(t / "whole.h5", whole, o);
  io::channel_file in(t / "c.h5");
  const std::string run = host::solve_run(executor{}, in, {}, o);
  {
    solve_options po = o;
    long seen = 0;
    po.progress = [&](long done, long) { seen = done; };
    po.stop = [&] { return seen >= 5; };
    io::results_file out(t / "r.h5", in.count(), o, {}, run);
    EXPECT_THROW(host::solve_file(executor{}, in, po, &out, 5), stopped);
  }
  ASSERT_TRUE(fs::exists(t / "r.h5.part"));
  long first_seen = -1;
  solve_options po = o;
  po.progress = [&](long done, long) { first_seen = first_seen < 0 ? done : first_seen; };
  io::results_file out(t / "r.h5", in.count(), o, {}, run, true);
  EXPECT_EQ(out.done(), 5);
  const host::file_solved r = host::solve_file(executor{}, in, po, &out, 5);
  out.commit(r.s);
  EXPECT_GT(first_seen, 5);
  EXPECT_EQ(r.ranges, 2);
  const summary w = summarize(whole);
  EXPECT_EQ(r.s.realizations, 13);
  EXPECT_EQ(r.s.mean_objective, w.mean_objective);
  EXPECT_EQ(r.s.min_sinr_db, w.min_sinr_db);
  EXPECT_EQ(r.s.mean_iterations, w.mean_iterations);
  expect_same_results(t / "whole.h5", t / "r.h5");
  // What the results depend on: another model or another selection is another run.
  solve_options other = o;
  other.model.l_out = 7;
  EXPECT_NE(host::solve_run(executor{}, in, {}, other), run);
  EXPECT_NE(host::solve_run(executor{}, in, {2, -1, -1, -1}, o), run);
  EXPECT_EQ(host::solve_run(executor{}, in, {}, o), run);
}

// The default range: a power of two of realizations that the memory budget holds, from 1
// to 65536.
TEST(SolveFile, TheDefaultRangeIsAPowerOfTwoTheBudgetHolds) {
  tmpdir t;
  io::write_channels(t / "c.h5", cpu::generate_batch(scenario{}, 4, 0, 3, 1, true), nullptr, 0, 0,
                     io::g_form::rank_one);
  const io::channel_file in(t / "c.h5");
  const solve_options o;
  const double per = in.bytes_per_realization() + solve_output_bytes(in.dims(), 1, o);
  EXPECT_GT(per, 1000);
  EXPECT_EQ(host::file_range(in, o), 32768);  // the paper's sizes: some 10 KB a realization in 512 MB
  EXPECT_EQ(host::file_range(in, o, 0.5 * per), 1);
  EXPECT_EQ(host::file_range(in, o, 3.5 * per), 2);
  EXPECT_EQ(host::file_range(in, o, 4 * per), 4);
  EXPECT_EQ(host::file_range(in, o, 1e6 * per), 65536);
}

// validate's finiteness check reads the exponent bits in blocks of 1024 doubles: every
// kind of non-finite number, in either part, at block edges and the last entry, of H, the
// factors and a dense G, is found and named; the largest, the subnormal and -0 are not.
TEST(Validate, EveryNonFiniteEntryIsNamed) {
  const channel_set factors = cpu::generate_batch(scenario{}, 5, 0, 40, 1, true);
  const channel_set dense = cpu::generate_batch(scenario{}, 5, 0, 3, 1, false);
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  struct target {
    const channel_set* cs;
    std::vector<zd> channel_set::*array;
    long stride;
    const char* name;
  };
  const target targets[] = {{&factors, &channel_set::h, factors.h_stride(), "H"},
                            {&factors, &channel_set::gu, factors.gu_stride(), "G's factor u"},
                            {&factors, &channel_set::gv, factors.gv_stride(), "G's factor v"},
                            {&dense, &channel_set::g, dense.g_stride(), "G"}};
  for (const target& t : targets) {
    const long n = long((t.cs->*t.array).size());
    for (long at : {0L, 255L, 256L, 511L, 512L, n / 2, n - 1}) {
      for (double x : {inf, -inf, nan, -nan}) {
        for (bool imag : {false, true}) {
          channel_set bad = *t.cs;
          zd& e = (bad.*t.array)[size_t(at)];
          e = imag ? zd(e.real(), x) : zd(x, e.imag());
          const std::string why = error_of([&] { validate(bad); });
          EXPECT_NE(why.find(std::string(t.name) + " of realization " + std::to_string(at / t.stride) + " = "),
                    std::string::npos)
              << why;
          EXPECT_NE(why.find("(entry " + std::to_string(at % t.stride) + ")"), std::string::npos) << why;
        }
      }
    }
    channel_set fine = *t.cs;
    (fine.*t.array)[0] = zd(std::numeric_limits<double>::max(), -std::numeric_limits<double>::denorm_min());
    (fine.*t.array)[size_t(n - 1)] = zd(-0.0, -std::numeric_limits<double>::max());
    EXPECT_NO_THROW(validate(fine)) << t.name;
  }
}

// The shipped models (models/, compiled in): each reads from its bytes, is the model the
// table says (its provenance's own delta, the richer model from a zero-forcing start),
// and shipped_model picks the nearest delta on log(1 + delta).
TEST(ShippedModels, EachIsTheTrainedModelItsTableNames) {
  ASSERT_GE(io::shipped_files().size(), 2u);
  for (const io::shipped_file& f : io::shipped_files()) {
    const unfolded_model m = io::read_model_image(f.bytes, f.size, f.name);
    EXPECT_EQ(m.l_out, 150);
    EXPECT_EQ(m.l_in, 3);
    EXPECT_TRUE(m.per_layer_mu);
    EXPECT_EQ(m.w0, w0_method::zf);
    EXPECT_EQ(m.beta.size(), 450u);
    EXPECT_EQ(m.provenance.rfind("trained: ", 0), 0u) << m.provenance;
    char delta[32];
    std::snprintf(delta, sizeof delta, " delta=%g ", f.delta);
    const size_t first = m.provenance.find(" delta=");  // the last training's, before its init's
    EXPECT_EQ(m.provenance.find(delta), first) << f.name << ": " << m.provenance;
    EXPECT_NE(m.provenance.find("init=rich_d"), std::string::npos) << "the chain of trainings is recorded";
  }
}

TEST(ShippedModels, NearestDeltaOnALogScale) {
  const auto file_of = [](double delta) {
    const std::string p = shipped_model(delta).provenance;
    return p.substr(0, p.find(':'));
  };
  EXPECT_EQ(file_of(0), "shipped models/unfolded_d1.h5");
  EXPECT_EQ(file_of(1), "shipped models/unfolded_d1.h5");
  EXPECT_EQ(file_of(3), "shipped models/unfolded_d1.h5");   // |log 4 - log 2| < |log 4 - log 11|
  EXPECT_EQ(file_of(5), "shipped models/unfolded_d10.h5");  // |log 6 - log 11| < |log 6 - log 2|
  EXPECT_EQ(file_of(1e6), "shipped models/unfolded_d10.h5");
  for (double bad : {-1.0, std::nan(""), double(INFINITY)}) {
    try {
      (void)shipped_model(bad);
      ADD_FAILURE() << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).rfind("delta = ", 0), 0u) << e.what();
    }
  }
}

TEST(ShippedModels, ResolveModelChoosesShippedTrainedOrUntrained) {
  model_choice c;
  EXPECT_EQ(resolve_model(c, 10).provenance, shipped_model(10).provenance);
  EXPECT_EQ(resolve_model(c, 10).beta, shipped_model(10).beta);
  c.untrained = true;
  unfolded_model u = resolve_model(c, 1);
  EXPECT_EQ(u.provenance, "untrained");
  for (double b : u.beta) EXPECT_EQ(b, 0.01);
  c.untrained = false;
  c.outer = 20;  // a structure of its own: the untrained model of that size
  u = resolve_model(c, 1);
  EXPECT_EQ(u.l_out, 20);
  EXPECT_EQ(u.provenance, "untrained");
  c.outer.reset();
  c.trained = shipped_model(1);
  c.trained->provenance = "mine";
  c.iw = 1;
  u = resolve_model(c, 10);  // a given model wins over the shipped one; I_w applies to it
  EXPECT_EQ(u.provenance, "mine");
  EXPECT_EQ(u.i_w, 1);
}

TEST(ShippedModels, AFileOfTheSameNameIsNotRead) {
  // HDF5 once read models/unfolded_d1.h5 from the working folder where one existed.
  const unfolded_model expected = shipped_model(1);
  tmpdir t;
  fs::create_directories(t / "models");
  std::ofstream(t / "models/unfolded_d1.h5") << "not a model";
  const fs::path here = fs::current_path();
  fs::current_path(t.p);
  std::string error;
  unfolded_model m;
  try {
    m = shipped_model(1);
  } catch (const std::exception& e) {
    error = e.what();
  }
  fs::current_path(here);
  EXPECT_EQ(error, "");
  EXPECT_EQ(m.beta, expected.beta);
}

TEST(ShippedModels, CorruptImageGivesOneClearError) {
  const io::shipped_file& f = io::shipped_files()[0];
  std::vector<unsigned char> bytes(f.bytes, f.bytes + f.size);
  for (size_t i = 0; i < 64; ++i) bytes[i] ^= 0xff;  // the superblock
  try {
    (void)io::read_model_image(bytes.data(), bytes.size(), "broken.h5");
    ADD_FAILURE() << "a corrupt image was read";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("broken.h5"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace jcas::test
