// The team route (core/team.hpp) under ThreadSanitizer: a team of std::threads runs
// unfolded inference, start included, on rank-one and on dense channels, and must agree
// with the team of one thread; TSan reports any access that no barrier orders (exit
// status 66). The core is header-only, so this one file is the whole -fsanitize=thread
// build (ctest: team_tsan). Dropping the barrier after a rank-0 phase gives 10 reports.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "jcas/core/generator.hpp"
#include "jcas/core/team.hpp"
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

}  // namespace

int main() {
  int bad = 0;
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
  return bad ? 1 : 0;
}
