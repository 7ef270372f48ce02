// The meta-gradient of an unroll against central finite differences in double precision.
//
// With the optimizee's gradients grad_0..grad_T recorded from a real unroll and replayed
// as constants, the unroll loss whose exact gradient is l2o's first-order meta-gradient is
//   Ltilde(phi) = sum_{t=1..T} w_t <grad_t, theta_t(phi)>,
//   theta_{t+1} = theta_t + g(P(grad_t), state; phi),
// (its derivative is sum_s lambda_{s+1} dg_s/dphi, docs/method.md §3). The test evaluates
// Ltilde with the naive double reference of reference.hpp and differentiates it
// numerically, entry by entry of phi; the state entering the unroll is held constant.
#include "l2o/error.hpp"
#include "l2o/meta.hpp"
#include "l2o/problem.hpp"
#include "maths/coordinate.hpp"
#include "maths/random.hpp"
#include "reference.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace l2o {
namespace {

// Wraps an optimizee and records every gradient it hands out (host memory).
class Recorder final : public Optimizee {
 public:
  explicit Recorder(std::unique_ptr<Optimizee> f, std::vector<std::size_t> groups = {})
      : f_(std::move(f)), groups_(std::move(groups)) {}
  std::size_t size() const override { return f_->size(); }
  std::vector<std::size_t> groups() const override {
    return groups_.empty() ? f_->groups() : groups_;
  }
  Device device() const override { return f_->device(); }
  void initial_theta(float* theta, Stream s) override {
    f_->initial_theta(theta, s);
    theta0.assign(theta, theta + size());
  }
  void loss_and_grad(const float* theta, float* grad, float* loss, Stream s) override {
    f_->loss_and_grad(theta, grad, loss, s);
    grads.emplace_back(grad, grad + size());
  }
  std::vector<float> theta0;
  std::vector<std::vector<float>> grads;

 private:
  std::unique_ptr<Optimizee> f_;
  std::vector<std::size_t> groups_;  // empty: f's
};

// Replays grads[first..first+T] from theta and states (double), returning Ltilde.
double ltilde(const OptimizerConfig& cfg, const std::vector<double>& phi,
              const std::vector<std::vector<float>>& grads, int first, int T,
              const std::vector<float>& omega, std::vector<double> theta,
              std::vector<ref::CoordState> states) {
  const ref::Net net(cfg, phi);
  double L = 0.0;
  for (int t = 0; t < T; ++t) {
    for (std::size_t i = 0; i < theta.size(); ++i)
      theta[i] += ref::step(net, cfg, grads[first + t][i], states[i]);
    ref::average_global_units(cfg, states);  // LSTM+GAC (no-op without global units)
    const std::vector<float>& g = grads[first + t + 1];
    for (std::size_t i = 0; i < theta.size(); ++i) L += omega[t] * double(g[i]) * theta[i];
  }
  return L;
}

// The per-coordinate maths the CUDA kernels run (coordinate_inputs, lstm_forward_step and
// lstm_backward_step of maths/coordinate.hpp, one coordinate at a time), driven here on
// the host: the first T steps from a zero state, then the second unroll's forward with its
// states recorded and its backward, dL/dphi summed in double. This checks the GPU path's
// maths on machines without a GPU; the CPU backend has its own tiled kernels.
struct VecIO {
  float* s;
  float load(int k) const { return s[k]; }
  void store(int k, float v) const { s[k] = v; }
};
struct DphiSink {
  const WeightLayout& L;
  std::vector<double>& d;
  void output(float dout, const float* h) {
    for (int j = 0; j < L.hidden; ++j) d[L.out_w_offset() + j] += double(dout) * h[j];
    d[L.out_b_offset()] += dout;
  }
  void layer(int l, const float* dz, const float* in, const float* hp) {
    const int nin = L.layer_input(l), ld = L.row_length(l);
    for (int r = 0; r < 4 * L.hidden; ++r) {
      double* w = d.data() + L.w_offset(l) + static_cast<std::size_t>(r) * ld;
      for (int k = 0; k < nin; ++k) w[k] += double(dz[r]) * in[k];
      for (int j = 0; j < L.hidden; ++j) w[nin + j] += double(dz[r]) * hp[j];
      d[L.b_offset(l) + r] += dz[r];
    }
  }
};

template <int H>
std::vector<double> generic_meta_gradient(const Weights& phi,
                                          const std::vector<std::vector<float>>& grads, int T,
                                          const std::vector<float>& omega) {
  const OptimizerConfig& c = phi.config();
  const WeightLayout L = phi.layout();
  const PreprocessParams pre = PreprocessParams::from(c);
  const std::size_t n = grads[0].size(), sd = static_cast<std::size_t>(c.state_dim());
  std::vector<double> d(phi.size(), 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<float> s(sd, 0.0f);
    std::vector<std::vector<float>> tape;
    for (int t = 0; t < 2 * T; ++t) {
      if (t >= T) tape.push_back(s);
      VecIO io{s.data()};
      float x[kMaxInputs] = {};
      coordinate_inputs(grads[t][i], pre, io, true, x);
      lstm_forward_step<H>(RowMajorPhi{phi.data()}, L, c.forget_bias, c.output_scale,
                           c.bounded_output, x, io);
    }
    std::vector<float> carry(sd, 0.0f);
    float lambda = 0.0f;
    for (int t = T - 1; t >= 0; --t) {
      lambda += omega[t] * grads[T + t + 1][i];
      VecIO state{tape[t].data()}, cr{carry.data()};
      float x[kMaxInputs] = {};
      coordinate_inputs(grads[T + t][i], pre, state, false, x);
      DphiSink sink{L, d};
      lstm_backward_step<H>(phi.data(), L, c.forget_bias, c.output_scale, c.bounded_output, x,
                            state, lambda, cr, sink);
    }
  }
  return d;
}

struct Case {
  OptimizerConfig cfg;
  int T;
  std::vector<float> omega;  // empty: ones
  int checked = 0;           // phi entries compared (0: all)
};

void check_meta_gradient(const Case& c, std::uint64_t seed) {
  SCOPED_TRACE(describe(c.cfg) + ", T = " + std::to_string(c.T));
  QuadraticOptions qo;
  qo.dims = 3;
  qo.batch = 3;
  qo.dist = QuadraticOptions::Dist::kNormal;
  qo.theta0_std = 1.0;  // gradients of many magnitudes: both preprocessing branches
  Recorder f(make_quadratic_family(qo)->sample(seed, Device::kCpu));
  const std::size_t n = f.size();
  const Weights phi = Weights::initialise(c.cfg, seed + 1);
  Unroller u(phi, n, c.T, Device::kCpu, c.omega);
  u.start(f);
  u.unroll(f, nullptr);  // a first unroll, so the second starts from a non-zero state
  std::vector<float> dphi;
  u.unroll(f, &dphi);
  ASSERT_EQ(f.grads.size(), std::size_t(2 * c.T + 1));
  ASSERT_EQ(dphi.size(), phi.size());

  // The state and theta entering the second unroll, in double, replayed with phi.
  std::vector<double> phid(phi.values().begin(), phi.values().end());
  const ref::Net net(c.cfg, phid);
  std::vector<double> theta(f.theta0.begin(), f.theta0.end());
  std::vector<ref::CoordState> states(n, ref::CoordState(c.cfg.layers, c.cfg.hidden));
  for (int t = 0; t < c.T; ++t) {
    for (std::size_t i = 0; i < n; ++i) theta[i] += ref::step(net, c.cfg, f.grads[t][i], states[i]);
    ref::average_global_units(c.cfg, states);
  }
  const std::vector<float> omega = c.omega.empty() ? std::vector<float>(c.T, 1.0f) : c.omega;

  std::vector<std::size_t> entries(phi.size());
  for (std::size_t e = 0; e < entries.size(); ++e) entries[e] = e;
  if (c.checked > 0) {  // a seeded sample, always including the output layer
    Rng rng(seed);
    for (std::size_t e = entries.size() - 1; e > 0; --e)
      std::swap(entries[e], entries[rng.below(e + 1)]);
    entries.resize(c.checked);
    for (std::size_t e = phi.size() - c.cfg.hidden - 1; e < phi.size(); ++e) entries.push_back(e);
  }
  std::vector<double> fd(entries.size());
  double scale = 0.0;
  for (std::size_t k = 0; k < entries.size(); ++k) {
    const double h = 1e-5;
    std::vector<double> p = phid;
    p[entries[k]] += h;
    const double up = ltilde(c.cfg, p, f.grads, c.T, c.T, omega, theta, states);
    p[entries[k]] -= 2 * h;
    const double down = ltilde(c.cfg, p, f.grads, c.T, c.T, omega, theta, states);
    fd[k] = (up - down) / (2 * h);
    scale = std::max(scale, std::fabs(fd[k]));
  }
  ASSERT_GT(scale, 0.0);
  // l2o computes in fp32 (sums over N T terms, ~1e-6 relative) from an fp32 trajectory;
  // the central difference in double has error ~h^2 f''' ~ 1e-10. Tolerance: 1e-4 of the
  // largest component plus 1e-3 relative.
  int bad = 0;
  for (std::size_t k = 0; k < entries.size() && bad < 10; ++k) {
    const double got = dphi[entries[k]];
    if (std::fabs(got - fd[k]) > 1e-4 * scale + 1e-3 * std::fabs(fd[k])) {
      ADD_FAILURE() << "dL/dphi[" << entries[k] << "] = " << got << ", finite difference " << fd[k]
                    << " (largest " << scale << ")";
      ++bad;
    }
  }
  // The GPU kernels' per-coordinate maths, run on the host, against the same differences
  // and tolerance (LSTM+GAC couples the coordinates, which this per-coordinate driver does
  // not; CudaTest.MetaGradientsWithGlobalUnitsAndGroupsMatchCpu compares its GPU unroll
  // with the CPU's).
  if (c.cfg.gac > 0) return;
  std::vector<double> generic;
  switch (c.cfg.hidden) {
    case 4:
      generic = generic_meta_gradient<4>(phi, f.grads, c.T, omega);
      break;
    case 8:
      generic = generic_meta_gradient<8>(phi, f.grads, c.T, omega);
      break;
    case 20:
      generic = generic_meta_gradient<20>(phi, f.grads, c.T, omega);
      break;
    default:
      FAIL() << "no generic check for hidden " << c.cfg.hidden;
  }
  for (std::size_t k = 0; k < entries.size() && bad < 10; ++k) {
    const double got = generic[entries[k]];
    if (std::fabs(got - fd[k]) > 1e-4 * scale + 1e-3 * std::fabs(fd[k])) {
      ADD_FAILURE() << "generic (GPU maths) dL/dphi[" << entries[k] << "] = " << got
                    << ", finite difference " << fd[k] << " (largest " << scale << ")";
      ++bad;
    }
  }
}

TEST(MetaGradient, LogSignPreprocessingNonUniformWeights) {
  Case c;
  c.cfg.hidden = 8;
  c.T = 5;
  c.omega = {0.5f, 1.0f, 0.0f, 2.0f, 1.5f};
  check_meta_gradient(c, 1);
}

TEST(MetaGradient, NoPreprocessingScaleOne) {
  Case c;
  c.cfg.hidden = 8;
  c.cfg.preprocess = Preprocess::kNone;
  c.cfg.output_scale = 1.0f;
  for (int T : {1, 3, 6}) {
    c.T = T;
    check_meta_gradient(c, 10 + T);
  }
}

TEST(MetaGradient, ThreeLayersAndForgetBias) {
  Case c;
  c.cfg.hidden = 4;
  c.cfg.layers = 3;
  c.cfg.forget_bias = 0.3f;
  c.cfg.p = 5.0f;
  c.T = 4;
  c.omega = {1.0f, 0.25f, 3.0f, 1.0f};
  check_meta_gradient(c, 3);
}

TEST(MetaGradient, DefaultTwoByTwentySampled) {
  Case c;  // 2 x 20, log_sign p = 10, scale 0.1: 5,141 weights, 400 checked
  c.T = 4;
  c.checked = 400;
  check_meta_gradient(c, 4);
}

// The options after the paper: the moments and the time input are functions of the
// gradients and the step count alone (held constant), so the meta-gradient flows through
// the extra inputs' weights and, with a bounded output, through the tanh's derivative.
TEST(MetaGradient, MomentInputsBoundedOutputNominalTerm) {
  Case c;
  c.cfg.hidden = 8;
  c.cfg.moment_inputs = true;
  c.cfg.bounded_output = true;
  c.cfg.output_scale = 0.5f;
  c.cfg.nominal_lr = 0.05f;
  c.T = 5;
  c.omega = {1.0f, 0.5f, 2.0f, 1.0f, 1.0f};
  check_meta_gradient(c, 21);
  Case b;  // each on its own, H = 4 (four inputs fill the first layer's input slots)
  b.cfg.hidden = 4;
  b.T = 4;
  b.cfg.bounded_output = true;
  check_meta_gradient(b, 22);
  b.cfg.bounded_output = false;
  b.cfg.moment_inputs = true;
  check_meta_gradient(b, 23);
  b.cfg.preprocess = Preprocess::kNone;  // three inputs
  b.cfg.output_scale = 1.0f;
  check_meta_gradient(b, 24);
  Case t = c;  // with the time input: five inputs, beta2^t moving fast (beta2 = 0.6)
  t.cfg.time_input = true;
  t.cfg.beta2 = 0.6f;
  check_meta_gradient(t, 25);
  b.cfg.moment_inputs = false;  // g and beta2^t alone
  b.cfg.time_input = true;
  check_meta_gradient(b, 26);
}

// LSTM+GAC: the global units' h averaged over the coordinates after every step (in
// Ltilde's replay too), so the meta-gradient flows between coordinates through the
// averaged carry. n = 9 with blocks of 16 or 32: the padding must stay out of the means.
TEST(MetaGradient, GlobalAveragingUnits) {
  Case c;
  c.cfg.hidden = 8;
  c.cfg.gac = 3;
  c.T = 5;
  c.omega = {0.5f, 1.0f, 0.0f, 2.0f, 1.5f};
  check_meta_gradient(c, 31);
  Case b;  // one layer, every unit global, with the options after the paper
  b.cfg.layers = 1;
  b.cfg.hidden = 4;
  b.cfg.gac = 4;
  b.cfg.moment_inputs = true;
  b.cfg.bounded_output = true;
  b.T = 4;
  check_meta_gradient(b, 32);
  Case d;  // the paper's shape, a sample of the entries
  d.cfg.gac = 5;
  d.T = 3;
  d.checked = 300;
  check_meta_gradient(d, 33);
}

// LSTM-sub: an unroller of two parameter groups (4 and 5 of 9 coordinates), each stepped
// by its own LSTM. Each group's dL/dphi_k against central differences of Ltilde with the
// group's coordinates replayed through its own net (tolerance as above); with both groups
// alike, the losses are the one-LSTM unroller's and the groups' gradients add up to its
// gradient (1e-5 of the largest: the same terms summed in another order).
TEST(MetaGradient, LstmSubGroupsEachGetTheirOwnGradient) {
  OptimizerConfig cfg;
  cfg.layers = 1;
  cfg.hidden = 4;
  cfg.groups = 2;
  const OptimizerConfig one = cfg.single();
  QuadraticOptions qo;
  qo.dims = 3;
  qo.batch = 3;
  qo.dist = QuadraticOptions::Dist::kNormal;
  qo.theta0_std = 1.0;
  const auto family = make_quadratic_family(qo);
  const int T = 3;
  const std::vector<std::size_t> sizes = {4, 5};
  Recorder f(family->sample(21, Device::kCpu), sizes);
  Weights phi = Weights::initialise(cfg, 22);
  phi.set_group(1, Weights::initialise(one, 23));
  Unroller u(phi, sizes, T, Device::kCpu);
  ASSERT_EQ(u.group_sizes(), sizes);
  u.start(f);
  u.unroll(f, nullptr);
  std::vector<float> dphi;
  u.unroll(f, &dphi);
  ASSERT_EQ(dphi.size(), phi.size());
  ASSERT_EQ(f.grads.size(), std::size_t(2 * T + 1));

  const std::size_t P = phi.layout().count(), n = 9;
  auto group_of = [&](std::size_t i) { return i < sizes[0] ? 0 : 1; };
  auto replay = [&](const std::vector<double>& p, int first, int steps, std::vector<double>& theta,
                    std::vector<ref::CoordState>& states, bool loss) {
    const ref::Net nets[2] = {ref::Net(one, std::vector<double>(p.begin(), p.begin() + P)),
                              ref::Net(one, std::vector<double>(p.begin() + P, p.end()))};
    double L = 0.0;
    for (int t = 0; t < steps; ++t) {
      for (std::size_t i = 0; i < n; ++i)
        theta[i] += ref::step(nets[group_of(i)], one, f.grads[first + t][i], states[i]);
      if (loss)
        for (std::size_t i = 0; i < n; ++i) L += double(f.grads[first + t + 1][i]) * theta[i];
    }
    return L;
  };
  const std::vector<double> phid(phi.values().begin(), phi.values().end());
  std::vector<double> theta0(f.theta0.begin(), f.theta0.end());
  std::vector<ref::CoordState> states0(n, ref::CoordState(one.layers, one.hidden));
  replay(phid, 0, T, theta0, states0, false);  // the first unroll, held constant
  std::vector<double> fd(phi.size());
  double scale = 0.0;
  for (std::size_t e = 0; e < phi.size(); ++e) {
    const double h = 1e-5;
    std::vector<double> p = phid;
    p[e] += h;
    std::vector<double> th = theta0;
    std::vector<ref::CoordState> st = states0;
    const double up = replay(p, T, T, th, st, true);
    p[e] -= 2 * h;
    th = theta0;
    st = states0;
    const double down = replay(p, T, T, th, st, true);
    fd[e] = (up - down) / (2 * h);
    scale = std::max(scale, std::fabs(fd[e]));
  }
  ASSERT_GT(scale, 0.0);
  int bad = 0;
  for (std::size_t e = 0; e < phi.size() && bad < 10; ++e)
    if (std::fabs(dphi[e] - fd[e]) > 1e-4 * scale + 1e-3 * std::fabs(fd[e])) {
      ADD_FAILURE() << "group " << e / P << ": dL/dphi[" << e % P << "] = " << dphi[e]
                    << ", finite difference " << fd[e] << " (largest " << scale << ")";
      ++bad;
    }

  // Both groups alike: the one-LSTM unroller's losses, and its gradient split in two.
  const Weights alike = Weights::initialise(cfg, 22);
  Recorder fa(family->sample(21, Device::kCpu), sizes), fb(family->sample(21, Device::kCpu));
  Unroller ug(alike, sizes, T, Device::kCpu), us(alike.group(0), n, T, Device::kCpu);
  EXPECT_EQ(ug.start(fa), us.start(fb));
  for (int k = 0; k < 2; ++k) {
    std::vector<float> dg, ds;
    const std::vector<float> lg = ug.unroll(fa, &dg), ls = us.unroll(fb, &ds);
    for (int t = 0; t < T; ++t) EXPECT_NEAR(lg[t], ls[t], 1e-6 * std::fabs(ls[t]));
    double big = 0.0;
    for (float v : ds) big = std::max(big, double(std::fabs(v)));
    for (std::size_t j = 0; j < P; ++j) EXPECT_NEAR(dg[j] + dg[P + j], ds[j], 1e-5 * big) << j;
  }
  // Groups that do not match phi's, or the optimizee's, are refused.
  EXPECT_THROW(Unroller(phi, std::vector<std::size_t>{9}, T, Device::kCpu), Error);
  EXPECT_THROW(Unroller(phi, std::vector<std::size_t>{9, 0}, T, Device::kCpu), Error);
  Unroller wrong(phi, std::vector<std::size_t>{5, 4}, T, Device::kCpu);
  EXPECT_THROW(wrong.start(fa), Error);
  EXPECT_THROW(Unroller(alike.group(0), std::vector<std::size_t>{4, 5}, T, Device::kCpu), Error);
  EXPECT_THROW(us.set_weights(alike), Error);
}

// unroll_timed runs the same computation as unroll (bit for bit on the CPU) and accounts
// for the phases it times.
TEST(Unroller, TimedUnrollComputesTheSameAndTimesThePhases) {
  const Weights phi = Weights::initialise(OptimizerConfig{}, 2);
  auto family = make_quadratic_family(QuadraticOptions{});
  auto fa = family->sample(9, Device::kCpu), fb = family->sample(9, Device::kCpu);
  Unroller a(phi, fa->size(), 20, Device::kCpu), b(phi, fb->size(), 20, Device::kCpu);
  EXPECT_EQ(a.start(*fa), b.start(*fb));
  for (int u = 0; u < 2; ++u) {
    std::vector<float> da, db;
    UnrollTimes t;
    EXPECT_EQ(a.unroll(*fa, &da), b.unroll_timed(*fb, &db, &t));
    EXPECT_EQ(da, db);
    EXPECT_GT(t.forward_ms, 0.0);
    EXPECT_GT(t.optimizee_ms, 0.0);
    EXPECT_GT(t.backward_ms, 0.0);
    EXPECT_GE(t.reduction_ms, 0.0);
    EXPECT_GE(t.total_ms, t.forward_ms + t.optimizee_ms + t.backward_ms + t.reduction_ms);
  }
}

TEST(Unroller, UnrollBeforeStartIsRefused) {
  const Weights phi = Weights::initialise(OptimizerConfig{}, 2);
  auto f = make_quadratic_family(QuadraticOptions{})->sample(1, Device::kCpu);
  Unroller u(phi, f->size(), 5, Device::kCpu);
  std::vector<float> d;
  EXPECT_THROW(u.unroll(*f, &d), Error);
}

// The tape and buffers are sized for phi's structure: another structure is refused, another
// configuration of the same structure is taken (and changes the updates), and phi of the
// wrong length is refused at construction and in set_weights.
TEST(Unroller, SetWeightsRefusesAnotherStructure) {
  const Weights phi = Weights::initialise(OptimizerConfig{}, 2);
  auto family = make_quadratic_family(QuadraticOptions{});
  auto f = family->sample(1, Device::kCpu);
  Unroller u(phi, f->size(), 5, Device::kCpu);
  for (auto change :
       {+[](OptimizerConfig& c) { c.hidden = 8; }, +[](OptimizerConfig& c) { c.layers = 3; },
        +[](OptimizerConfig& c) { c.preprocess = Preprocess::kNone; }}) {
    OptimizerConfig c;
    change(c);
    try {
      u.set_weights(Weights::initialise(c, 1));
      ADD_FAILURE() << "accepted " << describe(c);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("another structure"), std::string::npos) << e.what();
    }
  }
  Weights short_phi = phi;
  short_phi.values().pop_back();
  EXPECT_THROW(u.set_weights(short_phi), Error);
  EXPECT_THROW(Unroller(short_phi, f->size(), 5, Device::kCpu), Error);

  OptimizerConfig scaled;
  scaled.output_scale = 0.3f;
  Weights phi2(scaled);
  phi2.values() = phi.values();
  auto g = family->sample(1, Device::kCpu);
  Unroller v(phi, g->size(), 5, Device::kCpu);
  u.start(*f);
  v.start(*g);
  u.set_weights(phi2);
  EXPECT_NE(u.unroll(*f, nullptr), v.unroll(*g, nullptr));
}

// The caller-driven session, fed through its copying API by a loop that evaluates the
// optimizee itself, computes exactly what the Unroller computes (same tape and kernels):
// losses and dL/dphi bit for bit over several unrolls, with phi changing in between.
TEST(MetaSession, CallerDrivenLoopEqualsTheUnrollerBitForBit) {
  Weights phi = Weights::initialise(OptimizerConfig{}, 4);
  auto family = make_quadratic_family(QuadraticOptions{});
  auto fa = family->sample(12, Device::kCpu), fb = family->sample(12, Device::kCpu);
  const std::size_t n = fa->size();
  const int T = 7;
  Unroller u(phi, n, T, Device::kCpu);
  MetaSession s(phi, n, T, Device::kCpu);
  // The caller's own buffers: theta_0, then the gradient and loss at each new theta.
  std::vector<float> theta0(n), grad(n);
  float loss = 0;
  fb->initial_theta(theta0.data(), nullptr);
  fb->loss_and_grad(theta0.data(), grad.data(), &loss, nullptr);
  s.begin(theta0.data(), grad.data(), &loss);
  EXPECT_EQ(u.start(*fa), loss);
  for (int unroll = 0; unroll < 3; ++unroll) {
    std::vector<float> du, ds;
    const std::vector<float> lu = u.unroll(*fa, &du);
    for (int t = 0; t < T; ++t) {
      EXPECT_EQ(s.steps_taken(), t);
      s.step();
      fb->loss_and_grad(s.theta(), grad.data(), &loss, nullptr);
      s.record(grad.data(), &loss);
    }
    const std::vector<float> ls = s.finish(&ds);
    ASSERT_EQ(lu, ls) << "unroll " << unroll;
    ASSERT_EQ(du, ds) << "unroll " << unroll;
    for (std::size_t k = 0; k < phi.size(); ++k) phi.values()[k] -= 1e-3f * du[k];
    u.set_weights(phi);
    s.set_weights(phi);
  }
  EXPECT_EQ(0, std::memcmp(u.theta(), s.theta(), n * sizeof(float)));
}

// An optimizee that throws from its evaluation once armed, like a user's model might.
class Flaky final : public Optimizee {
 public:
  explicit Flaky(std::unique_ptr<Optimizee> f) : f_(std::move(f)) {}
  std::size_t size() const override { return f_->size(); }
  Device device() const override { return f_->device(); }
  void initial_theta(float* theta, Stream s) override { f_->initial_theta(theta, s); }
  void loss_and_grad(const float* theta, float* grad, float* loss, Stream s) override {
    if (armed && ++calls == 3) throw Error("the model failed");
    f_->loss_and_grad(theta, grad, loss, s);
  }
  bool armed = false;
  int calls = 0;

 private:
  std::unique_ptr<Optimizee> f_;
};

// An unroll that throws part-way does not wedge the Unroller: the next unroll runs.
TEST(Unroller, AnUnrollThatThrewLeavesItUsable) {
  const Weights phi = Weights::initialise(OptimizerConfig{}, 2);
  Flaky f(make_quadratic_family(QuadraticOptions{})->sample(3, Device::kCpu));
  Unroller u(phi, f.size(), 5, Device::kCpu);
  u.start(f);
  f.armed = true;
  std::vector<float> d;
  EXPECT_THROW(u.unroll(f, &d), Error);
  UnrollTimes times;
  EXPECT_EQ(u.unroll(f, &d).size(), 5u);
  EXPECT_EQ(u.unroll_timed(f, &d, &times).size(), 5u);
  EXPECT_EQ(d.size(), phi.size());
}

TEST(MetaSession, CallsOutOfOrderAreRefused) {
  const Weights phi = Weights::initialise(OptimizerConfig{}, 4);
  const std::size_t n = 33;
  MetaSession s(phi, n, 2, Device::kCpu);
  std::vector<float> theta(n, 0.5f), grad(n, 0.1f);
  const float loss = 1.0f;
  EXPECT_THROW(s.step(), Error);                      // before begin
  EXPECT_THROW(s.record(grad.data(), &loss), Error);  // before begin
  s.begin(theta.data(), grad.data(), &loss);
  EXPECT_THROW(s.record(grad.data(), &loss), Error);  // no step yet
  EXPECT_THROW(s.finish(nullptr), Error);             // no step yet
  s.step();
  EXPECT_THROW(s.step(), Error);           // the gradient was not recorded
  EXPECT_THROW(s.finish(nullptr), Error);  // 1 of 2 steps
  s.record(grad.data(), &loss);
  s.step();
  EXPECT_THROW(s.finish(nullptr), Error);  // the last step not recorded
  s.record();                              // in place: grad_slot() as it is
  EXPECT_THROW(s.step(), Error);           // 2 of 2 steps taken
  EXPECT_EQ(s.finish(nullptr).size(), 2u);
  s.step();  // the next unroll goes on
  s.record();
  EXPECT_THROW(s.begin(), Error);             // in place, mid-unroll: the slots are not theta_0's
  EXPECT_THROW(s.set_weights(phi), Error);    // one phi per unroll
  s.begin(theta.data(), grad.data(), &loss);  // the copying form abandons the unroll
  s.set_weights(phi);
  EXPECT_THROW(MetaSession(phi, 0, 2, Device::kCpu), Error);
  EXPECT_THROW(MetaSession(phi, n, 0, Device::kCpu), Error);
  EXPECT_THROW(MetaSession(phi, n, 2, Device::kCpu, {1.0f}), Error);
}

}  // namespace
}  // namespace l2o
