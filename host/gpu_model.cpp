// The lanes route's model on an H200 and the team size it chooses (gpu_model.hpp).
#include "gpu_model.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <tuple>

#include "jcas/core/lanes.hpp"

namespace jcas::host {

namespace {

constexpr double sm_count = 132, sm_clock = 1.98e9, efficiency = 0.6;
constexpr double sm_shared = 228 * 1024.0, block_reserved = 1024;  // an SM's shared memory; the runtime's a block
constexpr long block_room = 232448;  // a block's shared memory at most (the opt-in limit, 227 KB)
constexpr double sm_registers = 65536;
constexpr double full_warps = 20;  // warps an SM needs to reach `efficiency` (the g = 32 kernel's, f64)

/// The lanes kernel's block at dims d with teams of g lanes (kernels/unfolded_lanes.cu):
/// a realization's slot stride, its views' bytes (static shared memory, sized for
/// core::lanes_most_warps warps' teams) and the warps a block (core::lanes_block_warps; 0: no fit).
struct lanes_block {
  double slot, views;
  int warps;
};
template <class T>
lanes_block block_of(const problem_dims& d, int g) {
  return {double(core::lanes_slot_stride<T>(d)), double(sizeof(core::lanes_slot<T>)),
          core::lanes_block_warps<T>(d, g, block_room)};
}

}  // namespace

lanes_model model_lanes(const problem_dims& d, int layers, const lanes_flops& lf, bool f64, int l_in, int i_w,
                        bool frozen) {
  const auto up = [](double a, double b) { return std::ceil(a / b); };
  const double g = lf.warp.lanes, per_warp = 32 / g, share = g / 32, bytes = f64 ? 16 : 8;
  const double nt = d.nt, k = d.k, j = d.j(), m = d.m, r = k + j, steps = double(l_in) * i_w;
  const double dirs = frozen ? 1 : steps;
  double smem = 0, wavefronts = 0;  // a layer's, per realization
  // `count` times a team phase of `items` entries, `per` accesses an entry of `size` bytes,
  // the lanes of one realization touching `distinct` entries at once.
  const auto access = [&](double count, double items, double per, double distinct, double size) {
    const double n = count * up(items, g) * per * share;  // the realization's share of warp instructions
    smem += n;
    wavefronts += n * std::max(1.0, std::ceil(per_warp * std::min(distinct, g) * size / 128));
  };
  access(dirs, r * k, nt, std::min(g, r), bytes);          // S = L^H W: L's entries (lanes_lhw)
  access(dirs, r * k, nt, std::min(k, up(g, r)), bytes);   //            W's
  access(dirs, r * k, 1, std::min(g, r * k), bytes);       //            S stored
  access(dirs, r * k, 3, std::min(g, r * k), bytes);       // Z: S and C_A loaded, Z stored (lanes_direction)
  access(dirs, r * k, 1, std::min(g, r), bytes / 2);       //    the weights d_i
  access(dirs, nt * k, r, std::min(g, nt), bytes);         // D = L Z: L's entries
  access(dirs, nt * k, r, std::min(k, up(g, nt)), bytes);  //          Z's
  access(dirs, nt * k, 1, std::min(g, nt * k), bytes);     //          D stored
  access(steps, nt * k, 3, std::min(g, nt * k), bytes);    // V = W - a D (lanes_step)
  access(steps, nt, 3 * k, std::min(g, nt), bytes);        // the rows' projection
  // The metrics and steps 1-5 (lanes_metrics, lanes_prepare): the busiest lane's accesses
  // in each phase, a lane taking ceil(items / g) items of the phase's dearest kind.
  const auto busiest = [&](double items, double dearest) { return up(items, g) * dearest; };
  const double lead = busiest(k + m, std::max(k + 3, 2 * j * k + j + k + 3))              // users, combiners
                      + 2 * (k + m) + 4                                                   // minima, h (lead)
                      + 3 * (k + m)                                                       // softmins (lead)
                      + busiest(k + m + j, std::max({8.0, 3 * k + 6, 3 * k + 4}))         // scalars, stage 1
                      + 3 * j * j + j * j * j / 3                                         // core, factor (lead)
                      + busiest(m, 2 * k + j * j + 6 * j + 6)                             // F' as Phi'
                      + busiest(j * m, 2 * j + 5)                                         // U^H F'
                      + busiest(m + j + k, std::max({j + 3, 2 * m + 1, r + 3 * m + 2}));  // step 5
  smem += lead * share;  // a few lanes a realization, the 32 / g realizations' slots apart: a wavefront
  wavefronts += lead * share;

  lanes_model md;
  md.group = int(g);
  const lanes_block bl = f64 ? block_of<double>(d, int(g)) : block_of<float>(d, int(g));
  md.slot_bytes = bl.slot;
  md.block_warps = bl.warps;
  // Blocks an SM holds: by shared memory (slots, the most warps' views, the runtime's), by
  // registers (80 a thread in float, 96 in double: kernel_resources.sh) and at most 32.
  const double block = bl.warps * per_warp * bl.slot + core::lanes_most_warps * per_warp * bl.views + block_reserved;
  const double reg_warps = std::floor(sm_registers / ((f64 ? 96 : 80) * 32.0));
  const double blocks =
      bl.warps ? std::min({std::floor(sm_shared / block), std::floor(reg_warps / bl.warps), 32.0}) : 0;
  md.warps_per_sm = bl.warps * blocks;
  md.fp = 0.6 * lf.warp.path * share;
  md.smem = layers * smem;
  md.shfl = std::log2(g) * layers * dirs * share;
  md.syncs = (lf.warp.barriers - layers * dirs) * share;
  md.other = 0.5 * (md.fp + md.smem);
  md.instructions = md.fp + md.smem + md.shfl + md.syncs + md.other;
  md.wavefronts = layers * wavefronts;
  const double issue = md.instructions / 4, fp = md.fp / (f64 ? 2.0 : 4.0);
  md.cycles = issue;
  md.bound = "issue";
  if (fp > md.cycles) md.cycles = fp, md.bound = f64 ? "fp64" : "fp32";
  if (md.wavefronts > md.cycles) md.cycles = md.wavefronts, md.bound = "smem";
  if (md.shfl > md.cycles) md.cycles = md.shfl, md.bound = "shfl";
  if (blocks < 1) {
    md.bound = "no fit";
    return md;
  }
  const double eff = efficiency * std::min(1.0, md.warps_per_sm / full_warps);
  md.per_second = eff * sm_count * sm_clock / md.cycles;
  return md;
}

lanes_flops counted_lanes_extrapolated(const channel_view& cs, const solve_options& o, int lanes) {
  const unfolded_model run = o.model.run_at(cs.dims);
  solve_options c = o;
  c.model = unfolded_model{};
  c.model.l_in = run.l_in;
  c.model.i_w = run.i_w;
  c.model.frozen = run.frozen;
  c.model.l_out = 2;
  const lanes_flops a = counted_lanes(cs, c, lanes);
  c.model.l_out = 3;
  lanes_flops r = counted_lanes(cs, c, lanes);
  const double more = double(run.l_out) - 3;  // layers beyond the third, each as the third
  r.serial += more * (r.serial - a.serial);
  r.warp.path += more * (r.warp.path - a.warp.path);
  r.warp.total += more * (r.warp.total - a.warp.total);
  r.warp.barriers += more * (r.warp.barriers - a.warp.barriers);
  r.warp.by_mark.clear();
  return r;
}

lanes_choice choose_lanes_group(const channel_view& cs, const solve_options& o, bool f64) {
  const problem_dims d = cs.dims;
  const unfolded_model run = o.model.run_at(d);
  using key_t = std::tuple<int, int, int, int, int, int, int, int, bool, bool>;
  const key_t key{d.nt, d.nr, d.k, d.m, d.c, run.l_out, run.l_in, run.i_w, run.frozen, f64};
  static std::mutex mu;
  static std::map<key_t, lanes_choice> chosen;
  {
    const std::lock_guard<std::mutex> lock(mu);
    if (const auto it = chosen.find(key); it != chosen.end()) return it->second;
  }
  lanes_choice best;
  try {
    for (const int g : {32, 16, 8}) {
      const lanes_model md =
          model_lanes(d, run.l_out, counted_lanes_extrapolated(cs, o, g), f64, run.l_in, run.i_w, run.frozen);
      if (g == 32 || md.per_second > best.model.per_second) best = {g, md};
    }
  } catch (const std::exception&) {
    return lanes_choice{};  // not countable (not line-of-sight, a failed start): a warp each, not remembered
  }
  const std::lock_guard<std::mutex> lock(mu);
  chosen.emplace(key, best);
  return best;
}

}  // namespace jcas::host
