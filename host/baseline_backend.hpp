// The interface each backend implements for the baselines (internal).
#pragma once

#include "l2o/device.hpp"
#include "l2o/segment.hpp"
#include "maths/coordinate.hpp"

#include <cstddef>
#include <memory>

namespace l2o {
namespace detail {

class BaselineBackend {
 public:
  virtual ~BaselineBackend() = default;
  virtual void zero(float* data, std::size_t count, Stream stream) = 0;
  // One step of `count` tensors, each with state_dim rows of its n (row 1 only for Adam);
  // skipped as a whole when any gradient of any tensor is not finite.
  virtual void step(const BaselineParams& p, const Segment<float>* segments, std::size_t count,
                    Stream stream, int* found_nonfinite) = 0;
};

std::unique_ptr<BaselineBackend> make_cpu_baseline();
#if L2O_WITH_CUDA
std::unique_ptr<BaselineBackend> make_cuda_baseline();
#endif

}  // namespace detail
}  // namespace l2o
