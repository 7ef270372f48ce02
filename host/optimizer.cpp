#include "l2o/optimizer.hpp"

#include "host/backend.hpp"
#include "host/fail.hpp"
#include "host/nvtx.hpp"
#include "l2o/error.hpp"

#include <type_traits>
#include <vector>

namespace l2o {

namespace {
// An LSTM-sub phi has an LSTM per parameter group: one LstmOptimizer per group runs it.
void refuse_groups(const char* what, const Weights& phi) {
  if (phi.config().groups > 1)
    fail(what, ": phi holds ", phi.config().groups,
         " LSTMs (LSTM-sub, one per parameter group): step each group's coordinates with "
         "an optimizer of phi.group(k), as run_learned does");
}
}  // namespace

LstmOptimizer::LstmOptimizer(const Weights& phi, Device device) : phi_(phi) {
  phi_.config().validate();
  refuse_groups("LstmOptimizer", phi_);
  if (phi_.size() != phi_.layout().count())
    fail("LstmOptimizer: weights hold ", phi_.size(), " values, the configuration needs ",
         phi_.layout().count());
  device_ = resolve(device);
  backend_ = detail::backend_for(device_).make_step(phi_);
}

LstmOptimizer::~LstmOptimizer() = default;
LstmOptimizer::LstmOptimizer(LstmOptimizer&&) noexcept = default;
LstmOptimizer& LstmOptimizer::operator=(LstmOptimizer&&) noexcept = default;

void LstmOptimizer::set_weights(const Weights& phi) {
  refuse_groups("set_weights", phi);
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

template <class S>
void LstmOptimizer::step_segments(const Segment<S>* segments, std::size_t count, Stream stream,
                                  int* found_nonfinite) {
  L2O_NVTX_RANGE("l2o step");
  if (count > 0 && !segments) fail("step: null segment list for ", count, " tensors");
  std::vector<detail::SegmentRef> refs(count);
  std::size_t total = 0;
  for (std::size_t k = 0; k < count; ++k) {
    const Segment<S>& s = segments[k];
    if (s.n > 0 && (!s.theta || !s.grad || !s.state))
      fail("step: null pointer in tensor ", k, " of ", count, " (n = ", s.n, "; theta ",
           static_cast<const void*>(s.theta), ", grad ", static_cast<const void*>(s.grad),
           ", state ", static_cast<const void*>(s.state), ")");
    refs[k] = {s.theta, s.grad, s.state, s.n};
    total += s.n;
  }
  if (total == 0) return;
  backend_->step(refs.data(), count,
                 std::is_same<S, bfloat16>::value ? StateFormat::kBFloat16 : StateFormat::kFloat32,
                 stream, found_nonfinite);
}

void LstmOptimizer::step(float* theta, const float* grad, float* state, std::size_t n,
                         Stream stream, int* found_nonfinite) {
  const Segment<float> one{theta, grad, state, n};
  step_segments(&one, 1, stream, found_nonfinite);
}

void LstmOptimizer::step(float* theta, const float* grad, bfloat16* state, std::size_t n,
                         Stream stream, int* found_nonfinite) {
  const Segment<bfloat16> one{theta, grad, state, n};
  step_segments(&one, 1, stream, found_nonfinite);
}

void LstmOptimizer::step(const Segment<float>* segments, std::size_t count, Stream stream,
                         int* found_nonfinite) {
  step_segments(segments, count, stream, found_nonfinite);
}

void LstmOptimizer::step(const Segment<bfloat16>* segments, std::size_t count, Stream stream,
                         int* found_nonfinite) {
  step_segments(segments, count, stream, found_nonfinite);
}

bool LstmOptimizer::last_step_skipped() {
  return backend_->last_step_skipped();
}

}  // namespace l2o
