// Hand-designed optimizers the learned one is compared with (docs/method.md §2): SGD,
// RMSprop, Adam and Nesterov momentum, as fused per-coordinate steps on both backends.
#pragma once

#include "l2o/build.hpp"

#include "l2o/device.hpp"
#include "l2o/segment.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace l2o {

enum class BaselineKind { kSgd, kRmsprop, kAdam, kNag };

L2O_API std::string to_string(BaselineKind k);
L2O_API BaselineKind parse_baseline(const std::string& name);  // sgd | rmsprop | adam | nag

// The hyper-parameters other than lr are PyTorch's defaults.
struct L2O_API BaselineConfig {
  BaselineKind kind = BaselineKind::kAdam;
  float lr = 1e-3f;
  float momentum = 0.9f;  // NAG
  float alpha = 0.99f;    // RMSprop: s = alpha s + (1 - alpha) g^2
  float beta1 = 0.9f;     // Adam
  float beta2 = 0.999f;   // Adam
  float eps = 1e-8f;      // RMSprop and Adam

  void validate() const;
  int state_dim() const;  // floats of state per coordinate: 0, 1, 2 or 1
};

namespace detail {
class BaselineBackend;
}

class L2O_API BaselineOptimizer {
 public:
  explicit BaselineOptimizer(const BaselineConfig& config, Device device = Device::kAuto);
  ~BaselineOptimizer();
  BaselineOptimizer(BaselineOptimizer&&) noexcept;
  BaselineOptimizer& operator=(BaselineOptimizer&&) noexcept;

  const BaselineConfig& config() const { return config_; }
  // A new learning rate (a schedule); validated like the configuration's.
  void set_lr(float lr);
  // Steps taken since reset_state (Adam's bias correction), for saving and restoring.
  std::uint64_t steps() const { return t_; }
  void set_steps(std::uint64_t t) { t_ = t; }
  Device device() const { return device_; }
  std::size_t state_size(std::size_t n) const {
    return static_cast<std::size_t>(config_.state_dim()) * n;
  }
  // Zeroes the state and Adam's step count: a fresh optimizee.
  void reset_state(float* state, std::size_t n, Stream stream = nullptr);
  // One step on backend memory; like LstmOptimizer::step, a non-finite gradient skips the
  // whole step and sets *found_nonfinite, and steps on several streams at once each have
  // their own check. Adam's step count is one per object: one object per optimizee.
  void step(float* theta, const float* grad, float* state, std::size_t n, Stream stream = nullptr,
            int* found_nonfinite = nullptr);
  // One step of `count` tensors at once (a model's parameter list), each with its own
  // state of state_size(n) floats: one kernel launch on CUDA (for up to 256 tensors), one
  // parallel pass on the CPU. A non-finite gradient in any tensor skips every tensor.
  // Counts as one step for Adam's bias correction.
  void step(const Segment<float>* segments, std::size_t count, Stream stream = nullptr,
            int* found_nonfinite = nullptr);

 private:
  BaselineConfig config_;
  Device device_;
  std::uint64_t t_ = 0;  // Adam's step count, for bias correction
  std::unique_ptr<detail::BaselineBackend> backend_;
};

}  // namespace l2o
