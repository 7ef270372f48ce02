// CPU benchmarks (Google Benchmark). Items are coordinate-steps.
//   build/bench/l2o_bench_cpu                      (all)
//   build/bench/l2o_bench_cpu --benchmark_filter=Step
// bench/compare_cpu.sh runs these and bench/pytorch_l2o.py side by side.
#include "host/cpu/isa.hpp"
#include "l2o/l2o.hpp"
#include "maths/random.hpp"

#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

namespace {

// --- the machine: arithmetic peak and memory bandwidth, measured in the same run ---------

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// FLOP/s of independent multiply-adds in registers on every thread, at the instruction set
// the CPU kernels run with (l2o::cpu_isa()): the ceiling for the kernels' arithmetic.
double measure_fma_peak() {
  const l2o::cpu::KernelTable& k = l2o::cpu::kernels();
  const long iters = 50'000'000;
  k.fma_loop(iters / 10);  // warm up: clocks, AVX frequency licence
  double flops = 0.0;
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel reduction(+ : flops)
  flops += k.fma_loop(iters);
  return flops / seconds_since(t0);
}

// Bytes/s of a parallel copy of 2 x 256 MiB buffers (read + write counted), each thread
// its own contiguous part: the ceiling for streaming the optimizer state.
double measure_copy_bandwidth() {
  const std::size_t n = std::size_t(64) << 20;  // floats
  std::unique_ptr<float[]> a(new float[n]), b(new float[n]);
  const long long m = static_cast<long long>(n);
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < m; ++i) a[i] = b[i] = 1.0f;
  double best = 0.0;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const std::size_t lo = n * t / nt, hi = n * (t + 1) / nt;
      std::memcpy(b.get() + lo, a.get() + lo, (hi - lo) * sizeof(float));
    }
    best = std::max(best, 2.0 * n * sizeof(float) / seconds_since(t0));
  }
  return best;
}

struct Machine {
  double flops, bytes;  // per second
};
const Machine& machine() {
  static const Machine m{measure_fma_peak(), measure_copy_bandwidth()};
  return m;
}

// FLOPs per coordinate-step (docs/performance.md, "Counting FLOPs").
// Model FLOPs: the multiply-adds of the matrix products, 2 each:
//   step: W [in ; h] for every layer and the output layer;
//   meta-iteration: the step, its recomputation in the backward, W^T dz (without the
//   first layer's input columns, whose gradient is not needed) and the dW outer products.
// All arithmetic adds the gate functions as the CPU evaluates them, counted from
// maths/coordinate.hpp (an FMA is 2, any other arithmetic instruction 1, min/max 0):
// lstm_unit 119 per unit, lstm_unit_backward 23 more per unit.
constexpr double kUnitForwardFlops = 119, kUnitBackwardFlops = 23;
double step_flops(const l2o::WeightLayout& L) {
  double macs = L.hidden;
  for (int l = 0; l < L.layers; ++l) macs += 4.0 * L.hidden * L.row_length(l);
  return 2.0 * macs;
}
double meta_flops(const l2o::WeightLayout& L) {
  double transpose = 0.0;
  for (int l = 0; l < L.layers; ++l)
    transpose += 4.0 * L.hidden * (L.row_length(l) - (l == 0 ? L.num_inputs : 0));
  return 3.0 * step_flops(L) + 2.0 * transpose;
}
double step_gate_flops(const l2o::WeightLayout& L) {
  return kUnitForwardFlops * L.layers * L.hidden;
}
double meta_gate_flops(const l2o::WeightLayout& L) {
  return (2 * kUnitForwardFlops + kUnitBackwardFlops) * L.layers * L.hidden;
}

// Achieved model GFLOP/s and bytes/s of a timed loop as fractions of the machine's, and
// all arithmetic (products and gates) as a fraction of the FMA peak.
void report(benchmark::State& st, double flops, double gate_flops, double bytes, double secs) {
  const Machine& m = machine();
  st.counters["GFLOPs"] = flops / secs * 1e-9;
  st.counters["peak_frac"] = flops / secs / m.flops;
  st.counters["arith_frac"] = (flops + gate_flops) / secs / m.flops;
  if (bytes > 0) st.counters["bw_frac"] = bytes / secs / m.bytes;
}

void BM_FmaPeak(benchmark::State& st) {
  double flops = 0.0;
  for (auto _ : st) flops = measure_fma_peak();
  st.counters["GFLOPs"] = flops * 1e-9;
  st.SetLabel(l2o::cpu_isa());
}
BENCHMARK(BM_FmaPeak)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_CopyBandwidth(benchmark::State& st) {
  double bytes = 0.0;
  for (auto _ : st) bytes = measure_copy_bandwidth();
  st.counters["GBs"] = bytes * 1e-9;
}
BENCHMARK(BM_CopyBandwidth)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

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
  machine();  // measured before the timed loop
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : st) {
    opt.step(theta.data(), grad.data(), state.data(), n);
    benchmark::ClobberMemory();
  }
  const double secs = seconds_since(t0), steps = static_cast<double>(st.iterations()) * n;
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations()) * static_cast<int64_t>(n));
  // theta read + written, grad read twice (finiteness check, step), 80 state values read
  // and written.
  const double bytes_per_coord = 4.0 * (2 + 2) + 2.0 * 80 * sizeof(S);
  const l2o::WeightLayout L = opt.weights().layout();
  report(st, steps * step_flops(L), steps * step_gate_flops(L), steps * bytes_per_coord, secs);
  st.SetLabel(l2o::cpu_isa());
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
void meta_iteration(benchmark::State& st, int batch, int gac) {
  l2o::QuadraticOptions q;
  q.batch = batch;
  auto family = l2o::make_quadratic_family(q);
  auto f = family->sample(1, l2o::Device::kCpu);
  l2o::OptimizerConfig config;
  config.gac = gac;
  l2o::Weights phi = l2o::Weights::initialise(config, 1);
  l2o::Unroller u(phi, f->size(), 20, l2o::Device::kCpu);
  l2o::MetaAdam adam(phi.size(), {});
  std::vector<float> dphi;
  u.start(*f);
  machine();  // measured before the timed loop
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : st) {
    u.unroll(*f, &dphi);
    adam.step(phi.values(), dphi);
    u.set_weights(phi);
  }
  const double secs = seconds_since(t0);
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations()) * 20 *
                       static_cast<int64_t>(f->size()));
  const double steps = static_cast<double>(st.iterations()) * 20 * f->size();
  report(st, steps * meta_flops(phi.layout()), steps * meta_gate_flops(phi.layout()), 0, secs);
  st.SetLabel(l2o::cpu_isa());
  // Where the time goes: one more unroll with each phase timed (ms).
  l2o::UnrollTimes t;
  u.unroll_timed(*f, &dphi, &t);
  st.counters["optimizee_ms"] = t.optimizee_ms;
  st.counters["forward_ms"] = t.forward_ms;
  st.counters["backward_ms"] = t.backward_ms;
  st.counters["reduction_ms"] = t.reduction_ms;
}
void BM_MetaIteration(benchmark::State& st) {
  meta_iteration(st, static_cast<int>(st.range(0)), 0);
}
BENCHMARK(BM_MetaIteration)->Arg(128)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same on 100,000 coordinates (batch 10,000) with range(0) global averaging units per
// layer (LSTM+GAC, docs/generalisation.md), against 0: the cost of the averaging between
// steps and of the step-by-step backward it needs.
void BM_GacMetaIteration(benchmark::State& st) {
  meta_iteration(st, 10000, static_cast<int>(st.range(0)));
}
BENCHMARK(BM_GacMetaIteration)
    ->ArgName("gac")
    ->Arg(0)
    ->Arg(4)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// One step of 10^6 coordinates with range(0) global averaging units per layer, against 0.
void BM_GacStep(benchmark::State& st) {
  l2o::OptimizerConfig config;
  config.gac = static_cast<int>(st.range(0));
  l2o::LstmOptimizer opt(l2o::Weights::initialise(config, 1), l2o::Device::kCpu);
  const std::size_t n = 1000000;
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
  st.SetLabel(l2o::cpu_isa());
}
BENCHMARK(BM_GacStep)->ArgName("gac")->Arg(0)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
