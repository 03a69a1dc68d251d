// Shared by the CUDA translation units: chunk sizing, the device copies of a batch's
// inputs and of the model, and the solve kernel with its launcher. Each precision's
// solve is instantiated in its own file (kernels/solve_f32.cu, solve_f64.cu) so that a
// many-core build compiles them in parallel; training, the generator and the device
// queries are in kernels/cuda_backend.cu.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
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
  /// Realizations b0 .. b0+n-1 of hb to the device: copied, or drawn there (W | F then
  /// come from the solve's start: hb.init is core).
  void upload(const device_batch<T>& hb, long b0, long n) {
    if (hb.draw) return draw_on_device<T>(*hb.draw, b0, n, h.p, u.p, v.p, staging.p);
    to_device(h.p, hb.h + b0 * hs, size_t(n * hs));
    if (hb.rank1) {
      to_device(u.p, hb.u + b0 * us, size_t(n * us));
      to_device(v.p, hb.v + b0 * vs, size_t(n * vs));
    } else {
      to_device(g.p, hb.g + b0 * gs, size_t(n * gs));
    }
    to_device(wf.p, hb.wf + b0 * wf_len, size_t(n * wf_len));
  }
};

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
  /// Realizations b0 .. b0+n-1: W | F (from the inputs' wf) and the curve where hb wants
  /// them, the results and the status (or hb.reduce on them, on the device).
  void download(const device_batch<T>& hb, const device_inputs<T>& in, long b0, long n) const {
    if (hb.wf) to_host(hb.wf + b0 * in.wf_len, in.wf.p, size_t(n * in.wf_len));
    if (hb.curve) to_host(hb.curve + b0 * clen, curve.p, size_t(n) * clen);
    if (hb.reduce) return hb.reduce(res.p, st.p, b0, n);  // results summarised on the device
    to_host(hb.res + b0 * 4, res.p, size_t(n) * 4);
    to_host(hb.status + b0, st.p, size_t(n));
  }
};

/// A chunk's device buffers: the inputs, the cuSOLVER F0 route (init = cusolver) and the
/// outputs, for `size` realizations: as many as fit the device memory beside what the
/// launcher's own kernels need (`own`: their scratch and reservations), at most 65536.
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
  device_chunk(const device_batch<T>& hb, const plan::device_need& own)
      : size(chunk_size(hb.count, need(hb, own), 1L << 16)), in(hb, size), out(size, hb.cfg.curve_len()) {
    if (hb.init == device_init::cusolver) f0 = std::make_unique<f0_cusolver_route<T>>(hb.dims, size);
  }
  /// Realizations b0 .. b0+n-1 to the device, then F0 by cuSOLVER where asked.
  void upload(const device_batch<T>& hb, long b0, long n) {
    in.upload(hb, b0, n);
    if (f0) f0->run(hb.sys, hb.rank1, in.h.p, in.g.p, in.u.p, in.v.p, in.wf.p, n, b0);
  }
  void download(const device_batch<T>& hb, long b0, long n) const { out.download(hb, in, b0, n); }
};

/// Waits for the device's work on a chunk of n realizations of hb under the watchdog
/// (host/watchdog.hpp): an event after the launched work is polled, and the wait ends with
/// an error naming the work once it runs past hb.watchdog times its prediction
/// hb.predict(n) (computed here, while the device works). *predicted caches it across
/// chunks of the same size.
template <class T>
void wait_chunk(const device_batch<T>& hb, long n, double* predicted) {
  cudaEvent_t ev;
  JCAS_CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
  const cudaError_t rec = cudaEventRecord(ev);
  if (rec != cudaSuccess) {
    cudaEventDestroy(ev);
    JCAS_CUDA_CHECK(rec);
  }
  plan::watchdog wd;
  wd.what = hb.what + " on " + std::to_string(n) + " realizations";
  wd.factor = hb.watchdog;
  if (hb.predict && hb.watchdog > 0) {
    if (*predicted < 0) *predicted = hb.predict(n);
    wd.predicted = *predicted;
  }
  try {
    wd.wait([&] {
      const cudaError_t e = cudaEventQuery(ev);
      if (e == cudaErrorNotReady) return false;
      JCAS_CUDA_CHECK(e);
      return true;
    });
  } catch (...) {
    cudaEventDestroy(ev);
    throw;
  }
  cudaEventDestroy(ev);
  JCAS_CUDA_CHECK(cudaDeviceSynchronize());  // any error of the work itself
}

/// Every chunk of hb in turn through ch: uploads realizations b0 .. b0+n-1, launch(n)
/// starts the work on them, then waits for the device (under the watchdog) and
/// downloads the results.
template <class T, class Launch>
void each_chunk(const device_batch<T>& hb, device_chunk<T>& ch, const Launch& launch) {
  double predicted = -1, predicted_n = -1;
  for (long b0 = 0; b0 < hb.count; b0 += ch.size) {
    const long n = std::min(ch.size, hb.count - b0);
    ch.upload(hb, b0, n);
    launch(n);
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
__global__ void solve_kernel(solve_args<T> a) {
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
      status s0 = core::start_w0<T>(ch.h, d, a.sys, w, a.zf, f0w.gram, f0w.vec.col(0));
      if (s0 == status::ok) s0 = core::optimal_combiner<T>(ch, d, a.sys, w, f, f0w);
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
/// on request, or by default lanes where they fit, else gemm where a realization's scratch
/// exceeds the local slot (the large arrays), else a thread per realization.
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
  if (unfolded && hb.products != products_route::loops &&
      (hb.products == products_route::gemm || ws_bytes > local_slot_bytes))
    return solve_gemm<T>(hb, device);
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
  device_chunk<T> ch(hb, own);
  dev_buf<char> scratch(slot ? 0 : size_t(ch.size * ws_bytes), "the solvers' scratch");
  each_chunk(hb, ch, [&](long n) {
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
