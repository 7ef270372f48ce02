// Meta-training end to end on small quadratics: it lowers the held-out loss, resuming
// continues exactly where a run stopped, and bad options are refused.
#include "l2o/checkpoint.hpp"
#include "l2o/error.hpp"
#include "l2o/evaluate.hpp"
#include "l2o/train.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

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

// Ranks simulated by threads of this process: allgather through shared memory, each call
// a rendezvous of all ranks (generation-counted, so consecutive calls cannot mix).
class ThreadRanks {
 public:
  explicit ThreadRanks(int size) : size_(size) {}
  class Rank final : public Collective {
   public:
    Rank(ThreadRanks& all, int r) : all_(all), r_(r) {}
    int rank() const override { return r_; }
    int size() const override { return all_.size_; }
    void allgather(const void* in, std::size_t bytes, void* out) override {
      std::unique_lock<std::mutex> lock(all_.m_);
      const long long gen = all_.generation_;
      if (all_.buffer_.size() != bytes * all_.size_) all_.buffer_.assign(bytes * all_.size_, 0);
      std::memcpy(all_.buffer_.data() + bytes * r_, in, bytes);
      if (++all_.arrived_ == all_.size_) {
        all_.result_ = all_.buffer_;
        all_.buffer_.clear();
        all_.arrived_ = 0;
        ++all_.generation_;
        all_.cv_.notify_all();
      } else {
        all_.cv_.wait(lock, [&] { return all_.generation_ != gen; });
      }
      std::memcpy(out, all_.result_.data(), bytes * all_.size_);
      // The last rank to copy lets the next call's first arrival reuse result_: rendezvous
      // again on the way out.
      const long long out_gen = all_.out_generation_;
      if (++all_.left_ == all_.size_) {
        all_.left_ = 0;
        ++all_.out_generation_;
        all_.cv_.notify_all();
      } else {
        all_.cv_.wait(lock, [&] { return all_.out_generation_ != out_gen; });
      }
    }

   private:
    ThreadRanks& all_;
    int r_;
  };

 private:
  int size_;
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<unsigned char> buffer_, result_;
  int arrived_ = 0, left_ = 0;
  long long generation_ = 0, out_generation_ = 0;
};

// train() with options o on R thread ranks, rank r calling before(r) first (to choose its
// GPU, say): per rank, the exchange its summary names, or the error it threw.
std::vector<std::string> train_on_ranks(int R, const OptimizerConfig& config,
                                        const ProblemFamily& family, const TrainOptions& o,
                                        const std::function<void(int)>& before = {}) {
  ThreadRanks ranks(R);
  std::vector<std::unique_ptr<ThreadRanks::Rank>> comm;
  for (int r = 0; r < R; ++r) comm.push_back(std::make_unique<ThreadRanks::Rank>(ranks, r));
  std::vector<std::string> result(R);
  std::vector<std::thread> threads;
  for (int r = 0; r < R; ++r)
    threads.emplace_back([&, r] {
      TrainOptions mine = o;
      mine.collective = comm[r].get();
      try {
        if (before) before(r);
        result[r] = train(config, family, mine).exchange;
      } catch (const std::exception& e) {
        result[r] = e.what();
      }
    });
  for (std::thread& t : threads) t.join();
  return result;
}

// A drawn option of o (horizons, truncation lengths): training with it (a meta-batch of 2)
// gives another phi than with `off` applied to o, and 2 thread ranks give the one process's
// phi. Outputs: stem + "1.l2o", "off.l2o", "2.l2o".
void expect_draws_change_phi_and_ranks_agree(const OptimizerConfig& config,
                                             const ProblemFamily& family, TrainOptions o,
                                             const std::function<void(TrainOptions&)>& off,
                                             const std::string& stem) {
  o.meta_batch = 2;
  o.out = stem + "1.l2o";
  train(config, family, o);
  TrainOptions without = o;
  off(without);
  without.out = stem + "off.l2o";
  train(config, family, without);
  EXPECT_NE(load_weights(o.out).values(), load_weights(without.out).values());
  TrainOptions on_ranks = o;
  on_ranks.out = stem + "2.l2o";
  EXPECT_EQ(train_on_ranks(2, config, family, on_ranks), std::vector<std::string>(2, "host"));
  EXPECT_EQ(load_weights(on_ranks.out).values(), load_weights(o.out).values());
}

// A meta-batch of B optimizees averages their meta-gradients; split over ranks, every rank
// ends with the same phi as one process with the same meta-batch, bit for bit (the
// gradients are summed in optimizee order whatever the ranks); only rank 0 writes.
TEST_F(TrainTest, RanksComputeWhatOneProcessComputes) {
  TrainOptions one = options(8, 4);
  one.meta_batch = 4;
  one.out = path("one.l2o");
  EXPECT_EQ(train(cfg_, *family_, one).exchange, "host");

  for (int R : {2, 3}) {
    TrainOptions o = options(8, 4);
    o.meta_batch = 4;
    const std::string out = o.out = path("ranks" + std::to_string(R) + ".l2o");
    const std::vector<std::string> result = train_on_ranks(R, cfg_, *family_, o);
    for (int r = 0; r < R; ++r) EXPECT_EQ(result[r], "host") << "rank " << r << " of " << R;
    EXPECT_EQ(load_weights(out).values(), load_weights(path("one.l2o")).values()) << R << " ranks";
    const Checkpoint got = load_checkpoint(out + ".train"),
                     want = load_checkpoint(path("one.l2o.train"));
    EXPECT_EQ(got.sections.at("ADAM"), want.sections.at("ADAM"));
    // The best validation score, from the validation set split over the ranks, to the bit.
    EXPECT_EQ(got.sections.at("TRNR"), want.sections.at("TRNR"));
  }
  // A meta-batch of 1 is the paper's procedure, unchanged; a larger one trains otherwise.
  TrainOptions b1 = options(8, 4);
  b1.out = path("b1.l2o");
  train(cfg_, *family_, b1);
  EXPECT_NE(load_weights(path("b1.l2o")).values(), load_weights(path("one.l2o")).values());
}

// Horizons drawn per optimizee: whole unrolls in [steps, steps_max], log-uniform (about
// half the draws below the geometric mean), a function of the seed; training runs to each
// optimizee's own horizon, the same on ranks as in one process.
TEST_F(TrainTest, HorizonsAreDrawnPerOptimizee) {
  TrainOptions o = options(8, 4);
  o.steps = 20;
  o.steps_max = 160;
  o.unroll = 10;
  std::map<int, int> seen;
  int below = 0;
  const int N = 2000;
  for (int i = 0; i < N; ++i) {
    const std::uint64_t seed = optimizee_seed(SeedDomain::kTrain, 0, i);
    const int h = training_horizon(seed, o);
    EXPECT_EQ(h, training_horizon(seed, o));
    EXPECT_EQ(h % 10, 0) << h;
    EXPECT_GE(h, 20);
    EXPECT_LE(h, 160);
    ++seen[h];
    below += h < 56.6;  // sqrt(20 * 160); rounded to tens, draws below 55 land below it
  }
  EXPECT_EQ(seen.size(), 15u);  // 20, 30, ..., 160
  // P(h < 56.6) = P(raw < 55) = log(55 / 20) / log(8) = 0.486; 5 standard deviations: 0.056.
  EXPECT_NEAR(below / double(N), std::log(2.75) / std::log(8.0), 0.056);
  TrainOptions plain = options(8, 4);
  EXPECT_EQ(training_horizon(1, plain), plain.steps);

  expect_draws_change_phi_and_ranks_agree(
      cfg_, *family_, o, [](TrainOptions& t) { t.steps_max = 0; }, path("h"));
  // A horizon that is not whole unrolls, or below steps, is refused.
  o.steps_max = 155;
  EXPECT_THROW(train(cfg_, *family_, o), Error);
  o.steps_max = 10;
  EXPECT_THROW(train(cfg_, *family_, o), Error);
}

// Truncation lengths drawn per optimizee: log-uniform in [unroll, unroll_max] (about half
// below the geometric mean), a function of the seed; each horizon is whole truncations of
// its length, the nearest to steps; training reaches the same phi on ranks as in one
// process; omega (T weights) and a maximum below unroll are refused.
TEST_F(TrainTest, UnrollLengthsAreDrawnPerOptimizee) {
  TrainOptions o = options(8, 4);
  o.steps = 40;
  o.unroll = 5;
  o.unroll_max = 40;
  std::map<int, int> seen;
  int below = 0;
  const int N = 2000;
  for (int i = 0; i < N; ++i) {
    const std::uint64_t seed = optimizee_seed(SeedDomain::kTrain, 0, i);
    const int T = training_unroll(seed, o), h = training_horizon(seed, o);
    EXPECT_EQ(T, training_unroll(seed, o));
    EXPECT_GE(T, 5);
    EXPECT_LE(T, 40);
    EXPECT_EQ(h % T, 0) << h << " " << T;
    EXPECT_LE(h, 40) << T;  // the nearest whole number of truncations, not past steps
    EXPECT_GT(h, 40 - T) << T;
    ++seen[T];
    below += T < 14.14;  // sqrt(5 * 40); rounded, raw draws below 13.5 land below it
  }
  EXPECT_EQ(seen.size(), 36u);  // 5, 6, ..., 40
  // P(T < 14.14) = P(raw < 13.5) = log(13.5 / 5) / log(8) = 0.478; 5 sigma: 0.056.
  EXPECT_NEAR(below / double(N), std::log(2.7) / std::log(8.0), 0.056);
  // With horizons drawn too: whole truncations, the two draws independent.
  TrainOptions both = o;
  both.steps_max = 400;
  for (int i = 0; i < 200; ++i) {
    const std::uint64_t seed = optimizee_seed(SeedDomain::kTrain, 0, i);
    EXPECT_EQ(training_horizon(seed, both) % training_unroll(seed, both), 0);
    EXPECT_LE(training_horizon(seed, both), 400);
  }
  EXPECT_EQ(training_unroll(1, options(8, 4)), 10);

  expect_draws_change_phi_and_ranks_agree(
      cfg_, *family_, o, [](TrainOptions& t) { t.unroll_max = 0; }, path("u"));
  TrainOptions resumed = o;  // another range is another run
  resumed.meta_batch = 2;
  resumed.out = path("u1.l2o");
  resumed.epochs = 10;
  resumed.resume = true;
  resumed.unroll_max = 20;
  EXPECT_THROW(train(cfg_, *family_, resumed), Error);
  o.omega.assign(5, 1.0f);
  EXPECT_THROW(train(cfg_, *family_, o), Error);
  o.omega.clear();
  o.unroll_max = 4;
  EXPECT_THROW(train(cfg_, *family_, o), Error);
  o.unroll_max = 41;  // longer than the horizon
  EXPECT_THROW(train(cfg_, *family_, o), Error);
}

// PES meta-training: reproducible, another phi than truncated backprop, and it learns (the
// held-out loss falls well below the untrained phi's); it is part of the run's identity,
// and a meta-batch (or ranks) is refused.
TEST_F(TrainTest, PesMetaTrainingLearnsAndRepeats) {
  const auto test = optimizee_seeds(SeedDomain::kTest, 0, 10);
  const double before =
      run_learned(Weights::initialise(cfg_, 3), *family_, test, 40, Device::kCpu).mean_final();
  TrainOptions o = options(60, 20);
  o.estimator = MetaEstimator::kPes;
  o.pes.particles = 8;
  o.pes.sigma = 0.01;
  o.out = path("pes.l2o");
  train(cfg_, *family_, o);
  const double after =
      run_learned(load_weights(o.out), *family_, test, 40, Device::kCpu).mean_final();
  EXPECT_LT(after, 0.5 * before) << "before " << before << ", after " << after;
  TrainOptions again = o;
  again.epochs = 6;
  again.eval_every = 3;
  again.out = path("pes2.l2o");
  train(cfg_, *family_, again);
  TrainOptions third = again;
  third.out = path("pes3.l2o");
  train(cfg_, *family_, third);
  EXPECT_EQ(load_weights(again.out).values(), load_weights(third.out).values());
  TrainOptions bptt = again;
  bptt.estimator = MetaEstimator::kTruncatedBackprop;
  bptt.out = path("bptt.l2o");
  train(cfg_, *family_, bptt);
  EXPECT_NE(load_weights(bptt.out).values(), load_weights(again.out).values());
  TrainOptions switched = bptt;  // resuming a truncated-backprop run with PES: refused
  switched.estimator = MetaEstimator::kPes;
  switched.epochs = 9;
  switched.resume = true;
  EXPECT_THROW(train(cfg_, *family_, switched), Error);
  TrainOptions batch = again;
  batch.meta_batch = 2;
  EXPECT_THROW(train(cfg_, *family_, batch), Error);
  batch.meta_batch = 1;
  batch.pes.particles = 3;
  EXPECT_THROW(train(cfg_, *family_, batch), Error);
  EXPECT_EQ(parse_estimator("pes"), MetaEstimator::kPes);
  EXPECT_EQ(to_string(parse_estimator("bptt")), "bptt");
  EXPECT_THROW(parse_estimator("es"), Error);
}

// Decoupled weight decay on phi: lr * decay = 1 leaves phi exactly zero after every
// meta-step (whose update then is zero: the learned part gone); a smaller decay shrinks
// phi against the same run without it; a negative one is refused.
TEST_F(TrainTest, PhiDecayShrinksTheLearnedPart) {
  TrainOptions o = options(4, 2);
  o.adam.lr = 1.0 / 128;  // lr * decay exactly 1, whether or not 1 - lr * decay is fused
  o.phi_decay = 128.0;
  train(cfg_, *family_, o);
  const Checkpoint zeroed = load_checkpoint(o.out + ".train");
  for (float w : zeroed.phi.values()) ASSERT_EQ(w, 0.0f);
  auto norm = [](const std::vector<float>& v) {
    double s = 0.0;
    for (float x : v) s += double(x) * x;
    return std::sqrt(s);
  };
  TrainOptions some = options(4, 2), none = options(4, 2);
  some.phi_decay = 5.0;
  some.out = path("some.l2o");
  none.out = path("none.l2o");
  train(cfg_, *family_, some);
  train(cfg_, *family_, none);
  EXPECT_LT(norm(load_checkpoint(some.out + ".train").phi.values()),
            0.9 * norm(load_checkpoint(none.out + ".train").phi.values()));
  o.phi_decay = -1.0;
  EXPECT_THROW(train(cfg_, *family_, o), Error);
  o.phi_decay = 129.0;  // lr * decay above 1: phi would change sign
  EXPECT_THROW(train(cfg_, *family_, o), Error);
  o.phi_decay = 10.0;
  o.lr_final = 0.2;  // the same, reached by the end of the run
  EXPECT_THROW(train(cfg_, *family_, o), Error);
}

// Random scaling of the training optimizees (Lv et al. 2017) changes what phi learns, is
// reproducible, is part of the run's identity (a resume with another spread is refused),
// and the options after the paper train: a warm start from a phi without them
// (extend_weights) and a phi with them all.
TEST_F(TrainTest, RandomScalingAndOptionsAfterThePaperTrain) {
  TrainOptions o = options(6, 3);
  o.random_scale = 10.0;
  o.out = path("scaled.l2o");
  train(cfg_, *family_, o);
  TrainOptions again = o;
  again.out = path("scaled2.l2o");
  train(cfg_, *family_, again);
  TrainOptions plain = o;
  plain.random_scale = 0.0;
  plain.out = path("plain.l2o");
  train(cfg_, *family_, plain);
  EXPECT_EQ(load_weights(o.out).values(), load_weights(again.out).values());
  EXPECT_NE(load_weights(o.out).values(), load_weights(plain.out).values());
  TrainOptions more = o;
  more.epochs = 9;
  more.resume = true;
  more.random_scale = 3.0;
  EXPECT_THROW(train(cfg_, *family_, more), Error);
  o.random_scale = 0.5;
  EXPECT_THROW(train(cfg_, *family_, o), Error);

  OptimizerConfig wide = cfg_;
  wide.moment_inputs = true;
  wide.bounded_output = true;
  wide.nominal_lr = 0.01f;
  TrainOptions warm = plain;
  warm.init = plain.out;
  warm.out = path("wide.l2o");
  const TrainSummary s = train(wide, *family_, warm);
  EXPECT_TRUE(std::isfinite(s.best_validation));
  const Weights w = load_weights(warm.out);
  EXPECT_EQ(w.config(), wide);
  OptimizerConfig other = wide;
  other.hidden = cfg_.hidden == 8 ? 16 : 8;
  warm.out = path("other.l2o");
  EXPECT_THROW(train(other, *family_, warm), Error);
}

// A mixture's optimizees differ in size from one meta-batch to the next (the unrollers are
// made again); the ranks still compute the one-process phi, and a run repeats bit for bit.
TEST_F(TrainTest, MixturesOfSizesTrainAlikeOnRanks) {
  const auto mixture = make_mixture_family("quadratic(dims=2..6, batch=16)");
  TrainOptions one = options(8, 4);
  one.meta_batch = 2;
  one.out = path("one.l2o");
  train(cfg_, *mixture, one);
  TrainOptions again = one;
  again.out = path("again.l2o");
  train(cfg_, *mixture, again);
  EXPECT_EQ(load_weights(again.out).values(), load_weights(one.out).values());

  TrainOptions on_ranks = one;
  on_ranks.out = path("ranks.l2o");
  EXPECT_EQ(train_on_ranks(2, cfg_, *mixture, on_ranks), std::vector<std::string>(2, "host"));
  EXPECT_EQ(load_weights(on_ranks.out).values(), load_weights(one.out).values());
}

// The NCCL exchange keeps the meta-gradients on the GPUs and gives the host exchange's phi,
// bit for bit: checked with one GPU through its code path as one rank, and with two or
// more as thread ranks, one GPU each. Ranks sharing a GPU: refused for nccl, the host
// exchange for auto.
TEST_F(TrainTest, NcclExchangeGivesTheHostExchangesPhi) {
  std::string why;
  if (!cuda_available(&why)) GTEST_SKIP() << "no usable CUDA device: " << why;
  if (!L2O_WITH_NCCL) GTEST_SKIP() << "l2o was built without NCCL";
  TrainOptions host = options(8, 4);
  host.device = Device::kCuda;
  host.meta_batch = 4;
  host.exchange = Exchange::kHost;
  host.out = path("host.l2o");
  EXPECT_EQ(train(cfg_, *family_, host).exchange, "host");
  TrainOptions nccl = host;
  nccl.exchange = Exchange::kNccl;
  nccl.out = path("nccl.l2o");
  EXPECT_EQ(train(cfg_, *family_, nccl).exchange, "nccl");
  auto expect_same = [&](const std::string& out, const std::string& what) {
    EXPECT_EQ(load_weights(out).values(), load_weights(host.out).values()) << what;
    const Checkpoint got = load_checkpoint(out + ".train"),
                     want = load_checkpoint(host.out + ".train");
    EXPECT_EQ(got.sections.at("ADAM"), want.sections.at("ADAM")) << what;
    EXPECT_EQ(got.sections.at("TRNR"), want.sections.at("TRNR")) << what;
  };
  expect_same(nccl.out, "one rank over NCCL");

  // R thread ranks on the GPUs `gpu(r)` with exchange `e`: their exchange, or the error.
  auto run_ranks = [&](int R, std::function<int(int)> gpu, Exchange e, const std::string& out) {
    TrainOptions o = host;
    o.exchange = e;
    o.out = out;
    return train_on_ranks(R, cfg_, *family_, o, [&](int r) { set_cuda_device(gpu(r)); });
  };
  const auto first = [](int) { return 0; };
  for (const std::string& r : run_ranks(2, first, Exchange::kNccl, path("shared.l2o")))
    EXPECT_NE(r.find("ranks 0 and 1 share the GPU"), std::string::npos) << r;
  for (const std::string& r : run_ranks(2, first, Exchange::kAuto, path("auto.l2o")))
    EXPECT_EQ(r, "host");
  expect_same(path("auto.l2o"), "two ranks on one GPU, host exchange");

  const int gpus = cuda_device_count();
  if (gpus < 2)
    GTEST_SKIP() << "one rank checked through the NCCL path; ranks on GPUs of their own need "
                    "two GPUs, this machine has "
                 << gpus;
  const int R = std::min(gpus, 4);
  for (const std::string& r : run_ranks(
           R, [](int r) { return r; }, Exchange::kAuto, path("ranks.l2o")))
    EXPECT_EQ(r, "nccl");
  expect_same(path("ranks.l2o"), std::to_string(R) + " ranks over NCCL");
}

TEST_F(TrainTest, MetaBatchesAndRanksAreChecked) {
  TrainOptions o = options(4, 2);
  o.meta_batch = 0;
  EXPECT_THROW(train(cfg_, *family_, o), Error);
  ThreadRanks ranks(3);
  ThreadRanks::Rank r0(ranks, 0);
  o = options(4, 2);
  o.meta_batch = 2;
  o.collective = &r0;
  try {
    train(cfg_, *family_, o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("smaller than the 3 ranks"), std::string::npos)
        << e.what();
  }
  // Resuming with another meta-batch than the run's is refused.
  o = options(4, 2);
  o.meta_batch = 2;
  o.epochs = 2;
  train(cfg_, *family_, o);
  o.epochs = 4;
  o.resume = true;
  o.meta_batch = 1;
  EXPECT_THROW(train(cfg_, *family_, o), Error);
  o.meta_batch = 2;
  EXPECT_EQ(train(cfg_, *family_, o).epochs_run, 2);
  // The NCCL exchange needs GPUs (and a build with NCCL).
  o = options(2, 2);
  o.exchange = Exchange::kNccl;
  try {
    train(cfg_, *family_, o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exchange nccl"), std::string::npos) << e.what();
  }
  EXPECT_EQ(to_string(parse_exchange("nccl")), "nccl");
  EXPECT_THROW(parse_exchange("mpi"), Error);
}

}  // namespace
}  // namespace l2o
