// The CPU backend's public entries (api.hpp's jcas::cpu, train::cpu_loss_and_gradient):
// baseline x86-64 code that checks this CPU against the level the SIMD island was built
// for (host/cpu_isa.hpp) before the first instruction of that level runs, so that a CPU
// without it gets one clear error instead of an illegal instruction.
#include <stdexcept>
#include <string>
#include <utility>

#include "cpu_isa.hpp"
#include "jcas/api.hpp"

#if !defined(JCAS_X86_LEVEL)
#error "JCAS_X86_LEVEL (x86-64-v3 or x86-64-v4) is defined by CMakeLists.txt"
#endif

namespace jcas::cpu {

std::string instruction_set_error() {
  const std::string level = JCAS_X86_LEVEL;
  const bool v4 = level == "x86-64-v4";
  if (v4 ? __builtin_cpu_supports("x86-64-v4") : __builtin_cpu_supports("x86-64-v3")) return {};
  // The level's features (GCC's x86-64-v3 / v4) this CPU lacks, by name.
  const std::pair<const char*, bool> features[] = {
      {"avx", __builtin_cpu_supports("avx")},           {"avx2", __builtin_cpu_supports("avx2")},
      {"fma", __builtin_cpu_supports("fma")},           {"bmi", __builtin_cpu_supports("bmi")},
      {"bmi2", __builtin_cpu_supports("bmi2")},         {"f16c", __builtin_cpu_supports("f16c")},
      {"lzcnt", __builtin_cpu_supports("lzcnt")},       {"movbe", __builtin_cpu_supports("movbe")},
      {"avx512f", __builtin_cpu_supports("avx512f")},   {"avx512bw", __builtin_cpu_supports("avx512bw")},
      {"avx512cd", __builtin_cpu_supports("avx512cd")}, {"avx512dq", __builtin_cpu_supports("avx512dq")},
      {"avx512vl", __builtin_cpu_supports("avx512vl")}};
  std::string missing;
  for (const auto& [name, has] : features) {
    if (has || (!v4 && std::string(name).rfind("avx512", 0) == 0)) continue;
    if (!missing.empty()) missing += ' ';
    missing += name;
  }
  return "the CPU backend was built for " + level + " (JCAS_X86_LEVEL) but this CPU lacks it (" +
         (missing.empty() ? std::string("a feature of the level") : missing) + ")" +
         (v4 ? ": rebuild with -DJCAS_X86_LEVEL=x86-64-v3" : ": x86-64-v3 is the lowest level jcas builds for");
}

void require_instruction_set() {
  static const std::string error = instruction_set_error();
  if (!error.empty()) throw std::runtime_error(error);
}

channel_set generate_batch(const scenario& sc, std::uint64_t seed, long first, long count, int threads, bool rank_one) {
  require_instruction_set();
  return isa::generate_batch(sc, seed, first, count, threads, rank_one);
}

void init_batch(const channel_view& ch, const system_params<double>& sys, f0_method how, std::vector<zd>& w,
                std::vector<zd>& f, int threads, w0_method w0) {
  require_instruction_set();
  isa::init_batch(ch, sys, how, w, f, threads, w0);
}

solve_output solve_batch(const channel_view& ch, const solve_options& o) {
  require_instruction_set();
  return isa::solve_batch(ch, o);
}

}  // namespace jcas::cpu
