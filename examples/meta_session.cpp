// Meta-training a learned optimizer on a problem family written entirely here, with the
// caller's own loop: no l2o::Optimizee subclass, l2o only sees gradients and losses.
//
// The family: ill-conditioned separable quadratics f(theta) = 1/n sum_i a_i (theta_i -
// c_i)^2 / 2 with curvatures a_i log-uniform in [0.01, 10] and targets c_i ~ N(0, 1), a
// fresh draw for every optimizee. Each optimizee runs 60 steps in 3 unrolls of 20; phi
// takes one meta-Adam step per unroll. The program prints the mean final loss of a fixed
// set of held-out optimizees before and after meta-training, beside tuned gradient
// descent on the same optimizees, and exits 0 when meta-training lowered it.
//   build/examples/l2o_meta_session [optimizees]
#include <l2o/l2o.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

struct Quadratic {
  std::vector<float> a, c;
  Quadratic(std::size_t n, unsigned seed) : a(n), c(n) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(std::log(0.01f), std::log(10.0f));
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (std::size_t i = 0; i < n; ++i) {
      a[i] = std::exp(u(rng));
      c[i] = g(rng);
    }
  }
  // f(theta) and its gradient.
  float eval(const float* theta, float* grad) const {
    double f = 0;
    const float inv_n = 1.0f / static_cast<float>(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      const float d = theta[i] - c[i];
      f += 0.5 * a[i] * d * d;
      grad[i] = inv_n * a[i] * d;
    }
    return static_cast<float>(f / a.size());
  }
};

constexpr std::size_t kN = 256;
constexpr int kUnroll = 20, kUnrolls = 3;

// One optimizee through the session: returns the loss after the last step; the
// meta-gradient of each unroll goes to `on_unroll` when given.
template <class OnUnroll>
float run(l2o::MetaSession& s, const Quadratic& q, OnUnroll&& on_unroll, bool meta) {
  std::vector<float> theta(kN, 0.0f), grad(kN);
  float loss = q.eval(theta.data(), grad.data());
  s.begin(theta.data(), grad.data(), &loss);
  for (int u = 0; u < kUnrolls; ++u) {
    for (int t = 0; t < kUnroll; ++t) {
      s.step();
      loss = q.eval(s.theta(), grad.data());  // CPU session: theta() is host memory
      s.record(grad.data(), &loss);
    }
    std::vector<float> dphi;
    s.finish(meta ? &dphi : nullptr);
    if (meta) on_unroll(dphi);
  }
  return loss;
}

double held_out(l2o::MetaSession& s) {
  double sum = 0;
  for (unsigned k = 0; k < 20; ++k)
    sum += run(
        s, Quadratic(kN, 100000 + k), [](auto&) {}, false);
  return sum / 20;
}

// The same held-out optimizees with plain gradient descent, its learning rate the best of
// a half-decade grid: what the learned optimizer should beat.
double tuned_gradient_descent(double* best_lr) {
  double best = INFINITY;
  for (int k = 0; k <= 10; ++k) {
    const float lr = std::pow(10.0f, 0.5f * k);
    double sum = 0;
    for (unsigned j = 0; j < 20; ++j) {
      const Quadratic q(kN, 100000 + j);
      std::vector<float> theta(kN, 0.0f), grad(kN);
      float loss = 0;
      for (int t = 0; t < kUnroll * kUnrolls; ++t) {
        q.eval(theta.data(), grad.data());
        for (std::size_t i = 0; i < kN; ++i) theta[i] -= lr * grad[i];
      }
      loss = q.eval(theta.data(), grad.data());
      sum += std::isfinite(loss) ? loss : INFINITY;
    }
    if (sum / 20 < best) best = sum / 20, *best_lr = lr;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int optimizees = argc > 1 ? std::atoi(argv[1]) : 150;
  l2o::OptimizerConfig config;  // the paper's 2 x 20 LSTM, log-sign preprocessing
  l2o::Weights phi = l2o::Weights::initialise(config, 7, l2o::OutputInit::kZero);
  l2o::MetaSession session(phi, kN, kUnroll, l2o::Device::kCpu);
  l2o::MetaAdam adam(phi.size(), l2o::AdamOptions{3e-3});
  const double before = held_out(session);
  double lr = 0;
  const double gd = tuned_gradient_descent(&lr);
  std::printf(
      "held-out mean final loss: start %.5f (phi's output layer starts at zero), "
      "tuned gradient descent %.5f (lr %g)\n",
      before, gd, lr);
  for (int k = 0; k < optimizees; ++k) {
    const float last = run(
        session, Quadratic(kN, k),
        [&](const std::vector<float>& dphi) {
          adam.step(phi.values(), dphi);
          session.set_weights(phi);
        },
        true);
    if ((k + 1) % 50 == 0) std::printf("optimizee %4d: final loss %.5f\n", k + 1, last);
  }
  const double after = held_out(session);
  std::printf("held-out mean final loss after meta-training on %d optimizees: %.5f\n", optimizees,
              after);
  return after < before ? 0 : 1;
}
