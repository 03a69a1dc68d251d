// The whole-batch API, declared once; implemented by the CPU backend (host/) and the
// CUDA backend (kernels/). Host-side containers hold complex<double> in the layout of
// view.hpp: realization slowest, each matrix column-major.
#pragma once
#include <complex>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "jcas/core/generator.hpp"
#include "jcas/dims.hpp"

namespace jcas {

using zd = std::complex<double>;

/// A set of channel realizations. h: count x (Nt x K). G in one of two forms: dense,
/// g: count x J x (Nr x Nt); or, for line-of-sight channels (rank_one), the factors of
/// G_j = u_j v_j^H, gu: count x J x Nr and gv: count x J x Nt, with g empty: Nr + Nt
/// numbers a block instead of Nr Nt (5.7x less memory for H and G at the paper's sizes).
/// The generator draws either (generate_batch's rank_one); every solver takes either.
struct channel_set {
  problem_dims dims{};
  long count = 0;
  std::vector<zd> h, g;
  double snr_db = 20;  // the SNR the set was generated for (solve's default Pt)
  bool rank_one = false;
  std::vector<zd> gu, gv;
  long h_stride() const { return long(dims.nt) * dims.k; }
  long g_stride() const { return long(dims.j()) * dims.nr * dims.nt; }
  long gu_stride() const { return long(dims.j()) * dims.nr; }
  long gv_stride() const { return long(dims.j()) * dims.nt; }
};

/// The channels a solve reads, without owning them: `count` realizations in channel_set's
/// layout (contiguous; each matrix column-major), G dense or as rank-one factors. A
/// channel_set converts to one; the Python module points one at the caller's arrays (no
/// copy).
struct channel_view {
  problem_dims dims{};
  long count = 0;
  const zd* h = nullptr;
  const zd* g = nullptr;
  double snr_db = 20;
  bool rank_one = false;
  const zd* gu = nullptr;
  const zd* gv = nullptr;
  channel_view() = default;
  channel_view(const problem_dims& d, long n, const zd* h_, const zd* g_, double snr = 20)
      : dims(d), count(n), h(h_), g(g_), snr_db(snr) {}
  channel_view(const channel_set& cs)  // NOLINT: implicit, a set is a view of itself
      : dims(cs.dims),
        count(cs.count),
        h(cs.h.data()),
        g(cs.g.data()),
        snr_db(cs.snr_db),
        rank_one(cs.rank_one),
        gu(cs.gu.data()),
        gv(cs.gv.data()) {}
  long h_stride() const { return long(dims.nt) * dims.k; }
  long g_stride() const { return long(dims.j()) * dims.nr * dims.nt; }
  long gu_stride() const { return long(dims.j()) * dims.nr; }
  long gv_stride() const { return long(dims.j()) * dims.nt; }
  /// Realizations first .. first + n - 1 of these.
  channel_view slice(long first, long n) const {
    channel_view v = *this;
    v.count = n;
    v.h += first * h_stride();
    if (rank_one) {
      v.gu += first * gu_stride();
      v.gv += first * gv_stride();
    } else {
      v.g += first * g_stride();
    }
    return v;
  }
};

/// Room for `count` realizations of sizes d in either form (zeros), after require_memory
/// has been asked for it: what the generators fill.
channel_set sized_channels(const problem_dims& d, long count, bool rank_one);
/// A copy of the channels in the form they have.
channel_set copy_of(const channel_view& ch);
/// The same channels with G dense: G_j = u_j v_j^H multiplied out where ch is rank-one.
channel_set dense_form(const channel_view& ch);
/// The same channels as rank-one factors: each dense G_j factored (to 1e-10, relative);
/// one that is not rank one is refused, naming the realization and the block.
channel_set rank_one_form(const channel_view& ch);

/// W0: maximum-ratio transmission Pi_S(H) (SPEC.md 3, the paper), or regularised
/// zero-forcing Pi_S(H (H^H H + K sigma_c^2 / Pt I)^{-1}) (beyond the paper: far closer
/// to the optimum when K is large).
enum class w0_method { mrt, zf };

/// Parameters of the unfolded optimiser (SPEC.md sections 4-6). beta[l * l_in + i].
struct unfolded_model {
  int l_out = 150, l_in = 3, i_w = 2;
  bool frozen = false;
  double mu_c = 10, mu_s = 10;
  std::vector<double> beta;  // empty = untrained: every beta = 0.01
  /// Richer model (issue 6): one (mu_c, mu_s) per layer. finalize() fills empty tables
  /// with mu_c / mu_s.
  bool per_layer_mu = false;
  /// The start the model was trained from (solve uses it unless told otherwise).
  w0_method w0 = w0_method::mrt;
  std::vector<double> mu_c_layer, mu_s_layer;
  std::string provenance = "untrained";  // how it was made (training settings, data)
  /// Training only (not stored in model files): extra weight of the last layer's h in
  /// the loss, L = -(1/B) sum_b [sum_l h^[l] / l + final_weight h^[L]]. 0 = eq. 19.
  double loss_final_weight = 0;
  /// How often each layer runs in a solve (training runs each once): 1 as trained, N >= 2
  /// each layer N times in a row, 0 by the number of users (repeats_at).
  int layer_repeat = 1;
  /// Fills beta with the untrained value when empty; checks the table size.
  void finalize();
  /// Runs of each layer at K users: layer_repeat, or for 0 max(ceil(K / 4), floor(4 / K)):
  /// once at K = 3, 4 (the paper's K = 4 budget), twice at K = 2 and 5 ... 8, three times
  /// at 9 ... 12, and so on: more iterations where the problem is larger (the unfolded
  /// solver is short of them there: bench/RESULTS.md, 2026-12-06), and below K = 4 as many
  /// as the K = 4 budget pays for.
  int repeats_at(int k) const;
  /// The model a solve at dims d runs: each layer repeats_at(d.k) times in a row (its beta
  /// row and its mu), layer_repeat 1. Finalized.
  unfolded_model run_at(const problem_dims& d) const;
  /// The model cut after its first `layers` outer layers (1 <= layers <= l_out; a
  /// layers sweep). Throws naming the value otherwise.
  unfolded_model first_layers(int layers) const;
};

algorithm parse_algorithm(const std::string& s);  // throws on unknown names

/// The unfolded model shipped with jcas for the trade-off weight delta (models/, trained
/// by tools/train_models.sh, compiled in): the one trained for the delta nearest on a
/// log(1 + delta) scale. Its provenance starts "shipped models/FILE: ".
unfolded_model shipped_model(double delta);

/// The unfolded model a solve runs, as the CLI and the Python module ask for it: a
/// trained model (a model file's); else the shipped model for the run's delta; else,
/// where `untrained` is set or L_out / L_in are given, the untrained model (every beta =
/// 0.01) of that structure. A trained or shipped model fixes L_out and L_in (other values
/// throw naming them); I_w and the frozen-gradient variant apply to any. Finalized.
struct model_choice {
  std::optional<unfolded_model> trained;
  bool untrained = false;
  std::optional<int> outer, inner, iw;
  bool frozen = false;
  std::optional<int> layer_repeat;  // overrides the model's (unfolded_model::layer_repeat)
};
unfolded_model resolve_model(const model_choice& c, double delta);
std::string to_string(algorithm a);
std::string to_string(status s);  // a core status code as words

/// How F0 is computed (SPEC.md 3): lapack = host zhegv (the CPU's route; the CUDA backend
/// copies it), lowrank = the library-free core route (core/init.hpp; in the CUDA solve
/// kernel), cusolver = the CUDA backend's batched cuSOLVER/cuBLAS route
/// (kernels/f0_cusolver.cu; CUDA only).
enum class f0_method { lapack, lowrank, cusolver };
enum class precision { f64, f32 };
/// The words of the CLI and the Python module ("lapack", "f32", "zf"); throw naming a bad one.
f0_method parse_f0(const std::string& s);
precision parse_precision(const std::string& s);
w0_method parse_w0(const std::string& s);
/// "users" -> 0 (by the users, unfolded_model::repeats_at), "N" -> N >= 1; throws naming
/// field otherwise. layer_repeat_text is its inverse.
int parse_layer_repeat(const std::string& s, const std::string& field = "layer-repeat");
std::string layer_repeat_text(int r);
/// Pt = 10^(snr/10) with unit noise; throws "FIELD = V: ..." where the SNR is not finite
/// or Pt is not a positive finite double.
double pt_of_snr_db(double snr_db, const std::string& field = "snr-db");

/// How the unfolded solver runs the two products of every D(W) (eq. 16): loops = inside
/// the per-realization core; gemm = as batched GEMMs over a chunk of realizations, BLAS
/// on the CPU and cuBLAS on the GPU (core/batched.hpp); team = the same batch phases run
/// for one realization by a team of threads, on a GPU a warp per realization with its
/// state in shared memory (core/team.hpp; on the CPU a team of one thread); lanes =
/// Algorithm 1 for line-of-sight channels by a team of lanes with the realization's whole
/// state in fast memory and the products in U's coordinates (core/lanes.hpp; on a GPU a
/// warp per realization, or 8 or 16 of its lanes: solve_options::team_lanes,
/// kernels/unfolded_lanes.cu; on the CPU one thread: its reference there). automatic:
/// loops on the CPU (faster there at every size up to Nt = 256, K = 64: bench/RESULTS.md);
/// on a GPU lanes for line-of-sight channels whose state fits a block's shared memory,
/// else team where a realization's scratch exceeds a thread's local-memory slot (the large
/// arrays, where the H200 measured team faster than gemm), else loops.
enum class products_route { automatic, loops, gemm, team, lanes };
/// True for the routes that run core/batched.hpp's batch phases (gemm, team).
inline bool batch_phases(products_route r) { return r == products_route::gemm || r == products_route::team; }
products_route parse_products(const std::string& s);  // throws on unknown names
std::string to_string(products_route r);

/// CUDA, a thread per realization (--products loops, and the solvers other than unfolded):
/// where a thread keeps its realization's scratch. automatic: in its local memory where
/// it fits the 32 KB slot (cuda_backend.hpp), else in global memory.
enum class scratch_placement { automatic, local, global };

struct ao_settings {
  double mu_c = 10, mu_s = 10, outer_tol = 1e-4;
  int max_outer = 200;
  double inner_tol = 1e-4;
  double fixed_step = 0.01;
  int fixed_max_steps = 1000;
  double bt_t0 = 1, bt_shrink = 0.3, bt_armijo = 0.1;
  int bt_max_steps = 1000, bt_max_shrinks = 50;
  int fp_max_steps = 100;
};

/// --algo ascent (core/ascent.hpp): mu raised geometrically from mu_first to mu_last over
/// `stages`; at most max_steps accepted steps per stage, a stage ends when one step
/// raises h_mu by <= tol (relative). starts: a mask of ascent_start (dims.hpp).
struct ascent_settings {
  double mu_first = 10, mu_last = 3000;
  int stages = 6, max_steps = 1000;
  double tol = 1e-8;
  int starts = start_all;
  std::uint64_t seed = 1;
};
/// Parses "given,zf,random,nulls" (or "all") into the mask; throws naming a bad entry.
int parse_ascent_starts(const std::string& s);

struct solve_options {
  algorithm algo = algorithm::unfolded;
  system_params<double> sys{};
  unfolded_model model{};
  ao_settings ao{};
  ascent_settings ascent{};
  f0_method f0 = f0_method::lapack;
  std::optional<w0_method> w0;  // empty: the model's start for unfolded, MRT otherwise
  precision prec = precision::f64;
  products_route products = products_route::automatic;
  /// CPU, unfolded, per-realization loops, rank-one channels: run 4 (f64) or 8 (f32)
  /// realizations at once, one per SIMD lane (the core instantiated with jcas::pack).
  /// false: one realization at a time. Results agree to rounding.
  bool simd = true;
  int threads = 0;                                      // 0: all cores
  std::function<void(long done, long total)> progress;  // called from one thread
  /// Polled by the calling thread between groups of realizations (CPU: 1 to 8, or chunks of
  /// up to 1024 on the batch-phase routes) or chunks (GPU), often (keep it cheap): once it
  /// returns true, the call ends early with jcas::stopped, no results (the Python
  /// module's Ctrl-C). Copied with the options: keep shared state behind a reference.
  std::function<bool()> stop;
  scratch_placement scratch = scratch_placement::automatic;  // CUDA, a thread per realization
  /// CUDA: a device call that runs past this many times its predicted time (counted work
  /// at a pessimistic device rate, host/gpu_model.hpp) plus a minute is stopped with an
  /// error naming it (host/watchdog.hpp); 0 waits without a limit.
  double gpu_watchdog = 20;
  /// CUDA: at most this many realizations a device chunk (0: as many as fit the free
  /// device memory, at most 65536), to leave a shared GPU room or to run a batch in several
  /// chunks (which then overlap their copies with the kernels).
  long gpu_chunk = 0;
  /// CUDA, the lanes route (products lanes, or automatic for line-of-sight channels): the
  /// lanes of a warp that run one realization, 8, 16 or 32 (32 / n realizations a warp);
  /// 0: the size host/gpu_model.hpp's counted model predicts fastest for the solve.
  int team_lanes = 0;
};

/// Per-realization results of a solve. curve: count x curve_len (curve[0] = initial h).
/// Thrown by a call whose solve_options::stop (or training callbacks::stop) said stop.
struct stopped : std::runtime_error {
  stopped(long done, long count)
      : std::runtime_error("stopped by the caller after " + std::to_string(done) + " of " + std::to_string(count) +
                           (count == 1 ? " realization" : " realizations")) {}
  explicit stopped(const std::string& what) : std::runtime_error(what) {}
};

struct solve_output {
  algorithm algo{};
  problem_dims dims{};
  long count = 0;
  int curve_len = 0;
  std::vector<zd> w, f;  // count x (Nt x K), count x (Nr x M)
  std::vector<double> curve;
  std::vector<double> objective, min_sinr, min_scnr;  // linear min SINR / SCNR
  std::vector<int> outer;
  std::vector<long> inner;
  double seconds = 0;       // wall time of the solve itself
  double init_seconds = 0;  // of which W0 / F0 on the host (init_batch)
  long simd_count = 0;      // CPU: realizations solved in SIMD lanes (solve_options::simd)
};

/// The most CPU threads a call takes (more fail to start, or crash OpenMP).
constexpr int max_threads = 1024;

/// Memory a call is about to allocate: throws std::runtime_error "WHAT needs N of memory;
/// M is available" when `bytes` exceeds three quarters of what the machine has available
/// (Linux's MemAvailable), before anything is allocated.
void require_memory(const std::string& what, double bytes);

/// Host bytes of `count` realizations' channels (a channel_set), and of a solve's
/// outputs for them under options o (W, F, the curves and the per-realization results):
/// what require_memory is asked before they are allocated.
double channel_set_bytes(const problem_dims& d, long count, bool rank_one = false);
struct solve_options;
double solve_output_bytes(const problem_dims& d, long count, const solve_options& o);

/// Bad input, in the library's one form: throws std::invalid_argument "FIELD = VALUE: WHY".
[[noreturn]] void reject(const std::string& field, double value, const std::string& why);
/// reject unless v is finite / finite and > 0 / finite and >= 0.
void require_finite(double v, const std::string& field);
void require_positive(double v, const std::string& field);
void require_non_negative(double v, const std::string& field);

/// Throws std::invalid_argument naming the field and value on any bad input: the
/// dimensions, the count, non-finite entries (and for a set, its sizes). first: the
/// number of ch's first realization in the messages (ch a range of a larger set: a file's).
void validate(const channel_view& ch, long first = 0);
void validate(const channel_set& ch);
void validate(const problem_dims& d);
/// Every constant of the channel model (names as the `generate` options).
void validate(const scenario& sc);
/// A generate_batch call: the scenario, the first index and the count (>= 0).
void validate_draw(const scenario& sc, long first, long count);
void validate(const solve_options& o, const problem_dims& d);
/// The channels' strongest received power above the noise, Pt max(||h_k||^2 / sigma_c^2,
/// ||G_j||_F^2 / sigma_s^2), within what precision p resolves (f32: -200 .. 65 dB, f64:
/// -1000 .. 130 dB; the reference scenario at 20 dB is 37 dB): outside, results would be
/// silently wrong or NaN. Throws naming the realization, Pt and the power.
void validate_range(const channel_view& ch, const system_params<double>& sys, precision p);
/// The W0 a solve starts from (solve_options::w0 resolved).
w0_method start_of(const solve_options& o);

/// Summary over a batch in the paper's reporting convention (SPEC.md section 2).
struct summary {
  long realizations = 0;
  double mean_objective = 0, min_sinr_db = 0, min_scnr_db = 0, mean_iterations = 0, seconds_per_realization = 0;
};
summary summarize(const solve_output& out);
/// A summary's sums, added output by output (a batch solved in ranges, in order): the
/// summary of ranges added in order is summarize's of the whole batch, to the bit.
struct summary_sums {
  long count = 0;
  double objective = 0, min_sinr = 0, min_scnr = 0, outer = 0, seconds = 0;
  void add(const solve_output& part);
  summary result() const;
};

/// Where a whole-batch call runs: the CPU backend (OpenMP threads) or a CUDA device (its
/// host side -- W0 / F0 by LAPACK, conversions -- on the CPU's threads).
struct executor {
  int device = -1;  // -1: the CPU; >= 0: the CUDA device with that index
  int threads = 0;  // CPU threads (0: every core)
  /// On a CUDA device: the caller's stream (a cudaStream_t as an integer; 1 the legacy
  /// default stream, 2 the per-thread default one; 0 none), whose work queued before the
  /// call precedes everything the call does on the device (cuda::order_after). The call
  /// returns its results complete, so the caller's stream need not wait for it.
  std::uintptr_t stream = 0;
  bool gpu() const { return device >= 0; }
};

/// "cpu" -> -1, "cuda" -> 0, "cuda:N" -> N; throws "device = ...: expected cpu, cuda or
/// cuda:N" otherwise.
int parse_device(const std::string& s);

/// The batch API on an executor: the CPU or CUDA backend's own call (cpu::, cuda::).
/// rank_one: G as its factors (channel_set::rank_one), drawn so.
channel_set generate_batch(const executor& ex, const scenario& sc, std::uint64_t seed, long first, long count,
                           bool rank_one = false);
/// o.threads is ex.threads where that is set (> 0).
solve_output solve_batch(const executor& ex, const channel_view& ch, const solve_options& o);

namespace cpu {
/// Empty where this CPU has the x86-64 level the CPU backend was built for
/// (JCAS_X86_LEVEL), else one line naming what it lacks. The calls below check it first
/// and throw std::runtime_error with that line; nothing else in jcas needs the level.
std::string instruction_set_error();
void require_instruction_set();
/// Channels of realizations first .. first+count-1 of (scenario, seed).
/// rank_one: G as its factors G_j = u_j v_j^H (channel_set::rank_one), drawn so.
channel_set generate_batch(const scenario& sc, std::uint64_t seed, long first, long count, int threads = 0,
                           bool rank_one = false);
/// W0 (Pi_S(H), or zero-forcing) and F0 (SPEC.md section 3) for every realization.
/// how = cusolver writes W0 only (F0 = 0: the CUDA backend computes it on the device).
void init_batch(const channel_view& ch, const system_params<double>& sys, f0_method how, std::vector<zd>& w,
                std::vector<zd>& f, int threads = 0, w0_method w0 = w0_method::mrt);
/// Runs the chosen algorithm from (W0, F0) on every realization.
solve_output solve_batch(const channel_view& ch, const solve_options& o);
}  // namespace cpu

}  // namespace jcas
