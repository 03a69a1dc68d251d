// The plain host-side description of a batch handed to the CUDA kernels: every array
// already in precision T and in the core's layout (view.hpp).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host/block_stats.hpp"
#include "jcas/core/adam.hpp"
#include "jcas/core/dispatch.hpp"
#include "jcas/core/generator.hpp"
#include "jcas/cuda_backend.hpp"

namespace jcas::cuda::detail {

/// The start on the device: none (wf holds W0 and F0), core (W0 = Pi_S(H) and F0 in the
/// solve kernel; wf is output only), cusolver (wf holds W0; F0 by cuSOLVER first).
enum class device_init { none, core, cusolver };

/// Channels born on the device (issue 26): realizations first .. first + count - 1 of
/// (sc, seed), drawn by the generator (SPEC.md 7) into each chunk's input buffers as
/// rank-one factors, in place of an upload; the host holds none of them.
struct device_draw {
  scenario sc{};
  std::uint64_t seed = 0;
  long first = 0;
};

/// The arrays a batch moves between host and device (device_batch::gather, scatter).
enum class batch_part { h, g, u, v, wf, curve, res, status };

template <class T>
struct device_batch {
  problem_dims dims{};
  long count = 0;
  system_params<T> sys{};
  core::solver_config<T> cfg{};  // cfg.unfolded.beta points to host memory
  bool rank1 = false;
  const cplx<T>* h = nullptr;            // count x Nt x K
  const cplx<T>* g = nullptr;            // count x J x Nr x Nt (dense only)
  const cplx<T>* u = nullptr;            // count x Nr x J (rank1 only)
  const cplx<T>* v = nullptr;            // count x Nt x J (rank1 only)
  std::optional<device_draw> draw;       // set: h, g, u, v null, drawn on the device
  cplx<T>* wf = nullptr;                 // in/out: count x (W | F) (null: not wanted)
  device_init init = device_init::none;  // what of (W0, F0) the device computes
  bool zf = false;                       // init = core: W0 by zero-forcing (else MRT)
  T* curve = nullptr;                    // out: count x curve_len (null: not wanted)
  T* res = nullptr;                      // out: count x {objective, min_gamma_c, min_gamma_s, outer}
  int* status = nullptr;                 // out: count
  /// Set: each chunk's results are handed over on the device instead of copied to res and
  /// status (both null): res (n x 4) and status (n) of realizations b0 .. b0 + n - 1, device
  /// pointers valid during the call (Monte Carlo summarises them there: block_stats.hpp).
  std::function<void(const T* res, const int* status, long b0, long n)> reduce;
  /// Set (a batch whose host arrays are not in T, as a solve of the caller's double data):
  /// the host side of a chunk's copies in place of the arrays h .. status above. gather
  /// writes realizations b0 .. b0+n-1 of an input part into `to` in T and the batch layout
  /// (in the pipelined path: straight into the pinned staging, while the device computes
  /// the chunk before); scatter reads those of an output part from `from`. A scattered
  /// batch wants every output: W | F, the curve, the results and the statuses.
  std::function<void(batch_part, long b0, long n, void* to)> gather;
  std::function<void(batch_part, long b0, long n, const void* from)> scatter;
  products_route products = products_route::automatic;  // unfolded: loops, cuBLAS or a warp each
  int team_lanes = 32;  // the lanes route: lanes a realization (8, 16, 32; larger where a block would not fit)
  scratch_placement scratch = scratch_placement::automatic;  // a thread per realization's scratch
  train_kernel train = train_kernel::warp;                   // training: a warp or a thread a realization
  // The watchdog (host/watchdog.hpp): what the work is, for its messages; the predicted
  // seconds of the device work on n realizations (empty: none, no limit); its factor (0: off).
  std::string what = "CUDA solve";
  std::function<double(long)> predict;
  double watchdog = 20;
  long chunk_cap = 1L << 16;                            // realizations a device chunk at most
  std::function<void(long done, long total)> progress;  // after every chunk (may be empty)
  std::function<bool()> stop;                           // polled after every chunk but the last
};

int device_count(std::string* why);
device_peaks peaks(int device);
void* device_alloc(std::size_t bytes, int device);
void device_free(void* p, int device) noexcept;
void copy_to_host(void* host, const void* dev, std::size_t bytes, int device);
void copy_to_device(void* dev, const void* host, std::size_t bytes, int device);
void order_after(std::uintptr_t stream, int device);
/// H and G (dense: g; else the factors u, v with g null) of realizations first ..
/// first + count - 1, drawn on the device and copied to these host arrays.
void generate(const scenario& sc, std::uint64_t seed, long first, long count, int device, cplx<double>* h,
              cplx<double>* g, cplx<double>* u = nullptr, cplx<double>* v = nullptr);
/// Realizations draw.first + b0 .. + n - 1 drawn on the current device into device arrays
/// h, u, v (the layouts of device_batch) in precision T: drawn in double, as the host
/// generator draws, into `staging` (n x (Nt K + J (Nr + Nt)) elements; unused, and may be
/// null, for T = double), then rounded to T. Queued on the default stream.
template <class T>
void draw_on_device(const device_draw& draw, long b0, long n, cplx<T>* h, cplx<T>* u, cplx<T>* v,
                    cplx<double>* staging);
/// The moments and sample candidates of n results at res (device memory) of realizations
/// first .. first + n - 1 of a run of `seed`: the candidates' keys below `entry`, the `keep`
/// smallest at most (kernels/block_stats.hpp, by Thrust).
template <class T>
mc::block_summary summarize_block(const T* res, long n, std::uint64_t seed, long first, std::uint64_t entry, long keep);
/// The first of n statuses at `status` (device memory) that is not ok, its value in *value;
/// -1 when all are ok.
long first_failure(const int* status, long n, int* value);
template <class T>
void solve(const device_batch<T>& b, int device);
/// The unfolded solver by batch phases with the products of D(W) in cuBLAS strided
/// batched GEMMs (core/batched.hpp; kernels/unfolded_gemm.cu); solve() calls it.
template <class T>
void solve_gemm(const device_batch<T>& b, int device);
/// The unfolded solver's batch phases run for each realization by one warp, its scratch,
/// channels and W | F in shared memory where they fit (core/team.hpp;
/// kernels/unfolded_team.cu); solve() calls it for products_route::team.
template <class T>
void solve_team(const device_batch<T>& b, int device);
/// The unfolded solver for line-of-sight channels with a team of b.team_lanes lanes per
/// realization, its whole state in shared memory (core/lanes.hpp; kernels/unfolded_lanes.cu):
/// solve() calls it for products_route::lanes, and for automatic where lanes_fit.
template <class T>
void solve_lanes(const device_batch<T>& b, int device);
/// Whether a block of the lanes kernel with teams of g lanes (its realizations' slots and
/// their views) fits a block's shared memory on the device.
template <class T>
bool lanes_fit(const problem_dims& d, int device, int g = 32);
/// Eq. 19 loss (scaled) and its gradient [beta..., mu...] summed over b.count
/// realizations on the device (in realization order); b.status gets each realization's
/// status; b.cfg.unfolded describes the model (beta in host memory). Returns the loss.
double loss_grad(const device_batch<double>& b, double scale, double* grad, int device);
/// Bytes of a realization's training workspace in a block's shared memory (the default
/// warp kernel's near part) where it fits the device, else 0 (the kernel then keeps it all
/// in global memory).
long train_near_bytes(const device_batch<double>& hb, int device);

/// The GPU trainer's device side (train_state: cuda::trainer's, kernels/train_kernels.cu):
/// a set of realizations resident, the epoch's order, the parameters and Adam's moments,
/// and the steps queued since the last train_wait on the trainer's own stream (trainers of
/// several host threads run side by side).
using train_handle = std::unique_ptr<train_state, train_state_deleter>;
/// A trainer for hb's sizes, model structure (hb.cfg.unfolded; its tables are not read) and
/// kernel (hb.train), batches of at most max_batch, hb's realizations loaded.
train_handle train_open(const device_batch<double>& hb, long max_batch, int device);
/// hb's realizations (every one: h/g/u/v and W0 | F0 in wf) in place of the loaded set.
void train_load(train_state& s, const device_batch<double>& hb);
/// Realizations draw.first .. draw.first + count - 1 of (draw.sc, draw.seed) drawn on the
/// device as rank-one factors (the generator, SPEC.md 7) in place of the loaded set, their
/// start (W0 by MRT, or zero-forcing where zf; F0 by the rank-one closed form) computed
/// there: nothing crosses from the host. Returns -1, or the first (from 0) whose start
/// failed, its status in *status.
long train_draw(train_state& s, const device_draw& draw, long count, bool zf, int* status);
/// The order of the loaded realizations that steps take their batches from (n indices).
void train_order(train_state& s, const long* order, long n);
/// The parameters (train::pack's layout) and Adam's moments.
void train_set(train_state& s, const double* theta, const double* m, const double* v);
/// Queues a step on positions lo .. hi - 1 of the order: the batch's loss and gradient
/// (eq. 19, the mean over the batch), then Adam with c. Nothing waits for the device.
void train_step(train_state& s, long lo, long hi, const core::adam_coeffs& c);
/// The losses of the steps done since the last call (or wait), in order, without waiting
/// (a step waits for the one step_window before it, so a few are always known done).
void train_done(train_state& s, std::vector<double>& losses);
/// Waits for the queued steps; the losses train_done has not returned, in order. Returns
/// -1, or the step (since the last wait) of the first realization that failed, its index
/// in the set in *realization and its status in *status.
long train_wait(train_state& s, std::vector<double>& losses, long* realization, int* status);
/// The parameters and moments as of the last queued step (waits for it).
void train_get(train_state& s, double* theta, double* m, double* v);

}  // namespace jcas::cuda::detail
