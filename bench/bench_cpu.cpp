// CPU benchmarks (Google Benchmark). Items are coordinate-steps.
//   build/bench/l2o_bench_cpu --benchmark_filter=Step
#include "l2o/l2o.hpp"
#include "l2o/random.hpp"

#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

namespace {

// The optimizer step on n coordinates with the default 2 x 20 configuration. Gradients
// are random, of magnitudes 1e-8..1e1 (both preprocessing branches), never zeros.
void BM_Step(benchmark::State& st) {
  const std::size_t n = static_cast<std::size_t>(st.range(0));
  l2o::LstmOptimizer opt(l2o::Weights::initialise(l2o::OptimizerConfig{}, 1), l2o::Device::kCpu);
  l2o::Rng rng(2);
  std::vector<float> theta(n), grad(n), state(opt.state_size(n), 0.0f);
  for (std::size_t i = 0; i < n; ++i) {
    theta[i] = float(rng.normal());
    grad[i] = float((rng.uniform() < 0.5 ? -1 : 1) * std::pow(10.0, -8 + 9 * rng.uniform()));
  }
  for (auto _ : st) {
    opt.step(theta.data(), grad.data(), state.data(), n);
    benchmark::ClobberMemory();
  }
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations()) * static_cast<int64_t>(n));
  st.counters["bytes_per_coord"] = 4.0 * (2 + 1 + 2 * 80);  // theta r/w, grad, state r/w
}
BENCHMARK(BM_Step)
    ->Arg(10000)
    ->Arg(100000)
    ->Arg(1000000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
