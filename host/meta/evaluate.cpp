#include "l2o/evaluate.hpp"

#include "host/buffer.hpp"
#include "host/fail.hpp"
#include "host/meta/sums.hpp"
#include "host/nvtx.hpp"
#include "l2o/error.hpp"
#include "l2o/optimizer.hpp"
#include "maths/random.hpp"

#include <cmath>
#include <limits>

namespace l2o {

std::uint64_t optimizee_seed(SeedDomain domain, std::uint64_t base, std::uint64_t index) {
  // SplitMix64 finaliser over (domain, base, index): distinct inputs give unrelated seeds.
  std::uint64_t z = static_cast<std::uint64_t>(domain) * 0x9E3779B97F4A7C15ull;
  for (std::uint64_t v : {base, index}) {
    z ^= v + 0x9E3779B97F4A7C15ull + (z << 6) + (z >> 2);
    z = splitmix64(z);
  }
  return z;
}

std::vector<std::uint64_t> optimizee_seeds(SeedDomain domain, std::uint64_t base, int count) {
  std::vector<std::uint64_t> s(count);
  for (int k = 0; k < count; ++k) s[k] = optimizee_seed(domain, base, k);
  return s;
}

double RunResult::mean_final() const {
  if (final_loss.empty()) return std::numeric_limits<double>::quiet_NaN();
  double s = 0;
  for (double v : final_loss) {
    if (!std::isfinite(v)) return std::numeric_limits<double>::infinity();
    s += v;
  }
  return s / final_loss.size();
}

double RunResult::log10_mean_final() const {
  return std::log10(mean_final());
}

double RunResult::final_standard_error() const {
  const std::size_t n = final_loss.size();
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  const double m = mean_final();
  if (!std::isfinite(m)) return std::numeric_limits<double>::infinity();
  double ss = 0;
  for (double v : final_loss) ss += (v - m) * (v - m);
  return std::sqrt(ss / (n - 1) / n);
}

int runs_lower(const RunResult& a, const RunResult& b) {
  if (a.final_loss.size() != b.final_loss.size())
    fail("runs_lower: ", a.final_loss.size(), " runs against ", b.final_loss.size(),
         ", expected the same optimizees");
  int k = 0;
  for (std::size_t i = 0; i < a.final_loss.size(); ++i) {
    const double x = a.final_loss[i], y = b.final_loss[i];
    if (std::isfinite(x) && (!std::isfinite(y) || x < y)) ++k;
  }
  return k;
}

double RunResult::mean_score() const {
  double s = 0;
  for (double v : score) s += v;
  return score.empty() ? std::numeric_limits<double>::quiet_NaN() : s / score.size();
}

namespace {

// Runs `step` (theta, grad, state, n) for `steps` steps on each optimizee, the state
// stored as S and zeroed by `reset` (optimizee, state, n) before its first step.
template <class S, class Reset, class Step>
RunResult run(const ProblemFamily& family, const std::vector<std::uint64_t>& seeds, int steps,
              Device device, std::size_t state_per_coord, Reset reset, Step step) {
  if (steps < 0) fail("run: steps = ", steps, ", expected >= 0");
  RunResult r;
  r.mean_loss.assign(steps + 1, 0.0);
  for (std::uint64_t seed : seeds) {
    auto f = family.sample(seed, device);
    const std::size_t n = f->size();
    detail::Buffer<float> theta(device, n), grad(device, n), loss(device, steps + 1);
    detail::Buffer<S> state(device, state_per_coord * n);
    f->initial_theta(theta.data(), nullptr);
    reset(*f, state.data(), n);
    for (int t = 0; t <= steps; ++t) {
      f->loss_and_grad(theta.data(), grad.data(), loss.data() + t, nullptr);
      if (t < steps) step(theta.data(), grad.data(), state.data(), n);
    }
    const std::vector<float> l = loss.to_host();
    for (int t = 0; t <= steps; ++t) r.mean_loss[t] += double(l[t]) / seeds.size();
    r.final_loss.push_back(l[steps]);
    if (device == Device::kCpu) {
      r.score.push_back(f->score(theta.data()));
    } else {
      const std::vector<float> th = theta.to_host();
      r.score.push_back(f->score(th.data()));
    }
  }
  return r;
}

}  // namespace

RunResult run_learned(const Weights& phi, const ProblemFamily& family,
                      const std::vector<std::uint64_t>& seeds, int steps, Device device,
                      StateFormat format) {
  L2O_NVTX_RANGE("l2o run learned");
  // One optimizer per group: an LSTM-sub phi's LSTM k steps the optimizee's parameter
  // group k (Optimizee::groups), its state the same rows of those coordinates.
  const int K = phi.config().groups;
  std::vector<LstmOptimizer> opts;
  for (int k = 0; k < K; ++k) opts.emplace_back(K > 1 ? phi.group(k) : phi, device);
  const std::size_t dim = phi.config().state_dim();
  std::vector<std::size_t> sizes, offsets;  // of the optimizee's groups (detail::group_offsets)
  auto go = [&](auto like) {
    using S = decltype(like);
    return run<S>(
        family, seeds, steps, opts[0].device(), dim,
        [&](const Optimizee& f, S* s, std::size_t n) {
          sizes = K > 1 ? f.groups() : std::vector<std::size_t>{n};
          if (sizes.size() != static_cast<std::size_t>(K))
            fail("run_learned: the optimizee has ", sizes.size(), " parameter group",
                 sizes.size() == 1 ? "" : "s", ", phi ", K, " LSTMs (LSTM-sub: one per group)");
          offsets = detail::group_offsets(sizes);
          if (offsets.back() != n)
            fail("run_learned: the optimizee's parameter groups hold ", offsets.back(),
                 " coordinates, it has ", n);
          for (std::size_t k = 0; k < sizes.size(); ++k)
            opts[k].reset_state(s + dim * offsets[k], sizes[k]);
        },
        // (a non-finite gradient skips the step of its group alone: each LstmOptimizer
        // checks its own slice)
        [&](float* th, const float* g, S* s, std::size_t) {
          for (std::size_t k = 0; k < sizes.size(); ++k)
            opts[k].step(th + offsets[k], g + offsets[k], s + dim * offsets[k], sizes[k]);
        });
  };
  return format == StateFormat::kBFloat16 ? go(bfloat16{}) : go(0.0f);
}

RunResult run_baseline(const BaselineConfig& config, const ProblemFamily& family,
                       const std::vector<std::uint64_t>& seeds, int steps, Device device) {
  L2O_NVTX_RANGE("l2o run baseline");
  BaselineOptimizer opt(config, device);
  return run<float>(
      family, seeds, steps, opt.device(), config.state_dim(),
      [&](const Optimizee&, float* s, std::size_t n) { opt.reset_state(s, n); },
      [&](float* th, const float* g, float* s, std::size_t n) { opt.step(th, g, s, n); });
}

std::vector<float> lr_grid(int per_decade) {
  if (per_decade < 1) fail("lr_grid: ", per_decade, " learning rates per decade, expected >= 1");
  std::vector<float> g;
  for (int k = -5 * per_decade; k <= per_decade; ++k)
    g.push_back(static_cast<float>(std::pow(10.0, double(k) / per_decade)));
  return g;
}

std::vector<float> default_lr_grid() {
  return lr_grid(4);
}

TunedBaseline tune_baseline(BaselineKind kind, const ProblemFamily& family,
                            const std::vector<std::uint64_t>& seeds, int steps, Device device,
                            const std::vector<float>& grid) {
  L2O_NVTX_RANGE("l2o tune baseline");
  if (grid.empty()) fail("tune_baseline: empty learning-rate grid");
  TunedBaseline best;
  best.config.kind = kind;
  best.validation_mean_final = std::numeric_limits<double>::infinity();
  for (float lr : grid) {
    BaselineConfig c;
    c.kind = kind;
    c.lr = lr;
    const double m = run_baseline(c, family, seeds, steps, device).mean_final();
    best.searched.emplace_back(lr, m);
    if (std::isfinite(m) && m < best.validation_mean_final) {
      best.validation_mean_final = m;
      best.config = c;
    }
  }
  if (!std::isfinite(best.validation_mean_final))
    fail("tune_baseline: ", to_string(kind), " diverged for every learning rate of the grid");
  return best;
}

}  // namespace l2o
