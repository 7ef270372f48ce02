// Tensor lists cut into chunks for the CPU's parallel passes (the LSTM step and the
// baselines), and the finiteness check that precedes a step.
#pragma once

#include "host/cpu/isa.hpp"
#include "l2o/segment.hpp"
#include "maths/coordinate.hpp"

#include <algorithm>
#include <cstddef>
#include <vector>

namespace l2o {
namespace cpu {

// Chunks of `size` coordinates (the last of each tensor shorter), in tensor order.
template <class S>
std::vector<Chunk> split(const Segment<S>* segments, std::size_t count, std::size_t size) {
  std::vector<Chunk> chunks;
  for (std::size_t s = 0; s < count; ++s)
    for (std::size_t b = 0; b < segments[s].n; b += size)
      chunks.push_back({s, b, std::min(b + size, segments[s].n)});
  return chunks;
}

// True when every gradient of every chunk is finite (one parallel pass).
template <class S>
bool all_finite(const Segment<S>* segments, const std::vector<Chunk>& chunks) {
  int bad = 0;
  const long long m = static_cast<long long>(chunks.size());
#pragma omp parallel for reduction(| : bad) schedule(static)
  for (long long c = 0; c < m; ++c) {
    const float* g = segments[chunks[c].segment].grad;
    for (std::size_t i = chunks[c].begin; i < chunks[c].end; ++i) bad |= !is_finite(g[i]);
  }
  return !bad;
}

}  // namespace cpu
}  // namespace l2o
