// Random inputs shared by the step tests.
#pragma once

#include "maths/random.hpp"

#include <cmath>
#include <cstddef>
#include <vector>

namespace l2o {
namespace test_inputs {

// Gradients of magnitudes from 1e-9 to 1e2 (both preprocessing branches), random signs,
// and some exact zeros.
inline std::vector<float> random_grads(std::size_t n, Rng& rng) {
  std::vector<float> g(n);
  for (auto& v : g) {
    const double u = rng.uniform();
    v = u < 0.05 ? 0.0f : float((rng.uniform() < 0.5 ? -1 : 1) * std::pow(10.0, -9 + 11 * u));
  }
  return g;
}

}  // namespace test_inputs
}  // namespace l2o
