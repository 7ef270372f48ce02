// The MLP optimizee on the CPU: matrix products with a BLAS (OpenBLAS through CBLAS),
// the per-element work (activations, softmax cross-entropy) from mlp_math.hpp.
#include "host/problems/mlp.hpp"

#include "host/fail.hpp"
#include "l2o/error.hpp"
#include "maths/mlp_math.hpp"
#include "maths/random.hpp"

#include <cblas.h>

#include <cstring>
#include <sstream>

namespace l2o {

std::string to_string(MlpOptions::Activation a) {
  switch (a) {
    case MlpOptions::Activation::kSigmoid:
      return "sigmoid";
    case MlpOptions::Activation::kRelu:
      return "relu";
    case MlpOptions::Activation::kTanh:
      return "tanh";
  }
  return "?";
}

MlpOptions::Activation parse_activation(const std::string& name) {
  for (auto a : {MlpOptions::Activation::kSigmoid, MlpOptions::Activation::kRelu,
                 MlpOptions::Activation::kTanh})
    if (name == to_string(a)) return a;
  fail("activation '", name, "': expected sigmoid, relu or tanh");
}

namespace detail {

// Activations of every layer for `rows` inputs (acts[0] = x); returns the logits.
static const float* mlp_logits(const MlpShape& s, const float* theta, const float* x, int rows,
                               std::vector<std::vector<float>>& acts) {
  const int L = s.layers();
  acts.resize(L + 1);
  acts[0].assign(x, x + std::size_t(rows) * s.dims[0]);
  for (int k = 0; k < L; ++k) {
    const int in = s.dims[k], out = s.dims[k + 1];
    std::vector<float>& z = acts[k + 1];
    z.resize(std::size_t(rows) * out);
    const float* b = theta + s.b_offset(k);
    for (int r = 0; r < rows; ++r) std::memcpy(&z[std::size_t(r) * out], b, out * sizeof(float));
    // Z = A W^T + b  (A: rows x in, W: out x in, both row-major)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, acts[k].data(), in,
                theta + s.w_offset(k), in, 1.0f, z.data(), out);
    if (k + 1 < L)
      for (float& v : z) v = mlp::activate(s.act, v);  // hidden layers keep only act(z)
  }
  return acts[L].data();
}

void draw_minibatch(const Dataset& d, std::uint64_t seed, std::uint64_t call, int B,
                    std::vector<float>& x, std::vector<std::uint8_t>& labels) {
  const int F = d.features();
  x.resize(std::size_t(B) * F);
  labels.resize(B);
  for (int b = 0; b < B; ++b) {
    const std::uint32_t i = mlp::minibatch_index(seed, call, b, std::uint32_t(d.count()));
    std::memcpy(&x[std::size_t(b) * F], &d.images[std::size_t(i) * F], F * sizeof(float));
    labels[b] = d.labels[i];
  }
}

float mlp_loss_and_grad(const MlpShape& s, const float* theta, const float* x,
                        const std::uint8_t* y, int rows, float* grad) {
  std::vector<std::vector<float>> acts;
  const int L = s.layers(), C = s.dims.back();
  const float* z = mlp_logits(s, theta, x, rows, acts);
  std::vector<float> delta(std::size_t(rows) * C);
  double total = 0.0;
  for (int r = 0; r < rows; ++r)
    total +=
        mlp::softmax_xent(z + std::size_t(r) * C, C, y[r], 1.0f / rows, &delta[std::size_t(r) * C]);
  for (int k = L - 1; k >= 0 && grad; --k) {
    const int in = s.dims[k], out = s.dims[k + 1];
    // dW = delta^T A_k (out x in), db = column sums of delta.
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, rows, 1.0f, delta.data(), out,
                acts[k].data(), in, 0.0f, grad + s.w_offset(k), in);
    float* db = grad + s.b_offset(k);
    std::fill(db, db + out, 0.0f);
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < out; ++j) db[j] += delta[std::size_t(r) * out + j];
    if (k == 0) break;
    // dA = delta W (rows x in), then through layer k's activation (a = act(z); for ReLU
    // z > 0 exactly when a > 0).
    std::vector<float> next(std::size_t(rows) * in);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, in, out, 1.0f, delta.data(), out,
                theta + s.w_offset(k), in, 0.0f, next.data(), in);
    const std::vector<float>& a = acts[k];
    for (std::size_t e = 0; e < next.size(); ++e) next[e] *= mlp::activate_grad(s.act, a[e], a[e]);
    delta.swap(next);
  }
  return static_cast<float>(total / rows);
}

namespace {

class CpuMlp final : public Optimizee {
 public:
  CpuMlp(const MlpShape& shape, const MlpData& data, std::vector<float> theta0, std::uint64_t seed)
      : s_(shape), data_(data), theta0_(std::move(theta0)), seed_(seed) {}

  std::size_t size() const override { return s_.size(); }
  std::vector<std::size_t> groups() const override { return s_.groups(); }
  Device device() const override { return Device::kCpu; }
  void initial_theta(float* theta, Stream) override {
    std::memcpy(theta, theta0_.data(), theta0_.size() * sizeof(float));
  }

  void loss_and_grad(const float* theta, float* grad, float* loss, Stream) override {
    draw_minibatch(*data_.train, seed_, calls_++, s_.batch, x_, labels_);
    *loss = mlp_loss_and_grad(s_, theta, x_.data(), labels_.data(), s_.batch, grad);
  }

  // Accuracy on the test split, in chunks.
  double score(const float* theta) override {
    const Dataset& d = *data_.test;
    const int F = s_.dims[0];
    std::vector<std::vector<float>> acts;
    return test_accuracy(d, 1000, s_.dims.back(), [&](std::size_t start, int rows) {
      return mlp_logits(s_, theta, &d.images[start * F], rows, acts);
    });
  }

 private:
  MlpShape s_;
  MlpData data_;
  std::vector<float> theta0_;
  std::uint64_t seed_, calls_ = 0;
  std::vector<float> x_;
  std::vector<std::uint8_t> labels_;
};

class MlpFamily final : public ProblemFamily {
 public:
  MlpFamily(const MlpOptions& o, MlpData data) : o_(o), data_(std::move(data)) {
#if defined(OPENBLAS_VERSION)
    // The MLP's products are small (a minibatch of 128 rows) and run between l2o's OpenMP
    // regions; OpenBLAS's own threads would only contend with them (measured: 1.8x slower
    // meta-training on 2 cores).
    openblas_set_num_threads(1);
#endif
    if (!data_.train || !data_.test || data_.train->count() == 0) fail("mlp: no training data");
    if (o.hidden.empty()) fail("mlp: at least one hidden layer is expected");
    for (int h : o.hidden)
      if (h < 1 || h > 4096) fail("mlp: hidden width ", h, ", expected 1..4096");
    if (o.batch < 1) fail("mlp: batch = ", o.batch, ", expected at least 1");
    if (!(o.init_std >= 0)) fail("mlp: init std ", o.init_std, ", expected >= 0");
    if (data_.test->features() != data_.train->features())
      fail("mlp: train and test images differ in size");
    shape_.dims.push_back(data_.train->features());
    for (int h : o.hidden) shape_.dims.push_back(h);
    shape_.dims.push_back(10);
    shape_.act = static_cast<int>(o.activation);
    shape_.batch = o.batch;
  }

  std::string describe() const override {
    std::ostringstream os;
    os << "Fashion-MNIST MLP " << shape_.dims[0];
    for (int h : o_.hidden) os << "-" << h;
    os << "-10 " << to_string(o_.activation) << ", batch " << o_.batch << " (" << shape_.size()
       << " parameters)";
    return os.str();
  }

  std::unique_ptr<Optimizee> sample(std::uint64_t seed, Device device) const override {
    std::vector<float> theta0(shape_.size());
    Rng rng(seed);
    for (float& v : theta0) v = static_cast<float>(o_.init_std * rng.normal());
    const std::uint64_t stream = rng.next();  // the minibatch stream's seed
    if (resolve(device) == Device::kCuda) {
#if L2O_WITH_CUDA
      return make_cuda_mlp(shape_, data_, std::move(theta0), stream);
#endif
    }
    return std::make_unique<CpuMlp>(shape_, data_, std::move(theta0), stream);
  }

 private:
  MlpOptions o_;
  MlpData data_;
  MlpShape shape_;
};

}  // namespace
}  // namespace detail

std::unique_ptr<ProblemFamily> make_mlp_family(const MlpOptions& options,
                                               std::shared_ptr<const Dataset> train,
                                               std::shared_ptr<const Dataset> test) {
  return std::make_unique<detail::MlpFamily>(options,
                                             detail::MlpData{std::move(train), std::move(test)});
}

std::unique_ptr<ProblemFamily> make_mlp_family(const MlpOptions& options) {
  auto train = std::make_shared<const Dataset>(load_fashion_mnist("train", options.data_dir));
  auto test = std::make_shared<const Dataset>(load_fashion_mnist("test", options.data_dir));
  return make_mlp_family(options, std::move(train), std::move(test));
}

}  // namespace l2o
