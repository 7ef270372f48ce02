// LSTM+GAC on the GPU, the host side (internal): the launches that replace every global
// unit's h row by its mean over the coordinates of a list of segment tables (the kernels
// of kernels/gac_kernels.cuh, launched from host/cuda/gac.cu). Shared by the step
// (host/cuda/step.cu: every tensor of one step) and by meta-training
// (host/cuda/unroll.cu: the tape's state after each forward step, and the carried
// dL/dstate between the backward's steps, the map's transpose).
#pragma once

#include "kernels/gac_params.hpp"
#include "kernels/step_kernels.cuh"

#include <cuda_runtime.h>

#include <cstddef>
#include <vector>

namespace l2o {
namespace detail {

// Doubles of scratch that enqueue_global_means needs for `rows` global rows:
// rows x (kGacBlocks + 1) for the partial sums and the sums, then the rows' float means.
inline std::size_t global_means_scratch(int rows) {
  return std::size_t(rows) * (kernels::kGacBlocks + 1) + (std::size_t(rows) + 1) / 2;
}

// Enqueues on `stream`: the partial sums of each table, their sums in table and block
// order, then the means written to every coordinate of every table. g.total_n is set
// here from the tables. Every kernel does nothing when *skip is set. The grids depend on
// the tables' sizes only, so the means are the same from run to run. Defined, for fp32 and
// bfloat16 state and both table capacities, in host/cuda/gac.cu (the kernels are compiled
// there once).
template <class S, int Cap>
void enqueue_global_means(const std::vector<kernels::SegmentTable<S, Cap>>& tables,
                          kernels::GacParams g, const int* skip, double* scratch, int sms,
                          cudaStream_t stream);

}  // namespace detail
}  // namespace l2o
