// The reference meta-training procedure (docs/method.md §1): a fresh optimizee every `steps`
// steps, one Adam step on phi per unroll of `unroll` steps, periodic evaluation on a fixed
// validation set, the best phi kept; periodic atomic checkpoints that --resume continues.
#pragma once

#include "l2o/build.hpp"

#include "l2o/config.hpp"
#include "l2o/device.hpp"
#include "l2o/evaluate.hpp"
#include "l2o/meta.hpp"
#include "l2o/problem.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace l2o {

// Data-parallel meta-training (docs/scaling.md): the ranks of a job each unroll their
// share of every meta-batch and exchange the meta-gradients through this interface; l2o's
// command line implements it over MPI (mpirun -np R l2o train ...), a program may with
// any transport. Every rank calls train() with the same options and its own Collective.
class L2O_API Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;  // 0 .. size() - 1
  virtual int size() const = 0;
  // Every rank passes `bytes` bytes and receives all ranks' contributions in rank order
  // (size() * bytes at out). A collective call: all ranks call it, in the same order.
  virtual void allgather(const void* in, std::size_t bytes, void* out) = 0;
};

// How the ranks of a data-parallel job exchange their meta-gradients (docs/scaling.md).
// Either way every rank sums the same gradients in the same order: phi is the same.
enum class Exchange {
  kAuto,  // NCCL where it can run (ranks meta-training on CUDA, each on its own GPU, in a
          // build with NCCL: L2O_WITH_NCCL), else the host
  kHost,  // host copies of the gradients, through Collective::allgather
  kNccl,  // the gradients stay on the GPU: ncclAllGather on the unroll's stream (NCCL's
          // communicator bootstrapped through the Collective); refused where it cannot run.
          // Without a collective: one rank, through the same code path
};
L2O_API std::string to_string(Exchange e);
L2O_API Exchange parse_exchange(const std::string& name);  // "auto" | "host" | "nccl"

// The meta-gradient of each truncation.
enum class MetaEstimator {
  kTruncatedBackprop,  // the paper's: first-order backpropagation through the truncation
                       // (Unroller), biased towards short-sighted phi at short truncations
  kPes,                // persistent evolution strategies (PesUnroller): unbiased for the
                       // whole horizon, forward passes only, noisier. One process, meta_batch 1
};
L2O_API std::string to_string(MetaEstimator e);
L2O_API MetaEstimator parse_estimator(const std::string& name);  // "bptt" | "pes"

struct L2O_API TrainOptions {
  int steps = 100;  // optimizer steps per optimizee ("epoch")
  // > steps: each optimizee's horizon is drawn log-uniformly in [steps, steps_max] (whole
  // unrolls, from its seed: training_horizon), so phi also learns what comes after step
  // `steps`; validation then runs steps_max steps. 0: every optimizee runs `steps`.
  int steps_max = 0;
  // > 1: each training optimizee is randomly scaled (make_scaled_optimizee: f(c * theta),
  // c_i log-uniform in [1 / random_scale, random_scale], drawn from its seed); validation
  // stays unscaled. CPU meta-training only. 0: no scaling.
  double random_scale = 0.0;
  int unroll = 20;  // steps per truncation (one meta-step each)
  // > unroll: each optimizee's truncation length is drawn log-uniformly in [unroll,
  // unroll_max] (from its seed: training_unroll), and its horizon is rounded to whole
  // truncations of that length, at least one and at most the longest horizon (unroll_max
  // may not exceed it) (Metz et al. 2019). Short truncations see
  // little of what a step does later, long ones give noisy, exploding gradients: a mix
  // trades the two. Not with omega (its T weights). 0: every truncation is `unroll` steps.
  int unroll_max = 0;
  long long epochs = 1000;  // optimizees to train on
  AdamOptions adam;         // the meta-optimizer (adam.lr: the learning rate at epoch 0)
  // > 0: decoupled weight decay on phi after each meta-step, phi -= lr * phi_decay * phi
  // (as AdamW; lr the meta learning rate of the epoch; lr * phi_decay above 1 at any lr of
  // the run is refused). It may change on --resume, as the learning rate may. It pulls the learned
  // part of the update towards zero (phi = 0 outputs 0), so that with a nominal term
  // (OptimizerConfig::nominal_lr) the optimizer leans on the nominal step where the
  // learned one does not pay its way (Harrison et al. 2022). 0: none.
  double phi_decay = 0.0;
  // How each truncation's meta-gradient is estimated.
  MetaEstimator estimator = MetaEstimator::kTruncatedBackprop;
  PesOptions pes;  // for MetaEstimator::kPes
  // > 0: the meta learning rate decays geometrically from adam.lr at epoch 0 to this value
  // at the last epoch (lr_e = lr * (lr_final / lr)^(e / epochs)); 0: constant adam.lr.
  double lr_final = 0.0;
  std::string init;  // start from this phi (a weights file) instead of a fresh one
  OutputInit output_init = OutputInit::kRandom;  // a fresh phi's output layer
  std::vector<float> omega;                      // w_1..w_unroll, empty: all ones
  Device device = Device::kAuto;
  std::uint64_t seed = 0;  // phi's initialisation and the training optimizees
  int eval_every = 100;    // epochs between validations (and checkpoints)
  int validation_optimizees = 20;
  std::string out;                    // the best phi; the training state goes to out + ".train"
  bool resume = false;                // continue from out + ".train"
  std::uint64_t validation_seed = 0;  // base of the validation set (fixed across runs)
  // Optimizees per meta-step: each unroll's dL/dphi is averaged over `meta_batch`
  // optimizees run side by side (optimizees e .. e + meta_batch - 1 of the seed stream,
  // whatever the ranks), so one meta-step sees a less noisy gradient. 1 is the paper's
  // procedure. epochs still counts optimizees.
  int meta_batch = 1;
  // Ranks of a data-parallel job (null: this process alone). Rank r unrolls the batch's
  // optimizees r, r + size, ...; the meta-gradients are gathered and summed in optimizee
  // order on every rank, so phi is the same on every rank and the same as one process
  // with the same meta_batch, bit for bit. Only rank 0 writes files.
  Collective* collective = nullptr;
  Exchange exchange = Exchange::kAuto;
};

struct L2O_API TrainProgress {
  long long epoch, epochs;
  double meta_loss;   // mean unroll loss over the epochs since the last report
  double validation;  // latest validation score (log10 mean final loss), NaN before one
  double best;        // best validation score so far
  double epochs_per_second;
  long long skipped;  // unrolls whose losses were not finite (no meta-step taken)
  bool validated;     // this report follows a validation
  // The latest validation left the optimizees' mean loss where it started (within 0.1%):
  // phi outputs (almost) zero, the trap a meta-training run can fall into and not leave.
  bool idle;
  double lr;  // the meta learning rate of this epoch
};

struct L2O_API TrainSummary {
  double best_validation;  // log10 mean final loss of the kept phi on the validation set
  long long best_epoch;
  long long epochs_run;  // in this call (after a resume: since the resume)
  double seconds;        // wall time of this call
  long long skipped;
  std::string exchange;  // how the meta-gradients were exchanged: "host" or "nccl"
};

// Trains and writes the best phi to options.out. `report` is called after every epoch
// (for progress display); it may be empty.
L2O_API TrainSummary train(const OptimizerConfig& config, const ProblemFamily& family,
                           const TrainOptions& options,
                           const std::function<void(const TrainProgress&)>& report = {});

// The number of steps training optimizee `seed` runs under options o: o.steps unless
// o.steps_max draws it, in whole truncations of training_unroll(seed, o) steps.
L2O_API int training_horizon(std::uint64_t seed, const TrainOptions& o);
// The truncation length of training optimizee `seed`: o.unroll unless o.unroll_max draws it.
L2O_API int training_unroll(std::uint64_t seed, const TrainOptions& o);

// The validation run of train: phi for `steps` steps on `count` validation optimizees
// (seed stream `base`).
L2O_API RunResult validation_run(const Weights& phi, const ProblemFamily& family, int steps,
                                 int count, std::uint64_t base, Device device);
// Its score, the one train selects phi by: log10 of the mean final loss (+inf when a run
// diverged).
L2O_API double validation_score(const Weights& phi, const ProblemFamily& family, int steps,
                                int count, std::uint64_t base, Device device);

}  // namespace l2o
