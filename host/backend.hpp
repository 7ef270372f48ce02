// The per-device backend interface (internal): what the CPU (host/cpu/) and the CUDA
// (host/cuda/) backends each implement, chosen once per object through backend_for():
//   StepBackend      the learned optimizer's step (LstmOptimizer)
//   BaselineBackend  the hand-designed optimizers' step (BaselineOptimizer)
//   UnrollBackend    the tape, forward and backward of meta-training (MetaSession)
//   memory           allocation, zeroing, copies to and from the host (Buffer)
//   clocks           per-phase timing of an unroll (PhaseClock)
//
// The tape of one unroll of T steps has T + 1 slots: slot t holds the LSTM state entering
// step t (structure of arrays, state_dim rows of ld floats) and the optimizee's gradient
// and loss at theta_t. Step t reads state slot t and writes slot t + 1, so recording costs
// no copies; after the unroll, slot T moves to slot 0 for the next one.
#pragma once

#include "l2o/bfloat16.hpp"
#include "l2o/device.hpp"
#include "l2o/segment.hpp"
#include "l2o/weights.hpp"
#include "maths/coordinate.hpp"

#include <array>
#include <cstddef>
#include <memory>
#include <vector>

namespace l2o {
namespace detail {

// --- the optimizer step ----------------------------------------------------------------

// One tensor of a step, its state's type erased (float* or bfloat16*, as the call says).
using SegmentRef = Segment<void>;

class StepBackend {
 public:
  virtual ~StepBackend() = default;
  virtual void set_weights(const Weights& phi) = 0;
  virtual void zero(void* data, std::size_t bytes, Stream stream) = 0;
  // One step of `count` tensors (a single-tensor step is count = 1): skipped as a whole
  // when any gradient of any tensor is not finite. Tensors with n = 0 are allowed.
  virtual void step(const SegmentRef* segments, std::size_t count, StateFormat format,
                    Stream stream, int* found_nonfinite) = 0;
  virtual bool last_step_skipped() = 0;
};

// --- the baselines' step --------------------------------------------------------------

class BaselineBackend {
 public:
  virtual ~BaselineBackend() = default;
  virtual void zero(float* data, std::size_t count, Stream stream) = 0;
  // One step of `count` tensors, each with state_dim rows of its n (row 1 only for Adam);
  // skipped as a whole when any gradient of any tensor is not finite.
  virtual void step(const BaselineParams& p, const Segment<float>* segments, std::size_t count,
                    Stream stream, int* found_nonfinite) = 0;
};

// --- meta-training ---------------------------------------------------------------------

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
  // Where enqueue_backward leaves dL/dphi (backend memory, phi's size floats).
  virtual const float* meta_gradient_data() const = 0;
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

// --- the device backend: one per device, chosen once ----------------------------------

class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  virtual Device device() const = 0;
  virtual std::unique_ptr<StepBackend> make_step(const Weights& phi) const = 0;
  virtual std::unique_ptr<BaselineBackend> make_baseline() const = 0;
  // omega[t] weights f(theta_t), t = 1..T (omega[0] unused).
  virtual std::unique_ptr<UnrollBackend> make_unroll(const Weights& phi, std::size_t n, int T,
                                                     std::vector<float> omega) const = 0;
  // Memory of this backend (host memory for the CPU, device memory for CUDA).
  virtual void* alloc(std::size_t bytes) const = 0;
  virtual void free(void* p) const = 0;
  virtual void zero(void* p, std::size_t bytes, Stream s) const = 0;
  // Copies between this backend's memory and the host, and waits for the copy.
  virtual void to_host(void* dst, const void* src, std::size_t bytes, Stream s) const = 0;
  virtual void from_host(void* dst, const void* src, std::size_t bytes, Stream s) const = 0;
  // Copies within this backend's memory (or from the host), ordered on s.
  virtual void copy(void* dst, const void* src, std::size_t bytes, Stream s) const = 0;
  // Work enqueued on `waiter` after this call starts once the work enqueued on `other`
  // before it is done, without blocking the host (CUDA: an event; the CPU: nothing to do).
  virtual void wait_for(Stream waiter, Stream other) const = 0;
  // Waits for all work on the device (CUDA: every stream).
  virtual void synchronize() const = 0;
  // The device l2o's calls use now (CUDA: the current device; the CPU: 0).
  virtual int current_index() const = 0;
};

// The backend of a device (kAuto resolved: CUDA when usable); throws when kCuda is asked
// for and not usable.
const DeviceBackend& backend_for(Device d);
const DeviceBackend& cpu_backend();
#if L2O_WITH_CUDA
const DeviceBackend& cuda_backend();
#endif

}  // namespace detail
}  // namespace l2o
