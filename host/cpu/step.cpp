// The CPU backend: the embedded default. Coordinates are processed kLanes at a time with
// the maths of coordinate.hpp, blocks of lanes spread over OpenMP threads. Each
// coordinate is independent, so results do not depend on the number of threads.
#include "host/cpu/cpu.hpp"
#include "host/cpu/kernels.hpp"
#include "host/dispatch.hpp"

#include "maths/coordinate.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace l2o {
namespace detail {
namespace {

using cpu::kLanes;

// Coordinates [begin, end) of one tensor: whole blocks of kLanes, then (in the tensor's
// last chunk) the partial block, run on zero-padded copies of which only the real lanes
// are copied back. Every coordinate goes through the same step_block whatever the
// chunking, so results depend neither on it nor on the thread count.
template <int H, class S>
void step_chunk(const cpu::StepArgs& a, const Segment<S>& s, std::size_t begin, std::size_t end) {
  const std::size_t full = begin + (end - begin) / kLanes * kLanes, rest = end - full;
  for (std::size_t i = begin; i < full; i += kLanes)
    cpu::step_block<H, S>(a, s.theta + i, s.grad + i, s.state + i, s.state + i, s.n);
  if (rest == 0) return;
  const int rows = 2 * a.layout.layers * H;
  std::vector<S> st(static_cast<std::size_t>(rows) * kLanes, S{});
  float th[kLanes] = {}, gr[kLanes] = {};
  const std::size_t bytes = rest * sizeof(S);
  for (int k = 0; k < rows; ++k) std::memcpy(&st[k * kLanes], s.state + k * s.n + full, bytes);
  std::memcpy(th, s.theta + full, rest * sizeof(float));
  std::memcpy(gr, s.grad + full, rest * sizeof(float));
  cpu::step_block<H, S>(a, th, gr, st.data(), st.data(), kLanes);
  for (int k = 0; k < rows; ++k) std::memcpy(s.state + k * s.n + full, &st[k * kLanes], bytes);
  std::memcpy(s.theta + full, th, rest * sizeof(float));
}

class CpuStep final : public StepBackend {
 public:
  explicit CpuStep(const Weights& phi) { set_weights(phi); }

  void set_weights(const Weights& phi) override {
    phi_ = phi.values();
    args_ = cpu::StepArgs::from(phi, phi_.data());
  }

  void zero(void* data, std::size_t bytes, Stream) override { std::memset(data, 0, bytes); }

  void step(const SegmentRef* segments, std::size_t count, StateFormat format, Stream,
            int* found_nonfinite) override {
    const std::vector<cpu::Chunk> chunks = cpu::split(segments, count);
    skipped_ = !cpu::all_finite(segments, chunks);
    if (skipped_) {
      if (found_nonfinite) *found_nonfinite = 1;
      return;
    }
    dispatch_hidden(args_.layout.hidden, [&](auto h) {
      constexpr int H = decltype(h)::value;
      if (format == StateFormat::kBFloat16)
        run<H, bfloat16>(segments, chunks);
      else
        run<H, float>(segments, chunks);
    });
  }

  bool last_step_skipped() override { return skipped_; }

 private:
  // One parallel pass over every chunk of every tensor.
  template <int H, class S>
  void run(const SegmentRef* segments, const std::vector<cpu::Chunk>& chunks) {
    const long long m = static_cast<long long>(chunks.size());
#pragma omp parallel for schedule(dynamic, 1)
    for (long long c = 0; c < m; ++c) {
      const cpu::Chunk& k = chunks[c];
      const SegmentRef& r = segments[k.segment];
      const Segment<S> s{r.theta, r.grad, static_cast<S*>(r.state), r.n};
      step_chunk<H, S>(args_, s, k.begin, k.end);
    }
  }

  std::vector<float> phi_;
  cpu::StepArgs args_{};
  bool skipped_ = false;
};

}  // namespace

std::unique_ptr<StepBackend> make_cpu_step(const Weights& phi) {
  return std::make_unique<CpuStep>(phi);
}

}  // namespace detail
}  // namespace l2o
