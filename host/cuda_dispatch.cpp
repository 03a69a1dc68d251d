// Host side of the CUDA backend: validation, W0/F0 on the host (LAPACK, identical to the
// CPU backend's starting point) or on the device (--f0 lowrank: in the solve kernel;
// --f0 cusolver: W0 here, F0 by cuSOLVER), then the kernels (kernels/), each chunk of the
// batch converted to precision T (with rank-one factors when every realization allows
// them) as its copies are staged and its results converted back as they arrive
// (host/batch_inputs.hpp: batch_convert, solve_sink).
#include <chrono>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "batch_inputs.hpp"
#include "block_stats.hpp"
#include "flop_count.hpp"
#include "gpu_model.hpp"
#include "jcas/cuda_backend.hpp"
#include "kernels/device_batch.hpp"
#include "solver_config.hpp"

namespace jcas::cuda {

namespace {
void require_device(int device) {
  std::string why;
  const int n = detail::device_count(&why);
  if (n == 0)
    throw std::runtime_error("device = cuda:" + std::to_string(device) + ": no usable CUDA device (" + why + ")");
  if (device < 0 || device >= n)
    throw std::runtime_error("device = cuda:" + std::to_string(device) + ": only " + std::to_string(n) +
                             " device(s) present");
}

std::vector<long> all_of(long n) {
  std::vector<long> idx(static_cast<size_t>(n));
  for (long i = 0; i < n; ++i) idx[i] = i;
  return idx;
}

template <class T>
system_params<T> to_t(const system_params<double>& s) {
  return {T(s.pt), T(s.sigma_c2), T(s.sigma_s2), T(s.delta)};
}

/// The device_batch of a solve by o of `count` realizations of dims d, the model as it
/// runs at d (`model`, `tables`); the inputs, outputs and start are the caller's. The
/// watchdog's prediction counts the work of realization 0 of `first` (on the host, while
/// the device runs the first chunk; 0, no limit, where the count itself fails).
template <class T>
detail::device_batch<T> batch_for(const problem_dims& d, long count, const solve_options& o,
                                  const unfolded_model& model, const host::model_tables<T>& tables,
                                  const channel_view& first) {
  detail::device_batch<T> b;
  b.dims = d;
  b.count = count;
  b.sys = to_t<T>(o.sys);
  b.cfg = host::make_config<T>(o, model, tables);
  b.products = o.products;
  b.scratch = o.scratch;
  if (o.algo == algorithm::unfolded && (o.products == products_route::automatic || o.products == products_route::lanes))
    b.team_lanes = o.team_lanes ? o.team_lanes : host::choose_lanes_group(first, o, std::is_same_v<T, double>).group;
  b.what = to_string(o.algo) + " solve (" + (std::is_same_v<T, float> ? "f32" : "f64") + ")";
  b.watchdog = o.gpu_watchdog;
  if (o.gpu_chunk > 0) b.chunk_cap = std::min(b.chunk_cap, o.gpu_chunk);
  b.progress = o.progress;
  b.stop = o.stop;
  b.predict = [&first, &o](long n) {
    try {
      return host::predicted_gpu_seconds(host::counted_flops(first, o, 1), n, std::is_same_v<T, double>);
    } catch (const std::exception&) {
      return 0.0;
    }
  };
  return b;
}

/// W-updates a realization: fixed for unfolded (as the CPU reports); the kernels do not
/// return the AO baselines' counts.
long inner_count(const solve_options& o, const unfolded_model& model) {
  return o.algo == algorithm::unfolded ? long(model.l_out) * model.l_in * model.i_w : 0;
}

/// The per-realization results of a solve (res: 4 per realization, st: statuses) into
/// out, after a failed realization's error; no W | F nor curves.
template <class T>
void store_all_results(const std::vector<T>& res, const std::vector<int>& st, const solve_options& o,
                       const unfolded_model& model, solve_output& out) {
  host::reserve_results(out, inner_count(o, model), false);
  const host::solve_sink<T> sink{out, to_string(o.algo) + " failed on the GPU", o.threads};
  sink.status(0, out.count, st.data());
  sink.results(0, out.count, res.data());
}

/// The host side of a solve of host data: each chunk's inputs converted to T as its copies
/// are staged, and its outputs converted back into out as they arrive (batch_convert,
/// solve_sink: in the pipelined path while the device computes another chunk).
template <class T>
void convert_in_chunks(detail::device_batch<T>& b, const host::batch_convert<T>& in, const host::solve_sink<T>& sink) {
  b.rank1 = in.rank1();
  b.gather = [&in](detail::batch_part p, long b0, long n, void* to) {
    auto* z = static_cast<cplx<T>*>(to);
    switch (p) {
      case detail::batch_part::h:
        return in.h(b0, n, z);
      case detail::batch_part::g:
        return in.g(b0, n, z);
      case detail::batch_part::u:
        return in.u(b0, n, z);
      case detail::batch_part::v:
        return in.v(b0, n, z);
      case detail::batch_part::wf:
        return in.wf(b0, n, z);
      default:
        throw std::logic_error("gather: not an input");
    }
  };
  b.scatter = [&sink](detail::batch_part p, long b0, long n, const void* from) {
    switch (p) {
      case detail::batch_part::wf:
        return sink.wf(b0, n, static_cast<const cplx<T>*>(from));
      case detail::batch_part::curve:
        return sink.curve(b0, n, static_cast<const T*>(from));
      case detail::batch_part::res:
        return sink.results(b0, n, static_cast<const T*>(from));
      case detail::batch_part::status:
        return sink.status(b0, n, static_cast<const int*>(from));
      default:
        throw std::logic_error("scatter: not an output");
    }
  };
}

template <class T>
solve_output solve_typed(const channel_view& cs, const solve_options& o, int device) {
  const problem_dims d = cs.dims;
  solve_output out;
  out.algo = o.algo;
  out.dims = d;
  out.count = cs.count;
  const auto t0 = std::chrono::steady_clock::now();
  // f0 = lapack: (W0, F0) from the host, exactly the CPU backend's start; lowrank: on the
  // device inside the solve kernel, from MRT or zero-forcing (no host work in the timed
  // path); cusolver: W0 on the host, F0 by the batched cuSOLVER route (kernels/f0_cusolver.hpp).
  const bool on_device = o.f0 == f0_method::lowrank;
  if (!on_device) {
    cpu::init_batch(cs, o.sys, o.f0, out.w, out.f, o.threads, start_of(o));
    out.init_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const unfolded_model model = o.model.run_at(d);  // its layers repeated as it runs at this K
  const host::model_tables<T> tables(model);
  detail::device_batch<T> b = batch_for<T>(d, cs.count, o, model, tables, cs);
  out.curve_len = b.cfg.curve_len();
  host::reserve_results(out, inner_count(o, model));
  const host::batch_convert<T> in(cs, out.w, out.f, all_of(cs.count), o.threads);
  const host::solve_sink<T> sink{out, to_string(o.algo) + " failed on the GPU", o.threads};
  convert_in_chunks(b, in, sink);
  b.zf = start_of(o) == w0_method::zf;
  b.init = on_device                     ? detail::device_init::core
           : o.f0 == f0_method::cusolver ? detail::device_init::cusolver  // init_batch wrote W0 only
                                         : detail::device_init::none;
  detail::solve<T>(b, device);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

/// solve_drawn in precision T: the channels drawn chunk by chunk into the device's input
/// buffers, W0 and F0 in the solve, only the results and statuses copied back; or, with
/// `parts`, not even those: each chunk's results summarised on the device into *parts
/// (sample candidates below `entry`, `keep` at most). `first` holds the host's draw of
/// the first realization (the watchdog's count).
template <class T>
solve_output drawn_typed(const scenario& sc, std::uint64_t seed, long first_index, long count, const solve_options& o,
                         int device, const channel_view& first, std::vector<mc::block_summary>* parts = nullptr,
                         long keep = 0, std::uint64_t entry = 0) {
  solve_output out;
  out.algo = o.algo;
  out.dims = sc.dims;
  out.count = count;
  const auto t0 = std::chrono::steady_clock::now();
  const unfolded_model model = o.model.run_at(sc.dims);
  const host::model_tables<T> tables(model);
  detail::device_batch<T> b = batch_for<T>(sc.dims, count, o, model, tables, first);
  b.rank1 = true;
  b.draw = detail::device_draw{sc, seed, first_index};
  b.init = detail::device_init::core;
  b.zf = start_of(o) == w0_method::zf;
  // W | F and the curves stay on the device (b.wf, b.curve null); the results too with parts.
  std::vector<T> res(parts ? 0 : size_t(count) * 4);
  std::vector<int> st(parts ? 0 : static_cast<size_t>(count));
  if (parts) {
    b.reduce = [&](const T* dres, const int* dst, long b0, long n) {
      int value = 0;
      const long bad = detail::first_failure(dst, n, &value);
      if (bad >= 0)
        throw std::runtime_error("realization " + std::to_string(first_index + b0 + bad) + ": " + to_string(o.algo) +
                                 " failed on the GPU: " + to_string(status(value)));
      parts->push_back(detail::summarize_block<T>(dres, n, seed, first_index + b0, entry, keep));
    };
  } else {
    b.res = res.data();
    b.status = st.data();
  }
  detail::solve<T>(b, device);
  if (!parts) store_all_results<T>(res, st, o, model, out);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

/// The checks of a solve of drawn channels, then the host's draw of the first realization
/// (exactly as the device draws it, up to the rounding of sin/cos/log): the precision's
/// range check, which the realizations of one scenario pass or fail alike, runs on it,
/// and the watchdog counts its work. Empty for count 0.
channel_set checked_draw(const scenario& sc, std::uint64_t seed, long first, long count, const solve_options& o,
                         int device) {
  validate_draw(sc, first, count);
  validate(o, sc.dims);
  if (o.f0 != f0_method::lowrank)
    throw std::invalid_argument(std::string("f0 = ") + (o.f0 == f0_method::lapack ? "lapack" : "cusolver") +
                                ": a solve of channels drawn on the device starts there (f0 = lowrank)");
  require_device(device);
  if (count == 0) return {};
  channel_set one = cpu::generate_batch(sc, seed, first, 1, 1, true);
  validate_range(one, o.sys, o.prec);
  return one;
}
}  // namespace

int device_count(std::string* why) { return detail::device_count(why); }

device_peaks peaks(int device) {
  require_device(device);
  return detail::peaks(device);
}

void* device_alloc(std::size_t bytes, int device) {
  require_device(device);
  return detail::device_alloc(bytes, device);
}
void device_free(void* p, int device) noexcept { detail::device_free(p, device); }
void copy_to_host(void* host, const void* dev, std::size_t bytes, int device) {
  detail::copy_to_host(host, dev, bytes, device);
}
void copy_to_device(void* dev, const void* host, std::size_t bytes, int device) {
  detail::copy_to_device(dev, host, bytes, device);
}
void order_after(std::uintptr_t stream, int device) {
  if (stream <= 1) return;  // none, or the legacy default stream jcas's own work runs on
  require_device(device);
  detail::order_after(stream, device);
}

channel_set generate_batch(const scenario& sc, std::uint64_t seed, long first, long count, int device, bool rank_one) {
  validate_draw(sc, first, count);
  require_device(device);
  channel_set cs = sized_channels(sc.dims, count, rank_one);
  const auto at = [](std::vector<zd>& v) { return reinterpret_cast<cplx<double>*>(v.data()); };
  if (rank_one)
    detail::generate(sc, seed, first, count, device, at(cs.h), nullptr, at(cs.gu), at(cs.gv));
  else
    detail::generate(sc, seed, first, count, device, at(cs.h), at(cs.g));
  return cs;
}

solve_output solve_batch(const channel_view& cs, const solve_options& o, int device) {
  validate(cs);
  validate(o, cs.dims);
  validate_range(cs, o.sys, o.prec);
  require_memory("a solve of " + std::to_string(cs.count) + " realizations", solve_output_bytes(cs.dims, cs.count, o));
  require_device(device);
  return o.prec == precision::f64 ? solve_typed<double>(cs, o, device) : solve_typed<float>(cs, o, device);
}

solve_output solve_drawn(const scenario& sc, std::uint64_t seed, long first, long count, const solve_options& o,
                         int device) {
  const channel_set one = checked_draw(sc, seed, first, count, o, device);
  if (count == 0) {
    solve_output out;
    out.algo = o.algo;
    out.dims = sc.dims;
    return out;
  }
  return o.prec == precision::f64 ? drawn_typed<double>(sc, seed, first, count, o, device, one)
                                  : drawn_typed<float>(sc, seed, first, count, o, device, one);
}

std::vector<mc::block_summary> summarize_drawn(const scenario& sc, std::uint64_t seed, long first, long count,
                                               const solve_options& o, long keep, std::uint64_t entry, int device) {
  const channel_set one = checked_draw(sc, seed, first, count, o, device);
  std::vector<mc::block_summary> parts;
  if (count == 0) return parts;
  if (o.prec == precision::f64)
    drawn_typed<double>(sc, seed, first, count, o, device, one, &parts, keep, entry);
  else
    drawn_typed<float>(sc, seed, first, count, o, device, one, &parts, keep, entry);
  return parts;
}

double loss_and_gradient(const channel_view& cs, const std::vector<zd>& w0, const std::vector<zd>& f0,
                         const std::vector<long>& idx, const unfolded_model& model, const system_params<double>& sys,
                         std::vector<double>& grad, int device, train_kernel kernel) {
  require_device(device);
  detail::device_batch<double> b;
  b.dims = cs.dims;
  b.count = long(idx.size());
  b.sys = sys;
  b.train = kernel;
  const host::model_tables<double> tables(model);
  b.cfg.unfolded = host::make_unfolded<double>(model, tables);
  host::batch_inputs<double> in(cs, w0, f0, idx);
  in.attach(b);
  const long np = long(model.beta.size()) + b.cfg.unfolded.mu_count();
  std::vector<int> st(size_t(b.count));
  b.status = st.data();
  grad.assign(size_t(np), 0.0);
  // Summed on the device in realization order, as the CPU sums (kernels/: accumulate_kernel).
  const double loss = detail::loss_grad(b, -1.0 / double(b.count), grad.data(), device);
  for (long i = 0; i < b.count; ++i)
    if (st[i] != 0)
      throw std::runtime_error("training: realization " + std::to_string(idx[i]) +
                               " failed on the GPU: " + to_string(status(st[i])));
  return loss;
}

namespace {

/// The indices of every realization of cs: a trainer's set is all of it.
std::vector<long> all_of(const channel_view& cs) {
  std::vector<long> idx(size_t(cs.count));
  for (long i = 0; i < cs.count; ++i) idx[size_t(i)] = i;
  return idx;
}

/// A trainer's set: every realization of cs, its arrays (in's) attached.
detail::device_batch<double> whole_set(const channel_view& cs, host::batch_inputs<double>& in) {
  detail::device_batch<double> b;
  b.dims = cs.dims;
  b.count = cs.count;
  in.attach(b);
  return b;
}

}  // namespace

trainer::trainer(const channel_view& cs, const std::vector<zd>& w0, const std::vector<zd>& f0,
                 const unfolded_model& model, const system_params<double>& sys, long max_batch, int device,
                 train_kernel kernel) {
  require_device(device);
  host::batch_inputs<double> in(cs, w0, f0, all_of(cs));
  detail::device_batch<double> b = whole_set(cs, in);
  b.sys = sys;
  b.train = kernel;
  const host::model_tables<double> tables(model);
  b.cfg.unfolded = host::make_unfolded<double>(model, tables);  // its structure: the tables stay on the host
  np_ = long(model.beta.size()) + b.cfg.unfolded.mu_count();
  s_ = detail::train_open(b, max_batch, device);
}

trainer::~trainer() = default;

void trainer::load(const channel_view& cs, const std::vector<zd>& w0, const std::vector<zd>& f0) {
  host::batch_inputs<double> in(cs, w0, f0, all_of(cs));
  detail::train_load(*s_, whole_set(cs, in));
}

void trainer::draw(const scenario& sc, std::uint64_t seed, long first, long count, bool zf) {
  int st = 0;
  const long bad = detail::train_draw(*s_, detail::device_draw{sc, seed, first}, count, zf, &st);
  if (bad >= 0)
    throw std::runtime_error("training: the start of drawn realization " + std::to_string(first + bad) +
                             " failed on the GPU: " + to_string(status(st)));
}

void trainer::set_state(const std::vector<double>& theta, const std::vector<double>& m, const std::vector<double>& v) {
  for (const auto* x : {&theta, &m, &v})
    if (long(x->size()) != np_)
      throw std::invalid_argument("trainer: " + std::to_string(x->size()) + " parameters or moments, expected " +
                                  std::to_string(np_));
  detail::train_set(*s_, theta.data(), m.data(), v.data());
}

void trainer::order(const std::vector<long>& order) { detail::train_order(*s_, order.data(), long(order.size())); }

void trainer::step(long lo, long hi, const core::adam_coeffs& c) { detail::train_step(*s_, lo, hi, c); }

std::vector<double> trainer::done() {
  std::vector<double> l;
  detail::train_done(*s_, l);
  return l;
}

std::vector<double> trainer::losses() {
  std::vector<double> l;
  long realization = 0;
  int st = 0;
  const long step = detail::train_wait(*s_, l, &realization, &st);
  if (step >= 0)
    throw std::runtime_error("training: realization " + std::to_string(realization) + " failed on the GPU in step " +
                             std::to_string(step + 1) + " since the last wait: " + to_string(status(st)));
  return l;
}

void trainer::state(std::vector<double>& theta, std::vector<double>& m, std::vector<double>& v) {
  theta.resize(size_t(np_)), m.resize(size_t(np_)), v.resize(size_t(np_));
  detail::train_get(*s_, theta.data(), m.data(), v.data());
}

}  // namespace jcas::cuda
