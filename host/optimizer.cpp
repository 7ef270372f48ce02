#include "l2o/optimizer.hpp"

#include "backend.hpp"
#include "l2o/error.hpp"
#include "nvtx.hpp"

namespace l2o {

LstmOptimizer::LstmOptimizer(const Weights& phi, Device device) : phi_(phi) {
  phi_.config().validate();
  if (phi_.size() != phi_.layout().count())
    fail("LstmOptimizer: weights hold ", phi_.size(), " values, the configuration needs ",
         phi_.layout().count());
  device_ = resolve(device);
#if L2O_WITH_CUDA
  if (device_ == Device::kCuda) {
    backend_ = detail::make_cuda_backend(phi_);
    return;
  }
#endif
  backend_ = detail::make_cpu_backend(phi_);
}

LstmOptimizer::~LstmOptimizer() = default;
LstmOptimizer::LstmOptimizer(LstmOptimizer&&) noexcept = default;
LstmOptimizer& LstmOptimizer::operator=(LstmOptimizer&&) noexcept = default;

void LstmOptimizer::set_weights(const Weights& phi) {
  if (phi.size() != phi.layout().count())
    fail("set_weights: weights hold ", phi.size(), " values, the configuration needs ",
         phi.layout().count());
  if (phi.config() != phi_.config())
    fail("set_weights: configuration '", describe(phi.config()), "' differs from the optimizer's '",
         describe(phi_.config()), "'");
  backend_->set_weights(phi);
  phi_ = phi;
}

std::size_t LstmOptimizer::state_size(std::size_t n) const {
  return static_cast<std::size_t>(config().state_dim()) * n;
}

std::size_t LstmOptimizer::state_bytes(std::size_t n, StateFormat format) const {
  return state_size(n) * bytes_per_value(format);
}

void LstmOptimizer::reset_any(void* state, StateFormat format, std::size_t n, Stream stream) const {
  if (n == 0) return;
  if (!state) fail("reset_state: state is null for n = ", n);
  backend_->zero(state, state_bytes(n, format), stream);
}

void LstmOptimizer::reset_state(float* state, std::size_t n, Stream stream) const {
  reset_any(state, StateFormat::kFloat32, n, stream);
}

void LstmOptimizer::reset_state(bfloat16* state, std::size_t n, Stream stream) const {
  reset_any(state, StateFormat::kBFloat16, n, stream);
}

void LstmOptimizer::step_any(float* theta, const float* grad, void* state, StateFormat format,
                             std::size_t n, Stream stream, int* found_nonfinite) {
  L2O_NVTX_RANGE("l2o step");
  if (n == 0) return;
  if (!theta || !grad || !state)
    fail("step: null pointer for n = ", n, " (theta ", static_cast<const void*>(theta), ", grad ",
         static_cast<const void*>(grad), ", state ", static_cast<const void*>(state), ")");
  backend_->step(theta, grad, state, format, n, stream, found_nonfinite);
}

void LstmOptimizer::step(float* theta, const float* grad, float* state, std::size_t n,
                         Stream stream, int* found_nonfinite) {
  step_any(theta, grad, state, StateFormat::kFloat32, n, stream, found_nonfinite);
}

void LstmOptimizer::step(float* theta, const float* grad, bfloat16* state, std::size_t n,
                         Stream stream, int* found_nonfinite) {
  step_any(theta, grad, state, StateFormat::kBFloat16, n, stream, found_nonfinite);
}

bool LstmOptimizer::last_step_skipped() {
  return backend_->last_step_skipped();
}

}  // namespace l2o
