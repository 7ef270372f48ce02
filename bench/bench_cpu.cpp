// CPU benchmarks (Google Benchmark). Items are coordinate-steps.
//   build/bench/l2o_bench_cpu                      (all)
//   build/bench/l2o_bench_cpu --benchmark_filter=Step
// bench/compare_cpu.sh runs these and bench/pytorch_l2o.py side by side.
#include "l2o/l2o.hpp"
#include "maths/random.hpp"

#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

namespace {

// The optimizer step on n coordinates with the default 2 x 20 configuration, the state
// stored as S (float or l2o::bfloat16). Gradients are random, of magnitudes 1e-8..1e1
// (both preprocessing branches), never zeros.
template <class S>
void BM_Step(benchmark::State& st) {
  const std::size_t n = static_cast<std::size_t>(st.range(0));
  l2o::LstmOptimizer opt(l2o::Weights::initialise(l2o::OptimizerConfig{}, 1), l2o::Device::kCpu);
  l2o::Rng rng(2);
  std::vector<float> theta(n), grad(n);
  std::vector<S> state(opt.state_size(n), S{});
  for (std::size_t i = 0; i < n; ++i) {
    theta[i] = float(rng.normal());
    grad[i] = float((rng.uniform() < 0.5 ? -1 : 1) * std::pow(10.0, -8 + 9 * rng.uniform()));
  }
  for (auto _ : st) {
    opt.step(theta.data(), grad.data(), state.data(), n);
    benchmark::ClobberMemory();
  }
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations()) * static_cast<int64_t>(n));
  // theta read + written, grad read twice (finiteness check, step), 80 state values read
  // and written.
  st.counters["bytes_per_coord"] = 4.0 * (2 + 2) + 2.0 * 80 * sizeof(S);
}
BENCHMARK_TEMPLATE(BM_Step, float)
    ->Name("BM_Step")
    ->Arg(10000)
    ->Arg(100000)
    ->Arg(1000000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_Step, l2o::bfloat16)
    ->Name("BM_StepBf16")
    ->Arg(10000)
    ->Arg(100000)
    ->Arg(1000000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// A model's parameter list: 200 tensors, 100 weight matrices of 8,000..11,600 values and
// 100 biases of 200, 10^6 coordinates in all, stepped by one multi-tensor call
// (range(0) = 1) or by one call per tensor (range(0) = 0).
void BM_ModelStep(benchmark::State& st) {
  const bool multi = st.range(0) == 1;
  l2o::LstmOptimizer opt(l2o::Weights::initialise(l2o::OptimizerConfig{}, 1), l2o::Device::kCpu);
  std::vector<std::size_t> sizes;
  for (int k = 0; k < 100; ++k) {
    sizes.push_back(9800 + (k % 5 - 2) * 900);
    sizes.push_back(200);
  }
  l2o::Rng rng(3);
  std::vector<std::vector<float>> theta, grad, state;
  std::vector<l2o::Segment<float>> segs;
  std::size_t total = 0;
  for (std::size_t n : sizes) {
    theta.emplace_back(n);
    grad.emplace_back(n);
    for (std::size_t i = 0; i < n; ++i) {
      theta.back()[i] = float(rng.normal());
      grad.back()[i] =
          float((rng.uniform() < 0.5 ? -1 : 1) * std::pow(10.0, -8 + 9 * rng.uniform()));
    }
    state.emplace_back(opt.state_size(n), 0.0f);
    segs.push_back({theta.back().data(), grad.back().data(), state.back().data(), n});
    total += n;
  }
  for (auto _ : st) {
    if (multi) {
      opt.step(segs.data(), segs.size());
    } else {
      for (const auto& s : segs) opt.step(s.theta, s.grad, s.state, s.n);
    }
    benchmark::ClobberMemory();
  }
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations()) * static_cast<int64_t>(total));
  st.counters["tensors"] = static_cast<double>(segs.size());
}
BENCHMARK(BM_ModelStep)
    ->ArgName("multi")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// One meta-iteration on the quadratic family (d = 10, batch = range(0)): an unroll of
// 20 steps with the optimizee evaluated after each, the backward and the phi reduction,
// and the meta-optimizer's Adam step.
void BM_MetaIteration(benchmark::State& st) {
  l2o::QuadraticOptions q;
  q.batch = static_cast<int>(st.range(0));
  auto family = l2o::make_quadratic_family(q);
  auto f = family->sample(1, l2o::Device::kCpu);
  l2o::Weights phi = l2o::Weights::initialise(l2o::OptimizerConfig{}, 1);
  l2o::Unroller u(phi, f->size(), 20, l2o::Device::kCpu);
  l2o::MetaAdam adam(phi.size(), {});
  std::vector<float> dphi;
  u.start(*f);
  for (auto _ : st) {
    u.unroll(*f, &dphi);
    adam.step(phi.values(), dphi);
    u.set_weights(phi);
  }
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations()) * 20 *
                       static_cast<int64_t>(f->size()));
  // Where the time goes: one more unroll with each phase timed (ms).
  l2o::UnrollTimes t;
  u.unroll_timed(*f, &dphi, &t);
  st.counters["optimizee_ms"] = t.optimizee_ms;
  st.counters["forward_ms"] = t.forward_ms;
  st.counters["backward_ms"] = t.backward_ms;
  st.counters["reduction_ms"] = t.reduction_ms;
}
BENCHMARK(BM_MetaIteration)->Arg(128)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
