// The CNN optimizee on the GPU (host/problems/cnn.hpp): per convolution an im2col kernel
// and one cuBLAS product for the whole minibatch, its backward two more products and the
// adjoint of im2col (kernels/cnn_kernels.cuh, the index maths shared with the CPU), the
// classifier and the loss as the MLP's (kernels/mlp_kernels.cuh). Row-major matrices are
// passed to cuBLAS as the column-major transposes they are.
#include "host/cuda/check.hpp"
#include "host/problems/cnn.hpp"
#include "host/problems/cuda_optimizee.cuh"
#include "host/problems/mlp.hpp"

#include "kernels/cnn_kernels.cuh"
#include "kernels/launch.cuh"
#include "kernels/mlp_kernels.cuh"

#include <algorithm>

namespace l2o {
namespace detail {
namespace {

using kernels::elementwise_grid;
constexpr int kThreads = kernels::kBlockThreads;  // kernels/launch.cuh

class CudaCnn final : public Optimizee {
 public:
  CudaCnn(const CnnShape& shape, std::shared_ptr<const Dataset> train,
          std::shared_ptr<const Dataset> test, std::vector<float> theta0, std::uint64_t seed)
      : s_(shape), test_(std::move(test)), seed_(seed), mean_(shape.batch) {
    train_ = device_copy(std::move(train));
    theta0_.resize(theta0.size());
    theta0_.upload(theta0.data(), theta0.size(), nullptr);
    const int B = s_.batch, L = s_.layers(), K = s_.classes, F = s_.features();
    const int R = std::max(B, kScoreRows);  // rows of the forward buffers
    x_.resize(std::size_t(B) * s_.rows * s_.cols);
    labels_.resize(B);
    acts_.resize(L + 1);
    cols_.resize(L);
    std::size_t widest = 0, widest_col = 1, widest_pixels = B;
    for (int l = 0; l < L; ++l) {
      acts_[l + 1].resize(std::size_t(s_.channels[l]) * s_.pixels(l, R));
      cols_[l].resize(std::size_t(s_.patch(l)) * s_.pixels(l, R));
      widest = std::max(widest, std::size_t(s_.channels[l]) * s_.pixels(l, B));
      if (l > 0) widest_col = std::max(widest_col, std::size_t(s_.patch(l)) * s_.pixels(l, B));
      widest_pixels = std::max(widest_pixels, s_.pixels(l, B));
    }
    feat_.resize(std::size_t(R) * F);
    logits_.resize(std::size_t(R) * K);
    delta_.resize(std::size_t(B) * K);
    loss_rows_.resize(B);
    dfeat_.resize(std::size_t(B) * F);
    dz_[0].resize(widest);
    dz_[1].resize(widest);
    dcol_.resize(widest_col);
    ones_.resize(widest_pixels);
    std::vector<float> ones(widest_pixels, 1.0f);
    ones_.upload(ones.data(), ones.size(), nullptr);
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
    const int B = s_.batch, L = s_.layers(), K = s_.classes, F = s_.features();
    blas_.bind(stream);
    cublasHandle_t h = blas_.get();
    // The MLP's minibatch stream (mlp::minibatch_index): the CPU's draw_minibatch.
    kernels::l2o_mlp_gather_kernel<<<std::min(B, 1024), kThreads, 0, stream>>>(
        train_->images.data(), train_->labels.data(), train_->count, s_.rows * s_.cols, B, seed_,
        calls_, x_.data(), labels_.data());
    L2O_CUDA_CHECK_LAUNCH();
    ++calls_;
    forward(theta, x_.data(), B, stream);
    kernels::l2o_mlp_softmax_xent_kernel<<<elementwise_grid(B), kThreads, 0, stream>>>(
        logits_.data(), labels_.data(), B, K, 1.0f / B, delta_.data(), loss_rows_.data());
    L2O_CUDA_CHECK_LAUNCH();
    mean_(loss_rows_.data(), loss, stream);

    const float one = 1.0f, zero = 0.0f;
    // Classifier: dW (K x F) = delta^T X, db = column sums of delta, dX = delta W.
    L2O_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, F, K, B, &one, feat_.data(), F,
                                 delta_.data(), K, &zero, grad + s_.w_offset(L), F));
    L2O_CUBLAS_CHECK(cublasSgemv(h, CUBLAS_OP_N, K, B, &one, delta_.data(), K, ones_.data(), 1,
                                 &zero, grad + s_.b_offset(L), 1));
    L2O_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, F, B, K, &one, theta + s_.w_offset(L),
                                 F, delta_.data(), K, &zero, dfeat_.data(), F));
    // Back to [C][B][P], through the last convolution's activation.
    const int C = s_.channels[L - 1], P = F / C;
    kernels::
        l2o_cnn_from_rows_kernel<<<elementwise_grid(std::size_t(B) * F), kThreads, 0, stream>>>(
            dfeat_.data(), acts_[L].data(), C, B, P, s_.act, dz_[0].data());
    L2O_CUDA_CHECK_LAUNCH();
    int cur = 0;
    for (int l = L - 1; l >= 0; --l) {
      const int Co = s_.channels[l], Pl = s_.patch(l);
      const int n = static_cast<int>(s_.pixels(l, B));
      const float* dz = dz_[cur].data();
      // dW (Co x Pl) = dZ col^T; db = row sums of dZ (Co x n).
      L2O_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, Pl, Co, n, &one, cols_[l].data(), n,
                                   dz, n, &zero, grad + s_.w_offset(l), Pl));
      L2O_CUBLAS_CHECK(cublasSgemv(h, CUBLAS_OP_T, n, Co, &one, dz, n, ones_.data(), 1, &zero,
                                   grad + s_.b_offset(l), 1));
      if (l == 0) break;
      // dcol (Pl x n) = W^T dZ, then the adjoint of im2col, then the activation below.
      L2O_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, n, Pl, Co, &one, dz, n,
                                   theta + s_.w_offset(l), Pl, &zero, dcol_.data(), n));
      const int Ci = s_.in_channels(l), H = s_.height(l), W = s_.width(l);
      float* below = dz_[1 - cur].data();
      const std::size_t m = std::size_t(Ci) * B * H * W;
      kernels::l2o_cnn_col2im_kernel<<<elementwise_grid(m), kThreads, 0, stream>>>(dcol_.data(), Ci,
                                                                                   B, H, W, below);
      L2O_CUDA_CHECK_LAUNCH();
      kernels::l2o_mlp_act_backward_kernel<<<elementwise_grid(m), kThreads, 0, stream>>>(
          below, acts_[l].data(), m, s_.act);
      L2O_CUDA_CHECK_LAUNCH();
      cur = 1 - cur;
    }
  }

  double score(const float* theta_host) override {
    return device_test_accuracy(
        test_, theta_host, size(), kScoreRows, s_.classes,
        [this](const float* theta, const float* x, int rows, Stream stream) {
          forward(theta, x, rows, stream);
          return static_cast<const float*>(logits_.data());
        });
  }

 private:
  static constexpr int kScoreRows = 500;

  // The logits (rows x classes) of `rows` images x (rows x H * W: the layout [1][B][H W]),
  // keeping every layer's im2col matrix and activations for the backward.
  void forward(const float* theta, const float* x, int rows, Stream stream) {
    blas_.bind(stream);
    cublasHandle_t h = blas_.get();
    const float one = 1.0f, zero = 0.0f;
    const int L = s_.layers(), K = s_.classes, F = s_.features();
    for (int l = 0; l < L; ++l) {
      const int Ci = s_.in_channels(l), H = s_.height(l), W = s_.width(l), Co = s_.channels[l];
      const int Pl = s_.patch(l), n = static_cast<int>(s_.pixels(l, rows));
      const float* in = l == 0 ? x : acts_[l].data();
      kernels::
          l2o_cnn_im2col_kernel<<<elementwise_grid(std::size_t(Pl) * n), kThreads, 0, stream>>>(
              in, Ci, rows, H, W, cols_[l].data());
      L2O_CUDA_CHECK_LAUNCH();
      // Z (Co x n) = W (Co x Pl) col (Pl x n).
      L2O_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, Co, Pl, &one, cols_[l].data(), n,
                                   theta + s_.w_offset(l), Pl, &zero, acts_[l + 1].data(), n));
      kernels::
          l2o_cnn_bias_act_kernel<<<elementwise_grid(std::size_t(Co) * n), kThreads, 0, stream>>>(
              acts_[l + 1].data(), theta + s_.b_offset(l), Co, n, s_.act);
      L2O_CUDA_CHECK_LAUNCH();
    }
    const int C = s_.channels[L - 1], P = F / C;
    kernels::
        l2o_cnn_to_rows_kernel<<<elementwise_grid(std::size_t(rows) * F), kThreads, 0, stream>>>(
            acts_[L].data(), C, rows, P, feat_.data());
    L2O_CUDA_CHECK_LAUNCH();
    // Logits (rows x K) = X W^T + b.
    L2O_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, K, rows, F, &one,
                                 theta + s_.w_offset(L), F, feat_.data(), F, &zero, logits_.data(),
                                 K));
    kernels::
        l2o_mlp_bias_act_kernel<<<elementwise_grid(std::size_t(rows) * K), kThreads, 0, stream>>>(
            logits_.data(), theta + s_.b_offset(L), rows, K, s_.act, 0);
    L2O_CUDA_CHECK_LAUNCH();
  }

  CnnShape s_;
  std::shared_ptr<const Dataset> test_;
  std::uint64_t seed_, calls_ = 0;
  std::shared_ptr<DeviceDataset> train_;
  CublasHandle blas_;
  DeviceArray<float> theta0_, x_, feat_, logits_, delta_, loss_rows_, dfeat_, dz_[2], dcol_, ones_;
  DeviceArray<int> labels_;
  std::vector<DeviceArray<float>> acts_, cols_;  // acts_[0] unused: the input is x
  DeviceMean mean_;
};

}  // namespace

std::unique_ptr<Optimizee> make_cuda_cnn(const CnnShape& shape,
                                         std::shared_ptr<const Dataset> train,
                                         std::shared_ptr<const Dataset> test,
                                         std::vector<float> theta0, std::uint64_t seed) {
  return std::make_unique<CudaCnn>(shape, std::move(train), std::move(test), std::move(theta0),
                                   seed);
}

}  // namespace detail
}  // namespace l2o
