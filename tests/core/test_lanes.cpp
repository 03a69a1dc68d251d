// core/lanes.hpp (Algorithm 1 for line-of-sight channels by a team of lanes with the
// realization's state in fast memory: the GPU's warp route) against the per-realization
// unfolded_forward: the same W, F and curve to rounding, from the start in the route
// (W0 = Pi_S(H), F0 in closed form) and from a given (W0, F0), for the paper's sizes and
// odd ones, full and frozen gradient, shared and per-layer mu; by a team of one thread
// and by teams of std::threads with a real barrier (3, 32 and 40 lanes: fewer and more
// lanes than entries).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "jcas/core/generator.hpp"
#include "jcas/core/lanes.hpp"
#include "thread_team.hpp"

namespace jcas::test {
namespace {

struct realization_data {
  problem_dims d;
  std::vector<cplx<double>> h, u, v;
};

/// A line-of-sight realization of the default scenario at sizes d, factored G_j = u_j v_j^H.
realization_data draw(const problem_dims& d, std::uint64_t seed) {
  scenario sc;
  sc.dims = d;
  realization_data r{d, {}, {}, {}};
  std::vector<cplx<double>> g(size_t(d.j()) * d.nr * d.nt);
  r.h.resize(size_t(d.nt) * d.k);
  r.u.resize(size_t(d.nr) * d.j());
  r.v.resize(size_t(d.nt) * d.j());
  core::generate_realization(sc, seed, 0, r.h.data(), g.data());
  for (index_t j = 0; j < d.j(); ++j)
    EXPECT_TRUE(core::factor_rank1(core::cview<double>(g.data() + long(j) * d.nr * d.nt, d.nr, d.nt),
                                   r.u.data() + long(j) * d.nr, r.v.data() + long(j) * d.nt, 1e-9));
  return r;
}

struct model_tables {
  std::vector<double> beta, mu_c, mu_s;
  core::unfolded_params<double> p;
  model_tables(int l_out, bool frozen, bool per_layer, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> b(0.005, 0.05), mu(5, 60);
    p.l_out = l_out;
    p.frozen = frozen;
    for (int i = 0; i < l_out * p.l_in; ++i) beta.push_back(b(rng));
    p.beta = beta.data();
    if (per_layer) {
      for (int l = 0; l < l_out; ++l) mu_c.push_back(mu(rng)), mu_s.push_back(mu(rng));
      p.mu_c_layer = mu_c.data();
      p.mu_s_layer = mu_s.data();
    }
  }
};

/// The reference: W0 = Pi_S(H), F0 = f0_rank1 (or the given start), unfolded_forward.
struct reference {
  std::vector<cplx<double>> wf;
  std::vector<double> curve;
};
reference forward(const realization_data& r, const core::unfolded_params<double>& p, const system_params<double>& sys,
                  const std::vector<cplx<double>>* start, bool zf = false) {
  const problem_dims& d = r.d;
  const core::rank1_channels<double> ch{
      core::cview<double>(r.h.data(), d.nt, d.k), r.u.data(), r.v.data(), d.nr, d.nt, d.j()};
  reference out;
  out.wf.resize(size_t(d.nt) * d.k + size_t(d.nr) * d.m);
  out.curve.resize(size_t(p.l_out) + 1);
  const core::mview<double> w(out.wf.data(), d.nt, d.k), f(out.wf.data() + long(d.nt) * d.k, d.nr, d.m);
  std::vector<char> scratch(size_t(core::solver_ws<double>::bytes(d) + core::f0_ws<double>::bytes(d)));
  arena ar{scratch.data()};
  core::solver_ws<double> ws;
  ws.carve(ar, d);
  core::f0_ws<double> f0w;
  f0w.carve(ar, d);
  if (start) {
    out.wf = *start;
  } else {
    EXPECT_EQ(core::start_w0<double>(ch.h, d, sys, w, zf, f0w.gram, f0w.vec.col(0)), status::ok);
    EXPECT_EQ(core::f0_rank1<double>(ch, d, sys, w, f, f0w), status::ok);
  }
  core::solve_result<double> res;
  EXPECT_EQ(core::unfolded_forward<double>(ch, d, sys, p, w, f, out.curve.data(), ws, res), status::ok);
  return out;
}

/// The lanes route on `lanes` std::threads (0: serial_team).
reference lanes(const realization_data& r, const core::unfolded_params<double>& p, const system_params<double>& sys,
                const std::vector<cplx<double>>* start, int team, bool zf = false) {
  const problem_dims& d = r.d;
  reference out;
  out.wf = start ? *start : std::vector<cplx<double>>(size_t(d.nt) * d.k + size_t(d.nr) * d.m);
  out.curve.resize(size_t(p.l_out) + 1);
  std::vector<double> res(4);
  int st = -1;
  std::vector<cplx<double>> slot(size_t(core::lanes_slot<double>::bytes(d)) / 16 + 1);
  const core::lanes_io<double> io{r.h.data(), r.u.data(),       r.v.data(), out.wf.data(), out.curve.data(), res.data(),
                                  &st,        start == nullptr, zf};
  core::lanes_slot<double> sl;
  arena ar{reinterpret_cast<char*>(slot.data())};
  sl.carve(ar, d);
  if (team == 0) {
    EXPECT_EQ(core::unfolded_lanes<double>(core::serial_team{}, d, sys, p, io, sl), status::ok);
  } else {
    run_team(team, [&](const thread_team& t) { core::unfolded_lanes<double>(t, d, sys, p, io, sl); });
  }
  EXPECT_EQ(st, int(status::ok));
  EXPECT_EQ(res[0], out.curve.back());
  return out;
}

double max_rel(const std::vector<cplx<double>>& a, const std::vector<cplx<double>>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num = std::fmax(num, std::sqrt(norm2(a[i] - b[i])));
    den = std::fmax(den, std::sqrt(norm2(b[i])));
  }
  return num / den;
}

void expect_same(const reference& got, const reference& want, double tol, const char* what) {
  EXPECT_LT(max_rel(got.wf, want.wf), tol) << what;
  for (size_t l = 0; l < want.curve.size(); ++l)
    EXPECT_NEAR(got.curve[l], want.curve[l], tol * std::fabs(want.curve[l])) << what << " layer " << l;
}

TEST(Lanes, MatchesUnfoldedForward) {
  const system_params<double> sys{};
  const problem_dims sizes[] = {{16, 16, 4, 2, 2}, {7, 9, 3, 1, 3}, {33, 12, 12, 2, 0}, {16, 16, 1, 2, 1}};
  std::uint64_t seed = 11;
  for (const problem_dims& d : sizes)
    for (bool frozen : {false, true})
      for (bool per_layer : {false, true}) {
        const realization_data r = draw(d, seed++);
        const model_tables m(6, frozen, per_layer, seed);
        SCOPED_TRACE(testing::Message() << "Nt " << d.nt << " Nr " << d.nr << " K " << d.k << " M " << d.m << " C "
                                        << d.c << (frozen ? " frozen" : "") << (per_layer ? " per-layer mu" : ""));
        const reference want = forward(r, m.p, sys, nullptr);
        expect_same(lanes(r, m.p, sys, nullptr, 0), want, 1e-11, "start in the route");
        // A given start (any F0: here the reference's F0 plus a component outside span U).
        reference given = forward(r,
                                  core::unfolded_params<double>{m.p.l_out, m.p.l_in, m.p.i_w, m.p.frozen, m.p.mu_c,
                                                                m.p.mu_s, m.p.beta, m.p.mu_c_layer, m.p.mu_s_layer},
                                  sys, nullptr);
        std::vector<cplx<double>> start(given.wf.size());
        {
          const core::rank1_channels<double> ch{
              core::cview<double>(r.h.data(), d.nt, d.k), r.u.data(), r.v.data(), d.nr, d.nt, d.j()};
          const core::mview<double> w(start.data(), d.nt, d.k);
          core::mrt_init<double>(ch.h, w, sys.pt);
          std::mt19937_64 rng(seed);
          std::normal_distribution<double> z;
          for (size_t i = size_t(d.nt) * d.k; i < start.size(); ++i) start[i] = cplx<double>(z(rng), z(rng));
        }
        const reference want_given = forward(r, m.p, sys, &start);
        expect_same(lanes(r, m.p, sys, &start, 0), want_given, 1e-11, "given start");
      }
}

// W0 by regularised zero-forcing in the route (the shipped models' start; core::start_w0 by
// the lead lane, then the rows projected by every lane): the reference's start, serial and
// by teams of threads.
TEST(Lanes, ZeroForcingStartInTheRoute) {
  const system_params<double> sys{};
  std::uint64_t seed = 31;
  for (const problem_dims& d :
       {problem_dims{16, 16, 4, 2, 2}, problem_dims{7, 9, 3, 1, 3}, problem_dims{33, 12, 12, 2, 0}}) {
    const realization_data r = draw(d, seed++);
    const model_tables m(6, false, false, seed);
    SCOPED_TRACE(testing::Message() << "Nt " << d.nt << " K " << d.k);
    const reference want = forward(r, m.p, sys, nullptr, true), mrt = forward(r, m.p, sys, nullptr, false);
    EXPECT_GT(std::fabs(want.curve[0] - mrt.curve[0]), 1e-6 * std::fabs(mrt.curve[0]));  // another start
    expect_same(lanes(r, m.p, sys, nullptr, 0, true), want, 1e-11, "zero-forcing, one lane");
    expect_same(lanes(r, m.p, sys, nullptr, 32, true), want, 1e-11, "zero-forcing, 32 lanes");
  }
}

TEST(Lanes, TeamsOfThreadsAgreeWithOne) {
  const system_params<double> sys{};
  for (const problem_dims& d : {problem_dims{16, 16, 4, 2, 2}, problem_dims{9, 5, 6, 2, 1}}) {
    const realization_data r = draw(d, 3);
    const model_tables m(5, false, true, 4);
    const reference one = lanes(r, m.p, sys, nullptr, 0);
    for (int team : {3, 32, 40}) {
      const reference many = lanes(r, m.p, sys, nullptr, team);
      // The team sums ||D||^2 in another order: rounding, amplified a little by the layers.
      expect_same(many, one, 1e-12, team == 3 ? "3 lanes" : team == 32 ? "32 lanes" : "40 lanes");
    }
  }
}

// The slot of the paper's sizes: what a warp keeps in shared memory (kernels/unfolded_lanes.cu
// launches on it; more than 48 KB would need the opt-in and fewer realizations an SM).
TEST(Lanes, SlotSize) {
  const problem_dims d{16, 16, 4, 2, 2};
  EXPECT_LE(core::lanes_slot<float>::bytes(d), 5120);
  EXPECT_LE(core::lanes_slot<double>::bytes(d), 10240);
}

// The lanes kernel's blocks (kernels/unfolded_lanes.cu, and the model's plan of them):
// four warps at the paper's size whatever the team, fewer where four warps' slots would
// not fit a block's 227 KB, none where one warp's do not; slots 16 bytes apart modulo the
// 128 of a bank row.
TEST(Lanes, BlocksOfFourWarpsOrFewerWhereTheyDoNotFit) {
  constexpr long room = 232448;
  for (int g : {32, 16, 8}) {
    EXPECT_EQ(core::lanes_block_warps<float>(problem_dims{}, g, room), 4) << g;
    EXPECT_EQ(core::lanes_block_warps<double>(problem_dims{}, g, room), 4) << g;
    EXPECT_EQ(core::lanes_block_warps<float>(problem_dims{256, 256, 64, 2, 2}, g, room), 0) << g;
  }
  for (const problem_dims& d : {problem_dims{64, 64, 16, 2, 2}, problem_dims{32, 32, 8, 2, 2}})
    for (int g : {32, 16, 8}) {
      const auto bytes = [&](int w) {
        return long(w) * 32 / g * core::lanes_slot_stride<double>(d) +
               long(core::lanes_most_warps) * 32 / g * long(sizeof(core::lanes_slot<double>));
      };
      const int w = core::lanes_block_warps<double>(d, g, room);
      SCOPED_TRACE(testing::Message() << "Nt " << d.nt << " team of " << g << ": " << w << " warps");
      if (w > 0) {
        EXPECT_LE(bytes(w), room);
      }
      if (w < core::lanes_most_warps) {
        EXPECT_GT(bytes(w ? 2 * w : 1), room);
      }
    }
  EXPECT_EQ(core::lanes_block_warps<double>(problem_dims{64, 64, 16, 2, 2}, 32, room), 2);
  EXPECT_EQ(core::lanes_slot_stride<float>(problem_dims{}) % 128, 16);
}

}  // namespace
}  // namespace jcas::test
