#include "montecarlo.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
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
  std::vector<double> id = {
      double(s.seed),       double(d.nt),      double(d.nr),
      double(d.k),          double(d.m),       double(d.c),
      s.solve.sys.pt,       s.solve.sys.delta, double(s.solve.model.l_out) * s.solve.model.repeats_at(d.k),
      double(s.sample_size)};
  for (algorithm a : s.algos) id.push_back(double(int(a)));
  return id;
}
}  // namespace

namespace {
/// Every rank's block summaries, in rank order, on every rank.
std::vector<block_summary> allgather_summaries(const std::vector<block_summary>& mine, std::uint64_t seed) {
  if (mpi::get().size == 1) return mine;
  return unpacked(mpi::allgather_concat(packed(mine)), seed);
}
}  // namespace

void tally::add(std::uint64_t seed, long index, double objective, double sinr, double scnr, long sample_size) {
  ++n;
  const double delta = objective - mean;
  mean += delta / double(n);
  m2 += delta * (objective - mean);
  sum_sinr += sinr;
  sum_scnr += scnr;
  offer({sample_key(seed, index), index, objective}, sample_size);
}

void tally::offer(const kept& k, long sample_size) {
  const auto by_key = [](const kept& a, const kept& b) { return a.key < b.key; };
  if (long(sample.size()) < sample_size) {
    sample.push_back(k);
    if (long(sample.size()) == sample_size) std::make_heap(sample.begin(), sample.end(), by_key);
  } else if (sample_size > 0 && k.key < sample.front().key) {
    std::pop_heap(sample.begin(), sample.end(), by_key);
    sample.back() = k;
    std::push_heap(sample.begin(), sample.end(), by_key);
  }
}

std::uint64_t tally::entry_key(long sample_size) const {
  if (long(sample.size()) < sample_size) return ~std::uint64_t(0);
  return sample_size > 0 ? sample.front().key : 0;
}

void tally::merge(const block_summary& b, long sample_size) {
  const moments m = merged({n, mean, m2, sum_sinr, sum_scnr}, b.m);
  n = m.n;
  mean = m.mean;
  m2 = m.m2;
  sum_sinr = m.sum_sinr;
  sum_scnr = m.sum_scnr;
  for (const kept& k : b.candidates) offer(k, sample_size);
}

std::vector<double> tally::sorted_objectives() const {
  std::vector<double> v;
  v.reserve(sample.size());
  for (const kept& k : sample) v.push_back(k.objective);
  std::sort(v.begin(), v.end());
  return v;
}

stats summarize(const tally& t) {
  stats r;
  r.n = t.n;
  if (r.n == 0) return r;
  r.mean = t.mean;
  const double sd = r.n > 1 ? std::sqrt(t.m2 / double(r.n - 1)) : 0.0;
  r.ci95 = 1.959963984540054 * sd / std::sqrt(double(r.n));
  r.min_sinr_db = 10 * std::log10(t.sum_sinr / double(r.n));
  r.min_scnr_db = 10 * std::log10(t.sum_scnr / double(r.n));
  const std::vector<double> sorted = t.sorted_objectives();
  r.q05 = quantile(sorted, 0.05);
  r.q25 = quantile(sorted, 0.25);
  r.q50 = quantile(sorted, 0.50);
  r.q75 = quantile(sorted, 0.75);
  r.q95 = quantile(sorted, 0.95);
  r.sampled = t.sampled();
  return r;
}

stats summarize(const std::vector<double>& obj, const std::vector<double>& sinr, const std::vector<double>& scnr) {
  tally t;
  for (size_t i = 0; i < obj.size(); ++i) t.add(0, long(i), obj[i], sinr[i], scnr[i], long(obj.size()));
  return summarize(t);
}

void run(const settings& s, state& st, const std::function<void(long, long)>& progress,
         const std::function<void(const state&)>& on_checkpoint) {
  if (s.count < 1) throw std::invalid_argument("count = " + std::to_string(s.count) + ": must be >= 1");
  if (s.chunk < 1) throw std::invalid_argument("chunk = " + std::to_string(s.chunk) + ": must be >= 1");
  require_non_negative(s.checkpoint_seconds, "checkpoint-seconds");
  if (s.algos.empty()) throw std::invalid_argument("algos: none given");
  if (s.sample_size < 1)
    throw std::invalid_argument("sample size = " + std::to_string(s.sample_size) + ": must be >= 1");
  const size_t na = s.algos.size();
  st.algos.resize(na);
  const mpi::world& w = mpi::get();
  auto last_checkpoint = std::chrono::steady_clock::now();
  while (st.done < s.count) {
    // Each rank generates and solves its block of the chunk; the per-realization results
    // (or on a GPU the blocks' summaries) are gathered in index order, so every rank holds
    // what one process would.
    const long n = std::min(s.chunk, s.count - st.done);
    const auto [lo, hi] = mpi::block(n, w.rank, w.size);
    const executor ex{s.device, s.solve.threads};
    const bool gpu = s.device >= 0;
    // On the CPU, G drawn as its rank-one factors once for every algorithm: 5.7x less
    // memory at the paper's sizes, and no factoring before the solve; 3 results per
    // realization gathered from the ranks and added to the tallies in index order. On a
    // GPU the channels are born on the device and the results summarised there
    // (cuda::summarize_drawn): drawn again for each algorithm, which costs less than
    // copying them, and only each block's moments and sample candidates cross to the host
    // (bench/RESULTS.md).
    channel_set cs;
    if (!gpu && hi > lo) cs = generate_batch(ex, s.sc, s.seed, st.done + lo, hi - lo, true);
    std::vector<std::vector<double>> all(na);           // 3 values per realization of the chunk
    std::vector<std::vector<block_summary>> parts(na);  // on a GPU the summaries of its blocks
    for (size_t a = 0; a < na; ++a) {
      solve_options o = s.solve;  // its stop is polled inside each solve too
      o.algo = s.algos[a];
      o.progress = nullptr;
      if (gpu) {
        o.f0 = f0_method::lowrank;  // the start in the solve kernel
        std::vector<block_summary> mine;
        if (hi > lo)
          mine = cuda::summarize_drawn(s.sc, s.seed, st.done + lo, hi - lo, o, s.sample_size,
                                       st.algos[a].entry_key(s.sample_size), s.device);
        parts[a] = allgather_summaries(mine, s.seed);
        continue;
      }
      std::vector<double> mine;  // 3 values per realization of this rank's block
      if (hi > lo) {
        const solve_output out = solve_batch(ex, cs, o);
        for (long b = 0; b < out.count; ++b)
          mine.insert(mine.end(), {out.objective[b], out.min_sinr[b], out.min_scnr[b]});
      }
      all[a] = mpi::allgather_blocks(mine, n, 3);
    }
    // The chunk enters the tallies only whole (a stop inside it leaves st as it was).
    for (size_t a = 0; a < na; ++a)
      if (gpu)
        for (const block_summary& p : parts[a]) st.algos[a].merge(p, s.sample_size);
      else
        for (long b = 0; b < n; ++b)
          st.algos[a].add(s.seed, st.done + b, all[a][3 * b], all[a][3 * b + 1], all[a][3 * b + 2], s.sample_size);
    st.done += n;
    if (w.root() && progress) progress(st.done, s.count);
    const auto now = std::chrono::steady_clock::now();
    if (w.root() && on_checkpoint &&
        (st.done == s.count || std::chrono::duration<double>(now - last_checkpoint).count() >= s.checkpoint_seconds)) {
      on_checkpoint(st);
      last_checkpoint = now;
    }
    if (s.solve.stop && st.done < s.count && s.solve.stop()) throw stopped(st.done, s.count);
  }
}

void write_state(const std::string& path, const settings& s, const state& st) {
  const auto lock = io::hdf5_lock();  // HDF5 is not thread-safe
  h5::output f(path);
  h5::write_doubles(f, path, "identity", identity(s));
  h5::write_attr(f, "done", double(st.done));
  for (size_t a = 0; a < st.algos.size(); ++a) {
    const tally& t = st.algos[a];
    const std::string n = to_string(s.algos[a]);
    h5::write_doubles(f, path, "tally_" + n, {double(t.n), t.mean, t.m2, t.sum_sinr, t.sum_scnr});
    std::vector<double> index, objective;  // the sample in its heap order (the keys follow from the indices)
    for (const tally::kept& k : t.sample) {
      index.push_back(double(k.index));
      objective.push_back(k.objective);
    }
    h5::write_doubles(f, path, "sample_index_" + n, index);
    h5::write_doubles(f, path, "sample_objective_" + n, objective);
  }
  f.commit();
}

namespace {
state read_state_file(const std::string& path, const settings& s) {
  const h5::input f(path, "a readable checkpoint");
  state st;
  if (h5::read_doubles(f, path, "identity") != identity(s))
    fail(path, "checkpoint belongs to another run (seed, sizes, power, delta, layers or algos = " +
                   algos_string(s.algos) + " differ)");
  st.done = long(h5::read_attr(f, path, "done"));
  for (algorithm a : s.algos) {
    const std::string n = to_string(a);
    const std::vector<double> sums = h5::read_doubles(f, path, "tally_" + n),
                              index = h5::read_doubles(f, path, "sample_index_" + n),
                              objective = h5::read_doubles(f, path, "sample_objective_" + n);
    if (sums.size() != 5 || long(sums[0]) != st.done || index.size() != objective.size() ||
        long(index.size()) != std::min(st.done, s.sample_size))
      fail(path, "corrupt checkpoint (" + n + ")");
    tally t;
    t.n = long(sums[0]);
    t.mean = sums[1];
    t.m2 = sums[2];
    t.sum_sinr = sums[3];
    t.sum_scnr = sums[4];
    for (size_t i = 0; i < index.size(); ++i)
      t.sample.push_back({sample_key(s.seed, long(index[i])), long(index[i]), objective[i]});
    st.algos.push_back(std::move(t));
  }
  if (st.done > s.count) fail(path, "checkpoint has " + std::to_string(st.done) + " realizations, more than count");
  return st;
}
}  // namespace

state read_state(const std::string& path, const settings& s) {
  const auto lock = io::hdf5_lock();  // HDF5 is not thread-safe
  if (std::filesystem::exists(path)) io::vet_in_child(path, [&] { read_state_file(path, s); });
  return read_state_file(path, s);
}

void write_summary(const std::string& h5_path, const std::string& csv_path, const settings& s, const state& st) {
  const auto lock = io::hdf5_lock();  // HDF5 is not thread-safe
  {
    h5::output f(h5_path);
    for (size_t a = 0; a < s.algos.size(); ++a) {
      const stats r = summarize(st.algos[a]);
      const hid_t g = H5Gcreate2(f, to_string(s.algos[a]).c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      if (g < 0) io::fail_write(h5_path, "cannot write group " + to_string(s.algos[a]), errno);
      h5::write_attr(g, "realizations", double(r.n));
      h5::write_attr(g, "mean_objective", r.mean);
      h5::write_attr(g, "ci95_objective", r.ci95);
      h5::write_attr(g, "min_sinr_db", r.min_sinr_db);
      h5::write_attr(g, "min_scnr_db", r.min_scnr_db);
      for (auto [name, v] : {std::pair{"q05", r.q05}, {"q25", r.q25}, {"q50", r.q50}, {"q75", r.q75}, {"q95", r.q95}})
        h5::write_attr(g, name, v);
      h5::write_attr(g, "cdf_sampled", r.sampled);
      // The empirical CDF (of the sample beyond sample_size): value i has probability (i+1)/size.
      h5::write_doubles(g, h5_path, "objective_sorted", st.algos[a].sorted_objectives());
      H5Gclose(g);
    }
    h5::write_attr(f, "seed", double(s.seed));
    f.commit();
  }
  io::text_output c(csv_path);
  std::fprintf(c.file(),
               "algo,realizations,mean_objective,ci95_objective,min_sinr_db,min_scnr_db,q05,q25,q50,q75,q95\n");
  for (size_t a = 0; a < s.algos.size(); ++a) {
    const stats r = summarize(st.algos[a]);
    std::fprintf(c.file(), "%s,%ld,%.10g,%.10g,%.6g,%.6g,%.10g,%.10g,%.10g,%.10g,%.10g\n",
                 to_string(s.algos[a]).c_str(), r.n, r.mean, r.ci95, r.min_sinr_db, r.min_scnr_db, r.q05, r.q25, r.q50,
                 r.q75, r.q95);
  }
  c.commit();
}

}  // namespace jcas::mc
