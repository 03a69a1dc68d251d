#include "montecarlo.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "h5.hpp"
#include "io.hpp"
#include "jcas/cuda_backend.hpp"
#include "mpi.hpp"

namespace jcas::mc {

namespace {
double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return std::nan("");
  const double pos = q * double(sorted.size() - 1);
  const size_t lo = size_t(pos);
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - double(lo)) * (sorted[hi] - sorted[lo]);
}

std::string algos_string(const std::vector<algorithm>& a) {
  std::string s;
  for (algorithm x : a) {
    if (!s.empty()) s += ',';
    s += to_string(x);
  }
  return s;
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

/// A fingerprint of what the results belong to, to refuse resuming a different run.
std::vector<double> identity(const settings& s) {
  const problem_dims& d = s.sc.dims;
  std::vector<double> id = {double(s.seed), double(d.nt),      double(d.nr),
                            double(d.k),    double(d.m),       double(d.c),
                            s.solve.sys.pt, s.solve.sys.delta, double(s.solve.model.l_out)};
  for (algorithm a : s.algos) id.push_back(double(int(a)));
  return id;
}
}  // namespace

stats summarize(const std::vector<double>& obj, const std::vector<double>& sinr, const std::vector<double>& scnr) {
  stats r;
  r.n = long(obj.size());
  if (r.n == 0) return r;
  double sum = 0, ss = 0, a = 0, b = 0;
  for (size_t i = 0; i < obj.size(); ++i) {
    sum += obj[i];
    a += sinr[i];
    b += scnr[i];
  }
  r.mean = sum / double(r.n);
  for (double x : obj) ss += (x - r.mean) * (x - r.mean);
  const double sd = r.n > 1 ? std::sqrt(ss / double(r.n - 1)) : 0.0;
  r.ci95 = 1.959963984540054 * sd / std::sqrt(double(r.n));
  r.min_sinr_db = 10 * std::log10(a / double(r.n));
  r.min_scnr_db = 10 * std::log10(b / double(r.n));
  std::vector<double> sorted = obj;
  std::sort(sorted.begin(), sorted.end());
  r.q05 = quantile(sorted, 0.05);
  r.q25 = quantile(sorted, 0.25);
  r.q50 = quantile(sorted, 0.50);
  r.q75 = quantile(sorted, 0.75);
  r.q95 = quantile(sorted, 0.95);
  return r;
}

void run(const settings& s, state& st, const std::function<void(long, long)>& progress,
         const std::function<void(const state&)>& on_chunk) {
  if (s.count < 1) throw std::invalid_argument("count = " + std::to_string(s.count) + ": must be >= 1");
  if (s.chunk < 1) throw std::invalid_argument("chunk = " + std::to_string(s.chunk) + ": must be >= 1");
  if (s.algos.empty()) throw std::invalid_argument("algos: none given");
  const size_t na = s.algos.size();
  st.objective.resize(na);
  st.min_sinr.resize(na);
  st.min_scnr.resize(na);
  const mpi::world& w = mpi::get();
  while (st.done < s.count) {
    // Each rank generates and solves its block of the chunk; the per-realization results
    // are gathered in index order, so every rank holds what one process would.
    const long n = std::min(s.chunk, s.count - st.done);
    const auto [lo, hi] = mpi::block(n, w.rank, w.size);
    channel_set cs;
    if (hi > lo)  // on a GPU: channels, W0 and F0 on the device too (same draws up to rounding)
      cs = s.device < 0 ? cpu::generate_batch(s.sc, s.seed, st.done + lo, hi - lo, s.solve.threads)
                        : cuda::generate_batch(s.sc, s.seed, st.done + lo, hi - lo, s.device);
    for (size_t a = 0; a < na; ++a) {
      std::vector<double> mine;  // 3 values per realization of this rank's block
      if (hi > lo) {
        solve_options o = s.solve;
        o.algo = s.algos[a];
        o.progress = nullptr;
        if (s.device >= 0) o.f0 = f0_method::lowrank;  // initialisation in the solve kernel
        const solve_output out = s.device < 0 ? cpu::solve_batch(cs, o) : cuda::solve_batch(cs, o, s.device);
        for (long b = 0; b < out.count; ++b)
          mine.insert(mine.end(), {out.objective[b], out.min_sinr[b], out.min_scnr[b]});
      }
      const std::vector<double> all = mpi::allgather_blocks(mine, n, 3);
      for (long b = 0; b < n; ++b) {
        st.objective[a].push_back(all[3 * b]);
        st.min_sinr[a].push_back(all[3 * b + 1]);
        st.min_scnr[a].push_back(all[3 * b + 2]);
      }
    }
    st.done += n;
    if (w.root() && progress) progress(st.done, s.count);
    if (w.root() && on_chunk) on_chunk(st);
  }
}

void write_state(const std::string& path, const settings& s, const state& st) {
  io::atomic_path ap(path);
  {
    const hid_t f = h5::create_file(ap.tmp(), path);
    h5::write_doubles(f, path, "identity", identity(s));
    h5::write_attr(f, "done", double(st.done));
    for (size_t a = 0; a < st.objective.size(); ++a) {
      const std::string n = to_string(s.algos[a]);
      h5::write_doubles(f, path, "objective_" + n, st.objective[a]);
      h5::write_doubles(f, path, "min_sinr_" + n, st.min_sinr[a]);
      h5::write_doubles(f, path, "min_scnr_" + n, st.min_scnr[a]);
    }
    H5Fclose(f);
  }
  ap.commit();
}

state read_state(const std::string& path, const settings& s) {
  if (H5Fis_hdf5(path.c_str()) <= 0) fail(path, "no readable checkpoint (missing or corrupt)");
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  state st;
  try {
    if (h5::read_doubles(f, path, "identity") != identity(s))
      fail(path, "checkpoint belongs to another run (seed, sizes, power, delta, layers or algos = " +
                     algos_string(s.algos) + " differ)");
    st.done = long(h5::read_attr(f, path, "done"));
    for (algorithm a : s.algos) {
      const std::string n = to_string(a);
      st.objective.push_back(h5::read_doubles(f, path, "objective_" + n));
      st.min_sinr.push_back(h5::read_doubles(f, path, "min_sinr_" + n));
      st.min_scnr.push_back(h5::read_doubles(f, path, "min_scnr_" + n));
      if (long(st.objective.back().size()) != st.done) fail(path, "corrupt checkpoint (" + n + " length)");
    }
  } catch (...) {
    H5Fclose(f);
    throw;
  }
  H5Fclose(f);
  if (st.done > s.count) fail(path, "checkpoint has " + std::to_string(st.done) + " realizations, more than count");
  return st;
}

void write_summary(const std::string& h5_path, const std::string& csv_path, const settings& s, const state& st) {
  {
    io::atomic_path ap(h5_path);
    const hid_t f = h5::create_file(ap.tmp(), h5_path);
    for (size_t a = 0; a < s.algos.size(); ++a) {
      const stats r = summarize(st.objective[a], st.min_sinr[a], st.min_scnr[a]);
      const hid_t g = H5Gcreate2(f, to_string(s.algos[a]).c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      h5::write_attr(g, "realizations", double(r.n));
      h5::write_attr(g, "mean_objective", r.mean);
      h5::write_attr(g, "ci95_objective", r.ci95);
      h5::write_attr(g, "min_sinr_db", r.min_sinr_db);
      h5::write_attr(g, "min_scnr_db", r.min_scnr_db);
      for (auto [name, v] : {std::pair{"q05", r.q05}, {"q25", r.q25}, {"q50", r.q50}, {"q75", r.q75}, {"q95", r.q95}})
        h5::write_attr(g, name, v);
      std::vector<double> cdf = st.objective[a];
      std::sort(cdf.begin(), cdf.end());
      h5::write_doubles(g, h5_path, "objective_sorted", cdf);  // empirical CDF: value i has probability (i+1)/n
      H5Gclose(g);
    }
    h5::write_attr(f, "seed", double(s.seed));
    H5Fclose(f);
    ap.commit();
  }
  io::atomic_path ap(csv_path);
  {
    std::FILE* c = std::fopen(ap.tmp().c_str(), "w");
    if (!c) fail(csv_path, "cannot write");
    std::fprintf(c, "algo,realizations,mean_objective,ci95_objective,min_sinr_db,min_scnr_db,q05,q25,q50,q75,q95\n");
    for (size_t a = 0; a < s.algos.size(); ++a) {
      const stats r = summarize(st.objective[a], st.min_sinr[a], st.min_scnr[a]);
      std::fprintf(c, "%s,%ld,%.10g,%.10g,%.6g,%.6g,%.10g,%.10g,%.10g,%.10g,%.10g\n", to_string(s.algos[a]).c_str(),
                   r.n, r.mean, r.ci95, r.min_sinr_db, r.min_scnr_db, r.q05, r.q25, r.q50, r.q75, r.q95);
    }
    std::fclose(c);
  }
  ap.commit();
}

}  // namespace jcas::mc
