#include "training.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <stdexcept>
#include <utility>

#include "cpu_isa.hpp"
#include "fingerprint.hpp"
#include "jcas/cuda_backend.hpp"
#include "mpi.hpp"

namespace jcas::train {

std::vector<double> pack(const unfolded_model& m) {
  std::vector<double> t = m.beta;
  if (m.per_layer_mu) {
    t.insert(t.end(), m.mu_c_layer.begin(), m.mu_c_layer.end());
    t.insert(t.end(), m.mu_s_layer.begin(), m.mu_s_layer.end());
  } else {
    t.push_back(m.mu_c);
    t.push_back(m.mu_s);
  }
  return t;
}
void unpack(const std::vector<double>& t, unfolded_model& m) {
  const auto nb = long(m.beta.size());
  m.beta.assign(t.begin(), t.begin() + nb);
  if (m.per_layer_mu) {
    m.mu_c_layer.assign(t.begin() + nb, t.begin() + nb + m.l_out);
    m.mu_s_layer.assign(t.begin() + nb + m.l_out, t.end());
  } else {
    m.mu_c = t[nb];
    m.mu_s = t[nb + 1];
  }
}

loss_grad cpu_loss_and_gradient(const channel_set& cs, const std::vector<zd>& w0, const std::vector<zd>& f0,
                                const std::vector<long>& idx, const unfolded_model& model,
                                const system_params<double>& sys, int threads) {
  cpu::require_instruction_set();
  const long n = long(idx.size()), np = long(pack(model).size());
  std::vector<double> per(size_t(n * np), 0.0), losses(size_t(n), 0.0);
  std::vector<int> st(size_t(n), 0);
  // This process's block of the batch (all of it without MPI).
  const auto [lo, hi] = mpi::block(n, mpi::get().rank, mpi::get().size);
  cpu::isa::training_gradients(cs, w0, f0, idx, lo, hi, model, sys, threads, -1.0 / double(n), per.data(),
                               losses.data(), st.data());
  if (mpi::get().size > 1) {  // every rank gets every realization's gradient, loss and status
    std::vector<double> mine(size_t((hi - lo) * (np + 2)));
    for (long i = lo; i < hi; ++i) {
      double* m = mine.data() + (i - lo) * (np + 2);
      std::copy(per.begin() + i * np, per.begin() + (i + 1) * np, m);
      m[np] = losses[i];
      m[np + 1] = double(st[i]);
    }
    const std::vector<double> all = mpi::allgather_blocks(mine, n, np + 2);
    for (long i = 0; i < n; ++i) {
      const double* m = all.data() + i * (np + 2);
      std::copy(m, m + np, per.begin() + i * np);
      losses[i] = m[np];
      st[i] = int(m[np + 1]);
    }
  }
  loss_grad out;
  out.grad.assign(size_t(np), 0.0);
  for (long i = 0; i < n; ++i) {  // fixed order: same sum for any thread count
    if (st[i] != 0)
      throw std::runtime_error("training: realization " + std::to_string(idx[i]) +
                               " failed: " + to_string(status(st[i])));
    out.loss += losses[i];
    for (long p = 0; p < np; ++p) out.grad[p] += per[i * np + p];
  }
  return out;
}

namespace {

/// The gradient of a model whose layers run r times each (unfolded_model::run_at) from
/// the gradient of the model it runs: a layer's beta row and mu are used by its r runs,
/// so their gradient is the sum over those runs' (pack's layout on both sides).
std::vector<double> fold_repeats(const std::vector<double>& run_grad, const unfolded_model& m, int r) {
  std::vector<double> g(pack(m).size(), 0.0);
  const size_t l_out = size_t(m.l_out), l_in = size_t(m.l_in), nb = l_out * l_in;
  for (size_t l = 0; l < l_out; ++l)
    for (size_t j = 0; j < size_t(r); ++j)
      for (size_t i = 0; i < l_in; ++i) g[l * l_in + i] += run_grad[(l * r + j) * l_in + i];
  if (m.per_layer_mu) {  // [mu_c per layer..., mu_s per layer...]
    for (size_t t = 0; t < 2; ++t)
      for (size_t l = 0; l < l_out; ++l)
        for (size_t j = 0; j < size_t(r); ++j) g[nb + t * l_out + l] += run_grad[nb * r + t * l_out * r + l * r + j];
  } else {  // the shared mu_c, mu_s
    g[nb] = run_grad[nb * r];
    g[nb + 1] = run_grad[nb * r + 1];
  }
  return g;
}

}  // namespace

/// On the CUDA backend under MPI each rank takes its block of the batch and the block
/// sums are added in rank order (deterministic for a given rank count, but not
/// bit-identical to one process, unlike the CPU path).
loss_grad loss_and_gradient(const executor& ex, const channel_set& cs, const std::vector<zd>& w0,
                            const std::vector<zd>& f0, const std::vector<long>& idx, const unfolded_model& m,
                            const system_params<double>& sys, cuda::train_kernel kernel) {
  if (const int r = m.repeats_at(cs.dims.k); r != 1) {  // the model as a solve at this K runs it
    loss_grad lg = loss_and_gradient(ex, cs, w0, f0, idx, m.run_at(cs.dims), sys, kernel);
    lg.grad = fold_repeats(lg.grad, m, r);
    return lg;
  }
  if (!ex.gpu()) return cpu_loss_and_gradient(cs, w0, f0, idx, m, sys, ex.threads);
  const int device = ex.device;
  const mpi::world& w = mpi::get();
  const auto [lo, hi] = mpi::block(long(idx.size()), w.rank, w.size);
  loss_grad lg;
  if (w.size == 1) {
    lg.loss = cuda::loss_and_gradient(cs, w0, f0, idx, m, sys, lg.grad, device, kernel);
    return lg;
  }
  const std::vector<long> mine_idx(idx.begin() + lo, idx.begin() + hi);
  std::vector<double> g;
  double loss = 0;
  if (!mine_idx.empty()) loss = cuda::loss_and_gradient(cs, w0, f0, mine_idx, m, sys, g, device, kernel);
  const long np = long(pack(m).size());
  // Block sums are means over the block: scale back to the batch mean.
  const double share = double(hi - lo) / double(idx.size());
  std::vector<double> mine(size_t(np + 1), 0.0);
  for (long p = 0; p < np && !g.empty(); ++p) mine[p] = g[p] * share;
  mine[np] = loss * share;
  const std::vector<double> all = mpi::allgather_blocks(mine, w.size, np + 1);
  lg.grad.assign(size_t(np), 0.0);
  for (int r = 0; r < w.size; ++r) {
    for (long p = 0; p < np; ++p) lg.grad[p] += all[r * (np + 1) + p];
    lg.loss += all[r * (np + 1) + np];
  }
  return lg;
}

void adam::start(size_t n) {
  if (m.empty()) {
    m.assign(n, 0.0);
    v.assign(n, 0.0);
  }
}

core::adam_coeffs adam::next(size_t n, double lr, const settings& s, size_t first_mu) {
  start(n);
  ++step;
  core::adam_coeffs c;
  c.beta1 = s.beta1;
  c.beta2 = s.beta2;
  c.eps = s.eps;
  c.weight_decay = s.weight_decay;
  c.c1 = 1 - std::pow(s.beta1, double(step));
  c.c2 = 1 - std::pow(s.beta2, double(step));
  c.lr = lr;
  c.mu_lr = lr * s.mu_lr_factor;
  c.first_mu = first_mu == size_t(-1) ? -1 : long(first_mu);
  return c;
}

void adam::update(std::vector<double>& theta, const std::vector<double>& grad, double lr, const settings& s,
                  size_t first_mu) {
  const core::adam_coeffs c = next(theta.size(), lr, s, first_mu);
  for (size_t i = 0; i < theta.size(); ++i) core::adam_update(long(i), theta[i], grad[i], m[i], v[i], c);
}

std::vector<long> epoch_order(long n, std::uint64_t seed, int epoch) {
  std::vector<long> o(static_cast<size_t>(n));
  for (long i = 0; i < n; ++i) o[i] = i;
  std::mt19937_64 rng(seed * 1000003ULL + std::uint64_t(epoch));
  for (long i = n - 1; i > 0; --i) {
    const long j = long(rng() % std::uint64_t(i + 1));
    std::swap(o[i], o[j]);
  }
  return o;
}

void validate(const settings& s) {
  if (s.batch < 1) reject("batch", s.batch, "must be >= 1");
  if (s.epochs < 0) reject("epochs", s.epochs, "must be >= 0");
  require_positive(s.lr, "lr");
  require_non_negative(s.weight_decay, "weight-decay");
  require_positive(s.lr_decay, "lr-decay");
  require_non_negative(s.mu_lr_factor, "mu-lr-factor");
  if (!(s.beta1 >= 0 && s.beta1 < 1)) reject("adam beta1", s.beta1, "must be in [0, 1)");
  if (!(s.beta2 >= 0 && s.beta2 < 1)) reject("adam beta2", s.beta2, "must be in [0, 1)");
  require_positive(s.eps, "adam eps");
  for (const int k : s.users_mix)
    if (k < 1) reject("users-mix", k, "every K must be >= 1");
}

channel_set first_users(const channel_set& cs, int k) {
  if (k < 1 || k > cs.dims.k)
    throw std::invalid_argument("users = " + std::to_string(k) + ": the data have " + std::to_string(cs.dims.k) +
                                " users");
  channel_set out;
  out.dims = cs.dims;
  out.dims.k = k;
  out.count = cs.count;
  out.snr_db = cs.snr_db;
  out.g = cs.g;  // G does not depend on the users, in either form
  out.rank_one = cs.rank_one;
  out.gu = cs.gu;
  out.gv = cs.gv;
  out.h.resize(size_t(out.count * out.h_stride()));
  for (long b = 0; b < cs.count; ++b)  // H is Nt x K column-major: user k is column k
    std::copy_n(cs.h.begin() + b * cs.h_stride(), out.h_stride(), out.h.begin() + b * out.h_stride());
  return out;
}

namespace {
/// Refuses a K of the mix above the users of `cs` (what: "training data", ...).
void require_mix_within(const channel_set& cs, const settings& s, const char* what) {
  for (const int k : s.users_mix)
    if (k > cs.dims.k)
      throw std::invalid_argument("users-mix: K = " + std::to_string(k) + ", but the " + what + " have " +
                                  std::to_string(cs.dims.k) + " users");
}
}  // namespace

std::vector<channel_set> validation_sets(const channel_set& val, const settings& s) {
  if (val.count == 0) return {};
  if (s.users_mix.empty()) return {val};
  require_mix_within(val, s, "validation data");
  std::vector<channel_set> out;
  for (const int k : s.users_mix) out.push_back(first_users(val, k));
  return out;
}

run_identity identity_of(const channel_set& data, const system_params<double>& sys, const settings& s,
                         const unfolded_model& m) {
  run_identity r;
  r.fields = {{"batch", s.batch},
              {"lr", s.lr},
              {"weight-decay", s.weight_decay},
              {"lr-decay", s.lr_decay},
              {"mu-lr-factor", s.mu_lr_factor},
              {"adam beta1", s.beta1},
              {"adam beta2", s.beta2},
              {"adam eps", s.eps},
              {"seed", double(s.seed)},
              {"delta", sys.delta},
              {"pt", sys.pt},
              {"outer", m.l_out},
              {"inner", m.l_in},
              {"iw", m.i_w},
              {"frozen-gradient", m.frozen},
              {"per-layer-mu", m.per_layer_mu},
              {"final-weight", m.loss_final_weight},
              {"w0 zf (1) or mrt (0)", m.w0 == w0_method::zf},
              {"layer repeat", m.layer_repeat},
              {"realizations", double(data.count)},
              {"users", data.dims.k},
              {"targets", data.dims.m},
              {"clutter", data.dims.c},
              {"nt", data.dims.nt},
              {"nr", data.dims.nr},
              {"fresh data", s.fresh},
              {"users mix", double(s.users_mix.size())}};
  for (size_t i = 0; i < s.users_mix.size(); ++i)
    r.fields.push_back({"users mix K" + std::to_string(i + 1), s.users_mix[i]});
  // FNV-1a over the channels' bytes: another file, another --limit, --users or --targets.
  host::fnv1a h;
  for (const std::vector<zd>* v : {&data.h, &data.g, &data.gu, &data.gv}) h.add(*v);  // G dense or its factors
  r.data = h.hex();
  return r;
}

void check_resume(const run_identity& now, const run_identity& then, const std::string& checkpoint) {
  if (then.empty())
    throw std::invalid_argument("resume: " + checkpoint +
                                " does not record the settings it was trained with (an older jcas); start afresh");
  const auto num = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.10g", v);
    return std::string(b);
  };
  for (const auto& [field, value] : now.fields) {
    const auto it =
        std::find_if(then.fields.begin(), then.fields.end(), [&](const auto& f) { return f.first == field; });
    if (it == then.fields.end()) {
      if (((field == "fresh data" || field == "users mix") && value == 0) || (field == "layer repeat" && value == 1))
        continue;  // not recorded before there was a choice
      throw std::invalid_argument("resume: " + checkpoint + " does not record " + field + "; start afresh");
    }
    if (it->second != value)
      throw std::invalid_argument("resume: " + field + " = " + num(value) + ", but " + checkpoint +
                                  " was trained with " + field + " = " + num(it->second));
  }
  if (now.data != then.data)
    throw std::invalid_argument("resume: the training data differ from those " + checkpoint +
                                " was trained on (another file, --limit, --users or --targets)");
}

double validation_objective(const executor& ex, const std::vector<channel_set>& sets, const unfolded_model& m,
                            const system_params<double>& sys) {
  solve_options o;
  o.model = m;
  o.sys = sys;
  double sum = 0;
  for (const channel_set& v : sets) sum += summarize(solve_batch(ex, v, o)).mean_objective;
  return sum / double(sets.size());
}

namespace {

/// The training set of one K of a mix (or the data's own K): the channels, their W0, F0.
struct k_share {
  channel_set owned;  // first_users' copy; empty where set is the data itself
  const channel_set* set = nullptr;
  std::vector<zd> w0, f0;
};

/// The shares of an epoch's realizations `data`: one per K of s.users_mix, else one.
void make_shares(const channel_set& data, const system_params<double>& sys, const settings& s, w0_method w0,
                 int threads, std::vector<k_share>& shares) {
  shares.assign(std::max<size_t>(1, s.users_mix.size()), {});
  for (size_t i = 0; i < shares.size(); ++i) {
    k_share& sh = shares[i];
    if (s.users_mix.empty() || s.users_mix[i] == data.dims.k) {
      sh.set = &data;
    } else {
      sh.owned = first_users(data, s.users_mix[i]);
      sh.set = &sh.owned;
    }
    cpu::init_batch(*sh.set, sys, f0_method::lapack, sh.w0, sh.f0, threads, w0);
  }
}

/// Loss and gradient of a batch: the realizations at positions [lo, hi) of the epoch's
/// order, position p in share p % shares (each share's mean weighted by its part of the
/// batch; one share: its loss and gradient unchanged).
loss_grad batch_loss_and_gradient(const executor& ex, const std::vector<k_share>& shares,
                                  const std::vector<long>& order, long lo, long hi, const unfolded_model& m,
                                  const system_params<double>& sys, const settings& s) {
  const long n = long(shares.size());
  if (n == 1) {
    const std::vector<long> idx(order.begin() + lo, order.begin() + hi);
    return loss_and_gradient(ex, *shares[0].set, shares[0].w0, shares[0].f0, idx, m, sys, s.kernel);
  }
  loss_grad out;
  for (long k = 0; k < n; ++k) {
    std::vector<long> idx;
    for (long p = lo; p < hi; ++p)
      if (p % n == k) idx.push_back(order[p]);
    if (idx.empty()) continue;
    const loss_grad lg = loss_and_gradient(ex, *shares[k].set, shares[k].w0, shares[k].f0, idx, m, sys, s.kernel);
    const double part = double(idx.size()) / double(hi - lo);
    out.grad.resize(lg.grad.size(), 0.0);
    for (size_t p = 0; p < lg.grad.size(); ++p) out.grad[p] += part * lg.grad[p];
    out.loss += part * lg.loss;
  }
  return out;
}

/// Where a run's steps run (settings::device_steps): each step's gradient and Adam update
/// on the model c holds, its loss reported once the step is done. The host's steps are
/// done when queued; the device's (cuda::trainer) run behind the host, a few in flight,
/// and c's model and moments are brought back when they are waited for.
class step_runner {
 public:
  virtual ~step_runner() = default;
  /// The realizations of the epoch's steps (shares) and their order.
  virtual void epoch(const std::vector<k_share>& shares, const std::vector<long>& order, bool new_shares) = 0;
  /// Queues the step on positions lo .. hi - 1 of the order at learning rate lr.
  virtual void step(long lo, long hi, double lr) = 0;
  /// The losses of the steps done since the last call, in order; wait: of every queued
  /// step, with c's model and moments as of the last.
  virtual std::vector<double> done(bool wait) = 0;
  /// Whether draw() can make an epoch's realizations where the steps run (the device).
  virtual bool draws() const { return false; }
  /// The next epoch's `count` realizations drawn by `spec`, their start by W0 = zf or MRT.
  virtual void draw(const epoch_draw_spec&, long, bool) { throw std::logic_error("steps: no draws here"); }
};

/// Steps on the host: each step's gradient from the executor (CPU, or the GPU a step at a
/// time), Adam on the host.
class host_steps final : public step_runner {
 public:
  host_steps(const executor& ex, const system_params<double>& sys, const settings& s, checkpoint& c,
             std::vector<double>& theta)
      : ex_(ex), sys_(sys), s_(s), c_(c), theta_(theta) {}
  void epoch(const std::vector<k_share>& shares, const std::vector<long>& order, bool) override {
    shares_ = &shares;
    order_ = &order;
  }
  void step(long lo, long hi, double lr) override {
    const loss_grad lg = batch_loss_and_gradient(ex_, *shares_, *order_, lo, hi, c_.model, sys_, s_);
    c_.opt.update(theta_, lg.grad, lr, s_, c_.model.beta.size());
    unpack(theta_, c_.model);
    done_.push_back(lg.loss);
  }
  std::vector<double> done(bool) override { return std::exchange(done_, {}); }

 private:
  const executor& ex_;
  const system_params<double>& sys_;
  const settings& s_;
  checkpoint& c_;
  std::vector<double>& theta_;
  const std::vector<k_share>* shares_ = nullptr;
  const std::vector<long>* order_ = nullptr;
  std::vector<double> done_;
};

/// Steps on the device (cuda::trainer): Adam's constants from the host's adam (the same
/// step count and bias corrections), everything else queued there; the losses as the
/// steps finish, the model and moments brought back when the epoch's steps are waited for.
class device_steps final : public step_runner {
 public:
  device_steps(const executor& ex, const system_params<double>& sys, const settings& s, checkpoint& c,
               std::vector<double>& theta, const k_share& first)
      : s_(s), c_(c), theta_(theta), t_(*first.set, first.w0, first.f0, c.model, sys, s.batch, ex.device, s.kernel) {
    c_.opt.start(theta.size());
    t_.set_state(theta_, c_.opt.m, c_.opt.v);
  }
  void epoch(const std::vector<k_share>& shares, const std::vector<long>& order, bool new_shares) override {
    if (new_shares) t_.load(*shares[0].set, shares[0].w0, shares[0].f0);
    t_.order(order);
  }
  bool draws() const override { return true; }
  void draw(const epoch_draw_spec& spec, long count, bool zf) override {
    t_.draw(spec.sc, spec.seed, spec.first, count, zf);
  }
  void step(long lo, long hi, double lr) override {
    t_.step(lo, hi, c_.opt.next(theta_.size(), lr, s_, c_.model.beta.size()));
    ++queued_;
  }
  std::vector<double> done(bool wait) override {
    if (queued_ == 0) return {};
    if (!wait) return t_.done();
    std::vector<double> l = t_.losses();
    queued_ = 0;
    t_.state(theta_, c_.opt.m, c_.opt.v);
    unpack(theta_, c_.model);
    return l;
  }

 private:
  const settings& s_;
  checkpoint& c_;
  std::vector<double>& theta_;
  cuda::trainer t_;
  long queued_ = 0;
};

/// Whether a run's steps can run on the device: a GPU run of one process, one K, each layer
/// run once (a mix, MPI and repeated layers take the host's steps, their gradients still
/// from the GPU).
bool device_steps_fit(const executor& ex, const settings& s, const channel_set& data, const unfolded_model& m) {
  return ex.gpu() && s.device_steps && mpi::get().size == 1 && s.users_mix.empty() && m.repeats_at(data.dims.k) == 1;
}

}  // namespace

void run(const channel_set& data, const system_params<double>& sys, const settings& s, checkpoint& c,
         const callbacks& cb, const executor& ex) {
  const int threads = ex.threads;
  validate(s);
  if (data.count < 1) throw std::invalid_argument("training data: no realizations");
  require_mix_within(data, s, "training data");
  validate_range(data, sys, precision::f64);
  c.model.finalize();
  const run_identity now = identity_of(data, sys, s, c.model);
  if (c.epochs_done > 0 || !c.run.empty()) check_resume(now, c.run, c.source.empty() ? "the checkpoint" : c.source);
  c.run = now;
  if (s.fresh && !cb.epoch_data) throw std::invalid_argument("fresh: no source of each epoch's realizations");
  if (ex.gpu()) cuda::order_after(ex.stream, ex.device);
  std::vector<k_share> shares;
  make_shares(data, sys, s, c.model.w0, threads, shares);
  std::vector<double> theta = pack(c.model);
  if (c.epochs_done == 0 && c.lr == 0) c.lr = s.lr;
  std::unique_ptr<step_runner> runner;
  if (device_steps_fit(ex, s, data, c.model))
    runner = std::make_unique<device_steps>(ex, sys, s, c, theta, shares[0]);
  else
    runner = std::make_unique<host_steps>(ex, sys, s, c, theta);
  const int batches = int((data.count + s.batch - 1) / s.batch);
  channel_set fresh;  // settings::fresh: this epoch's realizations
  for (int e = c.epochs_done; e < s.epochs; ++e) {
    bool new_shares = false;
    if (s.fresh && e > 0 && cb.epoch_draw && runner->draws()) {  // drawn where the steps run
      const epoch_draw_spec spec = cb.epoch_draw(e);
      if (spec.sc.dims != data.dims)
        throw std::logic_error("fresh: epoch " + std::to_string(e + 1) + "'s draw differs in sizes");
      runner->draw(spec, data.count, c.model.w0 == w0_method::zf);
    } else if (s.fresh && e > 0) {
      fresh = cb.epoch_data(e);
      if (fresh.count != data.count || fresh.dims != data.dims)
        throw std::logic_error("fresh: epoch " + std::to_string(e + 1) + "'s realizations differ in count or sizes");
      validate_range(fresh, sys, precision::f64);
      make_shares(fresh, sys, s, c.model.w0, threads, shares);
      new_shares = true;
    }
    const std::vector<long> order = epoch_order(data.count, s.seed, e);
    runner->epoch(shares, order, new_shares);
    double epoch_loss = 0;
    int reported = 0;  // batches whose loss is logged
    const auto report = [&](const std::vector<double>& losses) {
      for (const double loss : losses) {
        const long lo = long(reported) * s.batch, hi = std::min(data.count, lo + s.batch);
        epoch_loss += loss * double(hi - lo);
        c.log.push_back({e + 1, ++reported, loss, std::nan("")});
        if (cb.on_batch) cb.on_batch(e + 1, reported, batches, loss);
      }
    };
    for (int bi = 0; bi < batches; ++bi) {
      const long lo = long(bi) * s.batch, hi = std::min(data.count, lo + s.batch);
      runner->step(lo, hi, c.lr);
      report(runner->done(false));
      if (cb.stop && cb.stop()) {
        report(runner->done(true));
        throw stopped("training stopped by the caller in epoch " + std::to_string(e + 1) + ", batch " +
                      std::to_string(bi + 1) + " of " + std::to_string(batches));
      }
    }
    report(runner->done(true));
    c.lr *= s.lr_decay;
    c.epochs_done = e + 1;
    const double val = cb.validate ? cb.validate(c.model) : std::nan("");
    c.log.push_back({e + 1, -1, epoch_loss / double(data.count), val});
    if (cb.on_epoch) cb.on_epoch(c);
  }
}

unfolded_model initial_model(const model_shape& shape, const unfolded_model* init, const std::string& init_name) {
  unfolded_model m;
  if (init) {
    m = *init;
    if (m.l_out != shape.outer || m.l_in != shape.inner)
      throw std::invalid_argument("init = " + init_name + ": model has L_out " + std::to_string(m.l_out) + ", L_in " +
                                  std::to_string(m.l_in) + "; pass matching --outer/--inner");
    if (shape.per_layer_mu && !m.per_layer_mu) {  // paper model -> richer model, same function
      m.mu_c_layer.assign(size_t(m.l_out), m.mu_c);
      m.mu_s_layer.assign(size_t(m.l_out), m.mu_s);
    }
  }
  m.l_out = shape.outer;
  m.l_in = shape.inner;
  m.i_w = shape.iw;
  m.frozen = shape.frozen;
  m.per_layer_mu = m.per_layer_mu || shape.per_layer_mu;
  m.w0 = shape.w0;
  m.loss_final_weight = shape.final_weight;
  m.layer_repeat = shape.layer_repeat;
  m.finalize();
  return m;
}

std::string provenance(const std::string& data_name, const channel_set& data, const settings& s,
                       const model_shape& shape, const system_params<double>& sys, const std::string& init_name,
                       const unfolded_model* init) {
  std::string data_kind = s.fresh ? " fresh-each-epoch" : "";
  const std::string repeat = shape.layer_repeat == 1 ? "" : " layer_repeat=" + layer_repeat_text(shape.layer_repeat);
  for (size_t i = 0; i < s.users_mix.size(); ++i)
    data_kind += (i == 0 ? " users_mix=" : ",") + std::to_string(s.users_mix[i]);
  char prov[1024];
  std::snprintf(prov, sizeof prov,
                "trained: data=%s users=%d targets=%d realizations=%ld%s epochs=%d batch=%d lr=%g weight_decay=%g "
                "lr_decay=%g mu_lr_factor=%g final_weight=%g seed=%llu delta=%g pt=%g variant=%s%s w0=%s%s init=%s",
                data_name.c_str(), data.dims.k, data.dims.m, data.count, data_kind.c_str(), s.epochs, s.batch, s.lr,
                s.weight_decay, s.lr_decay, s.mu_lr_factor, shape.final_weight, (unsigned long long)s.seed, sys.delta,
                sys.pt, shape.frozen ? "frozen-gradient" : "paper", shape.per_layer_mu ? "+per-layer-mu" : "",
                shape.w0 == w0_method::zf ? "zf" : "mrt", repeat.c_str(),
                init_name.empty() ? "none" : init_name.c_str());
  return init ? prov + (" [" + init->provenance + "]") : std::string(prov);
}

}  // namespace jcas::train
