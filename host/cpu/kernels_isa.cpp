// The CPU kernels of one instruction set: compiled once per L2O_ISA (generic, avx2,
// avx512; CMakeLists.txt gives each its compiler flags) into one KernelTable
// (host/cpu/isa.hpp). Everything here and in the maths headers it includes sits in the
// inline namespace isa_<L2O_ISA> (maths/hd.hpp), so nothing compiled for a wider
// instruction set can be linked in place of another translation unit's code; the
// tests' isa_leak check disassembles the library to make sure.
#include "host/cpu/isa.hpp"
#include "host/cpu/lstm_tile.hpp"
#include "host/cpu/lstm_tile_backward.hpp"
#include "host/hidden_sizes.hpp"

#include <cstring>

#ifndef L2O_ISA
#error "compile kernels_isa.cpp with L2O_ISA set (CMakeLists.txt does)"
#endif

namespace l2o {
namespace cpu {
L2O_ISA_BEGIN
namespace {

// Rows of a coordinate's state: the LSTM's, then the moments' when there are any.
template <int H>
int state_rows(const StepArgs& a) {
  return 2 * a.layout.layers * H + (a.pre.moments ? OptimizerConfig::kMomentRows : 0);
}

// Coordinates [begin, end) of one tensor: whole blocks of kBlock, then (in the tensor's
// last chunk) the partial block, run on zero-padded copies of which only the real lanes
// are copied back. Every coordinate goes through the same step_tile whatever the
// chunking, so results depend neither on it nor on the thread count.
template <int H, class S>
void step_chunk(const StepArgs& a, const Segment<S>& s, std::size_t begin, std::size_t end) {
  const std::size_t full = begin + (end - begin) / kBlock * kBlock, rest = end - full;
  const int rows = state_rows<H>(a);
  for (std::size_t i = begin; i < full; i += kBlock) {
    const std::size_t p = i + kBlock;
    if (p + kBlock <= full) {
      prefetch_rows(s.state + p, rows, s.n);
      prefetch_coordinates(s.theta + p, s.grad + p);
    }
    step_tile<H, S>(a, s.theta + i, s.grad + i, s.state + i, s.state + i, s.n);
  }
  if (rest == 0) return;
  alignas(64) S st[(2 * kMaxLayers * H + OptimizerConfig::kMomentRows) * kBlock];
  alignas(64) float th[kBlock] = {}, gr[kBlock] = {};
  std::memset(st, 0, sizeof(S) * static_cast<std::size_t>(rows) * kBlock);
  const std::size_t bytes = rest * sizeof(S);
  for (int k = 0; k < rows; ++k) std::memcpy(&st[k * kBlock], s.state + k * s.n + full, bytes);
  std::memcpy(th, s.theta + full, rest * sizeof(float));
  std::memcpy(gr, s.grad + full, rest * sizeof(float));
  step_tile<H, S>(a, th, gr, st, st, kBlock);
  for (int k = 0; k < rows; ++k) std::memcpy(s.state + k * s.n + full, &st[k * kBlock], bytes);
  std::memcpy(s.theta + full, th, rest * sizeof(float));
}

// One parallel pass over every chunk of every tensor.
template <class S>
bool step_chunks(const StepArgs& a, const Segment<S>* segments, const Chunk* chunks,
                 std::size_t count) {
  return detail::visit_hidden(a.layout.hidden, [&](auto h) {
    constexpr int H = decltype(h)::value;
    const long long m = static_cast<long long>(count);
#pragma omp parallel for schedule(dynamic, 1)
    for (long long c = 0; c < m; ++c)
      step_chunk<H, S>(a, segments[chunks[c].segment], chunks[c].begin, chunks[c].end);
  });
}

bool forward(const StepArgs& a, float* theta, const float* grad, const float* src, float* dst,
             std::size_t n, std::size_t ld) {
  return detail::visit_hidden(a.layout.hidden, [&](auto h) {
    constexpr int H = decltype(h)::value;
    const int rows = state_rows<H>(a);
    const long long blocks = static_cast<long long>(n / kBlock);
#pragma omp parallel for schedule(static)
    for (long long b = 0; b < blocks; ++b) {
      const std::size_t i = static_cast<std::size_t>(b) * kBlock;
      if (b + 1 < blocks) {
        prefetch_rows(src + i + kBlock, rows, ld);
        prefetch_rows(dst + i + kBlock, rows, ld);
        prefetch_coordinates(theta + i + kBlock, grad + i + kBlock);
      }
      step_tile<H, float>(a, theta + i, grad + i, src + i, dst + i, ld);
    }
  });
}

// The coordinates are cut into a.slices fixed slices of whole blocks, whatever the number
// of threads; each slice's contribution to dL/dphi is summed in block order and then over
// its lanes (in double) into sums, so that the caller, adding the slices in order, gets
// the same meta-gradient on any number of threads.
template <int H>
void backward_h(const BackwardArgs& a, double* sums) {
  const std::size_t count = a.count;
  const long long blocks = static_cast<long long>(a.ld / kBlock);
#pragma omp parallel
  {
    std::vector<Pack> acc(count);
    TileBackward<H> work(a.step, a.T);
#pragma omp for schedule(dynamic, 1)
    for (long long k = 0; k < a.slices; ++k) {
      for (Pack& p : acc) p = Pack(0.0f);
      for (long long b = blocks * k / a.slices; b < blocks * (k + 1) / a.slices; ++b)
        work.block(a, static_cast<std::size_t>(b) * kBlock, acc.data());
      double* out = sums + static_cast<std::size_t>(k) * count;
      for (std::size_t e = 0; e < count; ++e) {
        double sum = 0.0;
        for (int l = 0; l < kLanes; ++l) sum += acc[e][l];
        out[e] = sum;
      }
    }
  }
}

// Lane sums of slice accumulators (slices x count packs) into sums, in double.
void sum_lanes(const Pack* acc, std::size_t count, long long slices, double* sums) {
#pragma omp parallel for schedule(static)
  for (long long k = 0; k < slices; ++k) {
    const std::size_t base = static_cast<std::size_t>(k) * count;
    for (std::size_t e = 0; e < count; ++e) {
      double sum = 0.0;
      for (int l = 0; l < kLanes; ++l) sum += acc[base + e][l];
      sums[base + e] = sum;
    }
  }
}

// Step-major: step t of every block (the same fixed slices as backward_h, each slice's
// blocks in order into its own accumulators), then between.apply on the carry, then step
// t - 1. Each thread's workspace holds kStepwiseSlots blocks' steps, whose dL/dphi
// products are accumulated together (one pass over the slice's accumulators per
// kStepwiseSlots blocks, not per block); the carry and lambda of every coordinate
// live in the caller's full-width buffers between steps (allocated there: a
// std::vector<float> made here would be an instantiation compiled for this instruction
// set that the linker could pick for the whole library, tests/isa_leak_check.sh).
template <int H>
void backward_stepwise_h(const BackwardArgs& a, double* sums, float* carry, float* lambda,
                         const BetweenSteps& between) {
  const std::size_t count = a.count;
  const long long blocks = static_cast<long long>(a.ld / kBlock);
  std::vector<Pack> acc(static_cast<std::size_t>(a.slices) * count, Pack(0.0f));
#pragma omp parallel
  {
    TileBackward<H> work(a.step, kStepwiseSlots);
    for (int t = a.T - 1; t >= 0; --t) {
#pragma omp for schedule(dynamic, 1)
      for (long long k = 0; k < a.slices; ++k) {
        Pack* slice_acc = acc.data() + static_cast<std::size_t>(k) * count;
        int used = 0;
        for (long long b = blocks * k / a.slices; b < blocks * (k + 1) / a.slices; ++b) {
          work.step(a, t, static_cast<std::size_t>(b) * kBlock, carry, lambda, used++);
          if (used == kStepwiseSlots) {
            work.flush(used, slice_acc);
            used = 0;
          }
        }
        work.flush(used, slice_acc);
      }
#pragma omp single
      if (t > 0) between.apply(between.context, carry);
    }
  }
  sum_lanes(acc.data(), count, a.slices, sums);
}

bool backward_stepwise(const BackwardArgs& a, double* sums, float* carry, float* lambda,
                       const BetweenSteps& between) {
  return detail::visit_hidden(a.step.layout.hidden, [&](auto h) {
    backward_stepwise_h<decltype(h)::value>(a, sums, carry, lambda, between);
  });
}

bool backward(const BackwardArgs& a, double* sums) {
  return detail::visit_hidden(a.step.layout.hidden,
                              [&](auto h) { backward_h<decltype(h)::value>(a, sums); });
}

bool step_f32(const StepArgs& a, const Segment<float>* s, const Chunk* c, std::size_t n) {
  return step_chunks<float>(a, s, c, n);
}
bool step_bf16(const StepArgs& a, const Segment<bfloat16>* s, const Chunk* c, std::size_t n) {
  return step_chunks<bfloat16>(a, s, c, n);
}

// kFmaChains accumulators, each a dependency chain: enough to cover the FMA latency
// (4 cycles) times the FMA units (2) of current x86 cores. Without FMA (generic) the
// multiply and the add are separate instructions, as the kernels' are.
double fma_loop(long iters) {
  VecF acc[kFmaChains];
  for (int c = 0; c < kFmaChains; ++c) acc[c] = VecF{} + 1e-3f * static_cast<float>(c);
  VecF a = VecF{} + 0.999999f, b = VecF{} + 1e-7f;
  asm volatile("" : "+x"(a), "+x"(b));  // not constants: the loop must do the arithmetic
  for (long i = 0; i < iters; ++i) {
    L2O_UNROLL_CPU
    for (int c = 0; c < kFmaChains; ++c) acc[c] = acc[c] * a + b;
  }
  VecF sum = VecF{};
  for (int c = 0; c < kFmaChains; ++c) sum += acc[c];
  float out = 0.0f;
  for (int l = 0; l < kLanes; ++l) out += sum[l];
  asm volatile("" : : "r"(out));
  return 2.0 * kLanes * kFmaChains * static_cast<double>(iters);
}

}  // namespace
L2O_ISA_END

#define L2O_STR_(x) #x
#define L2O_STR(x) L2O_STR_(x)

const KernelTable& L2O_CAT(kernels_, L2O_ISA)() {
  static const KernelTable table{L2O_STR(L2O_ISA), kBlock,   kTileRows,         step_f32, step_bf16,
                                 forward,          backward, backward_stepwise, fma_loop};
  return table;
}

}  // namespace cpu
}  // namespace l2o
