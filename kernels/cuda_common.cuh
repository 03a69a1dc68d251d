// Shared by the CUDA translation units: chunk sizing, the device copies of a batch's
// inputs and of the model, and the solve kernel with its launcher. Each precision's
// solve is instantiated in its own file (kernels/solve_f32.cu, solve_f64.cu) so that a
// many-core build compiles them in parallel; training, the generator and the device
// queries are in kernels/cuda_backend.cu.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "host/watchdog.hpp"
#include "jcas/core/batched.hpp"
#include "kernels/device_batch.hpp"
#include "kernels/device_util.hpp"
#include "kernels/f0_cusolver.hpp"

namespace jcas::cuda::detail {

/// The solve kernel's arguments (one realization per thread; arrays of the chunk).
template <class T>
struct solve_args {
  problem_dims d;
  system_params<T> sys;
  core::solver_config<T> cfg;
  long count;
  bool rank1, init, zf;  // init: W0 = Pi_S(H) (zf: Pi_S(zero-forcing)) and F0 in the kernel (device_init::core)
  const cplx<T>*h, *g, *u, *v;
  cplx<T>* wf;
  T *curve, *res;
  int* st;
  char* scratch;  // global placement only: count x ws_bytes
  long ws_bytes;
};

// Internal to each including translation unit (kernels included: no symbol is shared).
namespace {

/// Realizations per chunk of `count` for what a launcher's kernels allocate (`need`,
/// host/device_plan.hpp) on the current device, at most `cap`.
inline long chunk_size(long count, const plan::device_need& need, long cap) {
  return plan::chunk_for(count, need, double(device_memory().first), cap);
}

/// The local memory the driver reserves on this device for a kernel whose threads have
/// `local_bytes` of stack each (plan::local_reservation).
inline double local_reservation(size_t local_bytes) {
  int dev = 0, sms = 0, threads = 0;
  JCAS_CUDA_CHECK(cudaGetDevice(&dev));
  JCAS_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  JCAS_CUDA_CHECK(cudaDeviceGetAttribute(&threads, cudaDevAttrMaxThreadsPerMultiProcessor, dev));
  return plan::local_reservation(double(local_bytes), sms, threads);
}

/// Device bytes of one realization's inputs in device_inputs: H, W | F and G (dense, or
/// the rank-one factors), and for channels drawn on the device in f32 their draw in double.
template <class T>
size_t input_bytes(const problem_dims& d, bool rank1, bool drawn = false) {
  const long hs = long(d.nt) * d.k, gs = rank1 ? long(d.j()) * (d.nr + d.nt) : long(d.j()) * d.nr * d.nt;
  const size_t staging = drawn && !std::is_same_v<T, double> ? sizeof(cplx<double>) * size_t(hs + gs) : 0;
  return sizeof(cplx<T>) * size_t(hs + gs + hs + long(d.nr) * d.m) + staging;
}

/// The model's tables (beta, per-layer mu) on the device; `up` points to them.
template <class T>
struct device_model {
  dev_buf<T> beta, mu_c, mu_s;
  core::unfolded_params<T> up;
  explicit device_model(const core::unfolded_params<T>& host)
      : beta(size_t(host.l_out) * host.l_in, "the model's step sizes"),
        mu_c(size_t(host.l_out), "the model's mu_c"),
        mu_s(size_t(host.l_out), "the model's mu_s"),
        up(host) {
    to_device(beta.p, host.beta, size_t(host.l_out) * host.l_in);
    up.beta = beta.p;
    if (host.per_layer_mu()) {
      to_device(mu_c.p, host.mu_c_layer, size_t(host.l_out));
      to_device(mu_s.p, host.mu_s_layer, size_t(host.l_out));
      up.mu_c_layer = mu_c.p;
      up.mu_s_layer = mu_s.p;
    }
  }
};

/// Device buffers for `chunk` realizations of a batch's inputs, filled chunk by chunk:
/// uploaded from the host, or drawn on the device (hb.draw).
template <class T>
struct device_inputs {
  long hs, gs, us, vs, wf_len;
  dev_buf<cplx<T>> h, g, u, v, wf;
  dev_buf<cplx<double>> staging;  // f32 drawn on the device: the draw in double
  device_inputs(const device_batch<T>& hb, long chunk)
      : hs(long(hb.dims.nt) * hb.dims.k),
        gs(long(hb.dims.j()) * hb.dims.nr * hb.dims.nt),
        us(long(hb.dims.nr) * hb.dims.j()),
        vs(long(hb.dims.nt) * hb.dims.j()),
        wf_len(long(hb.dims.nt) * hb.dims.k + long(hb.dims.nr) * hb.dims.m),
        h(size_t(chunk * hs), "the channels H"),
        g(hb.rank1 ? 1 : size_t(chunk * gs), "the channels G"),
        u(hb.rank1 ? size_t(chunk * us) : 1, "the channels' factors u"),
        v(hb.rank1 ? size_t(chunk * vs) : 1, "the channels' factors v"),
        wf(size_t(chunk * wf_len), "W | F"),
        staging(hb.draw && !std::is_same_v<T, double> ? size_t(chunk * (hs + us + vs)) : 0,
                "the channels' draw in double") {}
  /// Realizations b0 .. b0+n-1 of hb to the device: copied (input_parts), or drawn there
  /// (W | F then come from the solve's start: hb.init is core).
  void upload(const device_batch<T>& hb, long b0, long n);
};

/// Pinned host memory of at least `bytes`, this thread's, kept and grown as needed (the
/// device context: process-long): where a pipelined solve stages its copies, which the
/// copy engines then make while the device computes, and where a converted batch's chunk
/// passes on the synchronous path.
inline char* pinned_staging(size_t bytes) {
  struct staging {
    char* p = nullptr;
    size_t n = 0;
    ~staging() {
      if (p) cudaFreeHost(p);
    }
  };
  thread_local staging s;
  if (s.n < bytes) {
    if (s.p) JCAS_CUDA_CHECK(cudaFreeHost(s.p));
    s.p = nullptr;
    s.n = 0;
    const cudaError_t e = cudaMallocHost(reinterpret_cast<void**>(&s.p), bytes);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      s.p = nullptr;
      throw std::runtime_error("host memory: cannot pin " + plan::bytes_str(double(bytes)) +
                               " for the copies' staging (" + cudaGetErrorString(e) + ")");
    }
    s.n = bytes;
  }
  return s.p;
}

/// One array of a chunk's copies between the host batch and a device chunk: `per_item`
/// bytes a realization, realization b at dev + (b - b0) * per_item in the chunk of b0 and,
/// on the host, at host + b * per_item in the batch's array (host of an input is the
/// batch's const array) or, where host is null, written by fill (an input) or read by drain
/// (an output) from a buffer of the chunk's realizations (device_batch::gather, scatter).
struct copy_part {
  char* dev;
  char* host;
  size_t per_item;
  std::function<void(long b0, long n, char* to)> fill;
  std::function<void(long b0, long n, const char* from)> drain;
  /// Realizations b0 .. b0+n-1 of an input into `to` (n * per_item bytes).
  void stage_in(long b0, long n, char* to) const {
    if (host)
      std::memcpy(to, host + size_t(b0) * per_item, size_t(n) * per_item);
    else
      fill(b0, n, to);
  }
  /// Those of an output from `from` into the host batch.
  void stage_out(long b0, long n, const char* from) const {
    if (host)
      std::memcpy(host + size_t(b0) * per_item, from, size_t(n) * per_item);
    else
      drain(b0, n, from);
  }
};

/// The copy_part of array `what` of hb: dev, its host array `host` (unless hb gathers and
/// scatters), `per` elements E a realization.
template <class T, class E>
copy_part part_of(const device_batch<T>& hb, batch_part what, E* dev, const E* host, long per) {
  copy_part c{reinterpret_cast<char*>(dev), nullptr, sizeof(E) * size_t(per), {}, {}};
  if (!hb.gather) {
    c.host = reinterpret_cast<char*>(const_cast<E*>(host));
    return c;
  }
  c.fill = [&hb, what](long b0, long n, char* to) { hb.gather(what, b0, n, to); };
  c.drain = [&hb, what](long b0, long n, const char* from) { hb.scatter(what, b0, n, from); };
  return c;
}

/// What of hb's inputs a chunk copies to the device: H, G (or its factors) and, unless the
/// solve computes the start (hb.init = core: W | F out only), W | F.
template <class T>
std::vector<copy_part> input_parts(const device_batch<T>& hb, const device_inputs<T>& in) {
  std::vector<copy_part> p{part_of(hb, batch_part::h, in.h.p, hb.h, in.hs)};
  if (hb.rank1) {
    p.push_back(part_of(hb, batch_part::u, in.u.p, hb.u, in.us));
    p.push_back(part_of(hb, batch_part::v, in.v.p, hb.v, in.vs));
  } else {
    p.push_back(part_of(hb, batch_part::g, in.g.p, hb.g, in.gs));
  }
  if (hb.init != device_init::core) p.push_back(part_of(hb, batch_part::wf, in.wf.p, hb.wf, in.wf_len));
  return p;
}

/// Parts copied through a host buffer (host null): the largest one's bytes for n
/// realizations, 0 where every part has its host array.
inline size_t staged_bytes(const std::vector<copy_part>& parts, long n) {
  size_t most = 0;
  for (const copy_part& c : parts)
    if (!c.host) most = std::max(most, c.per_item * size_t(n));
  return most;
}

template <class T>
void device_inputs<T>::upload(const device_batch<T>& hb, long b0, long n) {
  if (hb.draw) return draw_on_device<T>(*hb.draw, b0, n, h.p, u.p, v.p, staging.p);
  const std::vector<copy_part> parts = input_parts(hb, *this);
  char* const buf = staged_bytes(parts, n) ? pinned_staging(staged_bytes(parts, n)) : nullptr;
  for (const copy_part& c : parts) {
    if (!c.host) c.fill(b0, n, buf);
    to_device(c.dev, c.host ? c.host + size_t(b0) * c.per_item : buf, size_t(n) * c.per_item);
  }
}

/// Device buffers of a chunk's outputs and their copy back into the host batch.
template <class T>
struct device_outputs {
  int clen;
  dev_buf<T> curve, res;  // chunk x clen, chunk x {objective, min_gamma_c, min_gamma_s, outer}
  dev_buf<int> st;
  device_outputs(long chunk, int curve_len)
      : clen(curve_len),
        curve(size_t(chunk) * curve_len, "the objective curves"),
        res(size_t(chunk) * 4, "the results"),
        st(size_t(chunk), "the statuses") {}
  static size_t bytes_per_item(int curve_len) { return sizeof(T) * (size_t(curve_len) + 4) + sizeof(int); }
  /// Realizations b0 .. b0+n-1: W | F, the curve, the results and the status into hb
  /// (output_parts), or hb.reduce on the results, on the device.
  void download(const device_batch<T>& hb, const device_inputs<T>& in, long b0, long n) const;
};

/// What of a chunk's outputs comes back to hb: W | F (from the inputs' wf) and the curve
/// where hb wants them (or scatters), the results and the statuses (unless hb.reduce
/// takes them).
template <class T>
std::vector<copy_part> output_parts(const device_batch<T>& hb, const device_inputs<T>& in,
                                    const device_outputs<T>& out) {
  std::vector<copy_part> p;
  if (hb.wf || hb.scatter) p.push_back(part_of(hb, batch_part::wf, in.wf.p, hb.wf, in.wf_len));
  if (hb.curve || hb.scatter) p.push_back(part_of(hb, batch_part::curve, out.curve.p, hb.curve, out.clen));
  if (!hb.reduce) {
    p.push_back(part_of(hb, batch_part::res, out.res.p, hb.res, 4));
    p.push_back(part_of(hb, batch_part::status, out.st.p, hb.status, 1));
  }
  return p;
}

template <class T>
void device_outputs<T>::download(const device_batch<T>& hb, const device_inputs<T>& in, long b0, long n) const {
  const std::vector<copy_part> parts = output_parts(hb, in, *this);
  char* const buf = staged_bytes(parts, n) ? pinned_staging(staged_bytes(parts, n)) : nullptr;
  for (const copy_part& c : parts) {
    if (c.host) {
      to_host(c.host + size_t(b0) * c.per_item, c.dev, size_t(n) * c.per_item);
    } else {
      to_host(buf, c.dev, size_t(n) * c.per_item);
      c.drain(b0, n, buf);
    }
  }
  if (hb.reduce) hb.reduce(res.p, st.p, b0, n);  // results summarised on the device
}

/// A chunk's device buffers: the inputs, the cuSOLVER F0 route (init = cusolver) and the
/// outputs, for `size` realizations (chunk_set sizes them).
template <class T>
struct device_chunk {
  long size;
  device_inputs<T> in;
  std::unique_ptr<f0_cusolver_route<T>> f0;
  device_outputs<T> out;
  /// own plus the inputs, outputs and F0 route of hb.
  static plan::device_need need(const device_batch<T>& hb, plan::device_need own) {
    own.per_item += double(device_outputs<T>::bytes_per_item(hb.cfg.curve_len()) +
                           input_bytes<T>(hb.dims, hb.rank1, bool(hb.draw)));
    own.fixed += double(sizeof(T)) * 3 * double(hb.cfg.unfolded.l_out) * hb.cfg.unfolded.l_in;  // device_model
    if (hb.init == device_init::cusolver) {
      own.per_item += double(f0_cusolver_route<T>::bytes_per_item(hb.dims));
      own.fixed += f0_cusolver_route<T>::workspace_budget;
    }
    return own;
  }
  device_chunk(const device_batch<T>& hb, long n) : size(n), in(hb, size), out(size, hb.cfg.curve_len()) {
    if (hb.init == device_init::cusolver) f0 = std::make_unique<f0_cusolver_route<T>>(hb.dims, size);
  }
  /// Realizations b0 .. b0+n-1 to the device, then F0 by cuSOLVER where asked.
  void upload(const device_batch<T>& hb, long b0, long n) {
    in.upload(hb, b0, n);
    if (f0) f0->run(hb.sys, hb.rank1, in.h.p, in.g.p, in.u.p, in.v.p, in.wf.p, n, b0);
  }
  void download(const device_batch<T>& hb, long b0, long n) const { out.download(hb, in, b0, n); }
};

/// The device chunks of a solve of hb: one, or -- where copies can overlap the kernels --
/// two used in turn (pipelined: inputs copied from the host and results copied back, more
/// than one chunk or at least 2 x pipeline_least realizations, no cuSOLVER start, which
/// waits on the host), each then holding fewer realizations. `size`: realizations a chunk, as many as fit the device
/// memory beside what the launcher's own kernels need (`own`: their scratch, shared by the chunks in turn, and
/// reservations), at most hb.chunk_cap.
template <class T>
struct chunk_set {
  static constexpr long pipeline_least = 16384;
  long size = 0;
  bool pipelined = false;
  std::vector<std::unique_ptr<device_chunk<T>>> chunks;
  chunk_set(const device_batch<T>& hb, const plan::device_need& own) {
    const plan::device_need one = device_chunk<T>::need(hb, own);
    size = chunk_size(hb.count, one, hb.chunk_cap);
    pipelined = !hb.draw && !hb.reduce && hb.init != device_init::cusolver &&
                (hb.count > size || hb.count >= 2 * pipeline_least);
    if (pipelined) {
      plan::device_need two = one;
      two.per_item += one.per_item - own.per_item;  // a second chunk's inputs and outputs
      // At least 4 chunks where a batch fits one: the first chunk's copies in and the
      // last's out are the ones no kernel hides (a chunk of pipeline_least realizations
      // still fills an H200: 16384 threads in the thread kernel, 16384 warps in the others).
      size = std::min(chunk_size(hb.count, two, hb.chunk_cap), std::max(pipeline_least, (hb.count + 3) / 4));
    }
    for (int c = 0; c < (pipelined ? 2 : 1); ++c) chunks.push_back(std::make_unique<device_chunk<T>>(hb, size));
  }
};

/// Waits under the watchdog (host/watchdog.hpp) for `ev`, recorded after the device's
/// work on a chunk of n realizations of hb: the event is polled, and the wait ends with an
/// error naming the work once it runs past hb.watchdog times its prediction hb.predict(n)
/// (computed here, while the device works). *predicted caches it across chunks of the same
/// size. An error of the work itself is reported by the event (sticky).
template <class T>
void wait_event(const device_batch<T>& hb, cudaEvent_t ev, long n, double* predicted) {
  plan::watchdog wd;
  wd.what = hb.what + " on " + std::to_string(n) + " realizations";
  wd.factor = hb.watchdog;
  if (hb.predict && hb.watchdog > 0) {
    if (*predicted < 0) *predicted = hb.predict(n);
    wd.predicted = *predicted;
  }
  wd.wait([&] {
    const cudaError_t e = cudaEventQuery(ev);
    if (e == cudaErrorNotReady) return false;
    JCAS_CUDA_CHECK(e);
    return true;
  });
}

/// Events made for one call and destroyed at its end.
struct call_events {
  std::vector<cudaEvent_t> ev;
  explicit call_events(int n) : ev(size_t(n), nullptr) {
    for (cudaEvent_t& e : ev) JCAS_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  }
  ~call_events() {
    for (cudaEvent_t e : ev)
      if (e) cudaEventDestroy(e);
  }
  call_events(const call_events&) = delete;
  call_events& operator=(const call_events&) = delete;
};

/// Waits for the work queued on the default stream so far (wait_event), then for the
/// whole device: the synchronous path's end of a chunk.
template <class T>
void wait_chunk(const device_batch<T>& hb, long n, double* predicted) {
  const call_events e(1);
  JCAS_CUDA_CHECK(cudaEventRecord(e.ev[0], cudaStreamLegacy));
  wait_event(hb, e.ev[0], n, predicted);
  JCAS_CUDA_CHECK(cudaDeviceSynchronize());  // any error of the work itself
}

inline cudaError_t nonblocking_stream(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamNonBlocking); }

/// The pipelined chunks of hb (chunk_set::pipelined): chunk c runs on device chunk c % 2.
/// Its inputs are copied into pinned staging on the host and to the device on the `up`
/// stream while the device computes chunk c - 1; its kernels follow on the default stream
/// once they are there; its results go back on the `down` stream while the device computes
/// chunk c + 1, and from the staging into hb. Chunk c + 1 is queued before chunk c is
/// waited for, so the device never waits for the host between chunks. Every chunk's
/// device buffers and staging are reused only after the chunk two before it has ended.
template <class T, class Launch>
void each_chunk_pipelined(const device_batch<T>& hb, chunk_set<T>& cs, const Launch& launch) {
  const long size = cs.size, chunks = (hb.count + size - 1) / size;
  const std::vector<copy_part> in[2] = {input_parts(hb, cs.chunks[0]->in), input_parts(hb, cs.chunks[1]->in)};
  const std::vector<copy_part> out[2] = {output_parts(hb, cs.chunks[0]->in, cs.chunks[0]->out),
                                         output_parts(hb, cs.chunks[1]->in, cs.chunks[1]->out)};
  size_t item = 0;  // staging bytes a realization: inputs, then outputs
  for (const copy_part& c : in[0]) item += c.per_item;
  for (const copy_part& c : out[0]) item += c.per_item;
  char* const pinned = pinned_staging(2 * item * size_t(size));
  const cudaStream_t up = thread_handle<cudaStream_t, nonblocking_stream, cudaStreamDestroy, 0>("the upload stream"),
                     down =
                         thread_handle<cudaStream_t, nonblocking_stream, cudaStreamDestroy, 1>("the download stream");
  enum { ready, in0, in1, run0, run1, out0, out1, events };
  const call_events e(events);
  // On every exit (an error, a stop) the copy streams are done before the buffers go.
  struct drain {
    cudaStream_t a, b;
    ~drain() {
      cudaStreamSynchronize(a);
      cudaStreamSynchronize(b);
    }
  } const streams_done{up, down};
  // The buffers were allocated in the default stream's order (dev_buf): the copy streams
  // start after that.
  JCAS_CUDA_CHECK(cudaEventRecord(e.ev[ready], cudaStreamLegacy));
  JCAS_CUDA_CHECK(cudaStreamWaitEvent(up, e.ev[ready], 0));
  JCAS_CUDA_CHECK(cudaStreamWaitEvent(down, e.ev[ready], 0));
  // Chunk c's parts in its staging: `parts` at pinned + (c % 2) * item * size, one after
  // another, each size * per_item bytes.
  const auto staged = [&](long c, const std::vector<copy_part>& parts, size_t skip, auto&& each) {
    char* at = pinned + size_t(c % 2) * item * size_t(size) + skip;
    for (const copy_part& p : parts) {
      each(p, at);
      at += p.per_item * size_t(size);
    }
  };
  size_t in_bytes = 0;
  for (const copy_part& c : in[0]) in_bytes += c.per_item;
  const auto first_of = [&](long c) { return c * size; };
  const auto count_of = [&](long c) { return std::min(size, hb.count - c * size); };
  const auto start = [&](long c) {
    const int k = int(c % 2);
    const long b0 = first_of(c), n = count_of(c);
    staged(c, in[k], 0, [&](const copy_part& p, char* at) {
      p.stage_in(b0, n, at);  // a copy, or the conversion of hb.gather
      JCAS_CUDA_CHECK(cudaMemcpyAsync(p.dev, at, size_t(n) * p.per_item, cudaMemcpyHostToDevice, up));
    });
    JCAS_CUDA_CHECK(cudaEventRecord(e.ev[in0 + k], up));
    JCAS_CUDA_CHECK(cudaStreamWaitEvent(cudaStreamLegacy, e.ev[in0 + k], 0));
    launch(*cs.chunks[size_t(k)], n);  // on the default stream
    JCAS_CUDA_CHECK(cudaEventRecord(e.ev[run0 + k], cudaStreamLegacy));
    JCAS_CUDA_CHECK(cudaStreamWaitEvent(down, e.ev[run0 + k], 0));
    staged(c, out[k], in_bytes * size_t(size), [&](const copy_part& p, char* at) {
      JCAS_CUDA_CHECK(cudaMemcpyAsync(at, p.dev, size_t(n) * p.per_item, cudaMemcpyDeviceToHost, down));
    });
    JCAS_CUDA_CHECK(cudaEventRecord(e.ev[out0 + k], down));
  };
  double predicted = -1, predicted_n = -1;
  start(0);
  for (long c = 0; c < chunks; ++c) {
    if (c + 1 < chunks) start(c + 1);  // its copies and kernels queue behind chunk c's
    const long b0 = first_of(c), n = count_of(c);
    if (n != predicted_n) predicted = -1, predicted_n = double(n);
    wait_event(hb, e.ev[out0 + int(c % 2)], n, &predicted);
    staged(c, out[c % 2], in_bytes * size_t(size), [&](const copy_part& p, char* at) { p.stage_out(b0, n, at); });
    if (hb.progress) hb.progress(b0 + n, hb.count);
    if (hb.stop && b0 + n < hb.count && hb.stop()) throw stopped(b0 + n, hb.count);
  }
}

/// Every chunk of hb through the device chunks of cs: uploads realizations b0 .. b0+n-1,
/// launch(chunk, n) starts the work on them on the default stream, then waits for the
/// device (under the watchdog) and downloads the results; pipelined where cs is.
template <class T, class Launch>
void each_chunk(const device_batch<T>& hb, chunk_set<T>& cs, const Launch& launch) {
  if (cs.pipelined) return each_chunk_pipelined(hb, cs, launch);
  device_chunk<T>& ch = *cs.chunks[0];
  double predicted = -1, predicted_n = -1;
  for (long b0 = 0; b0 < hb.count; b0 += ch.size) {
    const long n = std::min(ch.size, hb.count - b0);
    ch.upload(hb, b0, n);
    launch(ch, n);
    if (n != predicted_n) predicted = -1, predicted_n = double(n);
    wait_chunk(hb, n, &predicted);
    ch.download(hb, b0, n);
    if (hb.progress) hb.progress(b0 + n, hb.count);
    if (hb.stop && b0 + n < hb.count && hb.stop()) throw stopped(b0 + n, hb.count);
  }
}

/// The core's chunk (core/batched.hpp) for the batch phases of hb on the device: dims,
/// system, the model's device tables, whether the start is computed in the chunk; its
/// scratch slice sized. attach_chunk points it at a device chunk's buffers.
template <class T>
core::chunk<T> phase_chunk(const device_batch<T>& hb, const device_model<T>& model) {
  core::chunk<T> c;
  c.d = hb.dims;
  c.sys = hb.sys;
  c.init = hb.init == device_init::core;
  c.zf = hb.zf;
  c.rank1 = hb.rank1;
  c.p = model.up;
  c.size_scratch();
  return c;
}
/// Points c at realizations 0 .. n-1 of the device chunk ch, with `scratch` as its scratch.
template <class T>
void attach_chunk(core::chunk<T>& c, const device_chunk<T>& ch, long n, char* scratch) {
  c.count = n;
  c.h = ch.in.h.p;
  c.g = ch.in.g.p;
  c.u = ch.in.u.p;
  c.v = ch.in.v.p;
  c.wf = ch.in.wf.p;
  c.curve = ch.out.curve.p;
  c.res = ch.out.res.p;
  c.st = ch.out.st.p;
  c.scratch = scratch;
}

/// Where a thread keeps its realization's scratch (solver_ws, f0_ws), chosen by the
/// Slot parameter of solve_kernel:
///   Slot > 0  a Slot-byte array in the thread's local memory. The hardware interleaves
///             local memory word by word across the 32 threads of a warp, so when they
///             all touch element i of their own scratch (they run the same code on the
///             same dims) the warp makes one coalesced access.
///   Slot = 0  slice b of one chunk-sized global buffer: any size (the large arrays), but
///             a warp's access to element i touches 32 lines ws_bytes apart.
template <long Slot>
struct scratch_slot {
  alignas(16) char buf[Slot];
  __device__ char* at(char*, long, long) { return buf; }
};
template <>
struct scratch_slot<0> {
  __device__ char* at(char* scratch, long b, long ws_bytes) { return scratch + b * ws_bytes; }
};

template <class T, long Slot>
__global__ void solve_kernel(const __grid_constant__ solve_args<T> a) {
  const long b = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= a.count) return;
  const problem_dims d = a.d;
  scratch_slot<Slot> slot;
  arena ar{slot.at(a.scratch, b, a.ws_bytes)};
  core::solver_ws<T> ws;
  ws.carve(ar, d, a.cfg.smooth());
  core::f0_ws<T> f0w;
  if (a.init) f0w.carve(ar, d);
  const long wf_len = long(d.nt) * d.k + long(d.nr) * d.m;
  core::mview<T> w(a.wf + b * wf_len, d.nt, d.k), f(a.wf + b * wf_len + d.nt * d.k, d.nr, d.m);
  core::solve_result<T> r;
  T* cv = a.curve + b * a.cfg.curve_len();
  // SPEC.md 3 on the device: W0 = Pi_S(H), F0 by the rank-one closed form or the
  // low-rank route (core/init.hpp), then the solver.
  const auto run = [&](const auto& ch) {
    if (a.init) {
      const status s0 = core::start_wf<T>(ch, d, a.sys, a.zf, w, f, f0w);
      if (s0 != status::ok) return s0;
    }
    return core::solve_one<T>(ch, d, a.sys, a.cfg, w, f, cv, ws, r);
  };
  const status s = core::visit_batch_channels<T>(d, a.rank1, a.h, a.g, a.u, a.v, b, run);
  a.st[b] = int(s);
  a.res[4 * b + 0] = r.objective;
  a.res[4 * b + 1] = r.min_gamma_c;
  a.res[4 * b + 2] = r.min_gamma_s;
  a.res[4 * b + 3] = T(r.outer);
}

/// The scratch placement of one solve (solve_options::scratch): local when the scratch
/// fits the slot (or asked for: refused naming the sizes where it does not), global when
/// it does not or when asked for. Returns the slot size (0: global).
inline long scratch_slot_for(long ws_bytes, scratch_placement want) {
  if (want == scratch_placement::global) return 0;
  if (ws_bytes <= local_slot_bytes) return local_slot_bytes;
  if (want == scratch_placement::local)
    throw std::invalid_argument("scratch = local: a realization's scratch (" + std::to_string(ws_bytes) +
                                " bytes) exceeds the " + std::to_string(local_slot_bytes) + "-byte local slot");
  return 0;
}

}  // namespace

/// Launches solve_kernel<T, Slot> on a.count realizations; returns the launch's error.
/// Each (T, Slot) is instantiated in its own translation unit (solve_f32.cu,
/// solve_f32_local.cu, ...): each is a long compile, and they run in parallel.
template <class T, long Slot>
cudaError_t launch_solve(const solve_args<T>& a) {
  const int threads = 64;
  solve_kernel<T, Slot><<<unsigned((a.count + threads - 1) / threads), threads>>>(a);
  return cudaGetLastError();
}
extern template cudaError_t launch_solve<float, 0>(const solve_args<float>&);
extern template cudaError_t launch_solve<double, 0>(const solve_args<double>&);
extern template cudaError_t launch_solve<float, local_slot_bytes>(const solve_args<float>&);
extern template cudaError_t launch_solve<double, local_slot_bytes>(const solve_args<double>&);

/// Stack bytes a thread of solve_kernel<T, local_slot_bytes> has (its local slot and
/// frame): what the driver reserves local memory for, per thread the device holds.
template <class T>
size_t slot_stack_bytes() {
  cudaFuncAttributes fa{};
  JCAS_CUDA_CHECK(cudaFuncGetAttributes(&fa, solve_kernel<T, local_slot_bytes>));
  return fa.localSizeBytes;
}
extern template size_t slot_stack_bytes<float>();
extern template size_t slot_stack_bytes<double>();

/// One thread per realization (solve_kernel), or for the unfolded solver a warp per
/// realization with its state in shared memory (solve_lanes: line-of-sight channels), the
/// batch phases with cuBLAS GEMMs (solve_gemm) or by a warp per realization (solve_team):
/// on request, or by default lanes where they fit, else the team route where a
/// realization's scratch exceeds the local slot (the large arrays: on the H200, 2026-12-04,
/// 466 us against gemm's 521 at Nt = 64, K = 16 and 32.2 ms against 86.8 at Nt = 256,
/// K = 64, f32), else a thread per realization.
template <class T>
void solve(const device_batch<T>& hb, int device) {
  const bool unfolded = hb.cfg.algo == algorithm::unfolded;
  if (unfolded && hb.products == products_route::team) return solve_team<T>(hb, device);
  if (unfolded && (hb.products == products_route::lanes ||
                   (hb.products == products_route::automatic && hb.rank1 && lanes_fit<T>(hb.dims, device))))
    return solve_lanes<T>(hb, device);
  const problem_dims d = hb.dims;
  const bool in_kernel = hb.init == device_init::core;
  const long ws_bytes = core::solver_ws<T>::bytes(d, hb.cfg.smooth()) + (in_kernel ? core::f0_ws<T>::bytes(d) : 0);
  if (unfolded && hb.products == products_route::gemm) return solve_gemm<T>(hb, device);
  if (unfolded && hb.products == products_route::automatic && ws_bytes > local_slot_bytes)
    return solve_team<T>(hb, device);
  JCAS_CUDA_CHECK(cudaSetDevice(device));
  const long slot = scratch_slot_for(ws_bytes, hb.scratch);
  const device_model<T> model(hb.cfg.unfolded);
  core::solver_config<T> cfg = hb.cfg;
  cfg.unfolded = model.up;
  // Chunks bound the global scratch (if any), the inputs and the outputs in device
  // memory; the local slot takes the driver's reservation for every thread the device holds.
  plan::device_need own{hb.what + (slot ? " (a thread per realization, local scratch)" : " (global scratch)")};
  if (slot)
    own.fixed = local_reservation(slot_stack_bytes<T>());
  else
    own.per_item = double(ws_bytes);
  chunk_set<T> cs(hb, own);
  dev_buf<char> scratch(slot ? 0 : size_t(cs.size * ws_bytes), "the solvers' scratch");
  each_chunk(hb, cs, [&](const device_chunk<T>& ch, long n) {
    const solve_args<T> a{d,           hb.sys,    cfg,       n,         hb.rank1,   in_kernel,      hb.zf,
                          ch.in.h.p,   ch.in.g.p, ch.in.u.p, ch.in.v.p, ch.in.wf.p, ch.out.curve.p, ch.out.res.p,
                          ch.out.st.p, scratch.p, ws_bytes};
    const cudaError_t e = slot ? launch_solve<T, local_slot_bytes>(a) : launch_solve<T, 0>(a);
    if (e != cudaSuccess)
      throw std::runtime_error(std::string("CUDA solve kernel (") + (slot ? "local" : "global") +
                               " scratch) failed to launch: " + cudaGetErrorString(e) +
                               (slot ? "; scratch = global keeps the scratch in global memory" : ""));
  });
}

}  // namespace jcas::cuda::detail
