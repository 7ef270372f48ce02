// The interface each backend implements (internal; users see LstmOptimizer).
#pragma once

#include "l2o/bfloat16.hpp"
#include "l2o/device.hpp"
#include "l2o/weights.hpp"

#include <cstddef>
#include <memory>

namespace l2o {
namespace detail {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual void set_weights(const Weights& phi) = 0;
  virtual void zero(void* data, std::size_t bytes, Stream stream) = 0;
  // state: float* or bfloat16* as `format` says.
  virtual void step(float* theta, const float* grad, void* state, StateFormat format, std::size_t n,
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
