// CUDA backend of the batch API (kernels/). Without CUDA at build time every call
// throws "CUDA backend not compiled" (host/cuda_stub.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "jcas/api.hpp"
#include "jcas/core/adam.hpp"

namespace jcas::cuda {

/// Bytes of the local-memory scratch slot of the thread-per-realization solve kernel
/// (kernels/cuda_common.cuh): a realization whose solver_ws (with the in-kernel start's
/// f0_ws) fits runs there, a larger one in global memory or, for the unfolded solver, by
/// the batch phases. The paper's configuration must fit (tests/core/test_solvers.cpp).
constexpr long local_slot_bytes = 32768;

/// Number of usable devices; 0 with a reason in *why when there is none or no driver.
int device_count(std::string* why = nullptr);
/// A device's ceilings from its attributes, for stating how far a throughput is from its
/// floor: peak FLOP/s = SMs x clock x FMA lanes per SM x 2 (0 where the lane count of the
/// architecture is not in our table), DRAM bytes/s = 2 x memory clock x bus width / 8.
/// fp64_thread: the most FP64 FLOP/s one thread can retire (an FMA each time its warp's
/// instruction has passed its SM partition's FP64 lanes: 2 x clock x min(1, lanes per
/// partition / 32)), the ceiling of work that runs on one thread alone.
struct device_peaks {
  std::string name;
  double fp32 = 0, fp64 = 0, dram = 0, fp64_thread = 0;
};
device_peaks peaks(int device = 0);
/// Device memory for arrays that live on a GPU beside the solver (the Python module's
/// CUDA arrays and results): allocation, release and synchronous copies on `device`.
void* device_alloc(std::size_t bytes, int device);
void device_free(void* p, int device) noexcept;
void copy_to_host(void* host, const void* dev, std::size_t bytes, int device);
void copy_to_device(void* dev, const void* host, std::size_t bytes, int device);
/// Makes the work jcas queues on `device` from now on (its kernels and copies run on the
/// default stream) start after the work `stream` holds now: a cudaStream_t as an integer,
/// 1 the legacy default stream and 0 none (nothing to order), 2 the per-thread default
/// stream (the conventions of DLPack and __cuda_array_interface__).
void order_after(std::uintptr_t stream, int device);
/// Same realizations as cpu::generate_batch (within rounding of sin/cos/log); rank_one: G
/// as its factors, drawn so on the device.
channel_set generate_batch(const scenario& sc, std::uint64_t seed, long first, long count, int device = 0,
                           bool rank_one = false);
/// Same results as cpu::solve_batch (the routes: solve_options::products, ::scratch). With o.f0 = lapack,
/// (W0, F0) come from the host (LAPACK) so both backends start from the same point; with
/// lowrank they are computed on the device (W0 by MRT or zero-forcing; F0 by the rank-one
/// closed form or the low-rank route).
solve_output solve_batch(const channel_view& ch, const solve_options& o, int device = 0);
/// Realizations first .. first + count - 1 of (sc, seed) drawn on the device and solved
/// there by o (Monte Carlo's pipeline, issue 26): the channels never cross to the host, nor
/// do W, F or the curves; only objective, min_sinr, min_scnr, outer and inner come back
/// (w, f and curve empty, curve_len 0). The channels are the rank-one draw of
/// generate_batch(sc, seed, first, count, device, true), so the results are those of
/// solve_batch on that set, bit for bit. The start is on the device (W0 by MRT or
/// zero-forcing as o says): o.f0 must be lowrank; the precision's range check runs on the
/// first realization.
solve_output solve_drawn(const scenario& sc, std::uint64_t seed, long first, long count, const solve_options& o,
                         int device = 0);
/// The training kernels: a warp per realization (the default: its workspace's near part in
/// the block's shared memory where it fits, each layer's tape recomputed in the backward;
/// else as warp_global), a warp per realization with every layer's tape kept in global
/// memory (warp_global), or a thread per realization.
enum class train_kernel { warp, warp_global, thread };
/// The training loss (eq. 19, mean over idx) and its gradient [beta..., mu_c, mu_s] in
/// double, a warp (or thread) per realization; per-realization gradients summed on the
/// device in idx order (the same model as the CPU backend for the same seed).
double loss_and_gradient(const channel_view& cs, const std::vector<zd>& w0, const std::vector<zd>& f0,
                         const std::vector<long>& idx, const unfolded_model& model, const system_params<double>& sys,
                         std::vector<double>& grad, int device = 0, train_kernel kernel = train_kernel::warp);

namespace detail {
struct train_state;
struct train_state_deleter {
  void operator()(train_state* s) const noexcept;
};
}  // namespace detail

/// The training loop's steps on the device (issue 27): the run's realizations and their
/// starts uploaded once (again for a fresh epoch's), a step's buffers kept from step to
/// step, and each step's gradient summed (in batch order, as loss_and_gradient sums it) and
/// Adam applied there (core::adam_update, the host's formula). step() queues its kernels
/// and returns (waiting only while eight steps are in flight): the host reads each step's
/// loss when it is done, and waits for the device in losses() and state(), once an epoch.
/// train::run uses it on a GPU (host/training.cpp). Its kernels run on a stream of its own
/// (non-blocking): trainers of different host threads, one each, train side by side on one
/// device (`jcas train` with several models).
class trainer {
 public:
  /// Steps of `model`'s structure on the realizations of cs (all of them) from their
  /// starts w0, f0, in batches of at most max_batch, by `kernel`.
  trainer(const channel_view& cs, const std::vector<zd>& w0, const std::vector<zd>& f0, const unfolded_model& model,
          const system_params<double>& sys, long max_batch, int device = 0, train_kernel kernel = train_kernel::warp);
  ~trainer();
  trainer(const trainer&) = delete;
  trainer& operator=(const trainer&) = delete;
  /// Another set of realizations of cs's sizes (a fresh epoch's) in place of the first.
  void load(const channel_view& cs, const std::vector<zd>& w0, const std::vector<zd>& f0);
  /// Realizations first .. first + count - 1 of (sc, seed) drawn on the device (rank-one
  /// factors: generate_batch(sc, seed, first, count, device, true)'s) in place of the
  /// loaded set, their start computed there (W0 by MRT, or zero-forcing where zf; F0 by
  /// the rank-one closed form, LAPACK's up to a phase that no metric sees): a fresh
  /// epoch's set that never crosses from the host. Throws naming a realization whose
  /// start failed.
  void draw(const scenario& sc, std::uint64_t seed, long first, long count, bool zf);
  /// The parameters (train::pack's layout) and Adam's moments the next step starts from.
  void set_state(const std::vector<double>& theta, const std::vector<double>& m, const std::vector<double>& v);
  /// The epoch's order of the loaded realizations; steps take their batches from it.
  void order(const std::vector<long>& order);
  /// Queues a step on positions lo .. hi - 1 of the order: the loss of eq. 19 and its
  /// gradient, the mean over the batch, then Adam's update by c.
  void step(long lo, long hi, const core::adam_coeffs& c);
  /// The losses of the queued steps that are done and not yet returned, in order, without
  /// waiting. Steps wait for the eighth before them, so some are always done: the losses
  /// and the progress come step by step, and a stop waits for at most eight steps.
  std::vector<double> done();
  /// Waits for the steps queued since the last call: the losses done() has not returned,
  /// in order. Throws std::runtime_error naming the realization (its index in the loaded
  /// set) where one failed.
  std::vector<double> losses();
  /// The parameters and moments after the last queued step.
  void state(std::vector<double>& theta, std::vector<double>& m, std::vector<double>& v);

 private:
  std::unique_ptr<detail::train_state, detail::train_state_deleter> s_;
  long np_ = 0;
};

}  // namespace jcas::cuda
