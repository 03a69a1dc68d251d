// Import of the reference's NumPy .npz channel sets (SPEC.md section 8):
// Hall complex (B, Nt, Kmax), Gall complex (B, (M+C)*Nr, Nt), C order.
#include <zip.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>
#include <regex>
#include <stdexcept>
#include <vector>

#include "channel_source.hpp"
#include "io.hpp"

namespace jcas::io {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

std::vector<char> read_member(zip_t* z, const std::string& path, const std::string& name) {
  zip_stat_t st;
  if (zip_stat(z, name.c_str(), 0, &st) != 0) fail(path, "missing array '" + name + "'");
  std::unique_ptr<zip_file_t, decltype(&zip_fclose)> zf(zip_fopen(z, name.c_str(), 0), zip_fclose);
  if (!zf) fail(path, "cannot open member '" + name + "'");
  std::vector<char> buf(st.size);
  if (zip_fread(zf.get(), buf.data(), st.size) != zip_int64_t(st.size)) fail(path, "corrupt member '" + name + "'");
  return buf;
}

/// Parses one .npy array of complex numbers (c16 or c8, little-endian, C order).
std::vector<zd> parse_npy(const std::string& path, const std::string& name, const std::vector<char>& buf,
                          std::vector<long>& shape) {
  const std::string where = "array '" + name + "'";
  if (buf.size() < 10 || std::memcmp(buf.data(), "\x93NUMPY", 6) != 0) fail(path, where + " is not a .npy array");
  const int major = static_cast<unsigned char>(buf[6]);
  size_t hlen = 0, off = 0;
  if (major == 1) {
    hlen = static_cast<unsigned char>(buf[8]) | (size_t(static_cast<unsigned char>(buf[9])) << 8);
    off = 10;
  } else {
    if (buf.size() < 12) fail(path, where + " has a truncated header");
    hlen = 0;
    for (int i = 0; i < 4; ++i) hlen |= size_t(static_cast<unsigned char>(buf[8 + i])) << (8 * i);
    off = 12;
  }
  if (off + hlen > buf.size()) fail(path, where + " has a truncated header");
  const std::string header(buf.data() + off, hlen);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr'\\s*:\\s*'([^']*)'")))
    fail(path, where + ": no dtype in header");
  const std::string descr = m[1];
  if (descr != "<c16" && descr != "<c8")
    fail(path, where + " dtype = '" + descr + "': expected complex128 ('<c16') or complex64 ('<c8')");
  if (std::regex_search(header, m, std::regex("'fortran_order'\\s*:\\s*True")))
    fail(path, where + " fortran_order = True: only C order is supported");
  if (!std::regex_search(header, m, std::regex("'shape'\\s*:\\s*\\(([^)]*)\\)"))) fail(path, where + ": no shape");
  shape.clear();
  const std::string dims = m[1];
  static const std::regex number("\\d+");
  for (std::sregex_iterator it(dims.begin(), dims.end(), number), end; it != end; ++it)
    shape.push_back(std::stol(it->str()));
  long n = 1;
  for (long s : shape) n *= s;
  const size_t esize = descr == "<c16" ? 16 : 8;
  const size_t data_off = off + hlen;
  if (buf.size() - data_off != size_t(n) * esize)
    fail(path, where + " holds " + std::to_string(buf.size() - data_off) + " bytes, expected " +
                   std::to_string(size_t(n) * esize) + " for its shape (corrupt)");
  std::vector<zd> out(static_cast<size_t>(n));
  if (esize == 16) {
    std::memcpy(out.data(), buf.data() + data_off, size_t(n) * 16);
  } else {
    std::vector<std::complex<float>> tmp(static_cast<size_t>(n));
    std::memcpy(tmp.data(), buf.data() + data_off, size_t(n) * 8);
    for (long i = 0; i < n; ++i) out[i] = zd(tmp[i]);
  }
  return out;
}

}  // namespace

namespace {
/// Hall and Gall read whole (a zip member has no ranges), checked against each other.
struct npz_source final : channel_source {
  std::vector<zd> hall, gall;
  npz_source(const std::string& path, const channel_select& sel) {
    if (!std::filesystem::exists(path)) fail(path, "file not found");
    int err = 0;
    std::unique_ptr<zip_t, decltype(&zip_discard)> z(zip_open(path.c_str(), ZIP_RDONLY, &err), zip_discard);
    if (!z) fail(path, "not a readable .npz (zip) file (corrupt or wrong format)");
    std::vector<long> hs, gs;
    hall = parse_npy(path, "Hall", read_member(z.get(), path, "Hall.npy"), hs);
    gall = parse_npy(path, "Gall", read_member(z.get(), path, "Gall.npy"), gs);
    if (hs.size() != 3) fail(path, "Hall has rank " + std::to_string(hs.size()) + ", expected 3 (B, Nt, Kmax)");
    if (gs.size() != 3) fail(path, "Gall has rank " + std::to_string(gs.size()) + ", expected 3 (B, J*Nr, Nt)");
    if (hs[0] != gs[0])
      fail(path, "Hall has " + std::to_string(hs[0]) + " realizations but Gall has " + std::to_string(gs[0]));
    count = hs[0];
    nt = hs[1];
    kf = hs[2];
    grows = gs[1];
    gcols = gs[2];
    nr = sel.nr > 0 ? sel.nr : int(nt);
    targets = sel.targets > 0 ? sel.targets : 2;
  }
  void h_rows(long first, long n, zd* h) override { std::copy_n(hall.data() + first * nt * kf, n * nt * kf, h); }
  void g_rows(long first, long n, zd* g) override {
    std::copy_n(gall.data() + first * grows * gcols, n * grows * gcols, g);
  }
  void factor_rows(long, long, zd*, zd*) override { throw std::logic_error("a .npz holds G dense"); }
};
}  // namespace

std::unique_ptr<channel_source> open_npz_source(const std::string& path, const channel_select& sel) {
  vet_in_child(path, [&] { npz_source(path, sel); });
  return std::make_unique<npz_source>(path, sel);
}

}  // namespace jcas::io
