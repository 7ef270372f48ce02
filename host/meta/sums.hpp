// Sums the meta-training code shares (internal).
#pragma once

#include <cstddef>
#include <vector>

namespace l2o {
namespace detail {

// The loss of one truncation, sum over its first `steps` steps of w_t f(theta_t), with
// omega's weights (empty: all 1). Not finite when any weighted loss is not.
inline double unroll_loss(const std::vector<float>& losses, const std::vector<float>& omega,
                          int steps) {
  double L = 0.0;
  for (int t = 0; t < steps; ++t) L += (omega.empty() ? 1.0 : omega[t]) * losses[t];
  return L;
}

// Where each of an optimizee's parameter groups (of these sizes) starts among its
// coordinates, in group order, and last the coordinates of all of them.
inline std::vector<std::size_t> group_offsets(const std::vector<std::size_t>& sizes) {
  std::vector<std::size_t> offsets{0};
  for (std::size_t s : sizes) offsets.push_back(offsets.back() + s);
  return offsets;
}

}  // namespace detail
}  // namespace l2o
