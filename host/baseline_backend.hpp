// The interface each backend implements for the baselines (internal).
#pragma once

#include "maths/coordinate.hpp"
#include "l2o/device.hpp"

#include <cstddef>
#include <memory>

namespace l2o {
namespace detail {

class BaselineBackend {
 public:
  virtual ~BaselineBackend() = default;
  virtual void zero(float* data, std::size_t count, Stream stream) = 0;
  // state: state_dim rows of n (row 1 only for Adam); skipped when grad is not finite.
  virtual void step(const BaselineParams& p, float* theta, const float* grad, float* state,
                    std::size_t n, Stream stream, int* found_nonfinite) = 0;
};

std::unique_ptr<BaselineBackend> make_cpu_baseline();
#if L2O_WITH_CUDA
std::unique_ptr<BaselineBackend> make_cuda_baseline();
#endif

}  // namespace detail
}  // namespace l2o
