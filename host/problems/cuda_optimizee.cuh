// What the CUDA optimizees reading Fashion-MNIST share (the MLP's and the CNN's,
// host/problems/*_cuda.cu): the dataset in device memory and the minibatch's mean loss.
#pragma once

#include "host/cuda/check.hpp"
#include "l2o/data.hpp"

#include <cub/device/device_reduce.cuh>
#include <cuda/std/functional>

#include <algorithm>
#include <cstdint>
#include <memory>

namespace l2o {
namespace detail {

struct DeviceDataset {
  DeviceArray<float> images;
  DeviceArray<std::uint8_t> labels;
  std::uint32_t count = 0;
};

// One device copy per host dataset, alive while some optimizee holds it (made on first
// use; synchronous). Defined in host/problems/mlp_cuda.cu.
std::shared_ptr<DeviceDataset> device_copy(const Dataset& d);

// v -> s v, DeviceMean's transform (at namespace scope: nvcc's generated stubs name the
// kernels' template arguments from outside any class).
struct ScaleBy {
  float s;
  __host__ __device__ float operator()(float v) const { return s * v; }
};

// *mean = (1 / rows) * sum of values[0 .. rows), on a stream, with CUB (its temporary
// storage allocated once, at construction).
class DeviceMean {
 public:
  explicit DeviceMean(int rows) : rows_(rows) {
    L2O_CUDA_CHECK(cub::DeviceReduce::TransformReduce(
        nullptr, bytes_, static_cast<const float*>(nullptr), static_cast<float*>(nullptr), rows_,
        cuda::std::plus<float>{}, ScaleBy{1.0f}, 0.0f, nullptr));
    temp_.resize(std::max<std::size_t>(bytes_, 1));
  }
  void operator()(const float* values, float* mean, cudaStream_t stream) {
    L2O_CUDA_CHECK(cub::DeviceReduce::TransformReduce(temp_.data(), bytes_, values, mean, rows_,
                                                      cuda::std::plus<float>{},
                                                      ScaleBy{1.0f / rows_}, 0.0f, stream));
  }

 private:
  int rows_;
  std::size_t bytes_ = 0;
  DeviceArray<unsigned char> temp_;
};

}  // namespace detail
}  // namespace l2o
