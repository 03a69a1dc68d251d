// The team routes under ThreadSanitizer: a team of std::threads runs unfolded inference
// (core/team.hpp), start included, and the training step's loss and gradient
// (core/training.hpp), on rank-one and on dense channels, and must agree with the team
// of one thread; TSan reports any access that no barrier orders (exit status 66). The core is header-only, so this one
// file is the whole -fsanitize=thread build (ctest: team_tsan). Dropping the barrier after a rank-0 phase gives 10
// reports.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

#include "jcas/core/generator.hpp"
#include "jcas/core/lanes.hpp"
#include "jcas/core/team.hpp"
#include "jcas/core/training.hpp"
#include "thread_team.hpp"

using namespace jcas;

namespace {

/// W | F of every realization after unfolded inference by a team of `team` std::threads
/// (0: serial_team), on the rank-one factors or the dense G.
std::vector<cplx<double>> run(int team, bool rank1) {
  const problem_dims d{16, 16, 4, 2, 2};
  const long count = 3;
  scenario sc;
  sc.dims = d;
  const long hs = long(d.nt) * d.k, gs = long(d.j()) * d.nr * d.nt;
  std::vector<cplx<double>> h(size_t(count * hs)), g(size_t(count * gs)), u(size_t(count) * d.nr * d.j()),
      v(size_t(count) * d.nt * d.j());
  for (long b = 0; b < count; ++b) {
    core::generate_realization(sc, 5, std::uint64_t(b), h.data() + b * hs, g.data() + b * gs);
    for (index_t j = 0; j < d.j(); ++j) {
      const core::cview<double> gj(g.data() + b * gs + long(j) * d.nr * d.nt, d.nr, d.nt);
      if (!core::factor_rank1(gj, u.data() + (b * d.j() + j) * d.nr, v.data() + (b * d.j() + j) * d.nt, 1e-9))
        std::printf("G_%d of realization %ld is not rank one\n", j, b);
    }
  }
  std::vector<double> beta(4 * 3, 0.02);
  core::chunk<double> c;
  c.d = d;
  c.p.l_out = 4;
  c.p.beta = beta.data();
  c.count = count;
  c.rank1 = rank1;
  c.init = true;  // W0 and F0 by the team's rank 0 (phase_init)
  c.size_scratch();
  const long slot = core::team_slot_bytes(c);
  std::vector<cplx<double>> scratch(size_t(count * slot / 16 + 1)), wf(size_t(count * c.wf_len()));
  std::vector<double> curve(size_t(count) * 5), res(size_t(count) * 4);
  std::vector<int> st(static_cast<size_t>(count));
  c.h = h.data();
  c.g = g.data();
  c.u = u.data();
  c.v = v.data();
  c.wf = wf.data();
  c.curve = curve.data();
  c.res = res.data();
  c.st = st.data();
  c.scratch = reinterpret_cast<char*>(scratch.data());
  for (long b = 0; b < count; ++b) {
    char* at = c.scratch + b * slot;
    if (team == 0)
      core::unfolded_team(core::serial_team{}, c, b, at);
    else
      test::run_team(team, [&](const test::thread_team& tm) { core::unfolded_team(tm, c, b, at); });
    if (st[size_t(b)] != 0) std::printf("realization %ld: status %d\n", b, st[size_t(b)]);
  }
  return wf;
}

/// Loss and gradient of the training step (3 layers) on realization 0 of `run`'s
/// channels by a team of `team` std::threads (0: serial_team), from W0 = Pi_S(H) and F0 a
/// fixed unit-norm combiner: [loss, gradient...].
std::vector<double> train(int team, bool rank1) {
  const problem_dims d{16, 16, 4, 2, 2};
  scenario sc;
  sc.dims = d;
  const long hs = long(d.nt) * d.k, gs = long(d.j()) * d.nr * d.nt;
  std::vector<cplx<double>> h(static_cast<size_t>(hs)), g(static_cast<size_t>(gs)), u(size_t(d.nr) * d.j()),
      v(size_t(d.nt) * d.j());
  core::generate_realization(sc, 5, 0, h.data(), g.data());
  for (index_t j = 0; j < d.j(); ++j)
    core::factor_rank1(core::cview<double>(g.data() + long(j) * d.nr * d.nt, d.nr, d.nt), u.data() + long(j) * d.nr,
                       v.data() + long(j) * d.nt, 1e-9);
  std::vector<cplx<double>> w0(h), f0(size_t(d.nr) * d.m, cplx<double>(0.25));
  core::project_power(core::mview<double>(w0.data(), d.nt, d.k, d.nt), 1.0);
  core::unfolded_params<double> up;
  up.l_out = 3;
  std::vector<double> beta(size_t(up.l_out) * up.l_in, 0.05);
  up.beta = beta.data();
  const index_t steps = up.l_in * up.i_w;
  std::vector<cplx<double>> bytes(size_t(core::training_ws<double>::bytes(d, up.l_out, steps) / 16 + 1));
  arena a{reinterpret_cast<char*>(bytes.data())};
  core::training_ws<double> ws;
  ws.carve(a, d, up.l_out, steps);
  std::vector<double> out(1 + beta.size() + size_t(up.mu_count()), 0.0);
  const core::cview<double> hv(h.data(), d.nt, d.k), w0v(w0.data(), d.nt, d.k), f0v(f0.data(), d.nr, d.m);
  const system_params<double> sys;
  const auto step = [&](const auto& tm) {
    const auto go = [&](const auto& ch) {
      return core::unfolded_loss_grad<double>(ch, d, sys, up, w0v, f0v, -1.0, ws, &out[0], &out[1],
                                              &out[1 + beta.size()], core::no_marks{}, tm);
    };
    const status st = rank1 ? go(core::rank1_channels<double>{hv, u.data(), v.data(), d.nr, d.nt, d.j()})
                            : go(core::dense_channels<double>{hv, g.data(), d.nr, d.nt, d.j()});
    if (st != status::ok && tm.rank() == 0) std::printf("training step: status %d\n", int(st));
  };
  if (team == 0)
    step(core::serial_team{});
  else
    test::run_team(team, step);
  return out;
}

/// W | F and the curve after the lanes route (core/lanes.hpp, the GPU's default warp
/// route for line-of-sight channels) on realization 0, its start in the route (init) or
/// given (W0 = H, a fixed F0), by a team of `team` std::threads (0: serial_team): every
/// lane stages, sums and divides as the warp does, and TSan sees every access its barriers
/// must order.
std::vector<cplx<double>> lanes(int team, bool init, bool zf = false) {
  const problem_dims d{16, 16, 4, 2, 2};
  scenario sc;
  sc.dims = d;
  std::vector<cplx<double>> h(size_t(d.nt) * d.k), g(size_t(d.j()) * d.nr * d.nt), u(size_t(d.nr) * d.j()),
      v(size_t(d.nt) * d.j()), wf(size_t(d.nt) * d.k + size_t(d.nr) * d.m);
  core::generate_realization(sc, 7, 0, h.data(), g.data());
  if (!init) {
    std::copy(h.begin(), h.end(), wf.begin());
    for (size_t i = h.size(); i < wf.size(); ++i) wf[i] = cplx<double>(0.25, 0.01 * double(i % 7));
  }
  for (index_t j = 0; j < d.j(); ++j)
    core::factor_rank1(core::cview<double>(g.data() + long(j) * d.nr * d.nt, d.nr, d.nt), u.data() + long(j) * d.nr,
                       v.data() + long(j) * d.nt, 1e-9);
  core::unfolded_params<double> up;
  up.l_out = 4;
  std::vector<double> beta(size_t(up.l_out) * up.l_in, 0.03), curve(size_t(up.l_out) + 1), res(4);
  up.beta = beta.data();
  int st = -1;
  std::vector<cplx<double>> slot(size_t(core::lanes_slot<double>::bytes(d)) / 16 + 1);
  core::lanes_slot<double> sl;
  arena ar{reinterpret_cast<char*>(slot.data())};
  sl.carve(ar, d);
  const core::lanes_io<double> io{h.data(), u.data(), v.data(), wf.data(), curve.data(), res.data(), &st, init, zf};
  const system_params<double> sys;
  if (team == 0)
    core::unfolded_lanes<double>(core::serial_team{}, d, sys, up, io, sl);
  else
    test::run_team(team, [&](const test::thread_team& tm) { core::unfolded_lanes<double>(tm, d, sys, up, io, sl); });
  if (st != 0) std::printf("lanes: status %d\n", st);
  wf.insert(wf.end(), curve.begin(), curve.end());
  return wf;
}

}  // namespace

int main() {
  int bad = 0;
  for (const auto& [init, zf] : {std::pair{true, false}, {true, true}, {false, false}}) {
    const std::vector<cplx<double>> ref = lanes(0, init, zf);
    for (int team : {8, 32}) {
      const std::vector<cplx<double>> got = lanes(team, init, zf);
      double num = 0, den = 0;
      for (size_t i = 0; i < ref.size(); ++i) {
        num = std::max(num, abs(got[i] - ref[i]));
        den = std::max(den, abs(ref[i]));
      }
      const bool ok = num <= 1e-12 * den && den > 0;
      bad += !ok;
      std::printf("lanes route, start %s, team of %d threads: max |W|F, curve - serial| / max = %.2e %s\n",
                  !init ? "given"
                  : zf  ? "in the route (zero-forcing)"
                        : "in the route",
                  team, num / den, ok ? "ok" : "FAILED");
    }
  }
  for (bool rank1 : {true, false}) {
    const std::vector<cplx<double>> ref = run(0, rank1);
    for (int team : {3, 8}) {
      const std::vector<cplx<double>> got = run(team, rank1);
      double num = 0, den = 0;
      for (size_t i = 0; i < ref.size(); ++i) {
        num = std::max(num, abs(got[i] - ref[i]));
        den = std::max(den, abs(ref[i]));
      }
      const bool ok = num <= 1e-12 * den && den > 0;
      bad += !ok;
      std::printf("%s channels, team of %d threads: max |W|F - serial| / max |W|F| = %.2e %s\n",
                  rank1 ? "rank-one" : "dense", team, num / den, ok ? "ok" : "FAILED");
    }
  }
  for (bool rank1 : {true, false}) {
    const std::vector<double> ref = train(0, rank1);
    for (int team : {3, 8}) {
      const std::vector<double> got = train(team, rank1);
      double num = 0, den = 0;
      for (size_t i = 0; i < ref.size(); ++i) {
        num = std::max(num, std::abs(got[i] - ref[i]));
        den = std::max(den, std::abs(ref[i]));
      }
      const bool ok = num <= 1e-12 * den && den > 0;
      bad += !ok;
      std::printf("%s channels, training step by a team of %d threads: max |loss, grad - serial| / max = %.2e %s\n",
                  rank1 ? "rank-one" : "dense", team, num / den, ok ? "ok" : "FAILED");
    }
  }
  return bad ? 1 : 0;
}
