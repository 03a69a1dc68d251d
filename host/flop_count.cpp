// host/flop_count.hpp: the shared core instantiated with the counting scalar.
#include "flop_count.hpp"

#include <algorithm>
#include <barrier>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "batch_inputs.hpp"
#include "jcas/core/dispatch.hpp"
#include "jcas/core/lanes.hpp"
#include "jcas/core/team.hpp"
#include "jcas/core/training.hpp"
#include "realization.hpp"
#include "solver_config.hpp"

namespace jcas::host {

namespace {

using counting::fc;

/// The first min(sample, count) realizations of cs with their W0 / F0 from
/// cpu::init_batch (cuSOLVER's F0 replaced by LAPACK's, the same start): what is counted
/// starts from there.
struct counted_sample {
  channel_set sub;
  std::vector<zd> w0, f0;
  counted_sample(const channel_view& cs, const system_params<double>& sys, f0_method f0m, w0_method w0m, long sample) {
    const long n = std::min(sample, cs.count);
    if (n <= 0) throw std::invalid_argument("counted_flops: sample: " + std::to_string(sample) + " (must be >= 1)");
    sub = copy_of(cs.slice(0, n));
    cpu::init_batch(sub, sys, f0m == f0_method::cusolver ? f0_method::lapack : f0m, w0, f0, 1, w0m);
  }
};

/// Runs fn(channels, W0, F0) in the counting scalar on counted_sample's realizations;
/// returns the mean count.
template <class Fn>
double mean_count(const channel_view& cs, const system_params<double>& sys, f0_method f0m, w0_method w0m, long sample,
                  Fn&& fn) {
  const counted_sample s(cs, sys, f0m, w0m, sample);
  const channel_set& sub = s.sub;
  const std::vector<zd>&w0 = s.w0, &f0 = s.f0;
  const long n = sub.count;
  const problem_dims d = cs.dims;
  const long nw = long(d.nt) * d.k, nf = long(d.nr) * d.m;
  std::vector<cplx<fc>> wf(size_t(nw + nf));
  realization<fc> rc;
  counting::ops = 0;
  for (long b = 0; b < n; ++b) {
    rc.load(sub, b);
    load_start<fc>(w0, f0, d, b, wf.data());
    status st = status::ok;
    rc.visit([&](const auto& ch) {
      st = fn(ch, core::mview<fc>(wf.data(), d.nt, d.k), core::mview<fc>(wf.data() + nw, d.nr, d.m));
    });
    if (st != status::ok)
      throw std::runtime_error("counted_flops: realization " + std::to_string(b) + ": " + to_string(st));
  }
  return double(counting::ops) / double(n);
}

system_params<fc> counted(const system_params<double>& s) { return {s.pt, s.sigma_c2, s.sigma_s2, s.delta}; }

}  // namespace

double counted_flops(const channel_view& cs, const solve_options& o, long sample) {
  const unfolded_model model = o.model.run_at(cs.dims);
  const model_tables<fc> tables(model);
  const core::solver_config<fc> cfg = make_config<fc>(o, model, tables);
  const problem_dims d = cs.dims;
  const system_params<fc> sys = counted(o.sys);
  std::vector<char> scratch(size_t(core::solver_ws<fc>::bytes(d, cfg.smooth())));
  std::vector<fc> curve(size_t(cfg.curve_len()));
  return mean_count(cs, o.sys, o.f0, start_of(o), sample, [&](const auto& ch, core::mview<fc> w, core::mview<fc> f) {
    arena ar{scratch.data()};
    core::solver_ws<fc> ws;
    ws.carve(ar, d, cfg.smooth());
    core::solve_result<fc> res;
    return core::solve_one<fc>(ch, d, sys, cfg, w, f, curve.data(), ws, res);
  });
}

namespace {

/// The state a counting_team's threads share: a barrier whose completion closes a phase
/// (the work between two barriers), adding its busiest thread's count to `path`.
struct count_team_state {
  struct on_phase {
    count_team_state* s;
    void operator()() noexcept { s->close_phase(); }
  };
  explicit count_team_state(int n) : at(size_t(n), 0), last(size_t(n), 0), val(size_t(n), 0), bar(n, on_phase{this}) {}
  std::vector<long long> at, last;  // each thread's count at its last arrival, and at the phase's start
  std::vector<double> val;          // a team sum's terms
  double path = 0;
  long long syncs = 0;     // the barriers the team's code meets (a sum counts one)
  int mark = -1;           // the part rank 0 last entered (counting_team::enter)
  std::vector<double> by;  // path by the part entered when each phase ended
  std::barrier<on_phase> bar;
  void close_phase() {
    long long busiest = 0;
    for (size_t t = 0; t < at.size(); ++t) {
      busiest = std::max(busiest, at[t] - last[t]);
      last[t] = at[t];
    }
    path += double(busiest);
    if (mark >= 0) {
      if (by.size() <= size_t(mark)) by.resize(size_t(mark) + 1, 0.0);
      by[size_t(mark)] += double(busiest);
    }
  }
};

/// A team of std::threads with core/team.hpp's interface (the GPU's warp; tests/core has
/// the plain one) whose threads each count their own operations (counting::ops is per
/// thread). A sum is counted as a warp's butterfly: log2(size) additions on every thread.
struct counting_team {
  int r, n;
  count_team_state* s;
  int rank() const { return r; }
  int size() const { return n; }
  void sync() const {
    if (r == 0) ++s->syncs;
    arrive();
  }
  /// Attributes the phases that end from now on to `part` (every rank calls it at the same
  /// point; rank 0's call counts).
  void enter(int part) const {
    if (r == 0) s->mark = part;
  }
  template <class T>
  T sum(T x) const {
    s->val[size_t(r)] = double(x);
    if (r == 0) ++s->syncs;
    arrive();
    double total = 0;
    for (const double v : s->val) total += v;
    for (int w = 1; w < n; w *= 2) ++counting::ops;
    arrive();  // nobody writes val again before every thread has read it
    return T(total);
  }

 private:
  void arrive() const {
    s->at[size_t(r)] = counting::ops;
    s->bar.arrive_and_wait();
  }
};

/// fn(team) on `lanes` std::threads of one counting_team; returns what the team counted.
template <class Fn>
team_path run_counting_team(int lanes, const Fn& fn) {
  count_team_state s(lanes);
  std::vector<std::thread> threads;
  for (int r = 0; r < lanes; ++r)
    threads.emplace_back([&, r] {
      fn(counting_team{r, lanes, &s});
      s.at[size_t(r)] = counting::ops;
    });
  for (std::thread& t : threads) t.join();
  s.close_phase();  // the work after the last barrier
  team_path p;
  p.lanes = lanes;
  p.path = s.path;
  p.barriers = double(s.syncs);
  p.by_mark = s.by;
  for (const long long a : s.at) p.total += double(a);
  return p;
}

/// The training step (core::unfolded_loss_grad) in the counting scalar on the first
/// `sample` realizations (as `jcas bench` trains: W0 = MRT, F0 by LAPACK): go(step) runs
/// it, where step(mark, team) is the step of one realization. Returns the mean count of
/// this thread.
template <class Go>
double count_train(const channel_set& cs, const unfolded_model& m, const system_params<double>& s, long sample,
                   const Go& go, long budget = core::tape_budget) {
  unfolded_model model = m;
  model.finalize();
  const model_tables<fc> tables(model);
  const core::unfolded_params<fc> up = make_unfolded<fc>(model, tables);
  const problem_dims d = cs.dims;
  const system_params<fc> sys = counted(s);
  const index_t steps = up.l_in * up.i_w;
  std::vector<char> scratch(size_t(core::training_ws<fc>::bytes(d, up.l_out, steps, budget)));
  std::vector<fc> grad(size_t(long(up.l_out) * up.l_in + up.mu_count()));
  return mean_count(cs, s, f0_method::lapack, w0_method::mrt, sample,
                    [&](const auto& ch, core::mview<fc> w, core::mview<fc> f) {
                      arena ar{scratch.data()};
                      core::training_ws<fc> ws;
                      ws.carve(ar, d, up.l_out, steps, budget);
                      fc loss = 0;
                      return go([&](const auto& mark, const auto& team) {
                        return core::unfolded_loss_grad<fc>(ch, d, sys, up, w, f, fc(1), ws, &loss, grad.data(),
                                                            grad.data() + long(up.l_out) * up.l_in, mark, team);
                      });
                    });
}

/// A mark for unfolded_loss_grad that adds the operations counted since the last mark to
/// the part that was entered then (flush() for the last one). The mark is passed by const
/// reference, so its tally is mutable.
struct part_counter {
  mutable long long by_part[core::train_parts] = {};
  mutable int current = -1;
  mutable long long since = 0;
  void operator()(core::train_part p) const {
    flush();
    current = int(p);
  }
  void flush() const {
    if (current >= 0) by_part[current] += counting::ops - since;
    since = counting::ops;
  }
};

}  // namespace

double counted_train_flops(const channel_set& cs, const unfolded_model& m, const system_params<double>& s,
                           long sample) {
  return count_train(cs, m, s, sample, [](const auto& step) { return step(core::no_marks{}, core::serial_team{}); });
}

train_part_flops counted_train_parts(const channel_set& cs, const unfolded_model& m, const system_params<double>& s,
                                     long sample, int lanes, bool recompute) {
  const long budget = recompute ? 0 : core::tape_budget;
  static_assert(core::train_parts == train_part_flops::parts, "host/flop_count.hpp names every part");
  const part_counter mark;
  count_train(
      cs, m, s, sample, [&](const auto& step) { return step(mark, core::serial_team{}); }, budget);
  mark.flush();
  const long n = std::min(sample, cs.count);
  train_part_flops r;
  for (int p = 0; p < core::train_parts; ++p) r.part[p] = double(mark.by_part[p]) / double(n);
  count_train(
      cs, m, s, 1,
      [&](const auto& step) {
        status st = status::ok;
        r.warp = run_counting_team(lanes, [&](const counting_team& t) {
          const status ts = step([&](core::train_part p) { t.enter(int(p)); }, t);
          if (t.rank() == 0) st = ts;
        });
        return st;
      },
      budget);
  r.warp.by_mark.resize(size_t(core::train_parts), 0.0);
  return r;
}

namespace {

/// An executor of core::unfolded_batched that runs every phase plainly on this thread and
/// adds the operations each kind of phase counts to by_kind: [0] per-realization phases,
/// [1] item phases and sums, [2] GEMMs (plain loops: team_exec's, with a team of one),
/// [3] of [0], layer_prepare's phase (its Cholesky factors).
struct phase_counting_exec {
  long long* by_kind;
  /// Runs run(), adds its count to by_kind[kind] and returns it.
  template <class Run>
  long long count(int kind, const Run& run) const {
    const long long before = counting::ops;
    run();
    by_kind[kind] += counting::ops - before;
    return counting::ops - before;
  }
  template <class Fn>
  void for_each(long n, const Fn& fn) const {
    const long long ops = count(0, [&] { core::team_exec<core::serial_team>{}.for_each(n, fn); });
    if constexpr (core::is_prepare_phase<Fn>) by_kind[3] += ops;
  }
  template <class Fn>
  void for_each_item(long n, long items, const Fn& fn) const {
    count(1, [&] { core::team_exec<core::serial_team>{}.for_each_item(n, items, fn); });
  }
  template <class Fn, class Store>
  void sum_each(long n, long items, const Fn& fn, const Store& store) const {
    count(1, [&] { core::team_exec<core::serial_team>{}.sum_each(n, items, fn, store); });
  }
  template <class T>
  void gemm(const core::gemm_batch<T>& g) const {
    count(2, [&] { core::team_exec<core::serial_team>{}.gemm(g); });
  }
};

/// The counted chunk of phase_flops: the sample's realizations, their starts, outputs and
/// scratch, laid out for the batch phases.
struct counted_chunk {
  batch_inputs<fc> in;
  chunk_outputs<fc> co;
  std::vector<cplx<double>> scratch;  // 16-byte aligned
  core::chunk<fc> c;
  counted_chunk(const counted_sample& s, const core::solver_config<fc>& cfg, const solve_options& o, long slot_bytes)
      : in(s.sub, s.w0, s.f0, all(s.sub.count)) {
    c.d = s.sub.dims;
    c.sys = counted(o.sys);
    c.p = cfg.unfolded;
    c.size_scratch();
    c.count = s.sub.count;
    in.attach(c);
    co.reset(c.count, cfg.curve_len(), fc(0));
    co.attach(c);
    scratch.resize(size_t(c.count * std::max(slot_bytes, c.ws_bytes) / 16 + 1));
    c.scratch = reinterpret_cast<char*>(scratch.data());
  }
  static std::vector<long> all(long n) {
    std::vector<long> idx(static_cast<size_t>(n));
    for (long i = 0; i < n; ++i) idx[size_t(i)] = i;
    return idx;
  }
  void check() const {
    for (long i = 0; i < c.count; ++i)
      if (co.st[size_t(i)] != int(status::ok))
        throw std::runtime_error("counted_phase_flops: realization " + std::to_string(i) + ": " +
                                 to_string(status(co.st[size_t(i)])));
  }
};

}  // namespace

lanes_flops counted_lanes(const channel_view& cs, const solve_options& o, int lanes) {
  realization<fc> rc;
  rc.load(cs, 0);
  if (!rc.rank1) throw std::invalid_argument("counted_lanes: the lanes route needs line-of-sight channels");
  const unfolded_model model = o.model.run_at(cs.dims);
  const model_tables<fc> tables(model);
  const core::unfolded_params<fc> up = make_unfolded<fc>(model, tables);
  const system_params<fc> sys = counted(o.sys);
  const problem_dims d = cs.dims;
  std::vector<char> slot(size_t(core::lanes_slot<fc>::bytes(d)));
  std::vector<cplx<fc>> wf(size_t(d.nt) * d.k + size_t(d.nr) * d.m);
  std::vector<fc> curve(size_t(up.l_out) + 1), res(4);
  int st = 0;
  const core::lanes_io<fc> io{rc.h.data(), rc.u.data(), rc.v.data(), wf.data(), curve.data(), res.data(), &st, true};
  const auto run = [&](const auto& team) {
    core::lanes_slot<fc> sl;
    arena ar{slot.data()};
    sl.carve(ar, d);
    core::unfolded_lanes<fc>(team, d, sys, up, io, sl);
  };
  lanes_flops r;
  counting::ops = 0;
  run(core::serial_team{});
  r.serial = double(counting::ops);
  if (st != 0) throw std::runtime_error("counted_lanes: " + to_string(status(st)));
  r.warp = run_counting_team(lanes, [&](const counting_team& t) {
    core::lanes_slot<fc> sl;  // every lane carves the same views of the one slot
    arena ar{slot.data()};
    sl.carve(ar, d);
    core::unfolded_lanes<fc>(t, d, sys, up, io, sl);
  });
  return r;
}

phase_flops counted_phase_flops(const channel_set& cs, const solve_options& o, long sample, int lanes) {
  const counted_sample s(cs, o.sys, o.f0, start_of(o), sample);
  const long n = s.sub.count;
  const unfolded_model model = o.model.run_at(cs.dims);
  const model_tables<fc> tables(model);
  const core::solver_config<fc> cfg = make_config<fc>(o, model, tables);
  counted_chunk whole(s, cfg, o, 0);
  long long by_kind[4] = {0, 0, 0, 0};
  phase_counting_exec ex{by_kind};
  core::unfolded_batched(ex, whole.c);
  whole.check();
  phase_flops r;
  r.per_realization = double(by_kind[0]) / double(n);
  r.items = double(by_kind[1]) / double(n);
  r.gemm = double(by_kind[2]) / double(n);
  r.prepare = double(by_kind[3]) / double(n);
  // The same phases for each realization by a team (core::unfolded_team, the warp route).
  const long slot = (core::team_slot_bytes(whole.c) + 15) / 16 * 16;
  counted_chunk team(s, cfg, o, slot);
  r.warp.lanes = lanes;
  for (long b = 0; b < n; ++b) {
    const team_path p = run_counting_team(
        lanes, [&](const counting_team& t) { core::unfolded_team(t, team.c, b, team.c.scratch + b * slot); });
    r.warp.path += p.path / double(n);
    r.warp.total += p.total / double(n);
    r.warp.barriers += p.barriers / double(n);
  }
  team.check();
  return r;
}

}  // namespace jcas::host
