// Meta-training by truncated backpropagation through time (docs/method.md §1, §3).
#pragma once

#include "l2o/build.hpp"

#include "l2o/config.hpp"
#include "l2o/device.hpp"
#include "l2o/problem.hpp"
#include "l2o/weights.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace l2o {

namespace detail {
class UnrollBackend;
}

// Where the time of one unroll went (Unroller::unroll_timed), in milliseconds: the
// optimizee's loss and gradient evaluations, the LSTM forward steps, the LSTM backward
// (on the CPU including the per-block phi accumulation it interleaves), the phi reduction
// (GPU: the cuBLAS products; CPU: the final sum over threads), and the whole unroll with
// the copy of dL/dphi to the host.
struct L2O_API UnrollTimes {
  double optimizee_ms = 0, forward_ms = 0, backward_ms = 0, reduction_ms = 0, total_ms = 0;
};

// Meta-training driven by the caller's own loop: the caller computes the optimizee's loss
// and gradient (in any framework, on any model) and feeds them in; the session runs the
// learned optimizer's steps on its own copy of theta, keeps the tape, and after
// unroll_length() steps returns the first-order meta-gradient dL/dphi of that unroll's
// loss L = sum_{t=1..T} w_t f(theta_t) (docs/method.md §3) — with the same tape and kernels
// as Unroller, which is a loop over a MetaSession. One unroll:
//
//   s.begin(theta0, grad0, loss0);         // a new optimizee: f and grad f at theta_0
//   for (int t = 0; t < s.unroll_length(); ++t) {
//     s.step();                            // theta_{t+1} = theta_t + g_t
//     my_loss_and_grad(s.theta(), grad, loss);
//     s.record(grad, loss);                // grad f and f at theta_{t+1}
//   }
//   std::vector<float> dphi;
//   s.finish(&dphi);                       // dL/dphi; theta, state and the last gradient
//                                          // carry on to the next unroll (no new begin)
//
// Memory: theta, gradients and losses are backend memory (host for the CPU, device for
// CUDA), a loss being one float. On CUDA, the session's work runs on its own stream
// (stream()): make it wait for the work that computes a gradient before record() (or
// compute on that stream), and read theta() after step() on it.
class L2O_API MetaSession {
 public:
  // omega: the T weights w_1..w_T (empty: all ones). device kAuto picks CUDA when usable.
  MetaSession(const Weights& phi, std::size_t n, int unroll, Device device = Device::kAuto,
              std::vector<float> omega = {});
  ~MetaSession();
  MetaSession(MetaSession&&) noexcept;
  MetaSession& operator=(MetaSession&&) noexcept;

  Device device() const;
  Stream stream() const;
  std::size_t size() const { return n_; }
  int unroll_length() const { return unroll_; }
  // Another phi of the same structure (layers, hidden units, inputs), between unrolls;
  // refused otherwise.
  void set_weights(const Weights& phi);
  const OptimizerConfig& config() const { return config_; }

  // A new optimizee from theta_0 with f(theta_0) and its gradient (copied), zero LSTM
  // state. The in-place form: write theta_0 into theta(), the gradient into grad_slot()
  // and the loss into loss_slot(), then call begin().
  void begin(const float* theta0, const float* grad0, const float* loss0);
  void begin();
  // theta += g_t: the next step of this unroll, from the last recorded gradient.
  void step();
  // The optimizee's gradient and loss at the theta of the last step (copied). The
  // in-place form: write them into grad_slot() and loss_slot(), then call record(). On
  // CUDA the copy is ordered on stream(); from host memory it is complete on return.
  void record(const float* grad, const float* loss);
  void record();
  // After unroll_length() recorded steps: f(theta_1..theta_T) (host), and dL/dphi into
  // *dphi when given (host, phi's size). The next unroll continues from here.
  std::vector<float> finish(std::vector<float>* dphi);

  // The current theta (backend memory, size() floats), and where the in-place forms read.
  float* theta();
  float* grad_slot();
  float* loss_slot();
  // Steps taken in the current unroll.
  int steps_taken() const { return t_; }

 private:
  friend class Unroller;
  void check_step_done(const char* what) const;

  std::size_t n_;
  int unroll_;
  OptimizerConfig config_;
  std::unique_ptr<detail::UnrollBackend> backend_;
  int t_ = 0;              // steps taken in this unroll
  bool recorded_ = false;  // the last step's gradient was recorded
  bool begun_ = false;
};

// Runs the learned optimizer on one optimizee, `unroll` steps at a time, and computes the
// first-order meta-gradient of each unroll's loss L = sum_{t=1..T} w_t f(theta_t)
// (second derivatives of f dropped: the gradients fed to the optimizer are constants).
// theta and the LSTM state carry from one unroll to the next.
class L2O_API Unroller {
 public:
  // omega: the T weights w_1..w_T (empty: all ones). device kAuto picks CUDA when usable.
  Unroller(const Weights& phi, std::size_t n, int unroll, Device device = Device::kAuto,
           std::vector<float> omega = {});
  // For an LSTM-sub phi (config().groups > 1): one session per parameter group, of the
  // sizes given (the optimizee's groups(), as many as phi's groups), stepped together; the
  // meta-gradient is each group's dL/dphi_k, one after the other, as phi's values. On
  // either backend: the groups' theta is assembled in the backend's memory for the
  // optimizee, which runs on the first group's stream (CUDA: the groups' streams wait for
  // each other through events, the host does not).
  Unroller(const Weights& phi, std::vector<std::size_t> group_sizes, int unroll,
           Device device = Device::kAuto, std::vector<float> omega = {});
  ~Unroller();
  Unroller(Unroller&&) noexcept;
  Unroller& operator=(Unroller&&) noexcept;

  Device device() const;
  std::size_t size() const { return offsets_.empty() ? 0 : offsets_.back(); }  // (moved from: 0)
  int unroll_length() const { return unroll_; }
  // The parameter groups' sizes ({size()} but for an LSTM-sub phi).
  const std::vector<std::size_t>& group_sizes() const { return sizes_; }
  void set_weights(const Weights& phi);

  // A new optimizee: theta_0 from f, zero LSTM state, and f and its gradient at theta_0.
  // Returns f(theta_0).
  float start(Optimizee& f);

  // T optimizer steps from the current theta and state, with f and its gradient after
  // each; when dphi is given it receives dL/dphi (host memory, phi's size). Returns
  // f(theta_1..theta_T) (host). Synchronises with the device once, at the end.
  std::vector<float> unroll(Optimizee& f, std::vector<float>* dphi);

  // unroll() with dL/dphi computed into backend memory and not copied to the host: it
  // stays at meta_gradient() (phi's size floats; device memory on CUDA, on stream()) until
  // the next unroll, for a caller that exchanges it on the device (train() over NCCL:
  // docs/scaling.md). Returns f(theta_1..theta_T) (host), having synchronised as unroll().
  std::vector<float> unroll_keep_gradient(Optimizee& f);
  const float* meta_gradient() const;
  // The stream the unroller's work runs on (CUDA; nullptr on the CPU).
  Stream stream() const;

  // unroll() with each phase timed (CUDA events on the GPU, a steady clock on the CPU),
  // launched eagerly (never from a CUDA Graph). For benchmarks and profiling.
  std::vector<float> unroll_timed(Optimizee& f, std::vector<float>* dphi, UnrollTimes* times);

  // CUDA Graphs (on by default): on the GPU, with an optimizee whose graph_capturable()
  // is true, the first unroll after start() records its whole device work (T forward
  // steps, T optimizee evaluations, the backward and the phi reduction) into a graph and
  // every unroll replays it: one launch instead of ~10 per step. Results are identical
  // to eager launches. Ignored on the CPU.
  void set_cuda_graphs(bool on) { graphs_ = on; }
  bool cuda_graphs() const { return graphs_; }

  // The current parameters (backend memory, size() floats).
  const float* theta() const;

 private:
  std::vector<float> run_unroll(Optimizee& f, bool backward, std::vector<float>* dphi);
  std::vector<float> finish_unroll(std::vector<float>* dphi);
  void restart_unroll();
  std::vector<float> run_groups(Optimizee& f, bool backward, std::vector<float>* dphi);
  MetaSession& group_session(std::size_t k);  // group k's session (0: session_)

  int unroll_;
  std::vector<std::size_t> sizes_;    // the parameter groups' sizes
  std::vector<std::size_t> offsets_;  // where each group starts in theta, and size() last
  MetaSession session_;               // (of the first group, for an LSTM-sub phi)
  // An LSTM-sub phi: the other groups' sessions, and theta, the gradient, the loss and
  // dL/dphi of all groups assembled in the backend's memory (defined in unroller.cpp).
  std::vector<MetaSession> more_;
  struct Assembled;
  std::unique_ptr<Assembled> all_;
  bool graphs_ = true;
  OptimizerConfig config_;  // of the phi the graph was recorded with
  // What the recorded graph was captured for: the optimizee of which start() (a counter,
  // so a new optimizee at a reused address is not mistaken for the old one) and whether
  // it includes the backward.
  std::uint64_t starts_ = 0, graph_start_ = 0;
  int graph_with_backward_ = -1;
};

struct L2O_API PesOptions {
  int particles = 8;    // an even number: antithetic pairs (+eps, -eps)
  double sigma = 0.01;  // standard deviation of each perturbation of each weight of phi
};

// Persistent evolution strategies (Vicol et al. 2021): meta-gradients from truncated
// unrolls that are unbiased for the whole horizon, with forward passes only. Each of N
// particles runs its own copy of the optimizee with phi + eps_i, eps_i ~ N(0, sigma^2 I)
// drawn afresh every truncation (antithetic: particles 2k and 2k+1 take +eps and -eps),
// and accumulates xi_i += eps_i over the optimizee's truncations so far; the estimate is
//
//   dL/dphi ~ sum_i xi_i L_i / (N sigma^2),   L_i = sum_{t=1..T} w_t f(theta_i,t),
//
// the gradient of this truncation's loss through everything phi did since the optimizee
// started (second derivatives of f included), where truncated backprop sees only the
// truncation and drops them. Its variance grows with phi's size and the number of
// truncations: many particles, or a small phi.
class L2O_API PesUnroller {
 public:
  PesUnroller(const Weights& phi, std::size_t n, int unroll, PesOptions options,
              Device device = Device::kAuto, std::vector<float> omega = {});
  ~PesUnroller();
  PesUnroller(PesUnroller&&) noexcept;
  PesUnroller& operator=(PesUnroller&&) noexcept;

  Device device() const;
  std::size_t size() const { return n_; }
  int unroll_length() const { return unroll_; }
  const PesOptions& options() const { return opt_; }
  // The mean phi (around which the particles are perturbed), between unrolls.
  void set_weights(const Weights& phi);

  // A new optimizee: `particles` holds options().particles instances of the same draw
  // (family.sample with one seed, that many times: the same theta_0 and data), which the
  // unroller keeps (an LSTM-sub phi takes their parameter groups, Unroller's second
  // constructor); zero LSTM states, the accumulated perturbations reset. noise_seed: the
  // stream of this optimizee's perturbations. Returns f(theta_0).
  float start(std::vector<std::unique_ptr<Optimizee>> particles, std::uint64_t noise_seed);
  // One truncation of T steps for every particle; *dphi (phi's size) receives the
  // estimate above when given. Returns the particles' mean f(theta_1..theta_T); a
  // particle whose losses are not finite makes them non-finite, and dphi meaningless.
  std::vector<float> unroll(std::vector<float>* dphi);

 private:
  std::size_t n_;
  int unroll_;
  PesOptions opt_;
  Device device_;
  Weights phi_;
  std::vector<float> omega_;
  std::vector<Unroller> particles_;
  std::vector<std::unique_ptr<Optimizee>> fs_;
  std::vector<std::vector<float>> xi_;  // per antithetic pair: the + particle's sum of eps
  std::uint64_t noise_ = 0;             // the perturbations' stream: seed, truncations drawn
  std::uint64_t drawn_ = 0;
};

// Adam on phi (the meta-optimizer), with optional clipping of the gradient's global norm.
struct L2O_API AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double clip_norm = 0.0;  // 0: no clipping
};

class L2O_API MetaAdam {
 public:
  MetaAdam() = default;
  MetaAdam(std::size_t size, AdamOptions options);
  // phi -= lr * m_hat / (sqrt(v_hat) + eps); returns the gradient's norm before clipping.
  // A non-finite gradient is refused (l2o::Error) without changing phi or the state.
  double step(std::vector<float>& phi, const std::vector<float>& grad);
  const AdamOptions& options() const { return opt_; }
  void set_lr(double lr) { opt_.lr = lr; }
  void set_clip_norm(double clip) { opt_.clip_norm = clip; }
  std::uint64_t steps() const { return t_; }

  // The "ADAM" checkpoint section: options, step count, m and v.
  std::vector<std::uint8_t> serialise() const;
  static MetaAdam deserialise(const std::vector<std::uint8_t>& bytes, std::size_t size);

 private:
  AdamOptions opt_;
  std::uint64_t t_ = 0;
  std::vector<double> m_, v_;
};

}  // namespace l2o
