// Unsupervised training of the unfolded optimiser (SPEC.md section 6): the eq. 19 loss
// and its gradient over a batch (CPU backend), Adam with PyTorch's semantics, and an
// epoch loop with atomic checkpoints that resume to the same result.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "jcas/api.hpp"
#include "jcas/core/adam.hpp"
#include "jcas/cuda_backend.hpp"

namespace jcas::train {

/// The paper's training (SPEC.md section 6): 30 epochs of ceil(500 / 32) = 16 steps of a
/// batch of 32 realizations (the last of each epoch has 20), one step after the other.
constexpr int paper_steps = 30 * 16;
constexpr long paper_batch = 32;

/// Parameter vector layout: [beta (l_out * l_in, row-major l, i), mu_c, mu_s].
std::vector<double> pack(const unfolded_model& m);
void unpack(const std::vector<double>& theta, unfolded_model& m);

struct loss_grad {
  double loss = 0;
  std::vector<double> grad;  // same layout as pack()
};

/// Loss of eq. 19 over the realizations idx of cs (mean over them) and its gradient.
/// w0/f0 are the initial points of all of cs (cpu::init_batch). Per-realization
/// gradients are summed in idx order: the result does not depend on the thread count.
loss_grad cpu_loss_and_gradient(const channel_set& cs, const std::vector<zd>& w0, const std::vector<zd>& f0,
                                const std::vector<long>& idx, const unfolded_model& m, const system_params<double>& sys,
                                int threads);
/// The same on an executor: the CPU backend, or the CUDA device (by `kernel`; under MPI
/// each rank its block of the batch, the block sums added in rank order). A model whose
/// layers repeat (unfolded_model::layer_repeat) is trained as a solve runs it at cs's K:
/// the loss over all L_out x repeats layers (eq. 19), each layer's gradient summed over
/// its runs.
loss_grad loss_and_gradient(const executor& ex, const channel_set& cs, const std::vector<zd>& w0,
                            const std::vector<zd>& f0, const std::vector<long>& idx, const unfolded_model& m,
                            const system_params<double>& sys, cuda::train_kernel kernel = cuda::train_kernel::warp);

struct settings {
  int epochs = 30, batch = 32;
  double lr = 3e-4, weight_decay = 1e-2, lr_decay = 0.97;
  /// Learning rate of the smoothing constants relative to lr (a parameter group: mu
  /// lives on a scale ~1000 times beta's). 1 = the reference's single group.
  double mu_lr_factor = 1;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  std::uint64_t seed = 1;  // shuffling
  /// Fresh data: every epoch after the first trains on new realizations of the same
  /// scenario and count (callbacks::epoch_data), the first on run()'s `data`.
  bool fresh = false;
  /// Mixed K: position p of an epoch's order trains on the first users_mix[p % size] users
  /// of its realization (a user's channel does not depend on K), so that every batch holds
  /// every K of the list and one model learns them all. Empty: the data's K only.
  std::vector<int> users_mix;
  cuda::train_kernel kernel = cuda::train_kernel::warp;  // on a GPU: cuda_backend.hpp's kernels
  /// On a GPU: the steps queued on the device an epoch at a time, gradient sums and Adam
  /// there (cuda::trainer), where the run allows (one process, one K, layers run once);
  /// false: each step's gradient from the device, Adam on the host (the old loop, for
  /// comparison).
  bool device_steps = true;
};

/// Throws std::invalid_argument naming the field and value of a bad setting.
void validate(const settings& s);

/// The first k users of every realization of cs (H's first k columns; G unchanged).
channel_set first_users(const channel_set& cs, int k);
/// What a training validates on: val (none where it is empty), or with s.users_mix its
/// first K users for each K of the mix (the validation objective is then their mean).
std::vector<channel_set> validation_sets(const channel_set& val, const settings& s);
/// The validation objective of m: the mean over `sets` (validation_sets) of each set's mean
/// objective, solved on ex (callbacks::validate).
double validation_objective(const executor& ex, const std::vector<channel_set>& sets, const unfolded_model& m,
                            const system_params<double>& sys);

/// Adam with L2 weight decay added to the gradient (torch.optim.Adam): its state, and
/// each step's constants; the update is core::adam_update, on the host or on the device.
struct adam {
  std::vector<double> m, v;
  long step = 0;
  /// The moments of n parameters at zero where none are kept yet (before the first step).
  void start(size_t n);
  /// The constants of the next step (it advances `step`) on n parameters (start(n) first). Parameters from index
  /// `first_mu` on take lr * s.mu_lr_factor.
  core::adam_coeffs next(size_t n, double lr, const settings& s, size_t first_mu = size_t(-1));
  /// One step on the host: next(), then core::adam_update on every parameter.
  void update(std::vector<double>& theta, const std::vector<double>& grad, double lr, const settings& s,
              size_t first_mu = size_t(-1));
};

/// Order of the training set in epoch e: a Fisher-Yates shuffle seeded by (seed, e).
std::vector<long> epoch_order(long n, std::uint64_t seed, int epoch);

struct log_row {
  int epoch = 0, batch = 0;  // batch = -1: end-of-epoch row
  double loss = 0, validation = 0;
};

/// What a training run is: every setting that shapes its result except the number of
/// epochs (a resume may run more), and a fingerprint of its data (the file, --limit,
/// --users and --targets all change it). Kept in the checkpoint; a resume whose run
/// differs is refused, naming the field.
struct run_identity {
  std::vector<std::pair<std::string, double>> fields;
  std::string data;  // fingerprint of H and G (hex)
  bool empty() const { return fields.empty(); }
};
run_identity identity_of(const channel_set& data, const system_params<double>& sys, const settings& s,
                         const unfolded_model& m);
/// Throws std::invalid_argument "resume: FIELD = NOW, but CHECKPOINT was trained with
/// FIELD = THEN" at the first difference.
void check_resume(const run_identity& now, const run_identity& then, const std::string& checkpoint);

/// Everything needed to continue: written after every epoch.
struct checkpoint {
  unfolded_model model;
  adam opt;
  int epochs_done = 0;
  double lr = 0;
  std::vector<log_row> log;
  run_identity run;    // empty until run() starts it
  std::string source;  // the file it was read from (read_checkpoint), for messages
};
void write_checkpoint(const std::string& path, const checkpoint& c);
checkpoint read_checkpoint(const std::string& path);

/// How a fresh epoch's realizations are drawn: realizations first .. first + count - 1 of
/// (sc, seed) by the generator (SPEC.md 7), count the training data's.
struct epoch_draw_spec {
  scenario sc{};
  std::uint64_t seed = 0;
  long first = 0;
};

struct callbacks {
  std::function<void(int epoch, int batch, int batches, double loss)> on_batch;
  std::function<double(const unfolded_model&)> validate;  // mean objective; may be empty
  std::function<void(const checkpoint&)> on_epoch;        // e.g. write checkpoint and log
  std::function<bool()> stop;  // polled after every batch: true ends run() with jcas::stopped
  /// settings::fresh: the realizations of epoch e >= 1 (0-based), as many as `data` and of
  /// its sizes, the same whenever asked (a resume draws them again).
  std::function<channel_set(int epoch)> epoch_data;
  /// settings::fresh, optional: how epoch_data(e) draws them. Where set and the run's steps
  /// are queued on a GPU (settings::device_steps), the device draws epoch e's realizations
  /// and computes their start (F0 by the rank-one closed form: LAPACK's up to a phase),
  /// and they never cross to the host; epoch_data is then not called.
  std::function<epoch_draw_spec(int epoch)> epoch_draw;
};

/// The structure of the model a run trains (the CLI's --outer --inner --iw
/// --frozen-gradient --per-layer-mu --w0 --final-weight).
struct model_shape {
  int outer = 150, inner = 3, iw = 2;
  bool frozen = false, per_layer_mu = false;
  w0_method w0 = w0_method::mrt;
  double final_weight = 0;
  int layer_repeat =
      1;  // how the trained model runs (unfolded_model::layer_repeat); training runs it so too (loss_and_gradient)
};
/// The model a fresh run starts from: the untrained default, or `init`'s parameters (a
/// trained model, whose L_out and L_in must be the shape's: otherwise throws naming
/// init_name), in the shape asked for.
unfolded_model initial_model(const model_shape& shape, const unfolded_model* init = nullptr,
                             const std::string& init_name = {});
/// The checkpoint at `path` of an interrupted run, to continue with `shape`: refused
/// (naming the file) where its model's structure (L_out, L_in, I_w, frozen, per-layer mu)
/// is not the shape's; the shape's training settings the model file does not hold (w0,
/// final weight) are set on it, so that run() refuses them where they differ.
checkpoint resume_checkpoint(const std::string& path, const model_shape& shape);
/// The provenance line a trained model carries: its data, shape and every setting, and
/// where it started from another model (init), that model's provenance in brackets, so a
/// chain of trainings is read from the last file alone.
std::string provenance(const std::string& data_name, const channel_set& data, const settings& s,
                       const model_shape& shape, const system_params<double>& sys, const std::string& init_name,
                       const unfolded_model* init = nullptr);

/// Trains from c (fresh or resumed) until s.epochs are done on ex (the CPU or a CUDA
/// device: the same gradients up to rounding). A resumed c (c.run not empty) must be the
/// same run (check_resume).
void run(const channel_set& data, const system_params<double>& sys, const settings& s, checkpoint& c,
         const callbacks& cb, const executor& ex);

}  // namespace jcas::train
