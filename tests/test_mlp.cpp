// The IDX loader on small files the test writes (and every refusal), and the MLP
// optimizee's gradient against central finite differences of a naive double-precision
// MLP written here.
#include "host/problems/mlp.hpp"
#include "l2o/checkpoint.hpp"
#include "l2o/data.hpp"
#include "l2o/error.hpp"
#include "l2o/evaluate.hpp"
#include "l2o/optimizer.hpp"
#include "l2o/problem.hpp"
#include "l2o/train.hpp"
#include "maths/random.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace l2o {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

Bytes idx(std::uint32_t magic, const std::vector<std::uint32_t>& sizes, const Bytes& data) {
  Bytes b;
  auto be = [&](std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(std::uint8_t(v >> s));
  };
  be(magic);
  for (auto s : sizes) be(s);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

class IdxTest : public ::testing::Test {
 protected:
  std::string path(const std::string& f) const { return tmp_.file(f); }
  void write(const std::string& f, const Bytes& b, bool gz) {
    if (gz) {
      gzFile g = gzopen(path(f).c_str(), "wb");
      gzwrite(g, b.data(), static_cast<unsigned>(b.size()));
      gzclose(g);
    } else {
      std::ofstream(path(f), std::ios::binary)
          .write(reinterpret_cast<const char*>(b.data()), b.size());
    }
  }
  std::string refusal(const Bytes& images, const Bytes& labels) {
    write("i", images, true);
    write("l", labels, true);
    try {
      load_idx(path("i"), path("l"));
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  testing::TempDir tmp_{"l2o_idx"};
};

const Bytes kPixels = {0, 255, 51, 102, 0, 0, 255, 255, 1, 2, 3, 4};  // 3 images of 2 x 2

// Sizes whose product overflows (or exceeds the documented maximum) are refused from the
// header, before anything is allocated; so is a FIFO; a gzip bomb (a small file that
// inflates far past its header's size) is read no further than the header's size.
TEST_F(IdxTest, HostileHeadersFifosAndGzipBombsAreRefusedCheaply) {
  const Bytes labels = idx(0x801, {2}, {1, 2});
  const std::string big = refusal(idx(0x803, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, {}), labels);
  EXPECT_NE(big.find("exceeds the 4294967296 bytes"), std::string::npos) << big;
  const std::string wide = refusal(idx(0x803, {2, 65536, 65536}, {}), labels);
  EXPECT_NE(wide.find("exceeds"), std::string::npos) << wide;
  const std::string pixels =
      refusal(idx(0x803, {2, 8192, 4096}, Bytes(2 * 8192 * 4096, 0)), labels);
  EXPECT_NE(pixels.find("at most 16777216 are read"), std::string::npos) << pixels;

  const std::string fifo = path("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  write("l", labels, true);
  try {
    load_idx(fifo, path("l"));
    ADD_FAILURE() << "a FIFO was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file (a FIFO)"), std::string::npos)
        << e.what();
  }

  // 2 images of 2 x 2 declared, 64 MB of zeros behind them.
  Bytes bomb = idx(0x803, {2, 2, 2}, Bytes(64u << 20, 0));
  const std::string r = refusal(bomb, labels);
  EXPECT_NE(r.find("holds more than 8 bytes of data, its header says 8 (trailing bytes)"),
            std::string::npos)
      << r;
}

TEST_F(IdxTest, ReadsGzipAndPlainFiles) {
  for (bool gz : {true, false}) {
    write("i", idx(0x803, {3, 2, 2}, kPixels), gz);
    write("l", idx(0x801, {3}, {7, 0, 9}), gz);
    const Dataset d = load_idx(path("i"), path("l"));
    EXPECT_EQ(d.count(), 3u);
    EXPECT_EQ(d.features(), 4);
    EXPECT_FLOAT_EQ(d.images[1], 1.0f);
    EXPECT_FLOAT_EQ(d.images[2], 0.2f);
    EXPECT_EQ(d.labels, (std::vector<std::uint8_t>{7, 0, 9}));
  }
}

TEST_F(IdxTest, RefusesDamagedFilesNamingThem) {
  const Bytes images = idx(0x803, {3, 2, 2}, kPixels), labels = idx(0x801, {3}, {1, 2, 3});
  std::string m = refusal(idx(0x802, {3, 2}, kPixels), labels);
  EXPECT_NE(m.find("not an IDX3"), std::string::npos) << m;
  EXPECT_NE(m.find(path("i")), std::string::npos) << m;
  m = refusal(Bytes(images.begin(), images.end() - 3), labels);
  EXPECT_NE(m.find("truncated"), std::string::npos) << m;
  m = refusal(Bytes(images.begin(), images.begin() + 6), labels);
  EXPECT_NE(m.find("truncated"), std::string::npos) << m;
  m = refusal(images, idx(0x801, {2}, {1, 2}));
  EXPECT_NE(m.find("3 images but"), std::string::npos) << m;
  m = refusal(images, idx(0x801, {3}, {1, 12, 3}));
  EXPECT_NE(m.find("label 12"), std::string::npos) << m;
  // A gzip stream cut short.
  write("i", images, true);
  write("l", labels, true);
  std::ifstream in(path("i"), std::ios::binary);
  Bytes gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(path("i"), std::ios::binary)
      .write(reinterpret_cast<const char*>(gz.data()), gz.size() - 6);
  EXPECT_THROW(load_idx(path("i"), path("l")), Error);
}

TEST_F(IdxTest, MissingFashionMnistNamesThePackage) {
  try {
    load_fashion_mnist("train", path("nowhere"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dataset-fashion-mnist"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("train-images-idx3-ubyte.gz"), std::string::npos);
  }
  EXPECT_THROW(load_fashion_mnist("validation", path("nowhere")), Error);
}

// A naive MLP in double: loss of one batch.
double ref_loss(const detail::MlpShape& s, const std::vector<double>& p,
                const std::vector<float>& x, const std::vector<std::uint8_t>& y, int rows) {
  double total = 0;
  for (int r = 0; r < rows; ++r) {
    std::vector<double> a(x.begin() + std::size_t(r) * s.dims[0],
                          x.begin() + std::size_t(r + 1) * s.dims[0]);
    for (int k = 0; k < s.layers(); ++k) {
      std::vector<double> z(s.dims[k + 1]);
      for (int j = 0; j < s.dims[k + 1]; ++j) {
        double v = p[s.b_offset(k) + j];
        for (int i = 0; i < s.dims[k]; ++i)
          v += p[s.w_offset(k) + std::size_t(j) * s.dims[k] + i] * a[i];
        if (k + 1 < s.layers())
          v = s.act == 0 ? 1 / (1 + std::exp(-v)) : s.act == 1 ? std::max(v, 0.0) : std::tanh(v);
        z[j] = v;
      }
      a = z;
    }
    double m = a[0], sum = 0;
    for (double v : a) m = std::max(m, v);
    for (double v : a) sum += std::exp(v - m);
    total += std::log(sum) + m - a[y[r]];
  }
  return total / rows;
}

TEST(Mlp, GradientMatchesFiniteDifferences) {
  for (int act : {0, 1, 2}) {
    SCOPED_TRACE("activation " + std::to_string(act));
    detail::MlpShape s;
    s.dims = {6, 5, 4, 10};
    s.act = act;
    const int rows = 7;
    Rng rng(act + 1);
    std::vector<float> theta(s.size()), x(rows * 6), grad(s.size());
    for (auto& v : theta) v = float(0.5 * rng.normal());
    for (auto& v : x) v = float(rng.uniform());
    std::vector<std::uint8_t> y(rows);
    for (auto& v : y) v = std::uint8_t(rng.below(10));
    const float loss =
        detail::mlp_loss_and_grad(s, theta.data(), x.data(), y.data(), rows, grad.data());
    std::vector<double> p(theta.begin(), theta.end());
    EXPECT_NEAR(loss, ref_loss(s, p, x, y, rows), 1e-5);
    // Central differences in double, h = 1e-6; l2o's gradient is fp32: 2e-5 absolute
    // plus 1e-3 relative. (ReLU kinks are not hit: no pre-activation lies within h of 0
    // for these seeds, or the difference would show it.)
    for (std::size_t k = 0; k < p.size(); ++k) {
      const double h = 1e-6, keep = p[k];
      p[k] = keep + h;
      const double up = ref_loss(s, p, x, y, rows);
      p[k] = keep - h;
      const double down = ref_loss(s, p, x, y, rows);
      p[k] = keep;
      const double fd = (up - down) / (2 * h);
      ASSERT_NEAR(grad[k], fd, 2e-5 + 1e-3 * std::fabs(fd)) << "parameter " << k;
    }
  }
}

std::shared_ptr<const Dataset> synthetic(int count, int features, std::uint64_t seed) {
  auto d = std::make_shared<Dataset>();
  d->rows = 1;
  d->cols = features;
  Rng rng(seed);
  for (int i = 0; i < count; ++i) {
    const int label = static_cast<int>(rng.below(10));
    d->labels.push_back(std::uint8_t(label));
    for (int f = 0; f < features; ++f)  // class-dependent means: learnable
      d->images.push_back(float(0.5 * rng.uniform() + (f % 10 == label ? 1.0 : 0.0)));
  }
  return d;
}

TEST(Mlp, OptimizeesAreSeededAndLearnable) {
  MlpOptions o;
  o.batch = 16;
  auto family = make_mlp_family(o, synthetic(300, 20, 1), synthetic(100, 20, 2));
  EXPECT_NE(family->describe().find("20-20-10 sigmoid"), std::string::npos) << family->describe();
  auto a = family->sample(5, Device::kCpu), b = family->sample(5, Device::kCpu),
       c = family->sample(6, Device::kCpu);
  ASSERT_EQ(a->size(), std::size_t(20 * 20 + 20 + 20 * 10 + 10));
  std::vector<float> ta(a->size()), tb(a->size()), tc(a->size()), g(a->size());
  a->initial_theta(ta.data(), nullptr);
  b->initial_theta(tb.data(), nullptr);
  c->initial_theta(tc.data(), nullptr);
  EXPECT_EQ(ta, tb);
  EXPECT_NE(ta, tc);
  float la, lb;
  a->loss_and_grad(ta.data(), g.data(), &la, nullptr);
  b->loss_and_grad(tb.data(), g.data(), &lb, nullptr);
  EXPECT_EQ(la, lb);
  EXPECT_NEAR(la, std::log(10.0), 0.05) << "N(0, 0.01^2) weights: near-uniform softmax";
  // SGD on held-out optimizees learns the class-dependent means.
  BaselineConfig sgd;
  sgd.kind = BaselineKind::kSgd;
  sgd.lr = 3.0f;
  const RunResult r =
      run_baseline(sgd, *family, optimizee_seeds(SeedDomain::kTest, 0, 2), 300, Device::kCpu);
  EXPECT_LT(r.mean_final(), 0.5 * std::log(10.0));
  EXPECT_GT(r.mean_score(), 0.5) << "test accuracy";
}

// LSTM-sub on the MLP: its groups are the hidden layers and the output layer;
// run_learned steps each with its own LSTM, which a loop written here (an optimizer per
// group on its slice, the output layer left alone by an LSTM whose weights are all
// zero) reproduces; a phi of other groups than the optimizee's is refused.
TEST(Mlp, LstmSubStepsEachGroupWithItsOwnLstm) {
  MlpOptions o;
  o.batch = 16;
  o.hidden = {12, 8};
  auto family = make_mlp_family(o, synthetic(300, 20, 1), synthetic(100, 20, 2));
  auto f = family->sample(3, Device::kCpu);
  const std::size_t hidden = 12 * 20 + 12 + 8 * 12 + 8, out = 10 * 8 + 10;
  ASSERT_EQ(f->groups(), (std::vector<std::size_t>{hidden, out}));

  OptimizerConfig cfg;
  cfg.hidden = 8;
  cfg.groups = 2;
  Weights phi(cfg);
  phi.set_group(0, Weights::initialise(cfg.single(), 5));  // group 1 all zero: no update
  const std::uint64_t seed = 3;
  const int steps = 12;
  const RunResult r = run_learned(phi, *family, {seed}, steps, Device::kCpu);
  // The loop written here.
  LstmOptimizer first(phi.group(0), Device::kCpu);
  const std::size_t n = f->size();
  std::vector<float> theta(n), grad(n), state(first.state_size(hidden), 0.0f);
  f->initial_theta(theta.data(), nullptr);
  const std::vector<float> theta0 = theta;
  float loss = 0.0f;
  for (int t = 0; t < steps; ++t) {
    f->loss_and_grad(theta.data(), grad.data(), &loss, nullptr);
    first.step(theta.data(), grad.data(), state.data(), hidden);
  }
  f->loss_and_grad(theta.data(), grad.data(), &loss, nullptr);
  EXPECT_EQ(std::vector<float>(theta.begin() + hidden, theta.end()),
            std::vector<float>(theta0.begin() + hidden, theta0.end()));
  EXPECT_NE(std::vector<float>(theta.begin(), theta.begin() + hidden),
            std::vector<float>(theta0.begin(), theta0.begin() + hidden));
  EXPECT_NEAR(r.final_loss[0], loss, 1e-6 * std::fabs(loss));
  OptimizerConfig three = cfg;
  three.groups = 3;
  try {
    run_learned(Weights(three), *family, {seed}, 2, Device::kCpu);
    ADD_FAILURE() << "a phi of 3 groups ran on an MLP of 2";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("2 parameter groups, phi 3 LSTMs"), std::string::npos)
        << e.what();
  }
  try {  // a quadratic is one group
    run_learned(Weights(three), *make_quadratic_family(QuadraticOptions{}), {seed}, 2,
                Device::kCpu);
    ADD_FAILURE() << "a phi of 3 groups ran on a quadratic";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has 1 parameter group, phi 3 LSTMs"), std::string::npos)
        << e.what();
  }
}

// Meta-training an LSTM-sub phi on the MLP from a phi of one LSTM (--init): the groups
// start alike and come out different, the file is format version 3 and loads, the
// training resumes exactly; a quadratic (one group) is refused.
TEST(Mlp, LstmSubMetaTrains) {
  testing::TempDir tmp("l2o_sub");
  MlpOptions mo;
  mo.batch = 16;
  auto family = make_mlp_family(mo, synthetic(300, 20, 1), synthetic(100, 20, 2));
  OptimizerConfig one;
  one.hidden = 8;
  save_weights(tmp.file("one.l2o"), Weights::initialise(one, 2));
  OptimizerConfig cfg = one;
  cfg.groups = 2;
  TrainOptions o;
  o.steps = 20;
  o.unroll = 10;
  o.epochs = 4;
  o.eval_every = 2;
  o.validation_optimizees = 2;
  o.device = Device::kCpu;
  o.adam.lr = 0.01;
  o.init = tmp.file("one.l2o");
  o.out = tmp.file("sub.l2o");
  train(cfg, *family, o);
  const Checkpoint whole = load_checkpoint(o.out + ".train");
  ASSERT_EQ(whole.phi.config(), cfg);
  EXPECT_NE(whole.phi.group(0).values(), whole.phi.group(1).values());
  EXPECT_EQ(load_weights(o.out).config().groups, 2);
  TrainOptions half = o;
  half.epochs = 2;
  half.out = tmp.file("half.l2o");
  train(cfg, *family, half);
  TrainOptions rest = o;
  rest.out = half.out;
  rest.resume = true;
  train(cfg, *family, rest);
  EXPECT_EQ(load_checkpoint(rest.out + ".train").phi.values(), whole.phi.values());
  TrainOptions pes = o;  // PES perturbs every group's weights
  pes.estimator = MetaEstimator::kPes;
  pes.pes.particles = 2;
  pes.out = tmp.file("pes.l2o");
  train(cfg, *family, pes);
  const Checkpoint p = load_checkpoint(pes.out + ".train");
  EXPECT_NE(p.phi.group(0).values(), p.phi.group(1).values());
  TrainOptions quad = o;
  quad.out = tmp.file("quad.l2o");
  try {
    train(cfg, *make_quadratic_family(QuadraticOptions{}), quad);
    ADD_FAILURE() << "an LSTM-sub phi trained on a quadratic";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("1 parameter group ("), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace l2o
