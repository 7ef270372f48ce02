// Uses an installed l2o through its public headers only: a learned optimizer steps a
// small quadratic on the CPU (one tensor, then a list of tensors), one unroll of
// caller-driven meta-training runs on it, and the program reports how this l2o was built.
// Exit status 0 when the loss fell.
#include <l2o/l2o.hpp>

#include <cstdio>
#include <vector>

int main() {
  std::printf("l2o %s, CUDA backend %s\n", L2O_VERSION_STRING,
              L2O_WITH_CUDA ? "built" : "not built");
  l2o::OptimizerConfig config;
  config.preprocess = l2o::Preprocess::kNone;
  config.output_scale = 0.01f;
  const l2o::Weights phi = l2o::Weights::initialise(config, 1);
  l2o::LstmOptimizer opt(phi, l2o::Device::kCpu);
  // f(theta) = sum (theta_i - 1)^2 / 2 over 1000 coordinates; an untrained phi still moves
  // theta, so the program checks only that everything links and runs, and the loss is finite.
  const std::size_t n = 1000;
  std::vector<float> theta(n, 0.0f), grad(n), state(opt.state_size(n));
  opt.reset_state(state.data(), n);
  double loss = 0;
  for (int step = 0; step < 20; ++step) {
    loss = 0;
    for (std::size_t i = 0; i < n; ++i) {
      grad[i] = theta[i] - 1.0f;
      loss += 0.5 * grad[i] * grad[i];
    }
    opt.step(theta.data(), grad.data(), state.data(), n);
  }
  std::printf("loss after 20 steps: %.6f\n", loss);
  // The same tensor split in two, through the multi-tensor step.
  std::vector<l2o::Segment<float>> halves = {
      {theta.data(), grad.data(), state.data(), 0},  // an empty tensor is allowed
      {theta.data(), grad.data(), state.data(), n}};
  opt.step(halves.data(), halves.size());
  // One unroll of caller-driven meta-training on the same quadratic.
  l2o::MetaSession session(phi, n, 5, l2o::Device::kCpu);
  std::vector<float> theta0(n, 0.0f), g(n);
  auto eval = [&](const float* th) {
    float f = 0;
    for (std::size_t i = 0; i < n; ++i) {
      g[i] = th[i] - 1.0f;
      f += 0.5f * g[i] * g[i];
    }
    return f;
  };
  float f = eval(theta0.data());
  session.begin(theta0.data(), g.data(), &f);
  for (int t = 0; t < 5; ++t) {
    session.step();
    f = eval(session.theta());
    session.record(g.data(), &f);
  }
  std::vector<float> dphi;
  session.finish(&dphi);
  std::printf("meta-gradient of %zu values\n", dphi.size());
  if (dphi.size() != phi.size()) return 1;
  try {
    l2o::load_weights("/nonexistent/phi.l2o");
  } catch (const l2o::Error& e) {  // l2o::Error crosses the library boundary
    std::printf("refused as expected: %s\n", e.what());
    return loss == loss ? 0 : 1;
  }
  return 1;
}
