// The quadratic family on the GPU: residuals and gradients of the B small systems as
// cuBLAS strided-batched products, the loss reduced with CUB.
#include "host/cuda/check.hpp"
#include "host/problems/quadratic.hpp"

#include <cub/device/device_reduce.cuh>
#include <cuda/std/functional>

namespace l2o {
namespace detail {
namespace {

struct ScaledSquare {
  float scale;
  __host__ __device__ float operator()(float r) const { return scale * r * r; }
};

class CudaQuadratic final : public Optimizee {
 public:
  explicit CudaQuadratic(QuadraticData q) : B_(q.batch), d_(q.dims) {
    const std::size_t n = size();
    std::vector<float> neg_y(q.y.size());
    for (std::size_t k = 0; k < neg_y.size(); ++k) neg_y[k] = -q.y[k];
    W_.resize(q.W.size());
    neg_y_.resize(n);
    theta0_.resize(n);
    r_.resize(n);
    W_.upload(q.W.data(), q.W.size(), nullptr);
    neg_y_.upload(neg_y.data(), n, nullptr);
    theta0_.upload(q.theta0.data(), n, nullptr);
    L2O_CUDA_CHECK(cub::DeviceReduce::TransformReduce(
        nullptr, temp_bytes_, r_.data(), static_cast<float*>(nullptr), n, cuda::std::plus<float>{},
        ScaledSquare{1.0f}, 0.0f, nullptr));
    temp_.resize(temp_bytes_ > 0 ? temp_bytes_ : 1);
    L2O_CUDA_CHECK(cudaStreamSynchronize(nullptr));  // host vectors die with this scope
  }

  std::size_t size() const override { return std::size_t(B_) * d_; }
  Device device() const override { return Device::kCuda; }
  bool graph_capturable() const override { return true; }

  void initial_theta(float* theta, Stream stream) override {
    L2O_CUDA_CHECK(cudaMemcpyAsync(theta, theta0_.data(), size() * sizeof(float),
                                   cudaMemcpyDeviceToDevice, stream));
  }

  void loss_and_grad(const float* theta, float* grad, float* loss, Stream stream) override {
    blas_.bind(stream);
    cublasHandle_t h = blas_.get();
    const float one = 1.0f, zero = 0.0f, gscale = 2.0f / static_cast<float>(B_);
    const long long dd = static_cast<long long>(d_) * d_;
    // r = -y, then r_b += W_b theta_b. W_b is row-major, i.e. column-major W_b^T: op T.
    L2O_CUDA_CHECK(cudaMemcpyAsync(r_.data(), neg_y_.data(), size() * sizeof(float),
                                   cudaMemcpyDeviceToDevice, stream));
    L2O_CUBLAS_CHECK(cublasSgemmStridedBatched(h, CUBLAS_OP_T, CUBLAS_OP_N, d_, 1, d_, &one,
                                               W_.data(), d_, dd, theta, d_, d_, &one, r_.data(),
                                               d_, d_, B_));
    // grad_b = (2 / B) W_b^T r_b.
    L2O_CUBLAS_CHECK(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, d_, 1, d_, &gscale,
                                               W_.data(), d_, dd, r_.data(), d_, d_, &zero, grad,
                                               d_, d_, B_));
    // loss = (1 / B) sum r^2.
    L2O_CUDA_CHECK(cub::DeviceReduce::TransformReduce(
        temp_.data(), temp_bytes_, r_.data(), loss, size(), cuda::std::plus<float>{},
        ScaledSquare{1.0f / static_cast<float>(B_)}, 0.0f, stream));
  }

 private:
  int B_, d_;
  CublasHandle blas_;
  DeviceArray<float> W_, neg_y_, theta0_, r_;
  DeviceArray<unsigned char> temp_;
  std::size_t temp_bytes_ = 0;
};

}  // namespace

std::unique_ptr<Optimizee> make_cuda_quadratic(QuadraticData data) {
  return std::make_unique<CudaQuadratic>(std::move(data));
}

}  // namespace detail
}  // namespace l2o
