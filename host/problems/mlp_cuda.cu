// The MLP optimizee on the GPU: cuBLAS products (row-major matrices seen as column-major
// transposes), the kernels of mlp_kernels.cuh, the loss reduced with CUB. Datasets are
// uploaded once and shared by every optimizee of a family.
#include "host/cuda/check.hpp"
#include "host/problems/cuda_optimizee.cuh"
#include "host/problems/mlp.hpp"

#include "kernels/launch.cuh"
#include "kernels/mlp_kernels.cuh"

#include <map>
#include <mutex>

namespace l2o {
namespace detail {

std::shared_ptr<DeviceDataset> device_copy(std::shared_ptr<const Dataset> host) {
  static std::mutex mutex;
  static std::map<const Dataset*, std::weak_ptr<DeviceDataset>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  const Dataset& d = *host;
  if (auto p = cache[&d].lock()) return p;
  for (auto it = cache.begin(); it != cache.end();)  // forget the copies no one holds
    it = it->second.expired() ? cache.erase(it) : std::next(it);
  auto p = std::make_shared<DeviceDataset>();
  p->images.resize(d.images.size());
  p->labels.resize(d.labels.size());
  p->images.upload(d.images.data(), d.images.size(), nullptr);
  p->labels.upload(d.labels.data(), d.labels.size(), nullptr);
  p->count = static_cast<std::uint32_t>(d.count());
  L2O_CUDA_CHECK(cudaStreamSynchronize(nullptr));
  p->host = std::move(host);
  cache[&d] = p;
  return p;
}

namespace {

constexpr int kThreads = kernels::kBlockThreads;  // kernels/launch.cuh

class CudaMlp final : public Optimizee {
 public:
  CudaMlp(const MlpShape& shape, const MlpData& data, std::vector<float> theta0, std::uint64_t seed)
      : s_(shape), data_(data), seed_(seed), mean_(shape.batch) {
    train_ = device_copy(data.train);
    theta0_.resize(theta0.size());
    theta0_.upload(theta0.data(), theta0.size(), nullptr);
    const int B = s_.batch;
    x_.resize(std::size_t(B) * s_.dims[0]);
    labels_.resize(B);
    loss_rows_.resize(std::max(B, kScoreRows));
    ones_.resize(std::max(B, kScoreRows));
    std::vector<float> ones(ones_.size(), 1.0f);
    ones_.upload(ones.data(), ones.size(), nullptr);
    acts_.resize(s_.layers() + 1);
    int widest = 0;
    for (int d : s_.dims) widest = std::max(widest, d);
    for (int k = 1; k <= s_.layers(); ++k)
      acts_[k].resize(std::size_t(std::max(B, kScoreRows)) * s_.dims[k]);
    delta_[0].resize(std::size_t(B) * widest);
    delta_[1].resize(std::size_t(B) * widest);
    L2O_CUDA_CHECK(cudaStreamSynchronize(nullptr));  // host vectors die with this scope
  }

  std::size_t size() const override { return s_.size(); }
  std::vector<std::size_t> groups() const override { return s_.groups(); }
  Device device() const override { return Device::kCuda; }

  void initial_theta(float* theta, Stream stream) override {
    L2O_CUDA_CHECK(cudaMemcpyAsync(theta, theta0_.data(), size() * sizeof(float),
                                   cudaMemcpyDeviceToDevice, stream));
  }

  void loss_and_grad(const float* theta, float* grad, float* loss, Stream stream) override {
    const int B = s_.batch, L = s_.layers(), C = s_.dims.back();
    blas_.bind(stream);
    cublasHandle_t h = blas_.get();
    kernels::l2o_mlp_gather_kernel<<<std::min(B, 1024), kThreads, 0, stream>>>(
        train_->images.data(), train_->labels.data(), train_->count, s_.dims[0], B, seed_, calls_,
        x_.data(), labels_.data());
    L2O_CUDA_CHECK_LAUNCH();
    ++calls_;
    forward(theta, x_.data(), B, stream);
    kernels::l2o_mlp_softmax_xent_kernel<<<kernels::elementwise_grid(B), kThreads, 0, stream>>>(
        acts_[L].data(), labels_.data(), B, C, 1.0f / B, delta_[0].data(), loss_rows_.data());
    L2O_CUDA_CHECK_LAUNCH();
    mean_(loss_rows_.data(), loss, stream);
    const float one = 1.0f, zero = 0.0f;
    int cur = 0;
    for (int k = L - 1; k >= 0; --k) {
      const int in = s_.dims[k], out = s_.dims[k + 1];
      const float* a = k == 0 ? x_.data() : acts_[k].data();
      float* delta = delta_[cur].data();
      // dW (out x in, row-major) = delta^T A: column-major in x out = A_c delta_c^T.
      L2O_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, in, out, B, &one, a, in, delta, out,
                                   &zero, grad + s_.w_offset(k), in));
      // db = column sums of delta.
      L2O_CUBLAS_CHECK(cublasSgemv(h, CUBLAS_OP_N, out, B, &one, delta, out, ones_.data(), 1, &zero,
                                   grad + s_.b_offset(k), 1));
      if (k == 0) break;
      // dA (rows x in) = delta W: column-major in x rows = W_c delta_c.
      float* next = delta_[1 - cur].data();
      L2O_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, in, B, out, &one,
                                   theta + s_.w_offset(k), in, delta, out, &zero, next, in));
      const std::size_t n = std::size_t(B) * in;
      kernels::l2o_mlp_act_backward_kernel<<<kernels::elementwise_grid(n), kThreads, 0, stream>>>(
          next, acts_[k].data(), n, s_.act);
      L2O_CUDA_CHECK_LAUNCH();
      cur = 1 - cur;
    }
  }

  double score(const float* theta_host) override {
    return device_test_accuracy(
        data_.test, theta_host, size(), kScoreRows, s_.dims.back(),
        [this](const float* theta, const float* x, int rows, Stream stream) {
          forward(theta, x, rows, stream);
          return static_cast<const float*>(acts_[s_.layers()].data());
        });
  }

 private:
  static constexpr int kScoreRows = 1000;

  // acts_[k + 1] = act(A_k W_k^T + b_k) (no activation on the logits).
  void forward(const float* theta, const float* x, int rows, Stream stream) {
    blas_.bind(stream);
    cublasHandle_t h = blas_.get();
    const float one = 1.0f, zero = 0.0f;
    const int L = s_.layers();
    for (int k = 0; k < L; ++k) {
      const int in = s_.dims[k], out = s_.dims[k + 1];
      const float* a = k == 0 ? x : acts_[k].data();
      // Z (rows x out, row-major): column-major out x rows = W_c^T A_c.
      L2O_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, out, rows, in, &one,
                                   theta + s_.w_offset(k), in, a, in, &zero, acts_[k + 1].data(),
                                   out));
      const std::size_t n = std::size_t(rows) * out;
      kernels::l2o_mlp_bias_act_kernel<<<kernels::elementwise_grid(n), kThreads, 0, stream>>>(
          acts_[k + 1].data(), theta + s_.b_offset(k), rows, out, s_.act, k + 1 < L);
      L2O_CUDA_CHECK_LAUNCH();
    }
  }

  MlpShape s_;
  MlpData data_;
  std::uint64_t seed_, calls_ = 0;
  std::shared_ptr<DeviceDataset> train_;
  CublasHandle blas_;
  DeviceArray<float> theta0_, x_, loss_rows_, ones_, delta_[2];
  DeviceArray<int> labels_;
  std::vector<DeviceArray<float>> acts_;
  DeviceMean mean_;
};

}  // namespace

std::unique_ptr<Optimizee> make_cuda_mlp(const MlpShape& shape, const MlpData& data,
                                         std::vector<float> theta0, std::uint64_t seed) {
  return std::make_unique<CudaMlp>(shape, data, std::move(theta0), seed);
}

}  // namespace detail
}  // namespace l2o
