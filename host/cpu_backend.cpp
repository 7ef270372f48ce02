// The CPU backend: the embedded default. Coordinates are processed kLanes at a time with
// the maths of coordinate.hpp, blocks of lanes spread over OpenMP threads. Each
// coordinate is independent, so results do not depend on the number of threads.
#include "backend.hpp"
#include "dispatch.hpp"
#include "simd_pack.hpp"

#include "l2o/coordinate.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace l2o {
namespace detail {
namespace {

using cpu::kLanes;
using P = cpu::Pack;

struct StepArgs {
  const float* phi;
  WeightLayout layout;
  PreprocessParams pre;
  float forget_bias;
  float output_scale;
};

// Steps the kLanes coordinates starting at i0, whose state rows are at state + k * ld.
template <int H>
inline void step_block(const StepArgs& a, float* theta, const float* grad, float* state,
                       std::size_t ld) {
  P x[2];
  for (int l = 0; l < kLanes; ++l) {
    float xi[2] = {0.0f, 0.0f};
    preprocess(grad[l], a.pre, xi);
    x[0].v[l] = xi[0];
    x[1].v[l] = xi[1];
  }
  cpu::PackStateIO io{state, ld};
  const P g = lstm_forward_step<H>(a.phi, a.layout, a.forget_bias, a.output_scale, x, io);
  for (int l = 0; l < kLanes; ++l) theta[l] += g[l];
}

template <int H>
void step_all(const StepArgs& a, float* theta, const float* grad, float* state, std::size_t n) {
  const std::size_t full = n / kLanes;
  const long long blocks = static_cast<long long>(full);
#pragma omp parallel for schedule(static)
  for (long long b = 0; b < blocks; ++b) {
    const std::size_t i0 = static_cast<std::size_t>(b) * kLanes;
    step_block<H>(a, theta + i0, grad + i0, state + i0, n);
  }
  const std::size_t i0 = full * kLanes, rest = n - i0;
  if (rest == 0) return;
  // The last partial block runs on zero-padded copies; only its real lanes are copied back.
  const int rows = 2 * a.layout.layers * H;
  std::vector<float> st(static_cast<std::size_t>(rows) * kLanes, 0.0f);
  float th[kLanes] = {}, gr[kLanes] = {};
  for (int k = 0; k < rows; ++k) std::memcpy(&st[k * kLanes], state + k * n + i0, rest * 4);
  std::memcpy(th, theta + i0, rest * 4);
  std::memcpy(gr, grad + i0, rest * 4);
  step_block<H>(a, th, gr, st.data(), kLanes);
  for (int k = 0; k < rows; ++k) std::memcpy(state + k * n + i0, &st[k * kLanes], rest * 4);
  std::memcpy(theta + i0, th, rest * 4);
}

bool all_finite(const float* v, std::size_t n) {
  int bad = 0;
  const long long m = static_cast<long long>(n);
#pragma omp parallel for reduction(| : bad) schedule(static)
  for (long long i = 0; i < m; ++i) bad |= !is_finite(v[i]);
  return !bad;
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const Weights& phi) { set_weights(phi); }

  void set_weights(const Weights& phi) override {
    phi_ = phi.values();
    const OptimizerConfig& c = phi.config();
    args_ = {phi_.data(), phi.layout(), PreprocessParams::from(c), c.forget_bias, c.output_scale};
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
  StepArgs args_{};
  bool skipped_ = false;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const Weights& phi) {
  return std::make_unique<CpuBackend>(phi);
}

}  // namespace detail
}  // namespace l2o
