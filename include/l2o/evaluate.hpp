// Running optimizers on held-out optimizees, and tuning the baselines' learning rates.
#pragma once

#include "l2o/build.hpp"

#include "l2o/baselines.hpp"
#include "l2o/bfloat16.hpp"
#include "l2o/device.hpp"
#include "l2o/problem.hpp"
#include "l2o/weights.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace l2o {

// Disjoint seed streams: optimizees for training, validation (choosing phi and tuning the
// baselines) and testing (the reported results) never coincide.
enum class SeedDomain : std::uint64_t { kTrain = 1, kValidation = 2, kTest = 3 };
L2O_API std::uint64_t optimizee_seed(SeedDomain domain, std::uint64_t base, std::uint64_t index);
L2O_API std::vector<std::uint64_t> optimizee_seeds(SeedDomain domain, std::uint64_t base,
                                                   int count);

struct L2O_API RunResult {
  std::vector<double> mean_loss;   // mean over optimizees of f(theta_t), t = 0..steps
  std::vector<double> final_loss;  // f(theta_steps) of each optimizee
  std::vector<double> score;       // the optimizee's score() after the run (NaN if none)
  double mean_final() const;       // +inf when any run diverged (non-finite loss)
  double log10_mean_final() const;
  // Standard error of mean_final(): the sample standard deviation of final_loss over
  // sqrt(runs); NaN with fewer than two runs, +inf when any run diverged.
  double final_standard_error() const;
  double mean_score() const;
};

// Paired comparison of two runs on the same optimizees: on how many of them `a` ended
// with a lower final loss than `b` (a diverged run is never lower). Throws when the
// runs cover different numbers of optimizees.
L2O_API int runs_lower(const RunResult& a, const RunResult& b);

// The learned optimizer for `steps` steps on each optimizee of `seeds`, its LSTM state
// stored as `format`.
L2O_API RunResult run_learned(const Weights& phi, const ProblemFamily& family,
                              const std::vector<std::uint64_t>& seeds, int steps, Device device,
                              StateFormat format = StateFormat::kFloat32);
L2O_API RunResult run_baseline(const BaselineConfig& config, const ProblemFamily& family,
                               const std::vector<std::uint64_t>& seeds, int steps, Device device);

// Learning rates 10^-5 .. 10^1, per_decade (>= 1) of them per decade, evenly in log.
L2O_API std::vector<float> lr_grid(int per_decade);
// Learning rates tried by tune_baseline: lr_grid(4), 10^-5 .. 10^1 in quarter decades.
L2O_API std::vector<float> default_lr_grid();

struct L2O_API TunedBaseline {
  BaselineConfig config;                           // with the best lr
  double validation_mean_final;                    // its mean final loss on `seeds`
  std::vector<std::pair<float, double>> searched;  // (lr, mean final loss) for the grid
};
// The lr of the grid with the lowest mean final loss on the validation optimizees (the
// paper tuned each baseline's learning rate per problem). Throws when every lr diverges.
L2O_API TunedBaseline tune_baseline(BaselineKind kind, const ProblemFamily& family,
                                    const std::vector<std::uint64_t>& seeds, int steps,
                                    Device device,
                                    const std::vector<float>& grid = default_lr_grid());

}  // namespace l2o
