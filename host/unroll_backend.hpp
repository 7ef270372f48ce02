// The interface each backend implements for meta-training (internal; users see Unroller).
//
// The tape of one unroll of T steps has T + 1 slots: slot t holds the LSTM state entering
// step t (structure of arrays, state_dim rows of ld floats) and the optimizee's gradient
// and loss at theta_t. Step t reads state slot t and writes slot t + 1, so recording costs
// no copies; after the unroll, slot T moves to slot 0 for the next one.
#pragma once

#include "l2o/device.hpp"
#include "l2o/weights.hpp"

#include <array>
#include <cstddef>
#include <memory>
#include <vector>

namespace l2o {
namespace detail {

// Per-phase timing of an unroll (Unroller::unroll_timed): host steady clock on the CPU,
// CUDA events on the unroll's stream on the GPU.
enum Phase { kPhaseOptimizee, kPhaseForward, kPhaseBackward, kPhaseReduction, kPhases };

class PhaseClock {
 public:
  virtual ~PhaseClock() = default;
  virtual void begin(Phase p) = 0;
  virtual void end(Phase p) = 0;
  // Milliseconds spent in each phase so far; waits for the device.
  virtual std::array<double, kPhases> totals() = 0;
};
std::unique_ptr<PhaseClock> make_host_clock();

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
  // dL/dphi of the unroll just run, into the backend's own buffer (enqueued on the
  // stream, no synchronisation, for CUDA).
  virtual void enqueue_backward() = 0;
  // That dL/dphi, to the host (resized to phi's size); synchronises.
  virtual void meta_gradient(std::vector<float>& dphi) = 0;
  virtual std::vector<float> losses(int first, int count) = 0;  // host copy; synchronises
  virtual void carry_over() = 0;  // slot T -> slot 0 (state and gradient)
  // count floats from src (host memory, or backend memory) to dst (backend memory),
  // ordered on the backend's stream.
  virtual void copy_in(float* dst, const float* src, std::size_t count) = 0;

  virtual std::unique_ptr<PhaseClock> make_clock() { return make_host_clock(); }
  // While set, the backend marks the backward and reduction phases on it.
  void set_clock(PhaseClock* c) { clock_ = c; }

  // CUDA Graphs: the work enqueued between begin_capture and end_capture is recorded, not
  // run; end_capture turns it into an executable graph (updating the previous one in
  // place when the topology is the same) and replay() launches it. abort_capture ends a
  // capture that failed and drops what it recorded.
  virtual bool supports_graphs() const { return false; }
  virtual void begin_capture() {}
  virtual void end_capture() {}
  virtual void abort_capture() {}
  virtual void replay() {}

 protected:
  void mark_begin(Phase p) {
    if (clock_) clock_->begin(p);
  }
  void mark_end(Phase p) {
    if (clock_) clock_->end(p);
  }
  PhaseClock* clock_ = nullptr;
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
