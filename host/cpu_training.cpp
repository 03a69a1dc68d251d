// The CPU backend of training (SIMD island, host/cpu_isa.hpp): each realization's loss
// and gradient through all layers (core/training.hpp), in an OpenMP loop. The batch
// sum, MPI and Adam are host/training.cpp's.
#include <omp.h>

#include "cpu_isa.hpp"
#include "jcas/core/training.hpp"
#include "realization.hpp"
#include "solver_config.hpp"

namespace jcas::cpu::isa {

void training_gradients(const channel_set& cs, const std::vector<zd>& w0, const std::vector<zd>& f0,
                        const std::vector<long>& idx, long lo, long hi, const unfolded_model& model,
                        const system_params<double>& sys, int threads, double scale, double* per, double* losses,
                        int* st) {
  const problem_dims d = cs.dims;
  const host::model_tables<double> tables(model);
  const core::unfolded_params<double> up = host::make_unfolded<double>(model, tables);
  const long np = long(model.beta.size()) + up.mu_count();
  const int steps = model.l_in * model.i_w;
  const long bytes = core::training_ws<double>::bytes(d, model.l_out, steps);
#pragma omp parallel num_threads(threads > 0 ? threads : omp_get_max_threads())
  {
    // Each thread's scratch outlives the call, so a training's steps reuse it instead of
    // mapping and clearing megabytes (mostly the layers' tapes) at every step.
    thread_local std::vector<char> scratch;
    if (scratch.size() < static_cast<size_t>(bytes)) scratch.resize(static_cast<size_t>(bytes));
    host::realization<double> rc;
#pragma omp for schedule(dynamic, 1)
    for (long i = lo; i < hi; ++i) {
      const long b = idx[i];
      rc.load(cs, b);
      arena a{scratch.data()};
      core::training_ws<double> ws;
      ws.carve(a, d, model.l_out, steps);
      const core::cview<double> wv(reinterpret_cast<const cplx<double>*>(w0.data()) + b * cs.h_stride(), d.nt, d.k);
      const core::cview<double> fv(reinterpret_cast<const cplx<double>*>(f0.data()) + b * long(d.nr) * d.m, d.nr, d.m);
      double* g = per + i * np;
      rc.visit([&](const auto& ch) {
        st[i] = int(
            core::unfolded_loss_grad<double>(ch, d, sys, up, wv, fv, scale, ws, &losses[i], g, g + model.beta.size()));
      });
    }
  }
}

}  // namespace jcas::cpu::isa
