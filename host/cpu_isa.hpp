// The CPU backend's SIMD island: the code compiled for JCAS_X86_LEVEL (AVX2 + FMA, or
// AVX-512), and nothing else. host/cpu_backend.cpp, host/cpu_training.cpp and
// host/f0_lapack.cpp are built with -march=JCAS_X86_LEVEL into one relocatable object
// whose only global symbols are the functions below (CMakeLists.txt: jcas_cpu_isa);
// everything else in it, the core's instantiations and the standard library's included,
// is local to it, so that no copy compiled for that level can stand in for a baseline
// x86-64 one elsewhere in a program. The rest of jcas is baseline x86-64 and reaches the
// island only through host/cpu_front.cpp, which first checks that this CPU has the level
// (cpu::instruction_set_error, api.hpp).
#pragma once
#include <vector>

#include "jcas/api.hpp"

namespace jcas::cpu::isa {

channel_set generate_batch(const scenario& sc, std::uint64_t seed, long first, long count, int threads, bool rank_one);
void init_batch(const channel_view& ch, const system_params<double>& sys, f0_method how, std::vector<zd>& w,
                std::vector<zd>& f, int threads, w0_method w0);
solve_output solve_batch(const channel_view& ch, const solve_options& o);

/// Each realization's share of the loss of eq. 19 and of its gradient (train::pack's
/// layout, np values), times scale, for the realizations idx[lo .. hi-1] of cs: into
/// per[i * np ...], losses[i] and st[i] (a status) for each i in [lo, hi).
void training_gradients(const channel_set& cs, const std::vector<zd>& w0, const std::vector<zd>& f0,
                        const std::vector<long>& idx, long lo, long hi, const unfolded_model& model,
                        const system_params<double>& sys, int threads, double scale, double* per, double* losses,
                        int* st);

}  // namespace jcas::cpu::isa
