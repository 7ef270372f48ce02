// LSTM+GAC on the CPU (OptimizerConfig::gac, docs/generalisation.md): the averaging of the
// global units' h rows over the coordinates, between steps. It is a linear map A on the
// state (each global row replaced by its mean over the real coordinates), so its transpose,
// which the backward applies to the carried dL/dstate between steps, is the same mean
// (the padding's entries, which no loss reads, get zeros there: their carry is zero
// throughout, as their gradients are, so summing the real coordinates' carry only is the
// exact transpose).
//
// Sums are in double, coordinate by coordinate in order, one row per thread (rows are
// independent): the result does not depend on the number of threads. Inside the
// backward's parallel region (an `omp single`) the rows run on the calling thread.
#pragma once

#include "l2o/bfloat16.hpp"
#include "l2o/config.hpp"
#include "l2o/segment.hpp"
#include "maths/coordinate.hpp"

#include <algorithm>
#include <cstddef>

namespace l2o {
namespace cpu {

// Calls f(row) for every global unit's h row of c's state, rows spread over the threads.
template <class F>
void for_each_global_row(const OptimizerConfig& c, F f) {
  const int rows = c.layers * c.gac;
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; ++r) f(c.gac_row(r / c.gac, r % c.gac));
}

// Rows at base + row * ld: each global row's mean over its first n entries, written to
// those n and to the padding [n, ld) (the forward's state), or zeros there (the
// backward's carry, `zero_padding`).
inline void average_global_units(const OptimizerConfig& c, float* base, std::size_t n,
                                 std::size_t ld, bool zero_padding) {
  if (n == 0) return;
  for_each_global_row(c, [&](int row) {
    float* r = base + static_cast<std::size_t>(row) * ld;
    double sum = 0.0;
    for (std::size_t i = 0; i < n; ++i) sum += r[i];
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    std::fill(r, r + n, mean);
    std::fill(r + n, r + ld, zero_padding ? 0.0f : mean);
  });
}

// The tensors of one step (each's rows at state + row * n): the mean over all of their
// coordinates together, written to each.
template <class S>
void average_global_units(const OptimizerConfig& c, const Segment<S>* segments, std::size_t count) {
  std::size_t total = 0;
  for (std::size_t s = 0; s < count; ++s) total += segments[s].n;
  if (total == 0) return;
  for_each_global_row(c, [&](int row) {
    double sum = 0.0;
    for (std::size_t s = 0; s < count; ++s) {
      const S* r = segments[s].state + static_cast<std::size_t>(row) * segments[s].n;
      for (std::size_t i = 0; i < segments[s].n; ++i) sum += state_value(r + i);
    }
    S mean;
    set_state_value(&mean, static_cast<float>(sum / static_cast<double>(total)));
    for (std::size_t s = 0; s < count; ++s) {
      S* r = segments[s].state + static_cast<std::size_t>(row) * segments[s].n;
      std::fill(r, r + segments[s].n, mean);
    }
  });
}

}  // namespace cpu
}  // namespace l2o
