// The quadratic family's data, shared by its CPU and CUDA implementations.
#pragma once

#include "l2o/problem.hpp"

#include <vector>

namespace l2o {
namespace detail {

struct QuadraticData {
  int dims, batch;
  std::vector<float> W;       // batch x dims x dims, row-major per function
  std::vector<float> y;       // batch x dims
  std::vector<float> theta0;  // batch x dims
};

QuadraticData sample_quadratic(const QuadraticOptions& o, std::uint64_t seed);

#if L2O_WITH_CUDA
std::unique_ptr<Optimizee> make_cuda_quadratic(QuadraticData data);
#endif

}  // namespace detail
}  // namespace l2o
