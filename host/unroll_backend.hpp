// The interface each backend implements for meta-training (internal; users see Unroller).
//
// The tape of one unroll of T steps has T + 1 slots: slot t holds the LSTM state entering
// step t (structure of arrays, state_dim rows of ld floats) and the optimizee's gradient
// and loss at theta_t. Step t reads state slot t and writes slot t + 1, so recording costs
// no copies; after the unroll, slot T moves to slot 0 for the next one.
#pragma once

#include "l2o/device.hpp"
#include "l2o/weights.hpp"

#include <cstddef>
#include <memory>
#include <vector>

namespace l2o {
namespace detail {

class UnrollBackend {
 public:
  virtual ~UnrollBackend() = default;
  virtual Device device() const = 0;
  virtual Stream stream() const = 0;
  virtual void set_weights(const Weights& phi) = 0;
  virtual float* theta() = 0;
  virtual float* grad_slot(int t) = 0;
  virtual float* loss_slot(int t) = 0;
  virtual void reset_state() = 0;        // state slot 0 = 0
  virtual void forward_step(int t) = 0;  // theta += g_t; state slot t -> slot t + 1
  // dL/dphi of the unroll just run into dphi (host, resized to phi's size).
  virtual void backward(std::vector<float>& dphi) = 0;
  virtual std::vector<float> losses(int first, int count) = 0;  // host copy; synchronises
  virtual void carry_over() = 0;  // slot T -> slot 0 (state and gradient)
};

// omega[t] weights f(theta_t), t = 1..T (omega[0] unused).
std::unique_ptr<UnrollBackend> make_cpu_unroll(const Weights& phi, std::size_t n, int T,
                                               std::vector<float> omega);
#if L2O_WITH_CUDA
std::unique_ptr<UnrollBackend> make_cuda_unroll(const Weights& phi, std::size_t n, int T,
                                                std::vector<float> omega);
#endif

}  // namespace detail
}  // namespace l2o
