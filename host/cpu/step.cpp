// The CPU backend: the embedded default. The step runs the kernels of host/cpu/isa.hpp
// (the widest instruction set this CPU has) on chunks of every tensor spread over OpenMP
// threads. Each coordinate is independent and goes through the same block kernel
// whatever the chunking, so results do not depend on the number of threads.
#include "host/cpu/chunks.hpp"
#include "host/cpu/cpu.hpp"
#include "host/cpu/global_cells.hpp"
#include "host/cpu/isa.hpp"

#include <cstring>
#include <vector>

namespace l2o {
namespace detail {
namespace {

class CpuStep final : public StepBackend {
 public:
  explicit CpuStep(const Weights& phi) : kernels_(cpu::kernels()) { set_weights(phi); }

  void set_weights(const Weights& phi) override {
    phi_.set(phi, kernels_);
    config_ = phi.config();
  }

  void zero(void* data, std::size_t bytes, Stream) override { std::memset(data, 0, bytes); }

  void step(const SegmentRef* segments, std::size_t count, StateFormat format, Stream,
            int* found_nonfinite) override {
    // Chunks of 32 blocks: enough to spread one tensor over the threads, large enough that
    // scheduling them costs nothing.
    const std::vector<cpu::Chunk> chunks =
        cpu::split(segments, count, 32 * static_cast<std::size_t>(kernels_.block));
    skipped_ = !cpu::all_finite(segments, chunks);
    if (skipped_) {
      if (found_nonfinite) *found_nonfinite = 1;
      return;
    }
    // A tensor list is a list of Segment<void>; each kernel reads it as its state type.
    std::vector<Segment<float>> f32;
    std::vector<Segment<bfloat16>> bf16;
    for (std::size_t s = 0; s < count; ++s) {
      const SegmentRef& r = segments[s];
      if (format == StateFormat::kBFloat16)
        bf16.push_back({r.theta, r.grad, static_cast<bfloat16*>(r.state), r.n});
      else
        f32.push_back({r.theta, r.grad, static_cast<float*>(r.state), r.n});
    }
    if (format == StateFormat::kBFloat16) {
      kernels_.step_bf16(phi_.args(), bf16.data(), chunks.data(), chunks.size());
      if (config_.gac > 0) cpu::average_global_units(config_, bf16.data(), bf16.size());
    } else {
      kernels_.step_f32(phi_.args(), f32.data(), chunks.data(), chunks.size());
      if (config_.gac > 0) cpu::average_global_units(config_, f32.data(), f32.size());
    }
  }

  bool last_step_skipped() override { return skipped_; }

 private:
  const cpu::KernelTable& kernels_;
  cpu::KernelPhi phi_;
  OptimizerConfig config_;
  bool skipped_ = false;
};

}  // namespace

std::unique_ptr<StepBackend> make_cpu_step(const Weights& phi) {
  return std::make_unique<CpuStep>(phi);
}

}  // namespace detail
}  // namespace l2o
