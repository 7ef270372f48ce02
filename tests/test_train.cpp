// Meta-training end to end on small quadratics: it lowers the held-out loss, resuming
// continues exactly where a run stopped, and bad options are refused.
#include "l2o/checkpoint.hpp"
#include "l2o/error.hpp"
#include "l2o/evaluate.hpp"
#include "l2o/train.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <omp.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

namespace l2o {
namespace {

namespace fs = std::filesystem;

class TrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    q_.batch = 32;
    family_ = make_quadratic_family(q_);
    cfg_.preprocess = Preprocess::kNone;
    cfg_.output_scale = 1.0f;
    cfg_.hidden = 8;
  }
  std::string path(const std::string& f) const { return tmp_.file(f); }

  TrainOptions options(long long epochs, int eval_every) const {
    TrainOptions o;
    o.steps = 40;
    o.unroll = 10;
    o.epochs = epochs;
    o.eval_every = eval_every;
    o.validation_optimizees = 5;
    o.device = Device::kCpu;
    o.seed = 3;
    o.adam.lr = 0.01;
    o.out = path("phi.l2o");
    return o;
  }

  testing::TempDir tmp_{"l2o_train"};
  QuadraticOptions q_;
  std::unique_ptr<ProblemFamily> family_;
  OptimizerConfig cfg_;
};

TEST_F(TrainTest, ShortTrainingLowersTheHeldOutLoss) {
  const auto test = optimizee_seeds(SeedDomain::kTest, 0, 10);
  const double before =
      run_learned(Weights::initialise(cfg_, 3), *family_, test, 40, Device::kCpu).mean_final();
  const TrainSummary s = train(cfg_, *family_, options(60, 20));
  EXPECT_EQ(s.epochs_run, 60);
  const Weights phi = load_weights(path("phi.l2o"), cfg_);
  const double after = run_learned(phi, *family_, test, 40, Device::kCpu).mean_final();
  // The untrained LSTM barely moves theta (or diverges); 60 epochs must at least halve
  // the held-out loss (seeded: this run reaches far more than that).
  EXPECT_LT(after, 0.5 * before) << "before " << before << ", after " << after;
  EXPECT_TRUE(std::isfinite(s.best_validation));
  EXPECT_TRUE(fs::exists(path("phi.l2o.train")));
}

TEST_F(TrainTest, ResumeContinuesExactly) {
  TrainOptions o = options(6, 3);
  train(cfg_, *family_, o);
  const Checkpoint whole = load_checkpoint(path("phi.l2o.train"));

  TrainOptions first = options(3, 3);
  first.out = path("part.l2o");
  train(cfg_, *family_, first);
  TrainOptions rest = options(6, 3);
  rest.out = path("part.l2o");
  rest.resume = true;
  const TrainSummary s = train(cfg_, *family_, rest);
  EXPECT_EQ(s.epochs_run, 3);
  const Checkpoint resumed = load_checkpoint(path("part.l2o.train"));
  EXPECT_EQ(resumed.phi.values(), whole.phi.values());
  EXPECT_EQ(resumed.sections.at("ADAM"), whole.sections.at("ADAM"));
  EXPECT_EQ(load_weights(path("part.l2o")).values(), load_weights(path("phi.l2o")).values());
}

// Meta-training computes the same phi on any number of threads: the CPU meta-gradient
// is reduced over fixed slices of the coordinates (host/cpu/unroll.cpp), and the default
// 2 x 20 LSTM with n = 1,280 quadratic coordinates spreads over several slices.
TEST_F(TrainTest, ResultsDoNotDependOnTheThreadCount) {
  auto family = make_quadratic_family(QuadraticOptions{});
  std::vector<std::vector<float>> phis;
  const int before = omp_get_max_threads();
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    TrainOptions o = options(4, 2);
    o.out = path("threads" + std::to_string(threads) + ".l2o");
    train(OptimizerConfig{}, *family, o);
    phis.push_back(load_weights(o.out).values());
  }
  omp_set_num_threads(before);
  EXPECT_EQ(phis[0], phis[1]);
  EXPECT_EQ(phis[0], phis[2]);
}

// What --resume reads is checked: a training state whose best phi holds a NaN (it would
// become an unloadable --out) is refused; --clip given on resume is the one used from then
// on (it is saved in the ADAM section).
TEST_F(TrainTest, ResumeRefusesANonFiniteBestAndHonoursClip) {
  train(cfg_, *family_, options(2, 1));
  Checkpoint ck = load_checkpoint(path("phi.l2o.train"));
  Checkpoint bad = ck;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(bad.sections.at("BEST").data() + 4 * 3, &nan, 4);
  save_checkpoint(path("phi.l2o.train"), bad);
  TrainOptions more = options(4, 1);
  more.resume = true;
  try {
    train(cfg_, *family_, more);
    FAIL() << "a NaN best phi was resumed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("BEST weight 3 is nan"), std::string::npos) << e.what();
  }
  save_checkpoint(path("phi.l2o.train"), ck);
  more.adam.clip_norm = 0.25;
  train(cfg_, *family_, more);
  const Checkpoint after = load_checkpoint(path("phi.l2o.train"));
  EXPECT_EQ(MetaAdam::deserialise(after.sections.at("ADAM"), after.phi.size()).options().clip_norm,
            0.25);
}

TEST_F(TrainTest, BadOptionsAreRefused) {
  TrainOptions o = options(2, 1);
  o.steps = 45;  // not a multiple of unroll = 10
  try {
    train(cfg_, *family_, o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a multiple of unroll"), std::string::npos);
  }
  o = options(2, 1);
  o.resume = true;
  EXPECT_THROW(train(cfg_, *family_, o), Error);  // nothing to resume
  EXPECT_FALSE(fs::exists(path("phi.l2o")));
  // Resuming with another seed than the checkpoint's is refused.
  train(cfg_, *family_, options(2, 1));
  o = options(4, 1);
  o.resume = true;
  o.seed = 4;
  EXPECT_THROW(train(cfg_, *family_, o), Error);
}

}  // namespace
}  // namespace l2o
