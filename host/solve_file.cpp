// host/solve_file.hpp: a channel file solved range by range, the file's reads and writes
// beside the solve.
#include "solve_file.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <future>
#include <sstream>
#include <string>

#include "fingerprint.hpp"

namespace jcas::host {

long file_range(const io::channel_file& in, const solve_options& o, double budget) {
  const double per = in.bytes_per_realization() + solve_output_bytes(in.dims(), 1, o);
  long r = 1;
  while (r < 65536 && double(2 * r) * per <= budget) r *= 2;
  return r;
}

file_solved solve_file(const executor& ex, io::channel_file& in, const solve_options& o, io::results_file* out,
                       long range) {
  if (range < 1) reject("chunk", double(range), "must be >= 1");
  const auto t0 = std::chrono::steady_clock::now();
  const long count = in.count(), start = out ? out->done() : 0;
  require_memory(in.path() + ": solving in ranges of " + std::to_string(std::min(range, count)) + " realizations",
                 double(std::min(range, count)) *
                     (2 * in.bytes_per_realization() + (out ? 2 : 1) * solve_output_bytes(in.dims(), 1, o)));
  // Two ranges' channels (one solving, the next being read) and two ranges' outputs (one
  // being written, the next being solved). The futures are declared after the buffers, so
  // that an error joins the reads and writes in flight before their buffers go.
  channel_set sets[2];
  solve_output outs[2];
  summary_sums sums = out ? out->sums_done() : summary_sums{};  // a resumed part's, in order
  file_solved r;
  std::future<void> reading, writing;
  // On a GPU the host's cores are free while the device computes: the reads and writes
  // take them all; on the CPU one thread each, beside the solve's.
  const int io_threads = ex.gpu() ? o.threads : 1;
  const auto read_at = [&](int slot, long first) {
    in.read(first, std::min(range, count - first), sets[slot], io_threads);
  };
  if (start < count) reading = std::async(std::launch::async, read_at, 0, start);
  solve_options po = o;
  int slot = 0;
  for (long first = start; first < count; first += range, slot = 1 - slot) {
    reading.get();                                                         // range `first` is in sets[slot]
    if (o.stop && first > start && o.stop()) throw stopped(first, count);  // the ranges before are written
    if (first + range < count) reading = std::async(std::launch::async, read_at, 1 - slot, first + range);
    if (o.progress) po.progress = [&o, first, count](long done, long) { o.progress(first + done, count); };
    solve_output res = solve_batch(ex, sets[slot], po);
    sums.add(res);
    r.simd_count += res.simd_count;
    ++r.ranges;
    if (writing.valid()) writing.get();  // the range before, written from outs[1 - slot]
    if (out) {
      outs[slot] = std::move(res);
      writing = std::async(std::launch::async,
                           [out, &outs, slot, first, io_threads] { out->write(first, outs[slot], io_threads); });
    }
  }
  if (writing.valid()) writing.get();
  r.s = sums.result();
  r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

namespace {
/// The model's and the solvers' numbers in a line (host/fingerprint.hpp).
std::string digest(const std::vector<double>& v) { return fnv1a().add(v).hex(); }
}  // namespace

std::string solve_run(const executor& ex, const io::channel_file& in, const io::channel_select& sel,
                      const solve_options& o) {
  std::ostringstream s;
  s.precision(17);
  const auto line = [&](const char* field, const auto& v) { s << field << " = " << v << '\n'; };
  std::error_code ec;
  const std::filesystem::path data = std::filesystem::weakly_canonical(in.path(), ec);
  line("data", ec ? in.path() : data.string());
  line("data bytes", std::filesystem::file_size(in.path(), ec));
  line("data time", ec ? 0 : std::filesystem::last_write_time(in.path(), ec).time_since_epoch().count());
  line("users", sel.users);
  line("targets", sel.targets);
  line("nr", sel.nr);
  line("realizations", in.count());
  line("device", ex.gpu() ? "cuda:" + std::to_string(ex.device) : std::string("cpu"));
  line("algo", to_string(o.algo));
  line("precision", o.prec == precision::f32 ? "f32" : "f64");
  line("pt", o.sys.pt);
  line("delta", o.sys.delta);
  line("f0", int(o.f0));
  line("w0", int(start_of(o)));
  line("products", to_string(o.products));
  line("simd", o.simd);
  line("team lanes", o.team_lanes);
  line("scratch", int(o.scratch));
  const unfolded_model& m = o.model;
  line("model", m.provenance);
  line("model layers", std::to_string(m.l_out) + " x " + std::to_string(m.l_in) + ", iw " + std::to_string(m.i_w) +
                           ", repeat " + std::to_string(m.layer_repeat) + (m.frozen ? ", frozen" : ""));
  line("model mu", std::to_string(m.mu_c) + " " + std::to_string(m.mu_s) + (m.per_layer_mu ? " per layer" : ""));
  line("model numbers", digest(m.beta) + " " + digest(m.mu_c_layer) + " " + digest(m.mu_s_layer));
  const ao_settings& a = o.ao;
  line("ao", digest({a.mu_c, a.mu_s, a.outer_tol, double(a.max_outer), a.inner_tol, a.fixed_step,
                     double(a.fixed_max_steps), a.bt_t0, a.bt_shrink, a.bt_armijo, double(a.bt_max_steps),
                     double(a.bt_max_shrinks), double(a.fp_max_steps)}));
  const ascent_settings& c = o.ascent;
  line("ascent",
       digest({c.mu_first, c.mu_last, double(c.stages), double(c.max_steps), c.tol, double(c.starts), double(c.seed)}));
  return s.str();
}

}  // namespace jcas::host
