// LSTM+GAC on the GPU (OptimizerConfig::gac, docs/generalisation.md): after a step, the h
// row of every global unit is replaced by its mean over the coordinates of all the tensors
// of the step. Per segment table, on the step's stream, each kernel doing nothing when the
// step was skipped (the stream's non-finite flag, as the step kernel):
//   l2o_gac_partial_kernel    grid (up to kGacBlocks blocks, global rows): each block's
//                             share of the table's tiles summed in double
//                             (cub::BlockReduce) into partials[row][block];
//   l2o_gac_sum_kernel        one thread per global row adds the table's partials, in
//                             block order, to sums[row] (the first table sets it); after the
//                             last table, means[row] = sums[row] / (coordinates);
//   l2o_gac_broadcast_kernel  (after the last table's sum) the means written back to every
//                             coordinate's global rows, table by table.
// The scratch is fixed in size (rows x (kGacBlocks + 1) doubles and rows floats, per
// stream) and the grids are fixed by the tensors' sizes: the sums are the same from run
// to run. The CPU's version is host/cpu/global_cells.hpp, which the CUDA tests compare with.
#pragma once

#include "kernels/gac_params.hpp"
#include "kernels/step_kernels.cuh"
#include "l2o/config.hpp"

#include <cub/block/block_reduce.cuh>

#include <cstddef>

namespace l2o {
namespace kernels {

// Which rows are global (GacParams, kernels/gac_params.hpp): global row r = l gac + j is
// unit j < gac of layer l, whose state row is OptimizerConfig::gac_row (l2o/config.hpp,
// the CPU's formula).
__device__ __forceinline__ int gac_state_row(const GacParams& g, int r) {
  return OptimizerConfig::gac_row(g.hidden, g.gac, r / g.gac, r % g.gac);
}

// The tensor of tile `tile` of table t (first_tile increases strictly: empty tensors are
// not in tables).
template <class S, int Cap>
__device__ __forceinline__ int tensor_of_tile(const SegmentTable<S, Cap>& t, std::size_t tile) {
  int lo = 0, hi = t.count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (t.first_tile[mid] <= tile)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

// Grid (blocks <= kGacBlocks, global rows): block b sums tiles b, b + gridDim.x, ... of
// global row blockIdx.y into partials[row * kGacBlocks + b].
template <class S, int Cap>
__global__ void __launch_bounds__(kTile)
    l2o_gac_partial_kernel(const SegmentTable<S, Cap> t, GacParams g, const int* __restrict__ skip,
                           double* __restrict__ partials) {
  if (*skip) return;
  const int r = blockIdx.y;
  const int row = gac_state_row(g, r);
  double v = 0.0;
  for (std::size_t tile = blockIdx.x; tile < t.first_tile[t.count]; tile += gridDim.x) {
    const int s = tensor_of_tile(t, tile);
    const std::size_t i = (tile - t.first_tile[s]) * kTile + threadIdx.x;
    if (i < t.n[s]) v += double(state_value(t.state[s] + std::size_t(row) * t.n[s] + i));
  }
  using Reduce = cub::BlockReduce<double, kTile>;
  __shared__ typename Reduce::TempStorage temp;
  const double sum = Reduce(temp).Sum(v);
  if (threadIdx.x == 0) partials[std::size_t(r) * kGacBlocks + blockIdx.x] = sum;
}

// One thread per global row: sums[r] (= when first, += otherwise) the table's `blocks`
// partials in order; when last, means[r] = sums[r] / total_n.
__global__ void l2o_gac_sum_kernel(GacParams g, int blocks, int first, int last,
                                   const int* __restrict__ skip,
                                   const double* __restrict__ partials, double* __restrict__ sums,
                                   float* __restrict__ means) {
  if (*skip) return;
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= g.rows) return;
  double s = first ? 0.0 : sums[r];
  for (int b = 0; b < blocks; ++b) s += partials[std::size_t(r) * kGacBlocks + b];
  sums[r] = s;
  if (last) means[r] = static_cast<float>(s / double(g.total_n));
}

// Every coordinate of the table gets the means in its global rows.
template <class S, int Cap>
__global__ void __launch_bounds__(kTile)
    l2o_gac_broadcast_kernel(const SegmentTable<S, Cap> t, GacParams g,
                             const int* __restrict__ skip, const float* __restrict__ means) {
  if (*skip) return;
  for_each_coordinate(t, [&](int s, std::size_t i) {
    for (int r = 0; r < g.rows; ++r)
      set_state_value(t.state[s] + std::size_t(gac_state_row(g, r)) * t.n[s] + i, means[r]);
  });
}

}  // namespace kernels
}  // namespace l2o
