// The CPU backend: the embedded default. Coordinates are processed kLanes at a time with
// the maths of coordinate.hpp, blocks of lanes spread over OpenMP threads. Each
// coordinate is independent, so results do not depend on the number of threads.
#include "backend.hpp"
#include "cpu_kernels.hpp"
#include "dispatch.hpp"

#include "maths/coordinate.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace l2o {
namespace detail {
namespace {

using cpu::kLanes;

template <int H, class S>
void step_all(const cpu::StepArgs& a, float* theta, const float* grad, S* state, std::size_t n) {
  const std::size_t full = n / kLanes * kLanes, rest = n - full;
  cpu::step_blocks<H, S>(a, theta, grad, state, state, full, n);
  if (rest == 0) return;
  // The last partial block runs on zero-padded copies; only its real lanes are copied back.
  const int rows = 2 * a.layout.layers * H;
  std::vector<S> st(static_cast<std::size_t>(rows) * kLanes, S{});
  float th[kLanes] = {}, gr[kLanes] = {};
  const std::size_t bytes = rest * sizeof(S);
  for (int k = 0; k < rows; ++k) std::memcpy(&st[k * kLanes], state + k * n + full, bytes);
  std::memcpy(th, theta + full, rest * sizeof(float));
  std::memcpy(gr, grad + full, rest * sizeof(float));
  cpu::step_block<H, S>(a, th, gr, st.data(), st.data(), kLanes);
  for (int k = 0; k < rows; ++k) std::memcpy(state + k * n + full, &st[k * kLanes], bytes);
  std::memcpy(theta + full, th, rest * sizeof(float));
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const Weights& phi) { set_weights(phi); }

  void set_weights(const Weights& phi) override {
    phi_ = phi.values();
    args_ = cpu::StepArgs::from(phi, phi_.data());
  }

  void zero(void* data, std::size_t bytes, Stream) override { std::memset(data, 0, bytes); }

  void step(float* theta, const float* grad, void* state, StateFormat format, std::size_t n, Stream,
            int* found_nonfinite) override {
    skipped_ = !all_finite(grad, n);
    if (skipped_) {
      if (found_nonfinite) *found_nonfinite = 1;
      return;
    }
    dispatch_hidden(args_.layout.hidden, [&](auto h) {
      constexpr int H = decltype(h)::value;
      if (format == StateFormat::kBFloat16)
        step_all<H>(args_, theta, grad, static_cast<bfloat16*>(state), n);
      else
        step_all<H>(args_, theta, grad, static_cast<float*>(state), n);
    });
  }

  bool last_step_skipped() override { return skipped_; }

 private:
  std::vector<float> phi_;
  cpu::StepArgs args_{};
  bool skipped_ = false;
};

}  // namespace

bool all_finite(const float* v, std::size_t n) {
  int bad = 0;
  const long long m = static_cast<long long>(n);
#pragma omp parallel for reduction(| : bad) schedule(static)
  for (long long i = 0; i < m; ++i) bad |= !is_finite(v[i]);
  return !bad;
}

std::unique_ptr<Backend> make_cpu_backend(const Weights& phi) {
  return std::make_unique<CpuBackend>(phi);
}

}  // namespace detail
}  // namespace l2o
