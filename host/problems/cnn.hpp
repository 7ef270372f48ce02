// The CNN optimizee's shape, shared by its CPU (host/problems/cnn.cpp) and CUDA
// (host/problems/cnn_cuda.cu) implementations: 3 x 3 convolutions of stride 2 and padding 1
// (maths/conv_math.hpp), each followed by the activation, then a fully connected layer.
//
// Activations are kept channel-major across the minibatch, [C][B][H * W], so that a
// layer's im2col matrix is (Cin * 9) x (B * Ho * Wo) and its output Cout x (B * Ho * Wo) is
// one product W (Cout x Cin * 9) . col. Parameters, one flat vector: per convolution
// W (Cout x Cin x 3 x 3, row-major) then b (Cout); then the classifier's W (10 x F,
// F = C * H * W in (c, y, x) order) and b (10).
#pragma once

#include "l2o/data.hpp"
#include "l2o/problem.hpp"
#include "maths/conv_math.hpp"
#include "maths/mlp_math.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace l2o {
namespace detail {

struct CnnShape {
  int rows = 28, cols = 28;   // input image
  std::vector<int> channels;  // per convolution, output channels (input: 1)
  int act = mlp::kRelu;
  int batch = 128;
  int classes = 10;

  int layers() const { return static_cast<int>(channels.size()); }
  int in_channels(int l) const { return l == 0 ? 1 : channels[l - 1]; }
  int height(int l) const {  // the input height of layer l (l == layers(): the classifier's)
    int h = rows;
    for (int k = 0; k < l; ++k) h = conv::out_size(h);
    return h;
  }
  int width(int l) const {
    int w = cols;
    for (int k = 0; k < l; ++k) w = conv::out_size(w);
    return w;
  }
  int patch(int l) const { return in_channels(l) * conv::kK * conv::kK; }
  // Output pixels of layer l over B images: the columns of its im2col matrix.
  std::size_t pixels(int l, int B) const { return std::size_t(B) * height(l + 1) * width(l + 1); }
  std::size_t w_offset(int l) const {  // l == layers(): the classifier
    std::size_t off = 0;
    for (int k = 0; k < l; ++k) off += std::size_t(channels[k]) * (patch(k) + 1);
    return off;
  }
  std::size_t b_offset(int l) const {
    return l < layers() ? w_offset(l) + std::size_t(channels[l]) * patch(l)
                        : w_offset(l) + std::size_t(classes) * features();
  }
  int features() const {
    const int L = layers();
    return channels[L - 1] * height(L) * width(L);
  }
  std::size_t size() const { return b_offset(layers()) + classes; }
  // The convolutions, then the fully connected layer.
  std::vector<std::size_t> groups() const {
    const std::size_t conv = w_offset(layers());
    return {conv, size() - conv};
  }
};

#if L2O_WITH_CUDA
std::unique_ptr<Optimizee> make_cuda_cnn(const CnnShape& shape,
                                         std::shared_ptr<const Dataset> train,
                                         std::shared_ptr<const Dataset> test,
                                         std::vector<float> theta0, std::uint64_t seed);
#endif

}  // namespace detail
}  // namespace l2o
