// The launches of LSTM+GAC's averaging (host/cuda/gac.cuh), compiled once for every state
// type and table capacity the step and the unroll use.
#include "host/cuda/check.hpp"
#include "host/cuda/gac.cuh"
#include "kernels/gac_kernels.cuh"

#include <algorithm>

namespace l2o {
namespace detail {

template <class S, int Cap>
void enqueue_global_means(const std::vector<kernels::SegmentTable<S, Cap>>& tables,
                          kernels::GacParams g, const int* skip, double* scratch, int sms,
                          cudaStream_t stream) {
  g.total_n = 0;
  for (const auto& t : tables)
    for (int s = 0; s < t.count; ++s) g.total_n += t.n[s];
  if (g.total_n == 0 || g.rows == 0) return;
  double* partials = scratch;
  double* sums = partials + std::size_t(g.rows) * kernels::kGacBlocks;
  float* means = reinterpret_cast<float*>(sums + g.rows);
  const int row_threads = std::min(g.rows, kernels::kBlockThreads);
  const int row_blocks = (g.rows + row_threads - 1) / row_threads;
  for (std::size_t k = 0; k < tables.size(); ++k) {
    const auto& t = tables[k];
    const int blocks = static_cast<int>(
        std::min<std::size_t>(t.first_tile[t.count], std::size_t(kernels::kGacBlocks)));
    kernels::l2o_gac_partial_kernel<<<dim3(blocks, g.rows), kernels::kBlockThreads, 0, stream>>>(
        t, g, skip, partials);
    L2O_CUDA_CHECK_LAUNCH();
    kernels::l2o_gac_sum_kernel<<<row_blocks, row_threads, 0, stream>>>(
        g, blocks, k == 0, k + 1 == tables.size(), skip, partials, sums, means);
    L2O_CUDA_CHECK_LAUNCH();
  }
  for (const auto& t : tables) {
    kernels::l2o_gac_broadcast_kernel<<<kernels::grid_for(t.first_tile[t.count], sms, 4),
                                        kernels::kBlockThreads, 0, stream>>>(t, g, skip, means);
    L2O_CUDA_CHECK_LAUNCH();
  }
}

#define L2O_GAC_INSTANTIATE(S, Cap)                                                             \
  template void enqueue_global_means<S, Cap>(const std::vector<kernels::SegmentTable<S, Cap>>&, \
                                             kernels::GacParams, const int*, double*, int,      \
                                             cudaStream_t);
L2O_GAC_INSTANTIATE(float, 1)
L2O_GAC_INSTANTIATE(float, kernels::kMaxSegments)
L2O_GAC_INSTANTIATE(bfloat16, 1)
L2O_GAC_INSTANTIATE(bfloat16, kernels::kMaxSegments)
#undef L2O_GAC_INSTANTIATE

}  // namespace detail
}  // namespace l2o
