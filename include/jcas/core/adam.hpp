// Adam with L2 weight decay added to the gradient (torch.optim.Adam; SPEC.md 6): one
// parameter's update, the same formula wherever a training step runs (train::adam on the
// host, the GPU trainer's kernel: kernels/train_kernels.cu).
#pragma once
#include <cmath>

#include "jcas/config.hpp"

namespace jcas::core {

/// The constants of one Adam step: the moments' decay rates, eps, the weight decay, the
/// bias corrections 1 - beta1^t and 1 - beta2^t of step t (computed once, on the host), and
/// the learning rates: lr for parameters before first_mu, mu_lr from it on (a group).
struct adam_coeffs {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  double c1 = 1, c2 = 1;
  double lr = 0, mu_lr = 0;
  long first_mu = -1;  // -1: one group
  JCAS_HD double rate(long i) const { return first_mu >= 0 && i >= first_mu ? mu_lr : lr; }
};

/// Parameter i's step: g = grad + wd theta; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
/// theta -= rate (m / c1) / (sqrt(v / c2) + eps).
JCAS_HD inline void adam_update(long i, double& theta, double grad, double& m, double& v, const adam_coeffs& c) {
  using std::sqrt;
  const double g = grad + c.weight_decay * theta;
  m = c.beta1 * m + (1 - c.beta1) * g;
  v = c.beta2 * v + (1 - c.beta2) * g * g;
  theta -= c.rate(i) * (m / c.c1) / (sqrt(v / c.c2) + c.eps);
}

}  // namespace jcas::core
