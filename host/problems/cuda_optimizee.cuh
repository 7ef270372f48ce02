// What the CUDA optimizees reading Fashion-MNIST share (the MLP's and the CNN's,
// host/problems/*_cuda.cu): the dataset in device memory, the minibatch's mean loss and
// the test accuracy.
#pragma once

#include "host/cuda/check.hpp"
#include "host/problems/mlp.hpp"
#include "l2o/data.hpp"

#include <cub/device/device_reduce.cuh>
#include <cuda/std/functional>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

namespace l2o {
namespace detail {

struct DeviceDataset {
  DeviceArray<float> images;
  DeviceArray<std::uint8_t> labels;
  std::uint32_t count = 0;
  // The host dataset copied, kept alive with its copy: while the copy is cached under the
  // host dataset's address, no other dataset can be allocated there.
  std::shared_ptr<const Dataset> host;
};

// One device copy per host dataset, alive while some optimizee holds it (made on first
// use; synchronous). Defined in host/problems/mlp_cuda.cu.
std::shared_ptr<DeviceDataset> device_copy(std::shared_ptr<const Dataset> d);

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

// The accuracy on the test split d (test_accuracy, host/problems/mlp.hpp) of the n
// parameters theta_host (host memory, as evaluate passes them), in chunks of `chunk`
// examples: forward(theta, images, rows, stream) runs the optimizee's forward pass on
// `rows` device images and returns its device logits (rows x classes). Synchronous, and
// it first waits for the whole device: loss_and_grad's work on another stream (an
// unroller's, which does not wait for the default stream) may still use the forward
// buffers.
template <class Forward>
double device_test_accuracy(const std::shared_ptr<const Dataset>& d, const float* theta_host,
                            std::size_t n, std::size_t chunk, int classes, Forward forward) {
  L2O_CUDA_CHECK(cudaDeviceSynchronize());
  const auto test = device_copy(d);
  const cudaStream_t stream = nullptr;
  DeviceArray<float> theta(n);
  theta.upload(theta_host, n, stream);
  const std::size_t features = d->features();
  std::vector<float> out;
  return test_accuracy(*d, chunk, classes, [&](std::size_t start, int rows) {
    const float* logits =
        forward(static_cast<const float*>(theta.data()),
                static_cast<const float*>(test->images.data()) + start * features, rows, stream);
    out.resize(std::size_t(rows) * classes);
    L2O_CUDA_CHECK(cudaMemcpyAsync(out.data(), logits, out.size() * sizeof(float),
                                   cudaMemcpyDeviceToHost, stream));
    L2O_CUDA_CHECK(cudaStreamSynchronize(stream));
    return static_cast<const float*>(out.data());
  });
}

}  // namespace detail
}  // namespace l2o
