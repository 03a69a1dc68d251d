// Training: determinism, Adam semantics, loss decrease, resume = uninterrupted.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "io.hpp"
#include "training.hpp"

namespace jcas::test {
namespace {

unfolded_model small_model(bool frozen = false) {
  unfolded_model m;
  m.l_out = 6;
  m.l_in = 2;
  m.i_w = 2;
  m.frozen = frozen;
  m.finalize();
  return m;
}

TEST(Training, GradientIndependentOfThreadCount) {
  const channel_set cs = cpu::generate_batch(scenario{}, 3, 0, 7);
  const system_params<double> sys{};
  std::vector<zd> w0, f0;
  cpu::init_batch(cs, sys, f0_method::lapack, w0, f0);
  const std::vector<long> idx = {6, 2, 0, 5, 1};
  for (bool frozen : {false, true}) {
    const auto a = train::cpu_loss_and_gradient(cs, w0, f0, idx, small_model(frozen), sys, 1);
    const auto b = train::cpu_loss_and_gradient(cs, w0, f0, idx, small_model(frozen), sys, 2);
    EXPECT_EQ(a.loss, b.loss);
    EXPECT_EQ(a.grad, b.grad);
    EXPECT_EQ(a.grad.size(), size_t(6 * 2 + 2));
    double norm = 0;
    for (double g : a.grad) norm += g * g;
    EXPECT_GT(norm, 0);
  }
}

TEST(Training, AdamFirstStepIsLrTimesSignWithDecayInTheGradient) {
  train::settings s;
  s.weight_decay = 0.5;
  train::adam opt;
  std::vector<double> theta = {1.0, -2.0, 3.0};
  const std::vector<double> g = {0.1, 0.3, -4.0};  // + 0.5 theta = {0.6, -0.7, -2.5}
  opt.update(theta, g, 0.01, s);
  EXPECT_NEAR(theta[0], 1.0 - 0.01, 1e-9);
  EXPECT_NEAR(theta[1], -2.0 + 0.01, 1e-9);
  EXPECT_NEAR(theta[2], 3.0 + 0.01, 1e-9);
  // Second step by the formula with bias corrections.
  const std::vector<double> t1 = theta;
  opt.update(theta, g, 0.01, s);
  const double gg = g[0] + 0.5 * t1[0], m = 0.9 * 0.1 * 0.6 + 0.1 * gg, v = 0.999 * 0.001 * 0.36 + 0.001 * gg * gg;
  EXPECT_NEAR(theta[0], t1[0] - 0.01 * (m / (1 - 0.81)) / (std::sqrt(v / (1 - 0.999 * 0.999)) + 1e-8), 1e-12);
}

TEST(Training, MuParameterGroupTakesItsOwnLearningRate) {
  train::settings s;
  s.weight_decay = 0;
  s.mu_lr_factor = 100;
  train::adam opt;
  std::vector<double> theta = {0.01, 0.01, 10.0, 10.0};
  opt.update(theta, {1.0, -1.0, 1.0, -1.0}, 1e-3, s, 2);  // first step: lr * sign(g)
  EXPECT_NEAR(theta[0], 0.01 - 1e-3, 1e-9);
  EXPECT_NEAR(theta[1], 0.01 + 1e-3, 1e-9);
  EXPECT_NEAR(theta[2], 10.0 - 0.1, 1e-8);  // Adam eps: 0.1 g / (|g| + 1e-8)
  EXPECT_NEAR(theta[3], 10.0 + 0.1, 1e-8);
}

TEST(Training, EpochOrderIsAPermutationFixedBySeedAndEpoch) {
  const auto a = train::epoch_order(50, 7, 3), b = train::epoch_order(50, 7, 3), c = train::epoch_order(50, 7, 4);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  auto s = a;
  std::sort(s.begin(), s.end());
  for (long i = 0; i < 50; ++i) EXPECT_EQ(s[i], i);
}

TEST(Training, ShortRunLowersTheLoss) {
  const channel_set cs = cpu::generate_batch(scenario{}, 1, 0, 24);
  train::settings s;
  s.epochs = 4;
  s.batch = 8;
  s.lr = 3e-3;
  train::checkpoint c;
  c.model = small_model();
  train::run(cs, system_params<double>{}, s, c, {}, executor{-1, 0});
  ASSERT_EQ(c.epochs_done, 4);
  std::vector<double> epoch_loss;
  for (const auto& r : c.log)
    if (r.batch < 0) epoch_loss.push_back(r.loss);
  ASSERT_EQ(epoch_loss.size(), 4u);
  EXPECT_LT(epoch_loss.back(), epoch_loss.front());
  EXPECT_NE(c.model.beta, small_model().beta);
}

TEST(Training, ResumeFromCheckpointEqualsUninterruptedRun) {
  const channel_set cs = cpu::generate_batch(scenario{}, 1, 0, 20);
  const auto path = std::filesystem::temp_directory_path() / ("jcas_ckpt_" + std::to_string(::getpid()) + ".h5");
  train::settings s;
  s.batch = 6;
  s.lr = 2e-3;
  s.epochs = 4;
  train::checkpoint whole;
  whole.model = small_model();
  train::run(cs, system_params<double>{}, s, whole, {}, executor{-1, 2});

  train::checkpoint part;
  part.model = small_model();
  s.epochs = 2;  // "interrupted" after two epochs, checkpoint on disk
  train::callbacks cb;
  cb.on_epoch = [&](const train::checkpoint& c) { train::write_checkpoint(path.string(), c); };
  train::run(cs, system_params<double>{}, s, part, cb, executor{-1, 1});
  train::checkpoint resumed = train::read_checkpoint(path.string());
  EXPECT_EQ(resumed.epochs_done, 2);
  s.epochs = 4;
  train::run(cs, system_params<double>{}, s, resumed, {}, executor{-1, 2});
  std::filesystem::remove(path);
  EXPECT_EQ(resumed.model.beta, whole.model.beta);
  EXPECT_EQ(resumed.model.mu_c, whole.model.mu_c);
  EXPECT_EQ(resumed.model.mu_s, whole.model.mu_s);
  EXPECT_EQ(resumed.log.size(), whole.log.size());
}

TEST(Training, AStopPollEndsTheRunAfterTheBatchItSaysStopIn) {
  const channel_set cs = cpu::generate_batch(scenario{}, 1, 0, 20);
  train::settings s;
  s.batch = 6;
  s.epochs = 3;
  train::checkpoint c;
  c.model = small_model();
  train::callbacks cb;
  int polls = 0;
  cb.stop = [&] { return ++polls == 6; };  // 4 batches an epoch: the second of epoch 2
  try {
    train::run(cs, system_params<double>{}, s, c, cb, executor{-1, 1});
    ADD_FAILURE() << "not stopped";
  } catch (const stopped& e) {
    EXPECT_STREQ(e.what(), "training stopped by the caller in epoch 2, batch 2 of 4");
  }
  EXPECT_EQ(c.epochs_done, 1);
  EXPECT_EQ(c.log.size(), 4u + 1u + 2u);  // epoch 1's batches and summary, two batches of epoch 2
}

// settings::fresh: epoch 1 trains on the data given, each later epoch on what epoch_data
// draws for it (asked once per epoch, again on a resume), so that a resumed run equals the
// uninterrupted one; a checkpoint of a fresh run does not resume without fresh.
TEST(Training, FreshDataEachEpochResumesToTheUninterruptedRun) {
  const channel_set cs = cpu::generate_batch(scenario{}, 1, 0, 12);
  train::settings s;
  s.batch = 6;
  s.epochs = 4;
  s.fresh = true;
  std::vector<int> asked;
  train::callbacks cb;
  cb.epoch_data = [&](int e) {
    asked.push_back(e);
    return cpu::generate_batch(scenario{}, 1, 12L * e, 12);
  };
  train::checkpoint whole;
  whole.model = small_model();
  train::run(cs, system_params<double>{}, s, whole, cb, executor{-1, 1});
  EXPECT_EQ(asked, (std::vector<int>{1, 2, 3}));
  train::checkpoint same_data;  // without fresh: epoch 1 the same, then other data
  same_data.model = small_model();
  train::settings plain = s;
  plain.fresh = false;
  train::run(cs, system_params<double>{}, plain, same_data, {}, executor{-1, 1});
  EXPECT_EQ(same_data.log[0].loss, whole.log[0].loss);
  EXPECT_NE(same_data.model.beta, whole.model.beta);

  const auto path = std::filesystem::temp_directory_path() / ("jcas_fresh_" + std::to_string(::getpid()) + ".h5");
  train::checkpoint part;
  part.model = small_model();
  s.epochs = 2;
  cb.on_epoch = [&](const train::checkpoint& c) { train::write_checkpoint(path.string(), c); };
  train::run(cs, system_params<double>{}, s, part, cb, executor{-1, 1});
  cb.on_epoch = nullptr;
  s.epochs = 4;
  asked.clear();
  train::checkpoint resumed = train::read_checkpoint(path.string());
  train::run(cs, system_params<double>{}, s, resumed, cb, executor{-1, 1});
  EXPECT_EQ(asked, (std::vector<int>{2, 3}));
  EXPECT_EQ(resumed.model.beta, whole.model.beta);
  EXPECT_EQ(resumed.model.mu_c, whole.model.mu_c);
  train::checkpoint other = train::read_checkpoint(path.string());
  try {
    train::run(cs, system_params<double>{}, plain, other, {}, executor{-1, 1});
    ADD_FAILURE() << "a fresh run's checkpoint resumed without fresh";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("resume: fresh data = 0, but"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

// settings::users_mix: position p of an epoch's order trains at K = mix[p % size] on the
// realization's first K users; a batch's loss is the mean over its realizations, each at
// its K (checked against the loss of each K's share computed on its own, from a channel
// set that first_users did not make: the generator's draw at that K). A one-K mix of the
// data's own K is the plain run; a resume with another mix is refused.
TEST(Training, MixedUsersTrainEachRealizationAtItsKOfTheMix) {
  scenario sc;
  sc.dims.k = 4;
  const channel_set cs = cpu::generate_batch(sc, 1, 0, 10);
  sc.dims.k = 2;
  const channel_set two = cpu::generate_batch(sc, 1, 0, 10);  // a user's channel does not depend on K
  EXPECT_EQ(train::first_users(cs, 2).h, two.h);
  EXPECT_EQ(train::first_users(cs, 2).g, cs.g);

  train::settings s;
  s.batch = 10;  // one batch an epoch: its loss is logged
  s.epochs = 1;
  s.users_mix = {2, 4};
  train::checkpoint mixed;
  mixed.model = small_model();
  train::run(cs, system_params<double>{}, s, mixed, {}, executor{-1, 2});
  const std::vector<long> order = train::epoch_order(10, s.seed, 0);
  std::vector<long> at2, at4;
  for (long p = 0; p < 10; ++p) (p % 2 == 0 ? at2 : at4).push_back(order[p]);
  const system_params<double> sys{};
  std::vector<zd> w0, f0;
  cpu::init_batch(two, sys, f0_method::lapack, w0, f0);
  const double l2 = train::cpu_loss_and_gradient(two, w0, f0, at2, small_model(), sys, 1).loss;
  cpu::init_batch(cs, sys, f0_method::lapack, w0, f0);
  const double l4 = train::cpu_loss_and_gradient(cs, w0, f0, at4, small_model(), sys, 1).loss;
  ASSERT_EQ(mixed.log.size(), 2u);
  EXPECT_NEAR(mixed.log[0].loss, 0.5 * l2 + 0.5 * l4, 1e-12 * std::abs(l2 + l4));
  EXPECT_GT(std::abs(l2 - l4), 1e-3 * std::abs(l4));  // the mix is not one K's loss

  s.users_mix = {4};
  s.epochs = 2;
  train::checkpoint one_k, plain;
  one_k.model = plain.model = small_model();
  train::run(cs, sys, s, one_k, {}, executor{-1, 1});
  train::settings p = s;
  p.users_mix.clear();
  train::run(cs, sys, p, plain, {}, executor{-1, 1});
  EXPECT_EQ(one_k.model.beta, plain.model.beta);

  train::checkpoint fresh;
  fresh.model = small_model();
  const auto refused = [&](train::settings t, train::checkpoint c, const std::string& what) {
    try {
      train::run(cs, sys, t, c, {}, executor{-1, 1});
      ADD_FAILURE() << "accepted: " << what;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  s.users_mix = {2, 6};
  refused(s, fresh, "users-mix: K = 6, but the training data have 4 users");
  s.users_mix = {0};
  refused(s, fresh, "users-mix = 0");
  s.users_mix = {2, 3};  // another mix does not resume the {2, 4} run
  s.epochs = 3;
  refused(s, mixed, "resume: users mix K2 = 3, but the checkpoint was trained with users mix K2 = 4");
  p.epochs = 3;
  refused(p, mixed, "resume: users mix = 0, but the checkpoint was trained with users mix = 2");
}

TEST(Training, PerLayerMuWithEqualTablesIsThePaperModel) {
  const channel_set cs = cpu::generate_batch(scenario{}, 8, 0, 6);
  const system_params<double> sys{};
  std::vector<zd> w0, f0;
  cpu::init_batch(cs, sys, f0_method::lapack, w0, f0);
  unfolded_model shared = small_model(), rich = small_model();
  rich.per_layer_mu = true;
  rich.finalize();
  ASSERT_EQ(rich.mu_c_layer.size(), 6u);
  const std::vector<long> idx = {0, 1, 2, 3, 4, 5};
  const auto a = train::cpu_loss_and_gradient(cs, w0, f0, idx, shared, sys, 0);
  const auto b = train::cpu_loss_and_gradient(cs, w0, f0, idx, rich, sys, 0);
  EXPECT_EQ(a.loss, b.loss);
  ASSERT_EQ(b.grad.size(), 12u + 12u);
  double sc = 0, ss = 0;
  for (int l = 0; l < 6; ++l) {
    sc += b.grad[12 + l];
    ss += b.grad[18 + l];
  }
  EXPECT_NEAR(sc, a.grad[12], 1e-12 * std::abs(a.grad[12]));  // shared gradient = sum over layers
  EXPECT_NEAR(ss, a.grad[13], 1e-12 * std::abs(a.grad[13]));
  solve_options o;
  o.model = shared;
  const double hs = summarize(cpu::solve_batch(cs, o)).mean_objective;
  o.model = rich;
  EXPECT_EQ(summarize(cpu::solve_batch(cs, o)).mean_objective, hs);
}

TEST(Training, PerLayerModelFileRoundTrip) {
  const auto path = std::filesystem::temp_directory_path() / ("jcas_rich_" + std::to_string(::getpid()) + ".h5");
  unfolded_model m = small_model();
  m.per_layer_mu = true;
  m.mu_c_layer = {1, 2, 3, 4, 5, 6};
  m.mu_s_layer = {6, 5, 4, 3, 2, 1};
  m.w0 = w0_method::zf;
  m.finalize();
  io::write_model(path.string(), m);
  const unfolded_model r = io::read_model(path.string());
  EXPECT_TRUE(r.per_layer_mu);
  EXPECT_EQ(r.w0, w0_method::zf);
  EXPECT_EQ(r.mu_c_layer, m.mu_c_layer);
  EXPECT_EQ(r.mu_s_layer, m.mu_s_layer);
  std::filesystem::remove(path);
}

// unfolded_model::layer_repeat: each layer run N times in a row in a solve, or by the users
// (max(ceil(K / 4), floor(4 / K))); the same solve as a model whose tables repeat each
// layer's row (written out here by hand), kept in the model file, and refused below 0.
TEST(Training, LayerRepeatRunsEachLayerAgainAsAStretchedModelWould) {
  unfolded_model m = small_model();
  m.per_layer_mu = true;
  m.mu_c_layer = {8, 9, 10, 11, 12, 13};
  m.mu_s_layer = {7, 8, 9, 10, 11, 12};
  m.beta.clear();
  for (int i = 0; i < 12; ++i) m.beta.push_back(0.02 + 0.01 * i);
  m.finalize();
  m.layer_repeat = 0;
  const std::vector<std::pair<int, int>> by_users = {{1, 4}, {2, 2}, {3, 1},  {4, 1}, {5, 2},
                                                     {8, 2}, {9, 3}, {12, 3}, {16, 4}};
  for (const auto& [k, r] : by_users) EXPECT_EQ(m.repeats_at(k), r) << "K = " << k;
  m.layer_repeat = 2;
  EXPECT_EQ(m.repeats_at(12), 2);

  unfolded_model by_hand = m;  // rows l = 0, 0, 1, 1, ...: beta (L_out x L_in, row-major) and mu
  by_hand.layer_repeat = 1;
  by_hand.l_out = 12;
  by_hand.beta.clear();
  by_hand.mu_c_layer.clear();
  by_hand.mu_s_layer.clear();
  for (int l = 0; l < 6; ++l)
    for (int rep = 0; rep < 2; ++rep) {
      by_hand.beta.insert(by_hand.beta.end(), m.beta.begin() + 2 * l, m.beta.begin() + 2 * l + 2);
      by_hand.mu_c_layer.push_back(m.mu_c_layer[l]);
      by_hand.mu_s_layer.push_back(m.mu_s_layer[l]);
    }
  scenario sc;
  sc.dims.k = 3;
  const channel_set cs = cpu::generate_batch(sc, 4, 0, 3);
  const unfolded_model run = m.run_at(cs.dims);
  EXPECT_EQ(run.l_out, 12);
  EXPECT_EQ(run.layer_repeat, 1);
  EXPECT_EQ(run.beta, by_hand.beta);
  EXPECT_EQ(run.mu_s_layer, by_hand.mu_s_layer);
  solve_options o;
  o.model = m;
  const solve_output repeated = cpu::solve_batch(cs, o);
  o.model = by_hand;
  const solve_output stretched = cpu::solve_batch(cs, o);
  EXPECT_EQ(repeated.objective, stretched.objective);
  EXPECT_EQ(repeated.curve_len, 13);
  o.model.layer_repeat = 0;  // by the users: K = 3 runs the 12 layers once
  EXPECT_EQ(cpu::solve_batch(cs, o).objective, stretched.objective);
  o.model = m;
  o.model.layer_repeat = 1;
  EXPECT_NE(cpu::solve_batch(cs, o).objective, stretched.objective);

  const auto path = std::filesystem::temp_directory_path() / ("jcas_rep_" + std::to_string(::getpid()) + ".h5");
  for (const int r : {0, 3}) {
    m.layer_repeat = r;
    io::write_model(path.string(), m);
    EXPECT_EQ(io::read_model(path.string()).layer_repeat, r);
  }
  std::filesystem::remove(path);
  m.layer_repeat = -1;
  try {
    m.finalize();
    ADD_FAILURE() << "layer_repeat -1 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "layer-repeat = -1: must be >= 1, or 0: by the users");
  }
  EXPECT_EQ(parse_layer_repeat("users"), 0);
  EXPECT_EQ(parse_layer_repeat("3"), 3);
  for (const char* bad : {"0", "-2", "2x", "", "two"})
    EXPECT_THROW(parse_layer_repeat(bad), std::invalid_argument) << bad;
}

// A model whose layers repeat is trained as a solve runs it (train::loss_and_gradient):
// the loss is that of the stretched model, and the gradient with respect to the model's
// own parameters (each shared by a layer's runs) agrees with central differences of it.
TEST(Training, RepeatedLayersAreTrainedAsTheyRun) {
  const channel_set cs = cpu::generate_batch(scenario{}, 5, 0, 4);  // K = 4
  const system_params<double> sys{};
  std::vector<zd> w0, f0;
  cpu::init_batch(cs, sys, f0_method::lapack, w0, f0);
  const std::vector<long> idx = {3, 0, 2};
  const executor ex{};
  for (bool per_layer_mu : {false, true}) {
    unfolded_model m = small_model();
    m.per_layer_mu = per_layer_mu;
    m.finalize();
    for (size_t i = 0; i < m.beta.size(); ++i) m.beta[i] = 0.004 + 0.001 * double(i % 5);  // distinct rows
    for (size_t l = 0; l < m.mu_c_layer.size(); ++l) m.mu_c_layer[l] = 8 + double(l);
    const auto once = train::loss_and_gradient(ex, cs, w0, f0, idx, m, sys);
    m.layer_repeat = 0;  // by the users: once at K = 4
    const auto users = train::loss_and_gradient(ex, cs, w0, f0, idx, m, sys);
    EXPECT_EQ(users.loss, once.loss);
    EXPECT_EQ(users.grad, once.grad);
    m.layer_repeat = 3;
    const auto lg = train::loss_and_gradient(ex, cs, w0, f0, idx, m, sys);
    const auto stretched = train::cpu_loss_and_gradient(cs, w0, f0, idx, m.run_at(cs.dims), sys, 0);
    EXPECT_EQ(lg.loss, stretched.loss);
    EXPECT_NE(lg.loss, once.loss);
    const std::vector<double> theta = train::pack(m);
    ASSERT_EQ(lg.grad.size(), theta.size());
    const long nb = long(m.beta.size());
    for (long p : {0L, 5L, nb - 1, nb, long(theta.size()) - 1}) {
      const double h = 1e-5 * std::max(1.0, std::abs(theta[size_t(p)]));
      double at[2];
      for (int s = 0; s < 2; ++s) {
        std::vector<double> t = theta;
        t[size_t(p)] += s ? -h : h;
        unfolded_model mp = m;
        train::unpack(t, mp);
        at[s] = train::loss_and_gradient(ex, cs, w0, f0, idx, mp, sys).loss;
      }
      const double fd = (at[0] - at[1]) / (2 * h), g = lg.grad[size_t(p)];
      EXPECT_NEAR(g, fd, 1e-6 * std::max(std::abs(fd), 1e-3 * std::abs(lg.loss)))
          << "parameter " << p << (per_layer_mu ? " (per-layer mu)" : " (shared mu)");
    }
  }
}

TEST(Training, CheckpointIsAlsoAModelFile) {
  const auto path = std::filesystem::temp_directory_path() / ("jcas_ck2_" + std::to_string(::getpid()) + ".h5");
  train::checkpoint c;
  c.model = small_model();
  c.model.beta[3] = 0.5;
  c.opt.m.assign(14, 0.1);
  c.opt.v.assign(14, 0.2);
  c.opt.step = 9;
  c.epochs_done = 3;
  c.lr = 0.1;
  train::write_checkpoint(path.string(), c);
  EXPECT_EQ(io::read_model(path.string()).beta, c.model.beta);
  const train::checkpoint r = train::read_checkpoint(path.string());
  EXPECT_EQ(r.opt.step, 9);
  EXPECT_EQ(r.opt.v, c.opt.v);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace jcas::test

namespace jcas::test {
namespace {

double validation_objective(const channel_set& val, const unfolded_model& m) {
  solve_options o;
  o.model = m;
  return summarize(cpu::solve_batch(val, o)).mean_objective;
}

// Issue 6: the richer model (per-layer mu) trained from the paper model's parameters,
// with its own learning rate for mu, does not lower the validation objective.
TEST(Training, RicherModelFromPaperParamsDoesNotLowerValidation) {
  const channel_set train_set = cpu::generate_batch(scenario{}, 1, 0, 128);
  const channel_set val = cpu::generate_batch(scenario{}, 2, 0, 48);
  train::settings s;
  s.epochs = 4;
  s.batch = 16;
  train::checkpoint paper;
  paper.model.l_out = 40;
  paper.model.finalize();
  train::run(train_set, system_params<double>{}, s, paper, {}, executor{-1, 0});
  const double before = validation_objective(val, paper.model);

  train::checkpoint rich;
  rich.model = paper.model;
  rich.model.per_layer_mu = true;
  rich.model.mu_c_layer.assign(size_t(rich.model.l_out), rich.model.mu_c);
  rich.model.mu_s_layer.assign(size_t(rich.model.l_out), rich.model.mu_s);
  EXPECT_DOUBLE_EQ(validation_objective(val, rich.model), before);  // same function at the start
  s.mu_lr_factor = 1000;
  s.weight_decay = 0;
  train::run(train_set, system_params<double>{}, s, rich, {}, executor{-1, 0});
  const double after = validation_objective(val, rich.model);
  std::printf("validation objective: paper model %.5f, richer model %.5f\n", before, after);
  EXPECT_GE(after, before);
  EXPECT_NE(rich.model.mu_c_layer, std::vector<double>(size_t(rich.model.l_out), paper.model.mu_c));
}

}  // namespace
}  // namespace jcas::test
