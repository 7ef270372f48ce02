// GPU benchmarks of l2o, one table and an optional CSV:
//   - the device-to-device copy bandwidth (cudaMemcpyAsync of 1 GiB), the roofline the
//     memory-bound workloads are compared with;
//   - the optimizer step (2 x 20 LSTM, log-sign) at N = 2^20 .. 2^26, fp32 and bfloat16
//     state: time, coordinate-steps/s, bytes moved per coordinate, GB/s, % of the copy;
//   - the fused Adam step (l2o's baseline kernel) at the same N, the per-parameter anchor;
//   - one meta-iteration (unroll 20 + backward + phi reduction + meta Adam) on the
//     quadratic family at N = 1,280 (the reference problem) and N = 1,048,580 (~2^20),
//     eager launches and CUDA Graph, with the time per phase.
// Method: CUDA events around each launch on one stream, warm-up launches first, the
// median of many repeats; inputs are random (gradients of magnitudes 1e-8..10, random
// signs, never zeros) and rotate over enough independent buffer sets that each launch
// reads more than twice the L2 cache from memory.
//   l2o_bench_gpu [--csv FILE] [--max-log2n 26] [--repeats 20]
#include "l2o/l2o.hpp"

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

namespace {

#define CHECK(call)                                                                        \
  do {                                                                                     \
    const cudaError_t e_ = (call);                                                         \
    if (e_ != cudaSuccess) {                                                               \
      std::fprintf(stderr, "CUDA error %s in %s (%s:%d)\n", cudaGetErrorString(e_), #call, \
                   __FILE__, __LINE__);                                                    \
      std::exit(1);                                                                        \
    }                                                                                      \
  } while (0)

__device__ __forceinline__ std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
__device__ __forceinline__ float unit(std::uint64_t seed, std::size_t i) {  // (0, 1)
  return (static_cast<float>(mix(seed * 0x9E3779B97F4A7C15ull + i) >> 40) + 0.5f) * 0x1.0p-24f;
}

// Gradients sign * 10^(-8 + 9u): both preprocessing branches, never zero.
__global__ void fill_gradients(float* g, std::size_t n, std::uint64_t seed) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const float m = exp10f(-8.0f + 9.0f * unit(seed, i));
    g[i] = unit(seed + 1, i) < 0.5f ? -m : m;
  }
}
// Standard normal values (Box-Muller).
__global__ void fill_normal(float* x, std::size_t n, std::uint64_t seed) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x)
    x[i] = sqrtf(-2.0f * logf(unit(seed, i))) * cospif(2.0f * unit(seed + 7, i));
}

struct Device {
  cudaDeviceProp prop{};
  std::size_t l2 = 0;
  cudaStream_t stream = nullptr;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// Median milliseconds of launch(r) over `repeats` repeats after `warmup`, by events.
double time_launches(cudaStream_t s, int warmup, int repeats,
                     const std::function<void(int)>& launch) {
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  for (int r = 0; r < warmup; ++r) launch(r);
  CHECK(cudaStreamSynchronize(s));
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    CHECK(cudaEventRecord(a, s));
    launch(warmup + r);
    CHECK(cudaEventRecord(b, s));
    CHECK(cudaEventSynchronize(b));
    float t = 0;
    CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  CHECK(cudaEventDestroy(a));
  CHECK(cudaEventDestroy(b));
  return median(ms);
}

struct Row {
  std::string workload, variant;
  std::size_t n;
  double ms, bytes_per_coord;  // bytes_per_coord 0: not a memory-bound row
};

// Blocks of 256 threads for the fill kernels (grid-stride loops).
int grid_for(std::size_t n) {
  return static_cast<int>(std::min<std::size_t>((n + 255) / 256, 65535));
}

// Independent buffer sets so that one launch's data is not in L2 from the previous one.
int rotation(std::size_t set_bytes, std::size_t l2) {
  return static_cast<int>(
      std::min<std::size_t>(8, std::max<std::size_t>(1, (2 * l2 + set_bytes - 1) / set_bytes)));
}

bool fits(std::size_t bytes) {
  std::size_t free_b = 0, total = 0;
  CHECK(cudaMemGetInfo(&free_b, &total));
  return bytes < free_b / 10 * 9;
}

double copy_bandwidth(const Device& d, int repeats) {
  std::size_t bytes = std::size_t(1) << 30;
  while (!fits(2 * bytes)) bytes /= 2;
  void *src, *dst;
  CHECK(cudaMalloc(&src, bytes));
  CHECK(cudaMalloc(&dst, bytes));
  CHECK(cudaMemsetAsync(src, 1, bytes, d.stream));
  const double ms = time_launches(d.stream, 2, repeats, [&](int) {
    CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, d.stream));
  });
  CHECK(cudaFree(src));
  CHECK(cudaFree(dst));
  return 2.0 * bytes / (ms * 1e-3) / 1e9;  // read + write
}

// Median ms of opt.step(theta, grad, state, n) over buffer sets of random theta and
// gradients and a zeroed state of state_n values of S, rotated so that each launch reads
// more than twice the L2 cache from memory. Negative when one set does not fit.
template <class S, class Opt>
double time_rotating_steps(const Device& d, Opt& opt, std::size_t n, std::size_t state_n,
                           std::uint64_t seed, int repeats) {
  const std::size_t set_bytes = 2 * n * sizeof(float) + state_n * sizeof(S);
  if (!fits(set_bytes)) return -1.0;
  int sets = rotation(set_bytes, d.l2);
  while (sets > 1 && !fits(sets * set_bytes)) --sets;
  std::vector<float*> theta(sets), grad(sets);
  std::vector<S*> state(sets);
  const int blocks = grid_for(n);
  for (int k = 0; k < sets; ++k) {
    CHECK(cudaMalloc(&theta[k], n * sizeof(float)));
    CHECK(cudaMalloc(&grad[k], n * sizeof(float)));
    CHECK(cudaMalloc(&state[k], state_n * sizeof(S)));
    fill_normal<<<blocks, 256, 0, d.stream>>>(theta[k], n, seed + k);
    fill_gradients<<<blocks, 256, 0, d.stream>>>(grad[k], n, seed + 100 + k);
    opt.reset_state(state[k], n, d.stream);
  }
  CHECK(cudaGetLastError());
  const double ms = time_launches(d.stream, 3, repeats, [&](int r) {
    const int k = r % sets;
    opt.step(theta[k], grad[k], state[k], n, d.stream);
  });
  for (int k = 0; k < sets; ++k) {
    CHECK(cudaFree(theta[k]));
    CHECK(cudaFree(grad[k]));
    CHECK(cudaFree(state[k]));
  }
  return ms;
}

template <class S>
bool bench_step(const Device& d, std::size_t n, int repeats, std::vector<Row>& rows) {
  l2o::LstmOptimizer opt(l2o::Weights::initialise(l2o::OptimizerConfig{}, 1), l2o::Device::kCuda);
  const double ms = time_rotating_steps<S>(d, opt, n, opt.state_size(n), 100, repeats);
  if (ms < 0) return false;
  // Per coordinate: grad read by the finiteness check and by the step (8 B), theta read
  // and written (8 B), the 80 state values read and written.
  const double bytes = 16.0 + 2.0 * 80 * sizeof(S);
  rows.push_back({"step", sizeof(S) == 2 ? "bf16 state" : "fp32 state", n, ms, bytes});
  return true;
}

bool bench_adam(const Device& d, std::size_t n, int repeats, std::vector<Row>& rows) {
  l2o::BaselineConfig c;
  c.kind = l2o::BaselineKind::kAdam;
  l2o::BaselineOptimizer opt(c, l2o::Device::kCuda);
  const double ms = time_rotating_steps<float>(d, opt, n, opt.state_size(n), 300, repeats);
  if (ms < 0) return false;
  // grad read twice (check, step), theta, m and v read and written.
  rows.push_back({"adam_step", "fused, fp32", n, ms, 8.0 + 3 * 8.0});
  return true;
}

struct MetaResult {
  double ms;
  l2o::UnrollTimes phases;
};

// Host-timed (the unroll ends by copying dL/dphi to the host): median over repeats of
// unroll + meta Adam + set_weights, after warm-up iterations (which record the graph).
MetaResult bench_meta(int batch, bool graphs, int repeats) {
  l2o::QuadraticOptions q;
  q.batch = batch;
  auto family = l2o::make_quadratic_family(q);
  auto f = family->sample(1, l2o::Device::kCuda);
  l2o::Weights phi = l2o::Weights::initialise(l2o::OptimizerConfig{}, 1);
  l2o::Unroller u(phi, f->size(), 20, l2o::Device::kCuda);
  u.set_cuda_graphs(graphs);
  l2o::MetaAdam adam(phi.size(), {});
  std::vector<float> dphi;
  u.start(*f);
  auto iteration = [&] {
    u.unroll(*f, &dphi);
    adam.step(phi.values(), dphi);
    u.set_weights(phi);
  };
  for (int r = 0; r < 3; ++r) iteration();
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    iteration();
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  MetaResult out{median(ms), {}};
  std::vector<double> p[5];
  for (int r = 0; r < 5; ++r) {
    l2o::UnrollTimes t;
    u.unroll_timed(*f, &dphi, &t);
    p[0].push_back(t.optimizee_ms);
    p[1].push_back(t.forward_ms);
    p[2].push_back(t.backward_ms);
    p[3].push_back(t.reduction_ms);
    p[4].push_back(t.total_ms);
  }
  out.phases = {median(p[0]), median(p[1]), median(p[2]), median(p[3]), median(p[4])};
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string csv;
  int max_log2n = 26, repeats = 20;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--csv" && i + 1 < argc) {
      csv = argv[++i];
    } else if (a == "--max-log2n" && i + 1 < argc) {
      max_log2n = std::atoi(argv[++i]);
    } else if (a == "--repeats" && i + 1 < argc) {
      repeats = std::max(3, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--csv FILE] [--max-log2n 26] [--repeats 20]\n", argv[0]);
      return 2;
    }
  }
  std::string why;
  if (!l2o::cuda_available(&why)) {
    std::fprintf(stderr, "l2o_bench_gpu: no usable CUDA device: %s\n", why.c_str());
    return 1;
  }
  Device d;
  int dev = 0;
  CHECK(cudaGetDevice(&dev));
  CHECK(cudaGetDeviceProperties(&d.prop, dev));
  d.l2 = static_cast<std::size_t>(d.prop.l2CacheSize);
  CHECK(cudaStreamCreateWithFlags(&d.stream, cudaStreamNonBlocking));
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));

  const double copy = copy_bandwidth(d, repeats);
  std::printf("# l2o %s GPU benchmark: %s (%d SMs, L2 %.0f MB), %s\n", L2O_VERSION_STRING,
              d.prop.name, d.prop.multiProcessorCount, d.l2 / 1e6, date);
  std::printf(
      "# device-to-device copy bandwidth (1 GiB cudaMemcpyAsync, read + write): %.0f GB/s\n", copy);
  std::vector<Row> rows;
  for (int k = 20; k <= max_log2n; k += 2) {
    const std::size_t n = std::size_t(1) << k;
    const int reps = k >= 24 ? std::max(5, repeats / 2) : repeats;
    if (!bench_step<float>(d, n, reps, rows)) std::printf("# step n=2^%d: does not fit\n", k);
    if (!bench_step<l2o::bfloat16>(d, n, reps, rows))
      std::printf("# step bf16 n=2^%d: does not fit\n", k);
    if (!bench_adam(d, n, reps, rows)) std::printf("# adam n=2^%d: does not fit\n", k);
  }
  std::printf(
      "\n| workload | variant | N | median ms | M coord-steps/s | B/coord | GB/s | %% of copy |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows) {
    const double gbs = r.bytes_per_coord * r.n / (r.ms * 1e-3) / 1e9;
    std::printf("| %s | %s | %zu | %.3f | %.0f | %.0f | %.0f | %.0f%% |\n", r.workload.c_str(),
                r.variant.c_str(), r.n, r.ms, r.n / (r.ms * 1e-3) / 1e6, r.bytes_per_coord, gbs,
                100.0 * gbs / copy);
  }

  std::printf(
      "\n| meta-iteration (quadratic, unroll 20) | N | median ms | optimizee | LSTM forward | "
      "LSTM backward | reduction | unroll total (timed run) |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  std::vector<Row> meta;
  for (int batch : {128, 104858})
    for (bool graphs : {false, true}) {
      const MetaResult m = bench_meta(batch, graphs, batch > 1000 ? 10 : 50);
      const std::size_t n = std::size_t(batch) * 10;
      meta.push_back({"meta_iteration", graphs ? "cuda graph" : "eager", n, m.ms, 0});
      std::printf("| %s | %zu | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n",
                  graphs ? "CUDA Graph" : "eager launches", n, m.ms, m.phases.optimizee_ms,
                  m.phases.forward_ms, m.phases.backward_ms, m.phases.reduction_ms,
                  m.phases.total_ms);
    }
  std::printf("(phase columns: one eagerly launched unroll timed with events per phase, ms)\n");

  if (!csv.empty()) {
    FILE* fh = std::fopen(csv.c_str(), "w");
    if (!fh) {
      std::fprintf(stderr, "cannot write %s\n", csv.c_str());
      return 1;
    }
    std::fprintf(fh, "card,date,workload,variant,n,ms,bytes_per_coord,copy_gbs\n");
    rows.insert(rows.end(), meta.begin(), meta.end());
    for (const Row& r : rows)
      std::fprintf(fh, "%s,%s,%s,%s,%zu,%.6g,%.0f,%.0f\n", d.prop.name, date, r.workload.c_str(),
                   r.variant.c_str(), r.n, r.ms, r.bytes_per_coord, copy);
    std::fclose(fh);
  }
  CHECK(cudaStreamDestroy(d.stream));
  return 0;
}
