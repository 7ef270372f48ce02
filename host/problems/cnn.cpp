// The convolutional optimizee on the CPU (docs/generalisation.md): Fashion-MNIST through
// 3 x 3 convolutions of stride 2 and padding 1 (28 x 28 -> 14 x 14 -> 7 x 7 for two
// layers), each followed by the activation, then a fully connected layer to 10 classes
// and the softmax cross-entropy. Convolutions are im2col and one BLAS product per layer
// for the whole minibatch; the per-element maths (activations, softmax) are the MLP's
// (maths/mlp_math.hpp), the convolutions' index maths maths/conv_math.hpp; the shape
// and the parameter layout are in host/problems/cnn.hpp.
#include "l2o/problem.hpp"

#include "host/fail.hpp"
#include "host/problems/cnn.hpp"
#include "host/problems/mlp.hpp"
#include "l2o/data.hpp"
#include "l2o/error.hpp"
#include "maths/conv_math.hpp"
#include "maths/mlp_math.hpp"
#include "maths/random.hpp"

#include <cblas.h>

#include <cmath>
#include <cstring>
#include <sstream>

namespace l2o {
namespace detail {
namespace {

using conv::kK;

// col[(c * 9 + ky * 3 + kx)][b * Ho * Wo + oy * Wo + ox] = in[c][b][iy][ix], with
// iy = conv::source(oy, ky) (0 outside the image); in is [C][B][H * W]. The loops of
// conv::im2col_entry, which the CUDA kernel runs per entry.
void im2col(const float* in, int C, int B, int H, int W, float* col) {
  const int Ho = conv::out_size(H), Wo = conv::out_size(W);
  const std::size_t n = std::size_t(B) * Ho * Wo;
  for (int c = 0; c < C; ++c)
    for (int ky = 0; ky < kK; ++ky)
      for (int kx = 0; kx < kK; ++kx) {
        float* dst = col + (std::size_t(c) * kK * kK + ky * kK + kx) * n;
        for (int b = 0; b < B; ++b) {
          const float* img = in + (std::size_t(c) * B + b) * H * W;
          for (int oy = 0; oy < Ho; ++oy) {
            const int iy = conv::source(oy, ky);
            for (int ox = 0; ox < Wo; ++ox) {
              const int ix = conv::source(ox, kx);
              *dst++ = iy >= 0 && iy < H && ix >= 0 && ix < W ? img[iy * W + ix] : 0.0f;
            }
          }
        }
      }
}

// The adjoint of im2col: in += the col entries each pixel was copied to.
void col2im(const float* col, int C, int B, int H, int W, float* in) {
  const int Ho = conv::out_size(H), Wo = conv::out_size(W);
  const std::size_t n = std::size_t(B) * Ho * Wo;
  for (int c = 0; c < C; ++c)
    for (int ky = 0; ky < kK; ++ky)
      for (int kx = 0; kx < kK; ++kx) {
        const float* src = col + (std::size_t(c) * kK * kK + ky * kK + kx) * n;
        for (int b = 0; b < B; ++b) {
          float* img = in + (std::size_t(c) * B + b) * H * W;
          for (int oy = 0; oy < Ho; ++oy) {
            const int iy = conv::source(oy, ky);
            for (int ox = 0; ox < Wo; ++ox, ++src) {
              const int ix = conv::source(ox, kx);
              if (iy >= 0 && iy < H && ix >= 0 && ix < W) img[iy * W + ix] += *src;
            }
          }
        }
      }
}

// One forward (and, with grad, backward) pass over B images (x: B x rows * cols).
class CnnPass {
 public:
  explicit CnnPass(const CnnShape& s) : s_(s) {}

  // The logits (B x classes, row-major).
  const float* forward(const float* theta, const float* x, int B) {
    const int L = s_.layers();
    acts_.resize(L + 1);
    cols_.resize(L);
    acts_[0].assign(x, x + std::size_t(B) * s_.rows * s_.cols);  // [1][B][H W]
    for (int l = 0; l < L; ++l) {
      const int C = s_.in_channels(l), H = s_.height(l), W = s_.width(l), Co = s_.channels[l];
      const std::size_t n = s_.pixels(l, B);
      cols_[l].resize(std::size_t(s_.patch(l)) * n);
      im2col(acts_[l].data(), C, B, H, W, cols_[l].data());
      std::vector<float>& z = acts_[l + 1];
      z.resize(std::size_t(Co) * n);
      const float* b = theta + s_.b_offset(l);
      for (int o = 0; o < Co; ++o) std::fill(z.begin() + o * n, z.begin() + (o + 1) * n, b[o]);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Co, static_cast<int>(n), s_.patch(l),
                  1.0f, theta + s_.w_offset(l), s_.patch(l), cols_[l].data(), static_cast<int>(n),
                  1.0f, z.data(), static_cast<int>(n));
      for (float& v : z) v = mlp::activate(s_.act, v);
    }
    // The classifier's input X (B x F): X[b][c * P + p] = A[c][b][p].
    const int F = s_.features(), C = s_.channels[L - 1], P = F / C;
    feat_.resize(std::size_t(B) * F);
    for (int c = 0; c < C; ++c)
      for (int b = 0; b < B; ++b)
        std::memcpy(&feat_[std::size_t(b) * F + c * P], &acts_[L][(std::size_t(c) * B + b) * P],
                    P * sizeof(float));
    logits_.resize(std::size_t(B) * s_.classes);
    const float* bias = theta + s_.b_offset(L);
    for (int b = 0; b < B; ++b)
      std::memcpy(&logits_[std::size_t(b) * s_.classes], bias, s_.classes * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, s_.classes, F, 1.0f, feat_.data(), F,
                theta + s_.w_offset(L), F, 1.0f, logits_.data(), s_.classes);
    return logits_.data();
  }

  // Mean cross-entropy over the B images of the last forward, with labels y; its gradient
  // into grad when not null.
  float loss_and_grad(const float* theta, const std::uint8_t* y, int B, float* grad) {
    const int L = s_.layers(), K = s_.classes, F = s_.features();
    std::vector<float> delta(std::size_t(B) * K);
    double total = 0.0;
    for (int b = 0; b < B; ++b)
      total += mlp::softmax_xent(&logits_[std::size_t(b) * K], K, y[b], 1.0f / B,
                                 &delta[std::size_t(b) * K]);
    if (!grad) return static_cast<float>(total / B);
    // Classifier: dW = delta^T X, db = column sums, dX = delta W.
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, F, B, 1.0f, delta.data(), K,
                feat_.data(), F, 0.0f, grad + s_.w_offset(L), F);
    float* db = grad + s_.b_offset(L);
    std::fill(db, db + K, 0.0f);
    for (int b = 0; b < B; ++b)
      for (int k = 0; k < K; ++k) db[k] += delta[std::size_t(b) * K + k];
    std::vector<float> dfeat(std::size_t(B) * F);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, F, K, 1.0f, delta.data(), K,
                theta + s_.w_offset(L), F, 0.0f, dfeat.data(), F);
    // Back to [C][B][P], through the last convolution's activation.
    const int C = s_.channels[L - 1], P = F / C;
    std::vector<float> dz(acts_[L].size());
    for (int c = 0; c < C; ++c)
      for (int b = 0; b < B; ++b)
        std::memcpy(&dz[(std::size_t(c) * B + b) * P], &dfeat[std::size_t(b) * F + c * P],
                    P * sizeof(float));
    for (int l = L - 1; l >= 0; --l) {
      const std::vector<float>& a = acts_[l + 1];
      for (std::size_t e = 0; e < dz.size(); ++e) dz[e] *= mlp::activate_grad(s_.act, a[e], a[e]);
      const int Co = s_.channels[l], Pl = s_.patch(l);
      const std::size_t n = s_.pixels(l, B);
      // dW = dZ col^T (Co x Pl), db = row sums of dZ.
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Co, Pl, static_cast<int>(n), 1.0f,
                  dz.data(), static_cast<int>(n), cols_[l].data(), static_cast<int>(n), 0.0f,
                  grad + s_.w_offset(l), Pl);
      float* dbl = grad + s_.b_offset(l);
      for (int o = 0; o < Co; ++o) {
        double sum = 0.0;
        for (std::size_t i = 0; i < n; ++i) sum += dz[o * n + i];
        dbl[o] = static_cast<float>(sum);
      }
      if (l == 0) break;
      // dcol = W^T dZ (Pl x n), then col2im to the layer's input.
      std::vector<float> dcol(std::size_t(Pl) * n);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Pl, static_cast<int>(n), Co, 1.0f,
                  theta + s_.w_offset(l), Pl, dz.data(), static_cast<int>(n), 0.0f, dcol.data(),
                  static_cast<int>(n));
      std::vector<float> din(acts_[l].size(), 0.0f);
      col2im(dcol.data(), s_.in_channels(l), B, s_.height(l), s_.width(l), din.data());
      dz.swap(din);
    }
    return static_cast<float>(total / B);
  }

 private:
  const CnnShape& s_;
  std::vector<std::vector<float>> acts_, cols_;
  std::vector<float> feat_, logits_;
};

class CpuCnn final : public Optimizee {
 public:
  CpuCnn(const CnnShape& s, std::shared_ptr<const Dataset> train,
         std::shared_ptr<const Dataset> test, std::vector<float> theta0, std::uint64_t seed)
      : s_(s),
        train_(std::move(train)),
        test_(std::move(test)),
        theta0_(std::move(theta0)),
        seed_(seed),
        pass_(s_) {}

  std::size_t size() const override { return s_.size(); }
  std::vector<std::size_t> groups() const override { return s_.groups(); }
  Device device() const override { return Device::kCpu; }
  void initial_theta(float* theta, Stream) override {
    std::memcpy(theta, theta0_.data(), theta0_.size() * sizeof(float));
  }
  void loss_and_grad(const float* theta, float* grad, float* loss, Stream) override {
    draw_minibatch(*train_, seed_, calls_++, s_.batch, x_, labels_);  // the MLP's stream
    pass_.forward(theta, x_.data(), s_.batch);
    *loss = pass_.loss_and_grad(theta, labels_.data(), s_.batch, grad);
  }
  double score(const float* theta) override {  // accuracy on the test split, in chunks
    const Dataset& d = *test_;
    const int F = d.features();
    return test_accuracy(d, 500, s_.classes, [&](std::size_t start, int rows) {
      return pass_.forward(theta, &d.images[start * F], rows);
    });
  }

 private:
  CnnShape s_;
  std::shared_ptr<const Dataset> train_, test_;
  std::vector<float> theta0_;
  std::uint64_t seed_, calls_ = 0;
  CnnPass pass_;
  std::vector<float> x_;
  std::vector<std::uint8_t> labels_;
};

class CnnFamily final : public ProblemFamily {
 public:
  CnnFamily(const CnnOptions& o, std::shared_ptr<const Dataset> train,
            std::shared_ptr<const Dataset> test)
      : o_(o), train_(std::move(train)), test_(std::move(test)) {
#if defined(OPENBLAS_VERSION)
    openblas_set_num_threads(1);  // small products between l2o's OpenMP regions (mlp.cpp)
#endif
    if (!train_ || !test_ || train_->count() == 0) fail("cnn: no training data");
    if (o.channels.empty() || o.channels.size() > 3)
      fail("cnn: ", o.channels.size(), " convolutions, expected 1..3");
    for (int c : o.channels)
      if (c < 1 || c > 256) fail("cnn: convolution of ", c, " channels, expected 1..256");
    if (o.batch < 1) fail("cnn: batch = ", o.batch, ", expected at least 1");
    if (train_->rows != test_->rows || train_->cols != test_->cols)
      fail("cnn: train and test images differ in size");
    if (train_->rows < 2 || train_->cols < 2)
      fail("cnn: images of ", train_->rows, " x ", train_->cols, ", expected at least 2 x 2");
    shape_.rows = train_->rows;
    shape_.cols = train_->cols;
    shape_.channels = o.channels;
    shape_.act = static_cast<int>(o.activation);
    shape_.batch = o.batch;
  }

  std::string describe() const override {
    std::ostringstream os;
    os << "Fashion-MNIST CNN " << shape_.rows << "x" << shape_.cols;
    for (int l = 0; l < shape_.layers(); ++l)
      os << " -conv3x3/2-> " << shape_.channels[l] << "x" << shape_.height(l + 1) << "x"
         << shape_.width(l + 1);
    os << " -fc-> 10, " << to_string(o_.activation) << ", batch " << o_.batch << " ("
       << shape_.size() << " parameters)";
    return os.str();
  }

  // Weights N(0, 1 / fan_in) (fan_in: 9 Cin for a convolution, F for the classifier),
  // biases 0: without the fan-in scaling the signal would fade through the layers.
  std::unique_ptr<Optimizee> sample(std::uint64_t seed, Device device) const override {
    std::vector<float> theta0(shape_.size(), 0.0f);
    Rng rng(seed);
    const int L = shape_.layers();
    for (int l = 0; l <= L; ++l) {
      const int fan_in = l < L ? shape_.patch(l) : shape_.features();
      const double sd = 1.0 / std::sqrt(double(fan_in));
      for (std::size_t e = shape_.w_offset(l); e < shape_.b_offset(l); ++e)
        theta0[e] = static_cast<float>(sd * rng.normal());
    }
    const std::uint64_t stream = rng.next();  // the minibatch stream's seed
    if (resolve(device) == Device::kCuda) {
#if L2O_WITH_CUDA
      return make_cuda_cnn(shape_, train_, test_, std::move(theta0), stream);
#endif
    }
    return std::make_unique<CpuCnn>(shape_, train_, test_, std::move(theta0), stream);
  }

 private:
  CnnOptions o_;
  std::shared_ptr<const Dataset> train_, test_;
  CnnShape shape_;
};

}  // namespace
}  // namespace detail

std::unique_ptr<ProblemFamily> make_cnn_family(const CnnOptions& options,
                                               std::shared_ptr<const Dataset> train,
                                               std::shared_ptr<const Dataset> test) {
  return std::make_unique<detail::CnnFamily>(options, std::move(train), std::move(test));
}

std::unique_ptr<ProblemFamily> make_cnn_family(const CnnOptions& options) {
  auto train = std::make_shared<const Dataset>(load_fashion_mnist("train", options.data_dir));
  auto test = std::make_shared<const Dataset>(load_fashion_mnist("test", options.data_dir));
  return make_cnn_family(options, std::move(train), std::move(test));
}

}  // namespace l2o
