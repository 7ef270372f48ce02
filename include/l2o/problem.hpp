// Optimizees (the functions a learned optimizer minimises) and families of them.
#pragma once

#include "l2o/build.hpp"

#include "l2o/device.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace l2o {

// One optimizee f(theta) over a flat vector of size() coordinates, living on one backend:
// every pointer is host memory for Device::kCpu and device memory for Device::kCuda.
class L2O_API Optimizee {
 public:
  virtual ~Optimizee() = default;
  virtual std::size_t size() const = 0;
  virtual Device device() const = 0;
  // Writes the initial parameters theta_0.
  virtual void initial_theta(float* theta, Stream stream) = 0;
  // Writes f(theta) to *loss (one float) and its gradient to grad (size() floats).
  virtual void loss_and_grad(const float* theta, float* grad, float* loss, Stream stream) = 0;
  // True when every loss_and_grad call enqueues the same device work on the same buffers
  // (nothing depends on a host-side counter), so an unroll on this optimizee can be
  // recorded once into a CUDA Graph and replayed (Unroller::set_cuda_graphs).
  virtual bool graph_capturable() const { return false; }
  // The sizes of the parameter groups, in order, adding up to size(): the coordinates each
  // LSTM of an LSTM-sub phi steps (OptimizerConfig::groups). One group unless overridden:
  // the MLP has two (the hidden layers, the output layer), the CNN two (the convolutions,
  // the fully connected layer).
  virtual std::vector<std::size_t> groups() const { return {size()}; }
  // Optional measure printed next to the loss (e.g. test accuracy); NaN when none.
  virtual double score(const float* /*theta*/) { return std::numeric_limits<double>::quiet_NaN(); }
};

// A distribution over optimizees; sample(seed) is deterministic in the seed.
class L2O_API ProblemFamily {
 public:
  virtual ~ProblemFamily() = default;
  virtual std::string describe() const = 0;
  virtual std::unique_ptr<Optimizee> sample(std::uint64_t seed, Device device) const = 0;
  // What sample(seed) draws, in words: a mixture's component and its parameters; a plain
  // family's describe().
  virtual std::string describe_sample(std::uint64_t /*seed*/) const { return describe(); }
};

// f(theta) = (1/B) sum_b || W_b theta_b - y_b ||^2 over a batch of B independent
// d-dimensional quadratics (theta is B x d, row-major: N = B d coordinates). The
// reference code draws W and y from U[0, 1); the paper says IID Gaussian. theta_0 is
// N(0, theta0_std^2).
struct L2O_API QuadraticOptions {
  int dims = 10;
  int batch = 128;
  enum class Dist { kUniform, kNormal } dist = Dist::kUniform;
  double theta0_std = 0.01;
};

L2O_API std::unique_ptr<ProblemFamily> make_quadratic_family(const QuadraticOptions& options);

struct Dataset;

// A multi-layer perceptron classifying Fashion-MNIST (docs/method.md §2, the paper's MNIST
// experiment): hidden layers of the given widths and activation, a 10-way softmax with
// mean cross-entropy over a minibatch drawn with replacement from the training split
// (a fresh minibatch at every evaluation, from a stream seeded by the optimizee's seed),
// initial weights and biases N(0, init_std^2) redrawn for every optimizee. Parameters are
// one flat vector: per layer the out x in matrix (row-major) then its bias. score() is
// the accuracy on the test split.
struct L2O_API MlpOptions {
  std::vector<int> hidden = {20};
  enum class Activation { kSigmoid, kRelu, kTanh } activation = Activation::kSigmoid;
  int batch = 128;
  double init_std = 0.01;
  std::string data_dir;  // Fashion-MNIST location, "" for the default (see data.hpp)
};

L2O_API std::string to_string(MlpOptions::Activation a);
L2O_API MlpOptions::Activation parse_activation(const std::string& name);  // sigmoid | relu | tanh

// Reads Fashion-MNIST (train and test splits) once and shares it among optimizees.
L2O_API std::unique_ptr<ProblemFamily> make_mlp_family(const MlpOptions& options);
// The same on given data (the test split only feeds score()).
L2O_API std::unique_ptr<ProblemFamily> make_mlp_family(const MlpOptions& options,
                                                       std::shared_ptr<const Dataset> train,
                                                       std::shared_ptr<const Dataset> test);

// A small convolutional network classifying Fashion-MNIST (docs/generalisation.md, the
// shape of the paper's CIFAR experiment): convolutions of 3 x 3 kernels, stride 2 and
// padding 1 (28 x 28 -> 14 x 14 -> 7 x 7 with two), each followed by the activation, then
// a fully connected layer to 10 classes and the mean softmax cross-entropy over a
// minibatch drawn with replacement (the MLP's stream). Initial weights N(0, 1 / fan_in),
// biases 0, redrawn per optimizee. Parameters, one flat vector: per convolution its
// Cout x Cin x 3 x 3 kernel (row-major) and Cout biases, then the classifier's 10 x F
// matrix (features in channel, row, column order) and 10 biases. On either backend
// (im2col and a BLAS product per convolution; cuBLAS on the GPU), the same seed drawing
// the same optimizee and minibatches. score() is the test accuracy.
struct L2O_API CnnOptions {
  std::vector<int> channels = {8, 16};  // output channels of each convolution (1..3 of them)
  MlpOptions::Activation activation = MlpOptions::Activation::kRelu;
  int batch = 128;
  std::string data_dir;  // Fashion-MNIST location, "" for the default (see data.hpp)
};
L2O_API std::unique_ptr<ProblemFamily> make_cnn_family(const CnnOptions& options);
L2O_API std::unique_ptr<ProblemFamily> make_cnn_family(const CnnOptions& options,
                                                       std::shared_ptr<const Dataset> train,
                                                       std::shared_ptr<const Dataset> test);

// A mixture of families (docs/generalisation.md): each optimizee draws, from its seed
// alone, a component and a value of each of its parameters, then is that family's
// optimizee. The spec (what `--problem mix:SPEC` takes):
//   SPEC      = COMPONENT[,COMPONENT...]
//   COMPONENT = mlp[(KEY=VALUES,...)] | cnn[(KEY=VALUES,...)] | quadratic[(KEY=VALUES,...)]
//   VALUES    = a word or alternatives a|b|c (drawn uniformly), an integer or a range lo..hi
//               (drawn uniformly, inclusive)
//   mlp:       activation=sigmoid|relu|tanh, hidden=WIDTHS (each hidden layer's width drawn
//              on its own), layers=1..4 (hidden layers), batch
//   cnn:       activation (relu by default), channels=WIDTHS (each convolution's drawn on
//              its own; default 8, 16, 32), layers=1..3 (convolutions, default 2), batch
//   quadratic: dist=uniform|normal, dims=1..64, batch
//   weight=W   (any component) draws it W times as often as a component of weight 1
// Keys left out take the values of `mlp` and `quadratic`. E.g.
//   mlp(activation=sigmoid|relu|tanh, hidden=10..64, layers=1..2),quadratic(dist=uniform|normal)
// A bad spec is refused with an l2o::Error naming the part; Fashion-MNIST is read once,
// when a component is an MLP or a CNN.
L2O_API std::unique_ptr<ProblemFamily> make_mixture_family(const std::string& spec,
                                                           const MlpOptions& mlp = {},
                                                           const QuadraticOptions& quadratic = {});

// Random scaling (Lv et al. 2017): f(c * theta) with c_i = spread^u_i, u_i uniform in
// [-1, 1] and drawn from `seed`, one per coordinate; theta_0 is f's divided by c, so the
// losses are f's along the way and each gradient coordinate is scaled by c_i. spread >= 1
// (1: no scaling). CPU optimizees only (an optimizee on a GPU is refused with a message).
L2O_API std::unique_ptr<Optimizee> make_scaled_optimizee(std::unique_ptr<Optimizee> f,
                                                         double spread, std::uint64_t seed);

}  // namespace l2o
