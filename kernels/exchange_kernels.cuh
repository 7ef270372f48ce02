// The device side of train()'s NCCL exchange (host/cuda/nccl_exchange.cu): member slots of
// `slot_bytes` bytes, a 16-byte header (an int32 status first) followed by the member's
// dL/dphi, `count` floats.
#pragma once

#include <cstddef>

namespace l2o {
namespace kernels {

constexpr std::size_t kExchangeHeaderBytes = 16;

// One block: turns the slot's status from `stepped` to `diverged` when its gradient has a
// non-finite entry.
static __global__ void l2o_exchange_check_kernel(unsigned char* slot, int count, int stepped,
                                                 int diverged) {
  const float* g = reinterpret_cast<const float*>(slot + kExchangeHeaderBytes);
  int bad = 0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) bad |= !isfinite(g[i]);
  bad = __syncthreads_or(bad);
  int* status = reinterpret_cast<int*>(slot);
  if (threadIdx.x == 0 && bad && *status == stepped) *status = diverged;
}

// mean[e] = the mean over the members m = 0 .. group - 1 whose status is `stepped` (member
// m: slot m / ranks of rank m % ranks, ranks' slots one after the other) of their
// gradient's entry e, summed in member order in double: the host exchange's arithmetic,
// operation for operation, so both give the same floats. Left alone when none stepped.
static __global__ void l2o_exchange_mean_kernel(const unsigned char* slots, std::size_t slot_bytes,
                                                int ranks, int per_rank, int group, int count,
                                                int stepped_status, float* mean) {
  for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < count; e += gridDim.x * blockDim.x) {
    double sum = 0.0;
    int stepped = 0;
    for (int m = 0; m < group; ++m) {
      const unsigned char* p =
          slots + (static_cast<std::size_t>(m % ranks) * per_rank + m / ranks) * slot_bytes;
      if (*reinterpret_cast<const int*>(p) != stepped_status) continue;
      sum += static_cast<double>(reinterpret_cast<const float*>(p + kExchangeHeaderBytes)[e]);
      ++stepped;
    }
    if (stepped > 0) mean[e] = static_cast<float>(sum / stepped);
  }
}

}  // namespace kernels
}  // namespace l2o
