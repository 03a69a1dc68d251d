// Fuzzing of the readers (issue 20): a few thousand mutations of a valid channel file
// (.h5 with G dense or as rank-one factors, and .npz) and model file -- bit flips, bytes and integers set to edge
// values, truncations, duplicated and zeroed ranges -- each read in this process. A reader must either succeed or throw
// a std::exception whose message is one line naming the file: no crash, no hang, no other exception. Deterministic (a
// fixed seed); bounded in time (FUZZ_SECONDS, default 40 s over the four readers); run under ASan and UBSan in the
// sanitizer build (tools/sanitize.sh) and plainly in the default one.
//   fuzz_readers [ITERATIONS_PER_READER]
#include <unistd.h>
#include <zip.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "io.hpp"
#include "jcas/api.hpp"

namespace {

using namespace jcas;
using bytes = std::vector<unsigned char>;

bytes slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return bytes(std::istreambuf_iterator<char>(f), {});
}
void spill(const std::string& p, const bytes& b) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

std::string npy(const std::string& descr, const std::vector<long>& shape, const void* data, size_t n) {
  std::string sh = "(";
  for (long s : shape) sh += std::to_string(s) + ", ";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + sh + "), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += char(1);
  out += char(0);
  out += char(header.size() & 0xff);
  out += char(header.size() >> 8);
  return out + header + std::string(static_cast<const char*>(data), n);
}

/// The reference's .npz layout of cs (SPEC.md 8), stored uncompressed so that mutations
/// reach the arrays' headers and not only the deflate stream.
void write_npz(const std::string& path, const channel_set& cs) {
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
  const std::string h = npy("<c16", {cs.count, d.nt, d.k}, hall.data(), hall.size() * 16),
                    g = npy("<c16", {cs.count, d.j() * d.nr, d.nt}, gall.data(), gall.size() * 16);
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  for (const auto& [name, data] : {std::pair{"Hall.npy", &h}, std::pair{"Gall.npy", &g}}) {
    zip_source_t* s = zip_source_buffer(z, data->data(), data->size(), 0);
    const zip_int64_t i = zip_file_add(z, name, s, ZIP_FL_OVERWRITE);
    zip_set_file_compression(z, zip_uint64_t(i), ZIP_CM_STORE, 0);
  }
  if (zip_close(z) != 0) throw std::runtime_error("cannot write " + path);
}

/// One to four mutations of b, drawn from rng.
void mutate(bytes& b, std::mt19937_64& rng) {
  const auto pick = [&](size_t n) { return n == 0 ? size_t(0) : size_t(rng() % n); };
  const int count = 1 + int(rng() % 4);
  for (int m = 0; m < count && !b.empty(); ++m) {
    const size_t at = pick(b.size());
    switch (rng() % 7) {
      case 0:  // a bit
        b[at] ^= static_cast<unsigned char>(1u << (rng() % 8));
        break;
      case 1: {  // a byte to an edge value
        const unsigned char edge[] = {0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe};
        b[at] = edge[rng() % 6];
        break;
      }
      case 2: {  // 4 or 8 bytes to an edge integer (sizes, offsets, lengths)
        const std::uint64_t edge[] = {0, ~0ull, 0x7fffffffull, 0x80000000ull, 0x7fffffffffffffffull, 1ull << 40, 65536};
        const std::uint64_t v = edge[rng() % 7];
        const size_t w = rng() % 2 ? 4 : 8;
        for (size_t i = 0; i < w && at + i < b.size(); ++i) b[at + i] = static_cast<unsigned char>(v >> (8 * i));
        break;
      }
      case 3:  // truncated
        b.resize(at);
        break;
      case 4: {  // a range duplicated in place
        const size_t n = std::min<size_t>(1 + pick(64), b.size() - at);
        b.insert(b.begin() + long(at), b.begin() + long(at), b.begin() + long(at + n));
        break;
      }
      case 5: {  // a range zeroed
        const size_t n = std::min<size_t>(1 + pick(256), b.size() - at);
        std::fill(b.begin() + long(at), b.begin() + long(at + n), 0);
        break;
      }
      default:  // a digit of a text header changed (.npy shapes and dtypes)
        for (size_t i = at; i < b.size() && i < at + 512; ++i)
          if (b[i] >= '0' && b[i] <= '9') {
            b[i] = static_cast<unsigned char>('0' + rng() % 10);
            if (rng() % 3 == 0) b.insert(b.begin() + long(i), static_cast<unsigned char>('9'));
            break;
          }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const long per_reader = argc > 1 ? std::atol(argv[1]) : 1500;
  const char* env = std::getenv("FUZZ_SECONDS");
  const double budget = env ? std::atof(env) : 40;
  const auto dir = std::filesystem::temp_directory_path() / ("jcas_fuzz_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const channel_set cs = cpu::generate_batch(scenario{}, 5, 0, 2, 1);
  const std::string h5_seed = (dir / "seed.h5").string(), rank1_seed = (dir / "rank1.h5").string(),
                    npz_seed = (dir / "seed.npz").string(), model_seed = (dir / "model.h5").string();
  io::write_channels(h5_seed, cs);
  io::write_channels(rank1_seed, cs, nullptr, 0, 0, io::g_form::rank_one);
  write_npz(npz_seed, cs);
  unfolded_model m;
  m.l_out = 4;
  m.per_layer_mu = true;
  m.finalize();
  io::write_model(model_seed, m);
  struct reader {
    const char* name;
    std::string seed, ext;
    std::function<void(const std::string&)> read;
  } readers[] = {
      {"channels .h5", h5_seed, ".h5", [](const std::string& p) { io::read_channels(p); }},
      {"rank-one .h5", rank1_seed, ".h5", [](const std::string& p) { io::read_channels(p); }},
      {"channels .npz", npz_seed, ".npz",
       [](const std::string& p) {
         io::read_channels(p, {-1, 2, 16, -1});
       }},
      {"model", model_seed, ".h5", [](const std::string& p) { io::read_model(p); }},
  };
  int failures = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (const reader& r : readers) {
    const bytes seed = slurp(r.seed);
    std::mt19937_64 rng(20261204 + std::uint64_t(&r - readers));  // each reader its own sequence
    long done = 0, rejected = 0, crashed = 0;
    const std::string path = (dir / (std::string("m") + r.ext)).string();
    const double until = budget * double(&r - readers + 1) / double(std::size(readers));  // an equal share each
    for (; done < per_reader; ++done) {
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > until) break;
      bytes b = seed;
      mutate(b, rng);
      spill(path, b);
      try {
        r.read(path);
      } catch (const std::exception& e) {
        ++rejected;
        const std::string what = e.what();
        crashed += what.find("crashed the") != std::string::npos || what.find("did not finish") != std::string::npos;
        if (what.rfind(path + ": ", 0) != 0 || what.find('\n') != std::string::npos || what.size() > 600) {
          std::printf("%s, mutation %ld: not a one-line error naming the file: %s\n", r.name, done, what.c_str());
          spill((dir / ("failing_" + std::to_string(failures) + r.ext)).string(), b);
          ++failures;
        }
      }
    }
    std::printf(
        "%-14s %5ld mutated files read, %5ld refused with a one-line error (%ld of them crashed or hung a "
        "library in the vetting child)\n",
        r.name, done, rejected, crashed);
  }
  if (failures == 0) std::filesystem::remove_all(dir);
  std::printf("fuzz_readers: %d failures%s\n", failures,
              failures ? (" (files kept in " + dir.string() + ")").c_str() : "");
  return failures == 0 ? 0 : 1;
}
