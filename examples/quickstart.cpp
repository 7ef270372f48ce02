// Quickstart: the learned optimizer as a drop-in update rule for your own parameters.
// Minimises f(theta) = sum_i a_i (theta_i - 1)^2 with an optimizer meta-trained by
// `l2o train` (or a freshly initialised one, if no file is given).
//   build/examples/l2o_quickstart [optimizer.l2o]
#include <l2o/l2o.hpp>

#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
  const l2o::Weights phi =
      argc > 1 ? l2o::load_weights(argv[1]) : l2o::Weights::initialise(l2o::OptimizerConfig{}, 0);
  // Host memory, so the CPU backend (Device::kCuda takes device pointers and a stream).
  l2o::LstmOptimizer opt(phi, l2o::Device::kCpu);

  const std::size_t n = 1000;
  std::vector<float> theta(n, 0.0f), grad(n), state(opt.state_size(n));
  opt.reset_state(state.data(), n);  // h = c = 0 for a new optimizee
  for (int step = 0; step <= 100; ++step) {
    double loss = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const float a = 0.5f + float(i % 10) / 10.0f;
      loss += a * (theta[i] - 1.0f) * (theta[i] - 1.0f);
      grad[i] = 2.0f * a * (theta[i] - 1.0f);
    }
    if (step % 20 == 0) std::printf("step %3d  loss %.6f\n", step, loss);
    opt.step(theta.data(), grad.data(), state.data(), n);  // theta += g(grad, state; phi)
  }
  return 0;
}
