// The CPU kernels as a table of entry points, one table per instruction set, chosen once
// at run time from the CPU's features (docs/performance.md):
//   generic  the compiler's baseline for the target (SSE2 on x86-64)
//   avx2     AVX2 + FMA            (x86-64-v3 machines: Haswell, Zen and later)
//   avx512   AVX-512 F/VL/BW/DQ    (x86-64-v4: Skylake-X, Ice Lake, Zen 4 and later)
// Each table is host/cpu/kernels_isa.cpp compiled with that instruction set's flags; the
// rest of the library is compiled for the baseline and reaches the kernels only through
// here. L2O_CPU_ISA=generic|avx2|avx512 in the environment forces a path (refused with a
// message when this CPU or this build cannot run it).
#pragma once

#include "l2o/layout.hpp"
#include "l2o/segment.hpp"
#include "l2o/weights.hpp"
#include "maths/coordinate.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace l2o {
namespace cpu {

// What the step kernels read besides the coordinates.
struct StepArgs {
  const float* phi;    // as stored (biases, output layer)
  const float* tiles;  // phi with its W rows interleaved by the table's tile_rows
  WeightLayout layout;
  PreprocessParams pre;
  float forget_bias;
  float output_scale;
  bool bounded_output;
};

// A piece of one tensor of a multi-tensor step: coordinates [begin, end) of segment
// `segment`. Chunks start at multiples of the chunk size within their tensor, so they hold
// whole blocks but for the tensor's last one.
struct Chunk {
  std::size_t segment, begin, end;
};

// The tape of an unroll (host/backend.hpp) as the backward reads it.
struct BackwardArgs {
  StepArgs step;
  std::size_t ld;         // floats per row, a multiple of the table's block
  std::size_t state_dim;  // rows per state slot
  int T;                  // steps
  const float* omega;     // T + 1 loss weights
  const float* grads;     // slot t at grads + t * ld
  const float* states;    // slot t at states + t * state_dim * ld
  std::size_t count;      // phi's length
  long long slices;       // fixed slices of the coordinates (see unroll.cpp)
};

// What a step-by-step backward (KernelTable::backward_stepwise) does between two steps,
// on one thread, to the carried dL/dstate of every coordinate (the LSTM's 2 layers H rows,
// row k at carry + k * ld): LSTM+GAC's averaging (host/cpu/global_cells.hpp).
struct BetweenSteps {
  void (*apply)(const void* context, float* carry);
  const void* context;
};

// Blocks whose steps backward_stepwise accumulates into dL/dphi together (one pass over a
// slice's accumulators per this many blocks): slices of at least this many blocks make
// the most of it.
constexpr int kStepwiseSlots = 8;

struct KernelTable {
  const char* name;
  int block;      // coordinates per block: n of a forward must be a multiple of it
  int tile_rows;  // interleave of phi's W rows for the forward's product (interleaved_index)
  // Each returns false, having done nothing, when the hidden size has no kernel.
  // One step of the chunks of tensors with float / bfloat16 state, in parallel.
  bool (*step_f32)(const StepArgs&, const Segment<float>*, const Chunk*, std::size_t chunks);
  bool (*step_bf16)(const StepArgs&, const Segment<bfloat16>*, const Chunk*, std::size_t chunks);
  // One step of n coordinates (a multiple of block), state rows read at src + k * ld and
  // written at dst + k * ld, in parallel: the unroll's forward.
  bool (*forward)(const StepArgs&, float* theta, const float* grad, const float* src, float* dst,
                  std::size_t n, std::size_t ld);
  // The unroll's backward: sums[k * count + e] = slice k's contribution to dL/dphi[e].
  bool (*backward)(const BackwardArgs&, double* sums);
  // The same, step by step over all the coordinates (every block's step t, then
  // between.apply on the carry, then step t - 1), for a carry that couples coordinates.
  // carry (the LSTM's 2 layers H rows of ld floats) and lambda (ld floats) are the
  // caller's, zeroed. Its sums differ from backward's in rounding only (each step's
  // dL/dphi is added to the slice's sums separately).
  bool (*backward_stepwise)(const BackwardArgs&, double* sums, float* carry, float* lambda,
                            const BetweenSteps& between);
  // The machine's arithmetic peak at this instruction set, for the benchmarks: `iters`
  // rounds of kFmaChains independent multiply-adds on full vectors, registers only, on the
  // calling thread; returns the floating-point operations done (2 per lane per FMA).
  double (*fma_loop)(long iters);
};
constexpr int kFmaChains = 12;

// The tables this build has (defined in kernels_isa.cpp, one per instruction set).
const KernelTable& kernels_generic();
const KernelTable& kernels_avx2();    // x86-64 builds only
const KernelTable& kernels_avx512();  // x86-64 builds only

// The table in use: L2O_CPU_ISA's when set, else the widest this CPU runs. Chosen once.
const KernelTable& kernels();
// The instruction sets this build and this CPU can run, widest first.
std::vector<std::string> supported_isas();

// phi as a KernelTable's kernels read it: its values, their copy with the W matrices' rows
// interleaved by the table's tile_rows, and the StepArgs pointing into both (so not
// copyable). set() refuses a hidden size without compiled kernels.
class KernelPhi {
 public:
  KernelPhi() = default;
  KernelPhi(const KernelPhi&) = delete;
  KernelPhi& operator=(const KernelPhi&) = delete;
  void set(const Weights& phi, const KernelTable& kernels);
  const StepArgs& args() const { return args_; }
  std::size_t size() const { return values_.size(); }

 private:
  std::vector<float> values_, tiles_;
  StepArgs args_{};
};

}  // namespace cpu
}  // namespace l2o
