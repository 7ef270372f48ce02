// The CPU backend: the embedded default. Coordinates are processed kLanes at a time with
// the maths of coordinate.hpp, blocks of lanes spread over OpenMP threads. Each
// coordinate is independent, so results do not depend on the number of threads.
#include "backend.hpp"
#include "cpu_kernels.hpp"
#include "dispatch.hpp"

#include "l2o/coordinate.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace l2o {
namespace detail {
namespace {

using cpu::kLanes;

template <int H>
void step_all(const cpu::StepArgs& a, float* theta, const float* grad, float* state,
              std::size_t n) {
  const std::size_t full = n / kLanes * kLanes, rest = n - full;
  cpu::step_blocks<H>(a, theta, grad, state, state, full, n);
  if (rest == 0) return;
  // The last partial block runs on zero-padded copies; only its real lanes are copied back.
  const int rows = 2 * a.layout.layers * H;
  std::vector<float> st(static_cast<std::size_t>(rows) * kLanes, 0.0f);
  float th[kLanes] = {}, gr[kLanes] = {};
  for (int k = 0; k < rows; ++k) std::memcpy(&st[k * kLanes], state + k * n + full, rest * 4);
  std::memcpy(th, theta + full, rest * 4);
  std::memcpy(gr, grad + full, rest * 4);
  cpu::step_block<H>(a, th, gr, st.data(), st.data(), kLanes);
  for (int k = 0; k < rows; ++k) std::memcpy(state + k * n + full, &st[k * kLanes], rest * 4);
  std::memcpy(theta + full, th, rest * 4);
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const Weights& phi) { set_weights(phi); }

  void set_weights(const Weights& phi) override {
    phi_ = phi.values();
    args_ = cpu::StepArgs::from(phi, phi_.data());
  }

  void zero(float* data, std::size_t count, Stream) override {
    std::fill(data, data + count, 0.0f);
  }

  void step(float* theta, const float* grad, float* state, std::size_t n, Stream,
            int* found_nonfinite) override {
    skipped_ = !all_finite(grad, n);
    if (skipped_) {
      if (found_nonfinite) *found_nonfinite = 1;
      return;
    }
    dispatch_hidden(args_.layout.hidden,
                    [&](auto h) { step_all<decltype(h)::value>(args_, theta, grad, state, n); });
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
