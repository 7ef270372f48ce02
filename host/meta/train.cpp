#include "l2o/train.hpp"

#include "host/fail.hpp"
#include "host/meta/exchange.hpp"
#include "host/meta/sums.hpp"
#include "host/nvtx.hpp"
#include "l2o/checkpoint.hpp"
#include "l2o/error.hpp"
#include "l2o/evaluate.hpp"
#include "maths/random.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <sstream>

namespace l2o {
namespace {

// The "TRNR" section: where training stands.
struct TrainerState {
  std::uint64_t epoch = 0;  // epochs completed
  double best_validation = std::numeric_limits<double>::infinity();
  std::uint64_t best_epoch = 0;
  std::uint64_t seed = 0;
  std::uint64_t skipped = 0;
  std::uint64_t steps = 0, unroll = 0;
};

std::vector<std::uint8_t> to_bytes(const TrainerState& s) {
  std::vector<std::uint8_t> b(sizeof s);
  std::memcpy(b.data(), &s, sizeof s);
  return b;
}

TrainerState from_bytes(const std::vector<std::uint8_t>& b, const std::string& path) {
  TrainerState s;
  if (b.size() != sizeof s)
    fail("training checkpoint '", path, "': TRNR section of ", b.size(), " bytes, expected ",
         sizeof s);
  std::memcpy(&s, b.data(), sizeof s);
  return s;
}

std::vector<std::uint8_t> floats_to_bytes(const std::vector<float>& v) {
  std::vector<std::uint8_t> b(v.size() * sizeof(float));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// What a resumed run must share with the run it continues, beyond phi's configuration
// and the seed, steps and unroll of the TRNR section: the problem (with its options), the
// validation set and the loss weights. Stored as text in the RUN section. What may change
// on resume: the number of epochs (to extend a run), the meta learning rate and its decay,
// --clip, --phi-decay (settings of the meta-optimizer, as the learning rate), the device,
// --eval-every.
std::string run_identity(const ProblemFamily& family, const TrainOptions& o) {
  std::ostringstream os;
  os << "problem: " << family.describe() << "\nvalidation: " << o.validation_optimizees
     << " optimizees, seed " << o.validation_seed << "\nomega:";
  if (o.omega.empty()) os << " all 1";
  for (float w : o.omega) os << " " << w;
  if (o.meta_batch != 1) os << "\nmeta-batch: " << o.meta_batch;  // (1 before there was one)
  if (o.steps_max != 0) os << "\nhorizons: " << o.steps << ".." << o.steps_max;
  if (o.random_scale != 0) os << "\nrandom scale: " << o.random_scale;
  if (o.unroll_max > o.unroll) os << "\nunroll lengths: " << o.unroll << ".." << o.unroll_max;
  if (o.estimator != MetaEstimator::kTruncatedBackprop)
    os << "\nmeta-gradient: " << to_string(o.estimator) << ", " << o.pes.particles
       << " particles, sigma " << o.pes.sigma;
  return os.str();
}

// The folder of `path` exists and is writable, and `path` is not a folder: checked before
// any work, so that a run does not fail at its first checkpoint.
void check_output(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    fail("train: the folder of the output '", path, "' (", dir.string(), ") does not exist");
  if (::access(dir.c_str(), W_OK) != 0)
    fail("train: the folder of the output '", path, "' (", dir.string(), ") is not writable");
  if (fs::is_directory(p, ec)) fail("train: the output '", path, "' is a folder");
}

void validate_options(const TrainOptions& o) {
  if (o.steps < 1) fail("train: steps = ", o.steps, ", expected at least 1");
  if (o.unroll < 1) fail("train: unroll = ", o.unroll, ", expected at least 1");
  if (o.steps % o.unroll != 0)
    fail("train: steps = ", o.steps, " is not a multiple of unroll = ", o.unroll);
  if (o.epochs < 1) fail("train: epochs = ", o.epochs, ", expected at least 1");
  if (o.eval_every < 1) fail("train: eval_every = ", o.eval_every, ", expected at least 1");
  if (o.validation_optimizees < 1)
    fail("train: validation optimizees = ", o.validation_optimizees, ", expected at least 1");
  if (o.out.empty()) fail("train: no output file given");
  check_output(o.out);
  if (!(o.lr_final >= 0) || !std::isfinite(o.lr_final))
    fail("train: lr_final = ", o.lr_final, ", expected a finite value >= 0 (0: constant)");
  if (o.meta_batch < 1) fail("train: meta_batch = ", o.meta_batch, ", expected at least 1");
  if (o.steps_max != 0 && (o.steps_max < o.steps || o.steps_max % o.unroll != 0))
    fail("train: steps_max = ", o.steps_max, ", expected 0 or a multiple of unroll = ", o.unroll,
         " of at least steps = ", o.steps);
  if (o.random_scale != 0 && !(std::isfinite(o.random_scale) && o.random_scale >= 1))
    fail("train: random_scale = ", o.random_scale, ", expected 0 (none) or a finite number >= 1");
  if (o.unroll_max != 0 && o.unroll_max < o.unroll)
    fail("train: unroll_max = ", o.unroll_max,
         ", expected 0 (fixed) or at least unroll = ", o.unroll);
  if (o.unroll_max > std::max(o.steps, o.steps_max))
    fail("train: unroll_max = ", o.unroll_max, " is longer than the longest horizon, ",
         std::max(o.steps, o.steps_max), " steps");
  if (o.unroll_max != 0 && !o.omega.empty())
    fail("train: omega weighs ", o.omega.size(),
         " steps; with unroll lengths drawn (unroll_max = ", o.unroll_max, ") there is no one T");
  if (!(o.phi_decay >= 0) || !std::isfinite(o.phi_decay))
    fail("train: phi_decay = ", o.phi_decay, ", expected a finite value >= 0 (0: none)");
  // phi *= 1 - lr * phi_decay must shrink phi at every learning rate of the run.
  if (o.phi_decay * std::max(o.adam.lr, o.lr_final) > 1)
    fail("train: phi_decay = ", o.phi_decay, " times the meta learning rate (up to ",
         std::max(o.adam.lr, o.lr_final), ") is above 1: phi would change sign");
  if (o.estimator == MetaEstimator::kPes) {
    if (o.meta_batch != 1 || o.collective)
      fail(
          "train: the PES estimator runs in one process with meta_batch 1 (its particles are "
          "the batch); meta_batch = ",
          o.meta_batch, o.collective ? ", with a collective" : "");
    if (o.pes.particles < 2 || o.pes.particles % 2 != 0)
      fail("train: PES particles = ", o.pes.particles, ", expected an even number >= 2");
    if (!(o.pes.sigma > 0) || !std::isfinite(o.pes.sigma))
      fail("train: PES sigma = ", o.pes.sigma, ", expected a finite value > 0");
  }
  if (o.collective) {
    const int R = o.collective->size(), r = o.collective->rank();
    if (R < 1 || r < 0 || r >= R) fail("train: collective rank ", r, " of ", R, " ranks");
    if (o.meta_batch < R)
      fail("train: meta_batch = ", o.meta_batch, " is smaller than the ", R,
           " ranks: every rank needs an optimizee of each meta-batch");
  }
}

// Validation runs the longest horizon trained for.
int validation_horizon(const TrainOptions& o) {
  return o.steps_max ? o.steps_max : o.steps;
}

// FNV-1a of phi's bytes: compared across ranks, which must hold the same phi.
std::uint64_t phi_hash(const Weights& phi) {
  std::uint64_t h = 1469598103934665603ull;
  const auto* b = reinterpret_cast<const unsigned char*>(phi.values().data());
  for (std::size_t i = 0; i < phi.size() * sizeof(float); ++i) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

// The validation of a data-parallel job: rank r runs the validation optimizees i with
// i % R == r, one at a time, and the ranks gather each one's initial and final loss and
// combine them in optimizee order, as run_learned does over all of them: the same score,
// bit for bit, as one process. (Only mean_loss.front() and final_loss are filled: all
// train reads.)
RunResult split_validation(const Weights& phi, const ProblemFamily& family, const TrainOptions& o,
                           Device device, Collective& c) {
  const int R = c.size(), rank = c.rank(), N = o.validation_optimizees;
  const std::vector<std::uint64_t> seeds =
      optimizee_seeds(SeedDomain::kValidation, o.validation_seed, N);
  const int per = (N + R - 1) / R;
  std::vector<double> mine(2 * static_cast<std::size_t>(per), 0.0), all(mine.size() * R);
  for (int i = rank, k = 0; i < N; i += R, ++k) {
    const RunResult one = run_learned(phi, family, {seeds[i]}, validation_horizon(o), device);
    mine[2 * k] = one.mean_loss.front();
    mine[2 * k + 1] = one.final_loss.front();
  }
  c.allgather(mine.data(), mine.size() * sizeof(double), all.data());
  RunResult r;
  r.mean_loss.assign(1, 0.0);
  for (int i = 0; i < N; ++i) {
    const double* p = all.data() + 2 * (static_cast<std::size_t>(i % R) * per + i / R);
    r.mean_loss[0] += p[0] / seeds.size();
    r.final_loss.push_back(p[1]);
  }
  return r;
}

}  // namespace

int training_unroll(std::uint64_t seed, const TrainOptions& o) {
  if (o.unroll_max <= o.unroll) return o.unroll;
  // Log-uniform in [unroll, unroll_max], from the seed alone (another constant than the
  // horizon's: the two draws are independent).
  const double u = unit_interval(splitmix64(seed + 0x756E726F6C6C5421ull));
  const double T = o.unroll * std::pow(double(o.unroll_max) / o.unroll, u);
  return std::min(std::max(static_cast<int>(std::lround(T)), o.unroll), o.unroll_max);
}

int training_horizon(std::uint64_t seed, const TrainOptions& o) {
  const int T = training_unroll(seed, o);
  // A drawn truncation length: the whole number of truncations nearest to the horizon h,
  // at least one and never past the longest horizon (validate_options: T fits in it).
  auto whole = [&](double h) {
    const int most = std::max(o.steps, o.steps_max) / T;
    return std::min(std::max(1, static_cast<int>(std::lround(h / T))), most) * T;
  };
  if (o.steps_max <= o.steps) return T == o.unroll ? o.steps : whole(o.steps);
  // Log-uniform in [steps, steps_max], from the seed alone (SplitMix64 of a value no other
  // draw of this seed uses), rounded to the nearest whole number of unrolls.
  const double u = unit_interval(splitmix64(seed + 0x686F72697A6F6E21ull));
  const double h = o.steps * std::pow(double(o.steps_max) / o.steps, u);
  if (T != o.unroll) return whole(h);
  const int steps = static_cast<int>(std::lround(h / o.unroll)) * o.unroll;
  return std::min(std::max(steps, o.steps), o.steps_max);
}

std::string to_string(MetaEstimator e) {
  return e == MetaEstimator::kPes ? "pes" : "bptt";
}

MetaEstimator parse_estimator(const std::string& name) {
  if (name == "bptt") return MetaEstimator::kTruncatedBackprop;
  if (name == "pes") return MetaEstimator::kPes;
  fail("meta-gradient estimator '", name, "': expected bptt or pes");
}

std::string to_string(Exchange e) {
  switch (e) {
    case Exchange::kAuto:
      return "auto";
    case Exchange::kHost:
      return "host";
    case Exchange::kNccl:
      return "nccl";
  }
  return "?";
}

Exchange parse_exchange(const std::string& name) {
  if (name == "auto") return Exchange::kAuto;
  if (name == "host") return Exchange::kHost;
  if (name == "nccl") return Exchange::kNccl;
  fail("exchange '", name, "': expected auto, host or nccl");
}

RunResult validation_run(const Weights& phi, const ProblemFamily& family, int steps, int count,
                         std::uint64_t base, Device device) {
  return run_learned(phi, family, optimizee_seeds(SeedDomain::kValidation, base, count), steps,
                     device);
}

double validation_score(const Weights& phi, const ProblemFamily& family, int steps, int count,
                        std::uint64_t base, Device device) {
  return validation_run(phi, family, steps, count, base, device).log10_mean_final();
}

TrainSummary train(const OptimizerConfig& config, const ProblemFamily& family,
                   const TrainOptions& o, const std::function<void(const TrainProgress&)>& report) {
  validate_options(o);
  config.validate();
  const auto t0 = std::chrono::steady_clock::now();
  const std::string state_path = o.out + ".train";

  Weights phi = Weights::initialise(config, o.seed, o.output_init);
  if (!o.init.empty()) {
    phi = load_weights(o.init);
    if (phi.config() != config) {
      try {  // a warm start into options after the paper (extend_weights)
        phi = extend_weights(phi, config);
      } catch (const Error&) {
        fail("--init: '", o.init, "' holds '", describe(phi.config()), "', this run asks for '",
             describe(config), "'");
      }
    }
  }
  MetaAdam adam(phi.size(), o.adam);
  TrainerState st;
  st.seed = o.seed;
  st.steps = o.steps;
  st.unroll = o.unroll;
  Weights best = phi;
  if (o.resume) {
    if (!std::filesystem::exists(state_path))
      fail("--resume: no training checkpoint '", state_path, "'");
    Checkpoint ck = load_checkpoint(state_path);
    if (ck.phi.config() != config)
      fail("--resume: '", state_path, "' trains '", describe(ck.phi.config()),
           "', this run asks for '", describe(config), "'");
    for (const char* tag : {"ADAM", "TRNR", "BEST"})
      if (!ck.sections.count(tag))
        fail("--resume: '", state_path, "' has no ", tag, " section: not a training checkpoint");
    st = from_bytes(ck.sections["TRNR"], state_path);
    if (st.seed != o.seed || st.steps != std::uint64_t(o.steps) ||
        st.unroll != std::uint64_t(o.unroll))
      fail("--resume: '", state_path, "' was trained with seed ", st.seed, ", steps ", st.steps,
           ", unroll ", st.unroll, "; this run asks for seed ", o.seed, ", steps ", o.steps,
           ", unroll ", o.unroll);
    if (ck.sections.count("RUN ")) {  // (training checkpoints of l2o 0.1 have none)
      const std::vector<std::uint8_t>& rb = ck.sections["RUN "];
      const std::string was(rb.begin(), rb.end()), now = run_identity(family, o);
      if (was != now)
        fail("--resume: '", state_path, "' was trained on\n", was, "\nthis run asks for\n", now);
    }
    phi = ck.phi;
    adam = MetaAdam::deserialise(ck.sections["ADAM"], phi.size());
    adam.set_lr(o.adam.lr);                // may change on resume,
    adam.set_clip_norm(o.adam.clip_norm);  // and so may the clipping
    const std::vector<std::uint8_t>& bb = ck.sections["BEST"];
    if (bb.size() != phi.size() * sizeof(float))
      fail("--resume: '", state_path, "' BEST section of ", bb.size(), " bytes, expected ",
           phi.size() * sizeof(float));
    std::memcpy(best.values().data(), bb.data(), bb.size());
    for (std::size_t i = 0; i < best.size(); ++i)
      if (!std::isfinite(best.values()[i]))
        fail("--resume: '", state_path, "': BEST weight ", i, " is ", best.values()[i]);
    if (std::isnan(st.best_validation))
      fail("--resume: '", state_path, "': its best validation score is NaN");
  }

  auto checkpoint = [&] {
    Checkpoint ck{phi, {}};
    ck.sections["ADAM"] = adam.serialise();
    ck.sections["TRNR"] = to_bytes(st);
    ck.sections["BEST"] = floats_to_bytes(best.values());
    const std::string run_text = run_identity(family, o);
    ck.sections["RUN "] = std::vector<std::uint8_t>(run_text.begin(), run_text.end());
    save_checkpoint(state_path, ck);
  };

  // The meta-batch's optimizees this rank unrolls (m = rank, rank + R, ...), each with its
  // own unroller, reused while the optimizees keep their size (a mixture's may not).
  const int B = o.meta_batch, R = o.collective ? o.collective->size() : 1;
  const int rank = o.collective ? o.collective->rank() : 0;
  const bool writer = rank == 0;
  const int per_rank = (B + R - 1) / R;  // member slots each rank reports
  std::vector<int> mine;
  for (int m = rank; m < B; m += R) mine.push_back(m);
  std::vector<std::unique_ptr<Optimizee>> fs(mine.size());
  std::vector<std::unique_ptr<Unroller>> unrollers;
  fs[0] = family.sample(optimizee_seed(SeedDomain::kTrain, o.seed, st.epoch), o.device);
  // An unroller for optimizee f, truncations of T steps (an LSTM-sub phi: f's groups).
  auto make_unroller = [&](const Optimizee& f, int T, Device d) {
    return config.groups > 1 ? std::make_unique<Unroller>(phi, f.groups(), T, d, o.omega)
                             : std::make_unique<Unroller>(phi, f.size(), T, d, o.omega);
  };
  for (std::size_t i = 0; i < mine.size(); ++i)
    unrollers.push_back(make_unroller(*fs[0], o.unroll, fs[0]->device()));
  const Device device = unrollers[0]->device();
  const std::size_t count = phi.size();
  const std::unique_ptr<detail::GradientExchange> exchange =
      detail::make_exchange(o, device, per_rank, count);
  std::vector<detail::MemberHeader> headers;
  std::vector<float> dphi;
  std::vector<char> active(mine.size());
  std::vector<std::uint64_t> seeds(B);      // of the meta-batch's members
  std::vector<int> unrolls(B), lengths(B);  // each member's truncations and their length
  // A training optimizee: the family's draw for `seed`, randomly scaled when asked.
  auto sample = [&](std::uint64_t seed, Device d) {
    std::unique_ptr<Optimizee> f = family.sample(seed, d);
    if (o.random_scale > 1) f = make_scaled_optimizee(std::move(f), o.random_scale, seed);
    return f;
  };
  // One meta-step from the batch's gradient: Adam, then the decay of phi, if any.
  auto meta_step = [&] {
    L2O_NVTX_RANGE("l2o meta step");
    adam.step(phi.values(), dphi);
    if (o.phi_decay > 0) {
      const float keep = static_cast<float>(1.0 - adam.options().lr * o.phi_decay);
      for (float& w : phi.values()) w *= keep;
    }
  };
  std::unique_ptr<PesUnroller> pes;
  double loss_sum = 0.0;
  long long loss_count = 0, run = 0;
  double validation = std::numeric_limits<double>::quiet_NaN();
  bool idle = false;

  while (st.epoch < static_cast<std::uint64_t>(o.epochs)) {
    L2O_NVTX_RANGE("l2o epoch");
    if (o.lr_final > 0)
      adam.set_lr(o.adam.lr * std::pow(o.lr_final / o.adam.lr, double(st.epoch) / o.epochs));
    // This meta-batch: optimizees st.epoch .. st.epoch + group - 1 (the last may be short).
    const int group = static_cast<int>(std::min<std::uint64_t>(B, o.epochs - st.epoch));
    // Each member's seed and number of unrolls (its horizon / unroll); the batch runs to
    // the longest, members past their own idle. Every rank computes all of them.
    int batch_unrolls = 0;
    for (int m = 0; m < group; ++m) {
      seeds[m] = optimizee_seed(SeedDomain::kTrain, o.seed, st.epoch + m);
      lengths[m] = training_unroll(seeds[m], o);
      unrolls[m] = training_horizon(seeds[m], o) / lengths[m];
      batch_unrolls = std::max(batch_unrolls, unrolls[m]);
    }
    if (o.estimator == MetaEstimator::kPes) {
      // The particles: copies of the one optimizee, each unrolled with its own perturbed
      // phi (validate_options: meta_batch 1, no ranks).
      std::vector<std::unique_ptr<Optimizee>> copies;
      for (int i = 0; i < o.pes.particles; ++i) copies.push_back(sample(seeds[0], device));
      if (!pes || pes->size() != copies[0]->size() || pes->unroll_length() != lengths[0])
        pes = std::make_unique<PesUnroller>(phi, copies[0]->size(), lengths[0], o.pes, device,
                                            o.omega);
      pes->set_weights(phi);
      pes->start(std::move(copies), splitmix64(seeds[0] + 0x7065735F6E6F6973ull));
      for (int u = 0; u < unrolls[0]; ++u) {
        const double L = detail::unroll_loss(pes->unroll(&dphi), o.omega, lengths[0]);
        if (!std::isfinite(L)) {  // a particle diverged: the rest of this optimizee is dropped
          ++st.skipped;
          break;
        }
        loss_sum += L;
        ++loss_count;
        meta_step();
        pes->set_weights(phi);
      }
      batch_unrolls = 0;  // (the truncated-backprop loop below has nothing to do)
    }
    for (std::size_t i = 0; i < mine.size() && batch_unrolls > 0; ++i) {
      active[i] = mine[i] < group;
      if (!active[i]) continue;
      fs[i] = sample(seeds[mine[i]], device);
      // A mixture's optimizees differ in size, drawn truncations in length.
      if (fs[i]->size() != unrollers[i]->size() ||
          unrollers[i]->unroll_length() != lengths[mine[i]] ||
          (config.groups > 1 && fs[i]->groups() != unrollers[i]->group_sizes()))
        unrollers[i] = make_unroller(*fs[i], lengths[mine[i]], device);
      unrollers[i]->set_weights(phi);
      unrollers[i]->start(*fs[i]);
    }
    for (int u = 0; u < batch_unrolls; ++u) {
      // Unroll this rank's optimizees and put them in its slots.
      exchange->clear();
      for (std::size_t i = 0; i < mine.size(); ++i) {
        if (active[i] && u >= unrolls[mine[i]]) active[i] = 0;  // its horizon is reached
        if (!active[i]) continue;
        const std::vector<float> losses = exchange->on_device()
                                              ? unrollers[i]->unroll_keep_gradient(*fs[i])
                                              : unrollers[i]->unroll(*fs[i], &dphi);
        const double L = detail::unroll_loss(losses, o.omega, lengths[mine[i]]);
        exchange->put(static_cast<int>(i),
                      {std::isfinite(L) ? detail::kStepped : detail::kDiverged, 0, L},
                      exchange->on_device() ? unrollers[i]->meta_gradient() : dphi.data());
      }
      // The mean gradient of the batch's members that stepped, summed in optimizee order:
      // the same on every rank and for any number of ranks.
      const int stepped = exchange->reduce(group, headers, dphi);
      for (int m = 0; m < group; ++m) {
        if (headers[m].status == detail::kDiverged) ++st.skipped;
        if (headers[m].status != detail::kStepped) continue;
        loss_sum += headers[m].loss;
        ++loss_count;
      }
      // A diverged optimizee is dropped for the rest of its steps, as with one.
      for (std::size_t i = 0; i < mine.size(); ++i)
        if (active[i] && headers[mine[i]].status == detail::kDiverged) active[i] = 0;
      if (stepped == 0) break;  // every optimizee of the batch diverged: the next batch
      meta_step();
      for (std::size_t i = 0; i < mine.size(); ++i)
        if (active[i]) unrollers[i]->set_weights(phi);
    }
    const std::uint64_t before = st.epoch;
    st.epoch += group;
    run += group;
    const bool validate =
        st.epoch / o.eval_every != before / o.eval_every || st.epoch == std::uint64_t(o.epochs);
    if (validate) {
      L2O_NVTX_RANGE("l2o validation and checkpoint");
      if (o.collective) {  // every rank must hold the same phi
        const std::uint64_t h = phi_hash(phi);
        std::vector<std::uint64_t> hs(R);
        o.collective->allgather(&h, sizeof h, hs.data());
        for (int r = 1; r < R; ++r)
          if (hs[r] != hs[0])
            fail("train: rank ", r, "'s phi differs from rank 0's after ", st.epoch,
                 " optimizees (hash ", hs[r], " vs ", hs[0], ")");
      }
      // The ranks split the validation set and all get the same result.
      const RunResult r = o.collective && R > 1
                              ? split_validation(phi, family, o, device, *o.collective)
                              : validation_run(phi, family, validation_horizon(o),
                                               o.validation_optimizees, o.validation_seed, device);
      validation = r.log10_mean_final();
      idle = std::fabs(r.mean_final() - r.mean_loss.front()) <= 1e-3 * r.mean_loss.front();
      if (validation < st.best_validation) {
        st.best_validation = validation;
        st.best_epoch = st.epoch;
        best = phi;
        if (writer) save_weights(o.out, best);
      }
      if (writer) checkpoint();
    }
    if (report) {
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double rate = run / std::max(elapsed, 1e-9);  // validations included
      report({static_cast<long long>(st.epoch), o.epochs,
              loss_count ? loss_sum / loss_count : std::numeric_limits<double>::quiet_NaN(),
              validation, st.best_validation, rate, static_cast<long long>(st.skipped), validate,
              idle, adam.options().lr});
      if (validate) loss_sum = 0, loss_count = 0;
    }
  }
  if (writer && !std::filesystem::exists(o.out)) save_weights(o.out, best);  // all diverged
  TrainSummary s;
  s.best_validation = st.best_validation;
  s.best_epoch = static_cast<long long>(st.best_epoch);
  s.epochs_run = run;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.skipped = static_cast<long long>(st.skipped);
  s.exchange = exchange->name();
  return s;
}

}  // namespace l2o
