// The MLP optimizee's shape and data, shared by its CPU and CUDA implementations.
#pragma once

#include "l2o/data.hpp"
#include "l2o/problem.hpp"

#include <algorithm>
#include <cstddef>
#include <memory>
#include <vector>

namespace l2o {
namespace detail {

struct MlpShape {
  std::vector<int> dims;  // features, hidden..., classes
  int act = 0;            // mlp::Act
  int batch = 128;
  int layers() const { return static_cast<int>(dims.size()) - 1; }
  std::size_t w_offset(int k) const {  // layer k (0-based): W (dims[k+1] x dims[k]) then b
    std::size_t off = 0;
    for (int j = 0; j < k; ++j) off += std::size_t(dims[j + 1]) * (dims[j] + 1);
    return off;
  }
  std::size_t b_offset(int k) const { return w_offset(k) + std::size_t(dims[k + 1]) * dims[k]; }
  std::size_t size() const { return w_offset(layers()); }
  // The hidden layers, then the output layer (one group without hidden layers).
  std::vector<std::size_t> groups() const {
    const std::size_t hidden = w_offset(layers() - 1);
    if (hidden == 0) return {size()};
    return {hidden, size() - hidden};
  }
};

struct MlpData {
  std::shared_ptr<const Dataset> train, test;
};

// Minibatch `call` of an optimizee whose stream has seed `seed`: B examples drawn with
// replacement (mlp::minibatch_index) copied to x (B x features) and labels (B). The MLP
// and the CNN draw the same minibatches.
void draw_minibatch(const Dataset& d, std::uint64_t seed, std::uint64_t call, int B,
                    std::vector<float>& x, std::vector<std::uint8_t>& labels);

// The fraction of d's examples whose largest class score is their label, in chunks of
// `chunk` examples: logits(start, rows) returns the scores of examples start ..
// start + rows - 1 (host memory, rows x classes, row-major). The MLP's and the CNN's
// score().
template <class Logits>
double test_accuracy(const Dataset& d, std::size_t chunk, int classes, Logits logits) {
  std::size_t correct = 0;
  for (std::size_t start = 0; start < d.count(); start += chunk) {
    const int rows = static_cast<int>(std::min(chunk, d.count() - start));
    const float* out = logits(start, rows);
    for (int r = 0; r < rows; ++r) {
      const float* row = out + std::size_t(r) * classes;
      int best = 0;
      for (int c = 1; c < classes; ++c)
        if (row[c] > row[best]) best = c;
      correct += best == d.labels[start + r];
    }
  }
  return double(correct) / d.count();
}

// Mean cross-entropy of the MLP on `rows` examples (x: rows x features, row-major) and,
// when grad is not null, its gradient (the CPU path; BLAS products).
float mlp_loss_and_grad(const MlpShape& s, const float* theta, const float* x,
                        const std::uint8_t* y, int rows, float* grad);

#if L2O_WITH_CUDA
std::unique_ptr<Optimizee> make_cuda_mlp(const MlpShape& shape, const MlpData& data,
                                         std::vector<float> theta0, std::uint64_t seed);
#endif

}  // namespace detail
}  // namespace l2o
