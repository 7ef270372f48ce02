// The segment tables of a multi-tensor step on CUDA (internal): the tensors of one call
// in groups of up to kernels::kMaxSegments, one table (kernel parameter) per group.
#pragma once

#include "host/cuda/check.hpp"
#include "kernels/step_kernels.cuh"
#include "l2o/error.hpp"
#include "l2o/segment.hpp"

#include <cstddef>
#include <vector>

namespace l2o {
namespace detail {

// The tables of `count` tensors (empty ones dropped) in groups of up to Cap tensors; S: the
// state type the kernels see, segments' state pointers are converted to it.
template <class S, int Cap, class T>
std::vector<kernels::SegmentTable<S, Cap>> segment_tables(const Segment<T>* segments,
                                                          std::size_t count) {
  std::vector<kernels::SegmentTable<S, Cap>> tables;
  for (std::size_t k = 0; k < count; ++k) {
    if (segments[k].n == 0) continue;
    if (tables.empty() || tables.back().count == Cap) {
      tables.emplace_back();
      tables.back().count = 0;
      tables.back().first_tile[0] = 0;
    }
    kernels::SegmentTable<S, Cap>& t = tables.back();
    const int s = t.count++;
    t.theta[s] = segments[k].theta;
    t.grad[s] = segments[k].grad;
    t.state[s] = static_cast<S*>(segments[k].state);
    t.n[s] = segments[k].n;
    t.first_tile[s + 1] = t.first_tile[s] + (segments[k].n + kernels::kTile - 1) / kernels::kTile;
  }
  return tables;
}

// Calls f(tables) with the tables of the call: one table of capacity 1 when a single
// tensor is non-empty (the kernels' plain loop, a small parameter), else tables of
// capacity kMaxSegments. f is called once, with either type.
template <class S, class T, class F>
void with_tables(const Segment<T>* segments, std::size_t count, F&& f) {
  std::size_t nonempty = 0;
  for (std::size_t k = 0; k < count; ++k) nonempty += segments[k].n > 0;
  if (nonempty == 1)
    f(segment_tables<S, 1>(segments, count));
  else
    f(segment_tables<S, kernels::kMaxSegments>(segments, count));
}

// The first half of every step: clear `flag`, then check every table's gradients, all on
// `stream` before any step kernel, which reads the flag.
template <class Table>
void enqueue_checks(const std::vector<Table>& tables, int* flag, cudaStream_t stream, int sms) {
  L2O_CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof(int), stream));
  for (const auto& t : tables) {
    kernels::l2o_check_finite_kernel<<<kernels::grid_for(t.first_tile[t.count], sms, 4),
                                       kernels::kBlockThreads, 0, stream>>>(t, flag);
    L2O_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace detail
}  // namespace l2o
