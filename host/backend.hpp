// The interface each backend implements (internal; users see LstmOptimizer).
#pragma once

#include "l2o/bfloat16.hpp"
#include "l2o/device.hpp"
#include "l2o/segment.hpp"
#include "l2o/weights.hpp"

#include <cstddef>
#include <memory>

namespace l2o {
namespace detail {

// One tensor of a step, its state's type erased (float* or bfloat16*, as the call says).
using SegmentRef = Segment<void>;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual void set_weights(const Weights& phi) = 0;
  virtual void zero(void* data, std::size_t bytes, Stream stream) = 0;
  // One step of `count` tensors (a single-tensor step is count = 1): skipped as a whole
  // when any gradient of any tensor is not finite. Tensors with n = 0 are allowed.
  virtual void step(const SegmentRef* segments, std::size_t count, StateFormat format,
                    Stream stream, int* found_nonfinite) = 0;
  virtual bool last_step_skipped() = 0;
};

std::unique_ptr<Backend> make_cpu_backend(const Weights& phi);
// True when none of v[0..n) is NaN or +-Inf (host memory).
bool all_finite(const float* v, std::size_t n);
#if L2O_WITH_CUDA
std::unique_ptr<Backend> make_cuda_backend(const Weights& phi);
#endif

}  // namespace detail
}  // namespace l2o
