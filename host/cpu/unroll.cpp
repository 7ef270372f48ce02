// Meta-training on the CPU: the unroll's forward steps over the tape, and the backward,
// block of coordinates by block, all T steps in reverse, with the phi reduction
// accumulated per slice of the coordinates (kernels of host/cpu/isa.hpp).
#include "host/cpu/cpu.hpp"
#include "host/cpu/global_cells.hpp"
#include "host/cpu/isa.hpp"

#include "l2o/error.hpp"

#include <algorithm>
#include <cstring>

namespace l2o {
namespace detail {
namespace {

class CpuUnroll final : public UnrollBackend {
 public:
  CpuUnroll(const Weights& phi, std::size_t n, int T, std::vector<float> omega)
      : kernels_(cpu::kernels()),
        n_(n),
        ld_((n + kernels_.block - 1) / kernels_.block * kernels_.block),
        T_(T),
        omega_(std::move(omega)) {
    set_weights(phi);
    sd_ = static_cast<std::size_t>(phi.config().state_dim());
    // Padding coordinates (n..ld) have zero gradients forever, hence zero meta-gradient.
    theta_.assign(ld_, 0.0f);
    grads_.assign((T_ + 1) * ld_, 0.0f);
    states_.assign((T_ + 1) * sd_ * ld_, 0.0f);
    losses_.assign(T_ + 1, 0.0f);
  }

  Device device() const override { return Device::kCpu; }
  Stream stream() const override { return nullptr; }

  void set_weights(const Weights& phi) override {
    phi_.set(phi, kernels_);
    config_ = phi.config();
  }

  float* theta() override { return theta_.data(); }
  float* grad_slot(int t) override { return grads_.data() + t * ld_; }
  float* loss_slot(int t) override { return losses_.data() + t; }
  float* state_slot(int t) { return states_.data() + t * sd_ * ld_; }

  void copy_in(float* dst, const float* src, std::size_t count) override {
    if (dst != src) std::memcpy(dst, src, count * sizeof(float));
  }

  void reset_state() override { std::fill(state_slot(0), state_slot(1), 0.0f); }

  void forward_step(int t) override {
    kernels_.forward(phi_.args(), theta_.data(), grad_slot(t), state_slot(t), state_slot(t + 1),
                     ld_, ld_);
    // LSTM+GAC: the state entering step t + 1, as recorded, holds the global units' means.
    if (config_.gac > 0) cpu::average_global_units(config_, state_slot(t + 1), n_, ld_, false);
  }

  void enqueue_backward() override { backward(dphi_); }
  void meta_gradient(std::vector<float>& dphi) override { dphi = dphi_; }
  const float* meta_gradient_data() const override { return dphi_.data(); }

  std::vector<float> losses(int first, int count) override {
    return {losses_.begin() + first, losses_.begin() + first + count};
  }

  void carry_over() override {
    std::memcpy(state_slot(0), state_slot(T_), sd_ * ld_ * sizeof(float));
    std::memcpy(grad_slot(0), grad_slot(T_), ld_ * sizeof(float));
    losses_[0] = losses_[T_];
  }

 private:
  // The coordinates are cut into kSlices fixed slices of whole blocks, whatever the number
  // of threads; each slice's contribution to dL/dphi is summed in block order and then
  // over its lanes (in double), and the slices are added in slice order: the meta-gradient
  // is the same, bit for bit, on any number of threads.
  static constexpr long long kSlices = 32;

  void backward(std::vector<float>& dphi) {
    const std::size_t count = phi_.size();
    const long long packs = static_cast<long long>(ld_ / kernels_.block);
    // LSTM+GAC's step-by-step backward accumulates kStepwiseSlots blocks of a slice
    // together: slices of that many blocks where there are enough of them.
    const long long per_slice = config_.gac > 0 ? cpu::kStepwiseSlots : 1;
    const long long slices = std::min(kSlices, std::max(1LL, packs / per_slice));
    std::vector<double> sums(static_cast<std::size_t>(slices) * count, 0.0);
    // The backward and the per-slice phi accumulation, interleaved block by block, count as
    // the backward; the sum over slices as the reduction.
    mark_begin(kPhaseBackward);
    const cpu::BackwardArgs a{phi_.args(),    ld_,   sd_,   T_, omega_.data(), grads_.data(),
                              states_.data(), count, slices};
    if (config_.gac > 0) {
      // The transpose of the forward's averaging, between the steps of the backward.
      const cpu::BetweenSteps between{[](const void* self, float* carry) {
                                        const auto* u = static_cast<const CpuUnroll*>(self);
                                        cpu::average_global_units(u->config_, carry, u->n_, u->ld_,
                                                                  true);
                                      },
                                      this};
      const std::size_t rows = static_cast<std::size_t>(2 * config_.layers * config_.hidden);
      std::vector<float> carry(rows * ld_, 0.0f), lambda(ld_, 0.0f);
      kernels_.backward_stepwise(a, sums.data(), carry.data(), lambda.data(), between);
    } else {
      kernels_.backward(a, sums.data());
    }
    mark_end(kPhaseBackward);
    mark_begin(kPhaseReduction);
    dphi.assign(count, 0.0f);
    for (std::size_t e = 0; e < count; ++e) {
      double s = 0.0;
      for (long long k = 0; k < slices; ++k) s += sums[static_cast<std::size_t>(k) * count + e];
      dphi[e] = static_cast<float>(s);
    }
    mark_end(kPhaseReduction);
  }

  const cpu::KernelTable& kernels_;
  std::size_t n_, ld_, sd_ = 0;
  int T_;
  std::vector<float> omega_;
  cpu::KernelPhi phi_;
  OptimizerConfig config_;
  std::vector<float> theta_, grads_, states_, losses_, dphi_;
};

}  // namespace

std::unique_ptr<UnrollBackend> make_cpu_unroll(const Weights& phi, std::size_t n, int T,
                                               std::vector<float> omega) {
  return std::make_unique<CpuUnroll>(phi, n, T, std::move(omega));
}

}  // namespace detail
}  // namespace l2o
