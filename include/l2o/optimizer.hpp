// LstmOptimizer: the learned update rule of Andrychowicz et al. (2016), applied
// coordinatewise to any flat parameter vector.
#pragma once

#include "l2o/build.hpp"

#include "l2o/bfloat16.hpp"
#include "l2o/config.hpp"
#include "l2o/device.hpp"
#include "l2o/segment.hpp"
#include "l2o/weights.hpp"

#include <cstddef>
#include <memory>

namespace l2o {

namespace detail {
class StepBackend;
}

class L2O_API LstmOptimizer {
 public:
  // Copies phi into the backend (device memory for CUDA). Device::kCuda without a usable
  // device throws l2o::Error; kAuto falls back to the CPU.
  explicit LstmOptimizer(const Weights& phi, Device device = Device::kAuto);
  ~LstmOptimizer();
  LstmOptimizer(LstmOptimizer&&) noexcept;
  LstmOptimizer& operator=(LstmOptimizer&&) noexcept;

  Device device() const { return device_; }
  const OptimizerConfig& config() const { return phi_.config(); }
  const Weights& weights() const { return phi_; }
  // Replaces phi; the configuration must be the same. On CUDA the copy is complete when
  // this returns (it synchronises with the device).
  void set_weights(const Weights& phi);

  // Floats of LSTM state for n coordinates: config().state_dim() * n, laid out as
  // structure of arrays: row k = (layer * 2 + {0: h, 1: c}) * hidden + unit holds
  // state[k * n + i] for coordinates i = 0..n-1.
  std::size_t state_size(std::size_t n) const;
  // Bytes of that state in memory: state_size(n) values of 4 (fp32) or 2 (bfloat16) bytes.
  std::size_t state_bytes(std::size_t n, StateFormat format = StateFormat::kFloat32) const;

  // Zeroes the state of n coordinates (a fresh optimizee starts from h = c = 0).
  void reset_state(float* state, std::size_t n, Stream stream = nullptr) const;
  void reset_state(bfloat16* state, std::size_t n, Stream stream = nullptr) const;

  // One step theta += g(grad, state; phi) for n coordinates, state carried in place.
  // Pointers are host memory for the CPU backend and device memory for CUDA, where the
  // step is enqueued on `stream` and never synchronises with the host.
  //
  // Non-finite gradients: if any grad[i] is NaN or +-Inf, the whole step is skipped —
  // theta and state are left exactly as they were — and, when found_nonfinite is given
  // (memory of the backend: host int for the CPU, device int for CUDA), *found_nonfinite
  // is set to 1; it is never cleared, so it can collect several steps like AMP's found_inf.
  // last_step_skipped() tells the same without a flag of the caller's.
  //
  // Streams and threads (CUDA): one object may step several optimizees on several streams
  // at once, from one or several host threads; each stream has its own internal check
  // flag, so a non-finite gradient on one stream never lets another stream's step through
  // or stops it. The step may be captured into a CUDA Graph (the first 256 streams of an
  // object need no allocation; past them, step once on a stream before capturing on it).
  void step(float* theta, const float* grad, float* state, std::size_t n, Stream stream = nullptr,
            int* found_nonfinite = nullptr);
  // The same step with the state stored as bfloat16 (same layout, half the bytes): each
  // value is widened to fp32 when read, the arithmetic is fp32, and the new state is
  // rounded to the nearest bfloat16 when written. theta stays fp32. Given the same
  // bfloat16-representable state, θ comes out bit for bit as the fp32 step's and the new
  // state as the fp32 step's rounded to bfloat16 (but for the global units' rows of
  // OptimizerConfig::gac, the mean of the rounded values, rounded).
  void step(float* theta, const float* grad, bfloat16* state, std::size_t n,
            Stream stream = nullptr, int* found_nonfinite = nullptr);

  // One step of `count` tensors at once (a model's parameter list), each with its own state
  // of state_size(n) values (n its size): one kernel launch on CUDA (for up to 256
  // tensors; more take one launch per 256), one parallel pass on the CPU. Each tensor
  // comes out bit for bit as from the single-tensor step, except with global averaging
  // units (OptimizerConfig::gac), which are averaged over all the tensors of the call
  // (one more reduction after the step). A non-finite gradient in any tensor skips the
  // step of every tensor. Tensors with n = 0 are allowed.
  void step(const Segment<float>* segments, std::size_t count, Stream stream = nullptr,
            int* found_nonfinite = nullptr);
  void step(const Segment<bfloat16>* segments, std::size_t count, Stream stream = nullptr,
            int* found_nonfinite = nullptr);

  // Whether the most recent step() call was skipped for a non-finite gradient. On CUDA
  // this waits for that step (on its stream) to finish. With steps on several streams at
  // once, "most recent" is the last call made: pass found_nonfinite to each step instead.
  bool last_step_skipped();

 private:
  void reset_any(void* state, StateFormat format, std::size_t n, Stream stream) const;
  template <class S>
  void step_segments(const Segment<S>* segments, std::size_t count, Stream stream,
                     int* found_nonfinite);

  Weights phi_;
  Device device_;
  std::unique_ptr<detail::StepBackend> backend_;
};

}  // namespace l2o
