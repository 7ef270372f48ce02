// The launch policy every l2o kernel shares: one thread per coordinate, blocks of
// kBlockThreads threads (the kernels' __launch_bounds__), grids of one wave of resident
// blocks that loop over the coordinates (so phi is copied into shared memory once per
// block, not once per kBlockThreads coordinates).
#pragma once

#include <algorithm>
#include <cstddef>

namespace l2o {
namespace kernels {

constexpr int kBlockThreads = 256;

// Blocks for `work` items of kBlockThreads each, at most `resident_per_sm` per
// multiprocessor on `sms` multiprocessors (at least one).
inline int grid_for(std::size_t work, int sms, int resident_per_sm) {
  const std::size_t wave = static_cast<std::size_t>(sms) * std::max(resident_per_sm, 1);
  return static_cast<int>(std::max<std::size_t>(1, std::min(work, wave)));
}

// Blocks for a grid-stride elementwise kernel over n items (the optimizees' kernels):
// one thread per item up to 4,096 blocks, then each thread loops.
inline int elementwise_grid(std::size_t n) {
  const std::size_t blocks = (n + kBlockThreads - 1) / kBlockThreads;
  return static_cast<int>(std::max<std::size_t>(1, std::min<std::size_t>(blocks, 4096)));
}

}  // namespace kernels
}  // namespace l2o
