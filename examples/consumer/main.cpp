// Draws 64 realizations of the default scenario, solves them with the unfolded solver
// (the model shipped with jcas) and with ao-monotone on the CPU, and prints each one's
// mean objective.
#include <cstdio>

#include "jcas/api.hpp"

int main() {
  const jcas::executor cpu{};  // jcas::executor{0} runs on CUDA device 0
  const jcas::channel_set ch = jcas::generate_batch(cpu, jcas::scenario{}, /*seed=*/1, /*first=*/0, /*count=*/64);
  jcas::solve_options o;
  o.sys.pt = jcas::pt_of_snr_db(20);
  o.model = jcas::shipped_model(o.sys.delta);  // compiled into libjcas.so
  for (jcas::algorithm a : {jcas::algorithm::unfolded, jcas::algorithm::ao_monotone}) {
    o.algo = a;
    const jcas::summary s = jcas::summarize(jcas::solve_batch(cpu, ch, o));
    std::printf("mean objective %-12s %.4f  (min SINR %.2f dB, %ld realizations)\n", jcas::to_string(a).c_str(),
                s.mean_objective, s.min_sinr_db, s.realizations);
    if (!(s.mean_objective > 0)) return 1;
  }
  return 0;
}
