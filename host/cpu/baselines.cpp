// The hand-designed optimizers on the CPU: baseline_update of maths/coordinate.hpp per
// coordinate, one parallel pass over the chunks of every tensor.
#include "host/cpu/chunks.hpp"
#include "host/cpu/cpu.hpp"

#include <algorithm>

namespace l2o {
namespace detail {
namespace {

class CpuBaseline final : public BaselineBackend {
 public:
  void zero(float* data, std::size_t count, Stream) override {
    std::fill(data, data + count, 0.0f);
  }
  void step(const BaselineParams& p, const Segment<float>* segments, std::size_t count, Stream,
            int* found) override {
    const std::vector<cpu::Chunk> chunks = cpu::split(segments, count, 2048);
    if (!cpu::all_finite(segments, chunks)) {
      if (found) *found = 1;
      return;
    }
    const long long m = static_cast<long long>(chunks.size());
#pragma omp parallel for schedule(dynamic, 1)
    for (long long c = 0; c < m; ++c) {
      const Segment<float>& s = segments[chunks[c].segment];
      float dummy0 = 0.0f, dummy1 = 0.0f;
      float* s0 = p.kind == 0 ? nullptr : s.state;
      float* s1 = p.kind == 2 ? s.state + s.n : nullptr;
      for (std::size_t i = chunks[c].begin; i < chunks[c].end; ++i) {
        float& a = s0 ? s0[i] : dummy0;
        float& b = s1 ? s1[i] : dummy1;
        baseline_update(p, s.grad[i], s.theta[i], a, b);
      }
    }
  }
};

}  // namespace

std::unique_ptr<BaselineBackend> make_cpu_baseline() {
  return std::make_unique<CpuBaseline>();
}

}  // namespace detail

}  // namespace l2o
