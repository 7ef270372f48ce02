// The convolutional optimizee (make_cnn_family) against a naive double-precision
// re-implementation written here from the documented layout (l2o/problem.hpp): direct
// convolutions, no im2col, no BLAS. Its loss is compared with l2o's, and l2o's gradient
// with central finite differences of the reference loss, on small odd-sized images so
// that every border case of the padding is met.
#include "l2o/data.hpp"
#include "l2o/device.hpp"
#include "l2o/error.hpp"
#include "l2o/problem.hpp"
#include "maths/conv_math.hpp"
#include "maths/mlp_math.hpp"
#include "maths/random.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

namespace l2o {
namespace {

double act(int a, double z) {
  if (a == 1) return z > 0 ? z : 0;
  if (a == 2) return std::tanh(z);
  return 1 / (1 + std::exp(-z));
}

// Mean cross-entropy of the network on the given images (rows x cols each).
double reference_loss(const std::vector<double>& p, const std::vector<int>& channels, int act_kind,
                      int rows, int cols, const std::vector<const float*>& images,
                      const std::vector<int>& labels) {
  double total = 0;
  for (std::size_t n = 0; n < images.size(); ++n) {
    int C = 1, H = rows, W = cols;
    std::vector<double> a(images[n], images[n] + rows * cols);
    std::size_t off = 0;
    for (int Co : channels) {
      const int Ho = (H - 1) / 2 + 1, Wo = (W - 1) / 2 + 1;  // 3x3, stride 2, padding 1
      const double* w = p.data() + off;
      const double* b = w + std::size_t(Co) * C * 9;
      std::vector<double> z(std::size_t(Co) * Ho * Wo);
      for (int o = 0; o < Co; ++o)
        for (int y = 0; y < Ho; ++y)
          for (int x = 0; x < Wo; ++x) {
            double s = b[o];
            for (int c = 0; c < C; ++c)
              for (int ky = 0; ky < 3; ++ky)
                for (int kx = 0; kx < 3; ++kx) {
                  const int iy = 2 * y - 1 + ky, ix = 2 * x - 1 + kx;
                  if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                  s += w[((o * C + c) * 3 + ky) * 3 + kx] * a[(c * H + iy) * W + ix];
                }
            z[(o * Ho + y) * Wo + x] = act(act_kind, s);
          }
      off += std::size_t(Co) * (C * 9 + 1);
      a.swap(z);
      C = Co;
      H = Ho;
      W = Wo;
    }
    const int F = C * H * W;
    std::vector<double> logit(10);
    for (int k = 0; k < 10; ++k) {
      double s = p[off + std::size_t(10) * F + k];
      for (int f = 0; f < F; ++f) s += p[off + std::size_t(k) * F + f] * a[f];
      logit[k] = s;
    }
    const double m = *std::max_element(logit.begin(), logit.end());
    double se = 0;
    for (double v : logit) se += std::exp(v - m);
    total += std::log(se) + m - logit[labels[n]];
  }
  return total / images.size();
}

struct Images {
  std::shared_ptr<Dataset> data = std::make_shared<Dataset>();
  Images(int rows, int cols, int count, std::uint64_t seed) {
    data->rows = rows;
    data->cols = cols;
    Rng rng(seed);
    for (int i = 0; i < count * rows * cols; ++i) data->images.push_back(float(rng.uniform()));
    for (int i = 0; i < count; ++i) data->labels.push_back(std::uint8_t(rng.below(10)));
  }
};

void check_gradient(const CnnOptions& o, int rows, int cols, std::uint64_t seed) {
  SCOPED_TRACE("channels " + std::to_string(o.channels.size()) + ", activation " +
               to_string(o.activation) + ", " + std::to_string(rows) + "x" + std::to_string(cols));
  Images s(rows, cols, 13, seed);
  const auto family = make_cnn_family(o, s.data, s.data);
  auto f = family->sample(seed, Device::kCpu);
  const std::size_t n = f->size();
  std::vector<float> theta(n), grad(n);
  f->initial_theta(theta.data(), nullptr);
  // The optimizee's first minibatch: its stream's seed follows the weights' draws (one
  // normal per weight, none for the biases), as sample() documents by construction.
  Rng rng(seed);
  std::size_t weights = 0;
  for (float v : theta) weights += v != 0.0f;
  for (std::size_t i = 0; i < weights; ++i) rng.normal();
  const std::uint64_t stream = rng.next();
  std::vector<const float*> images;
  std::vector<int> labels;
  for (int b = 0; b < o.batch; ++b) {
    const std::uint32_t i = mlp::minibatch_index(stream, 0, b, std::uint32_t(s.data->count()));
    images.push_back(&s.data->images[std::size_t(i) * rows * cols]);
    labels.push_back(s.data->labels[i]);
  }
  // Move off the initial point so that no ReLU input sits at exactly 0.
  Rng jitter(seed + 1);
  for (float& v : theta) v += float(0.05 * jitter.normal());
  float loss = 0;
  f->loss_and_grad(theta.data(), grad.data(), &loss, nullptr);
  std::vector<double> p(theta.begin(), theta.end());
  const double want = reference_loss(p, o.channels, int(o.activation), rows, cols, images, labels);
  ASSERT_NEAR(loss, want, 1e-5 * std::fabs(want)) << "the loss of the first minibatch";
  std::vector<double> fd(n);
  double scale = 0;
  for (std::size_t e = 0; e < n; ++e) {
    const double h = 1e-6;
    std::vector<double> q = p;
    q[e] += h;
    const double up = reference_loss(q, o.channels, int(o.activation), rows, cols, images, labels);
    q[e] -= 2 * h;
    const double dn = reference_loss(q, o.channels, int(o.activation), rows, cols, images, labels);
    fd[e] = (up - dn) / (2 * h);
    scale = std::max(scale, std::fabs(fd[e]));
  }
  ASSERT_GT(scale, 0);
  // l2o sums in fp32 (~1e-6 relative); the central difference in double has error ~1e-9
  // (h^2 f''' with h = 1e-6, and rounding 1e-16 / h). Tolerance: 1e-4 of the largest
  // component plus 1e-3 relative.
  int bad = 0;
  for (std::size_t e = 0; e < n && bad < 10; ++e)
    if (std::fabs(grad[e] - fd[e]) > 1e-4 * scale + 1e-3 * std::fabs(fd[e])) {
      ADD_FAILURE() << "dloss/dtheta[" << e << "] = " << grad[e] << ", finite difference " << fd[e]
                    << " (largest " << scale << ")";
      ++bad;
    }
}

TEST(Cnn, GradientMatchesFiniteDifferencesOfANaiveReference) {
  CnnOptions o;
  o.channels = {3, 4};
  o.batch = 5;
  check_gradient(o, 9, 7, 1);
  o.activation = MlpOptions::Activation::kTanh;
  check_gradient(o, 8, 8, 2);
  o.activation = MlpOptions::Activation::kSigmoid;
  o.channels = {2};
  check_gradient(o, 5, 6, 3);
  o.activation = MlpOptions::Activation::kRelu;
  o.channels = {2, 3, 2};
  o.batch = 3;
  check_gradient(o, 11, 10, 4);
}

TEST(Cnn, ShapeScoreAndRefusals) {
  Images s(28, 28, 20, 5);
  const auto family = make_cnn_family(CnnOptions{}, s.data, s.data);
  // 8 x 9 + 8, 16 x 72 + 16, 10 x 784 + 10
  auto f = family->sample(0, Device::kCpu);
  EXPECT_EQ(f->size(), 80u + 1168u + 7850u);
  // LSTM-sub's groups: the convolutions, then the fully connected layer.
  EXPECT_EQ(f->groups(), (std::vector<std::size_t>{80u + 1168u, 7850u}));
  EXPECT_NE(family->describe().find("16x7x7"), std::string::npos) << family->describe();
  std::vector<float> theta(f->size());
  f->initial_theta(theta.data(), nullptr);
  const double acc = f->score(theta.data());
  EXPECT_GE(acc, 0.0);
  EXPECT_LE(acc, 1.0);
  // The same seed draws the same optimizee; another seed another.
  std::vector<float> again(f->size()), other(f->size());
  family->sample(0, Device::kCpu)->initial_theta(again.data(), nullptr);
  family->sample(1, Device::kCpu)->initial_theta(other.data(), nullptr);
  EXPECT_EQ(theta, again);
  EXPECT_NE(theta, other);
  auto refused = [&](CnnOptions o, const std::string& what) {
    try {
      make_cnn_family(o, s.data, s.data);
      ADD_FAILURE() << "accepted: " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  CnnOptions o;
  o.channels = {};
  refused(o, "0 convolutions");
  o.channels = {4, 4, 4, 4};
  refused(o, "4 convolutions");
  o.channels = {0};
  refused(o, "0 channels");
  o = {};
  o.batch = 0;
  refused(o, "batch = 0");
  // Without a usable CUDA device, a CNN on the GPU is refused by name (with one,
  // CudaTest.CnnMatchesCpu compares the two backends).
  if (!cuda_available()) {
    try {
      family->sample(0, Device::kCuda);
      ADD_FAILURE() << "a CNN on a GPU that is not there was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
    }
  }
}

// The index maths the CUDA kernels run per entry (maths/conv_math.hpp), checked here on
// the CPU: im2col_entry reads the zero-padded image at (2 oy - 1 + ky, 2 ox - 1 + kx), and
// col2im_entry is its adjoint, <col2im(y), x> = <y, im2col(x)> (col2im_entry adds up to
// four floats: 1e-6 of the sum of the products' magnitudes), on sizes with every border
// case (odd, even, 1 and 2 pixels).
TEST(Cnn, ConvolutionIndexMathsAndItsAdjoint) {
  Rng rng(11);
  for (int H : {1, 2, 5, 8})
    for (int W : {1, 3, 6, 7}) {
      const int C = 2, B = 3, Ho = conv::out_size(H), Wo = conv::out_size(W);
      ASSERT_EQ(Ho, (H - 1) / 2 + 1);
      const long long in_size = (long long)C * B * H * W, n = (long long)B * Ho * Wo;
      const long long col_size = (long long)C * 9 * n;
      std::vector<float> x(in_size), y(col_size);
      for (float& v : x) v = float(rng.normal());
      for (float& v : y) v = float(rng.normal());
      double lhs = 0, rhs = 0, norm = 0;
      for (long long e = 0; e < col_size; ++e) {
        const long long row = e / n, i = e % n;
        const int c = int(row / 9), ky = int(row % 9) / 3, kx = int(row % 3);
        const int b = int(i / (Ho * Wo)), oy = int(i % (Ho * Wo)) / Wo, ox = int(i % Wo);
        const int iy = 2 * oy - 1 + ky, ix = 2 * ox - 1 + kx;
        const float want = iy < 0 || iy >= H || ix < 0 || ix >= W
                               ? 0.0f
                               : x[((long long)c * B + b) * H * W + iy * W + ix];
        const float got = conv::im2col_entry(x.data(), B, H, W, e);
        ASSERT_EQ(got, want) << H << "x" << W << " entry " << e;
        rhs += double(y[e]) * got;
        norm += std::fabs(double(y[e]) * got);
      }
      for (long long e = 0; e < in_size; ++e)
        lhs += double(conv::col2im_entry(y.data(), B, H, W, e)) * x[e];
      EXPECT_NEAR(lhs, rhs, 1e-6 * norm + 1e-12) << H << "x" << W;
    }
}

}  // namespace
}  // namespace l2o
