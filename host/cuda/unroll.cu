// Meta-training on the GPU: the tape lives in device memory, every forward and backward
// step is one kernel on the unroll's stream, and the phi reduction is cuBLAS GEMMs/GEMVs
// accumulating into a device dL/dphi (beta = 1), so nothing synchronises with the host
// until the meta-gradient and the losses are copied back at the end of the unroll.
// LSTM+GAC (docs/generalisation.md): after each forward step the global units' h rows of
// the state entering the next step are replaced by their means over the coordinates, and
// the backward applies the same mean (the map's transpose) to the carried dL/dstate
// between its steps, as the CPU's unroll does (host/cpu/unroll.cpp).
#include "host/cuda/check.hpp"
#include "host/cuda/cuda.hpp"
#include "host/cuda/gac.cuh"
#include "host/cuda/segments.hpp"
#include "host/dispatch.hpp"
#include "host/fail.hpp"

#include "kernels/unroll_kernels.cuh"

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

namespace l2o {
namespace detail {
namespace {

constexpr int kThreads = kernels::kBlockThreads;  // kernels/launch.cuh

// Phase timing with CUDA events on one stream: each begin/end pair is two events, summed
// by totals() once the stream has reached them.
class CudaClock final : public PhaseClock {
 public:
  explicit CudaClock(cudaStream_t s) : stream_(s) {}
  ~CudaClock() override {
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
  }
  void begin(Phase p) override { open_[p] = record(); }
  void end(Phase p) override { pairs_.push_back({p, {open_[p], record()}}); }
  std::array<double, kPhases> totals() override {
    std::array<double, kPhases> ms{};
    if (used_ > 0) L2O_CUDA_CHECK(cudaEventSynchronize(events_[used_ - 1]));
    for (const auto& [p, ab] : pairs_) {
      float t = 0.0f;
      L2O_CUDA_CHECK(cudaEventElapsedTime(&t, events_[ab.first], events_[ab.second]));
      sums_[p] += t;
    }
    pairs_.clear();
    used_ = 0;  // the events are reused
    for (int p = 0; p < kPhases; ++p) ms[p] = sums_[p];
    return ms;
  }

 private:
  std::size_t record() {
    if (used_ == events_.size()) {
      cudaEvent_t e;
      L2O_CUDA_CHECK(cudaEventCreate(&e));
      events_.push_back(e);
    }
    L2O_CUDA_CHECK(cudaEventRecord(events_[used_], stream_));
    return used_++;
  }

  cudaStream_t stream_;
  std::vector<cudaEvent_t> events_;
  std::size_t used_ = 0;
  std::size_t open_[kPhases] = {};
  std::vector<std::pair<Phase, std::pair<std::size_t, std::size_t>>> pairs_;
  double sums_[kPhases] = {};
};

class CudaUnroll final : public UnrollBackend {
 public:
  CudaUnroll(const Weights& phi, std::size_t n, int T, std::vector<float> omega)
      : n_(n), T_(T), omega_(std::move(omega)) {
    // cuBLAS's 32-bit API takes n as an int (the reduction's inner dimension).
    if (n_ > static_cast<std::size_t>(std::numeric_limits<int>::max()))
      fail("Unroller on CUDA: ", n_, " coordinates, at most ", std::numeric_limits<int>::max(),
           " are supported");
    int device = 0;
    L2O_CUDA_CHECK(cudaGetDevice(&device));
    L2O_CUDA_CHECK(cudaDeviceGetAttribute(&sms_, cudaDevAttrMultiProcessorCount, device));
    blas_.bind(stream_);
    sd_ = static_cast<std::size_t>(phi.config().state_dim());
    theta_.resize(n_);
    grads_.resize((T_ + 1) * n_);
    states_.resize((T_ + 1) * sd_ * n_);
    losses_.resize(T_ + 1);
    const WeightLayout L = phi.layout();
    for (int l = 0; l < L.layers; ++l) {
      dz_[l].resize(std::size_t(4) * L.hidden * n_);
      xin_[l].resize(std::size_t(L.row_length(l)) * n_);
    }
    dout_.resize(n_);
    htop_.resize(std::size_t(L.hidden) * n_);
    carry_.resize(sd_ * n_);
    lambda_.resize(n_);
    std::vector<float> ones(n_, 1.0f);
    ones_.resize(n_);
    ones_.upload(ones.data(), n_, stream_);
    L2O_CUDA_CHECK(cudaStreamSynchronize(stream_));
    set_weights(phi);
  }

  ~CudaUnroll() override {
    if (exec_) cudaGraphExecDestroy(exec_);
    // The members go in reverse order: cuBLAS handles and buffers before the stream they
    // are bound to (stream_ is declared first).
  }

  Device device() const override { return Device::kCuda; }
  Stream stream() const override { return stream_; }

  void set_weights(const Weights& phi) override {
    phi_host_ = phi;
    phi_.resize(phi.size());
    dphi_.resize(phi.size());
    // Ordered on the unroll's stream after every step already enqueued; the host copy
    // stays alive in phi_host_ until the transfer is done.
    phi_.upload(phi_host_.data(), phi.size(), stream_);
    const OptimizerConfig& c = phi.config();
    params_ = {phi_.data(),   phi.layout(),   PreprocessParams::from(c),
               c.forget_bias, c.output_scale, c.bounded_output ? 1 : 0};
    gac_ = {c.hidden, c.gac, c.layers * c.gac, 0};
    if (c.gac > 0 && gac_scratch_.size() < global_means_scratch(gac_.rows)) {
      // Grown only (a recorded CUDA Graph holds these addresses; Unroller::set_weights
      // records a new one when the configuration changes). The flag, never set, is
      // cleared on the stream before any kernel reads it.
      gac_scratch_.resize(global_means_scratch(gac_.rows));
      no_skip_.resize(1);
      L2O_CUDA_CHECK(cudaMemsetAsync(no_skip_.data(), 0, sizeof(int), stream_));
    }
    const std::size_t smem = phi.size() * sizeof(float);
    dispatch_hidden(c.hidden, [&](auto h) {
      constexpr int H = decltype(h)::value;
      fwd_blocks_ = grid(kernels::l2o_unroll_forward_kernel<H>, smem);
      bwd_blocks_ = grid(kernels::l2o_unroll_backward_kernel<H>, smem);
    });
  }

  float* theta() override { return theta_.data(); }
  float* grad_slot(int t) override { return grads_.data() + t * n_; }
  float* loss_slot(int t) override { return losses_.data() + t; }
  float* state_slot(int t) { return states_.data() + t * sd_ * n_; }

  void copy_in(float* dst, const float* src, std::size_t count) override {
    if (dst == src) return;  // recorded in place
    // cudaMemcpyDefault: the source may be host or device memory (unified addressing).
    L2O_CUDA_CHECK(cudaMemcpyAsync(dst, src, count * sizeof(float), cudaMemcpyDefault, stream_));
    // From pinned host memory the copy is truly asynchronous: wait, so that the caller may
    // reuse its buffer at once (pageable memory is staged before the call returns).
    cudaPointerAttributes a{};
    L2O_CUDA_CHECK(cudaPointerGetAttributes(&a, src));
    if (a.type == cudaMemoryTypeHost) L2O_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void reset_state() override {
    L2O_CUDA_CHECK(cudaMemsetAsync(state_slot(0), 0, sd_ * n_ * sizeof(float), stream_));
  }

  void forward_step(int t) override {
    const std::size_t smem = phi_.size() * sizeof(float);
    dispatch_hidden(params_.layout.hidden, [&](auto h) {
      kernels::l2o_unroll_forward_kernel<decltype(h)::value>
          <<<fwd_blocks_, kThreads, smem, stream_>>>(params_, theta_.data(), grad_slot(t),
                                                     state_slot(t), state_slot(t + 1), n_);
      L2O_CUDA_CHECK_LAUNCH();
    });
    // LSTM+GAC: the state entering step t + 1, as recorded, holds the global units' means.
    if (gac_.gac > 0) average_global_rows(state_slot(t + 1));
  }

  void enqueue_backward() override {
    const WeightLayout& L = params_.layout;
    const int H = L.hidden;
    const std::size_t smem = phi_.size() * sizeof(float);
    L2O_CUDA_CHECK(cudaMemsetAsync(dphi_.data(), 0, dphi_.size() * sizeof(float), stream_));
    L2O_CUDA_CHECK(cudaMemsetAsync(carry_.data(), 0, carry_.size() * sizeof(float), stream_));
    L2O_CUDA_CHECK(cudaMemsetAsync(lambda_.data(), 0, lambda_.size() * sizeof(float), stream_));
    kernels::BackwardBuffers b{};
    for (int l = 0; l < L.layers; ++l) {
      b.dz[l] = dz_[l].data();
      b.xin[l] = xin_[l].data();
    }
    b.dout = dout_.data();
    b.htop = htop_.data();
    b.carry = carry_.data();
    b.lambda = lambda_.data();
    cublasHandle_t h = blas_.get();
    const float one = 1.0f;
    const int n = static_cast<int>(n_);
    for (int t = T_ - 1; t >= 0; --t) {
      mark_begin(kPhaseBackward);
      dispatch_hidden(H, [&](auto hc) {
        kernels::l2o_unroll_backward_kernel<decltype(hc)::value>
            <<<bwd_blocks_, kThreads, smem, stream_>>>(params_, grad_slot(t), grad_slot(t + 1),
                                                       omega_[t + 1], state_slot(t), n_, b);
        L2O_CUDA_CHECK_LAUNCH();
      });
      // The transpose of the forward's averaging, on dL/dstate entering step t (which
      // step t - 1 produced, before its averaging).
      if (gac_.gac > 0 && t > 0) average_global_rows(carry_.data());
      mark_end(kPhaseBackward);
      mark_begin(kPhaseReduction);
      float* dphi = dphi_.data();
      for (int l = 0; l < L.layers; ++l) {
        const int K = L.row_length(l);
        // dW (4H x K row-major = K x 4H column-major) += xin^T dz, inner dimension n.
        L2O_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, K, 4 * H, n, &one, xin_[l].data(),
                                     n, dz_[l].data(), n, &one, dphi + L.w_offset(l), K));
        // db (4H) += dz^T 1.
        L2O_CUBLAS_CHECK(cublasSgemv(h, CUBLAS_OP_T, n, 4 * H, &one, dz_[l].data(), n, ones_.data(),
                                     1, &one, dphi + L.b_offset(l), 1));
      }
      // dw_o += htop^T dout, db_o += dout^T 1.
      L2O_CUBLAS_CHECK(cublasSgemv(h, CUBLAS_OP_T, n, H, &one, htop_.data(), n, dout_.data(), 1,
                                   &one, dphi + L.out_w_offset(), 1));
      L2O_CUBLAS_CHECK(cublasSgemv(h, CUBLAS_OP_T, n, 1, &one, dout_.data(), n, ones_.data(), 1,
                                   &one, dphi + L.out_b_offset(), 1));
      mark_end(kPhaseReduction);
    }
  }

  void meta_gradient(std::vector<float>& dphi) override {
    dphi.resize(dphi_.size());
    L2O_CUDA_CHECK(cudaMemcpyAsync(dphi.data(), dphi_.data(), dphi.size() * sizeof(float),
                                   cudaMemcpyDeviceToHost, stream_));
    L2O_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  const float* meta_gradient_data() const override { return dphi_.data(); }

  std::vector<float> losses(int first, int count) override {
    std::vector<float> out(count);
    L2O_CUDA_CHECK(cudaMemcpyAsync(out.data(), loss_slot(first), count * sizeof(float),
                                   cudaMemcpyDeviceToHost, stream_));
    L2O_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return out;
  }

  std::unique_ptr<PhaseClock> make_clock() override { return std::make_unique<CudaClock>(stream_); }

  bool supports_graphs() const override { return true; }

  void begin_capture() override {
    // Thread-local mode: other host threads may keep using CUDA meanwhile.
    L2O_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  }

  void end_capture() override {
    cudaGraph_t graph = nullptr;
    L2O_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    // Same kernels and products on other buffers (a new optimizee): update in place, much
    // cheaper than instantiating; a different topology needs a new executable graph.
    if (exec_) {
      cudaGraphExecUpdateResultInfo info{};
      if (cudaGraphExecUpdate(exec_, graph, &info) != cudaSuccess) {
        (void)cudaGetLastError();  // not sticky: clear it and instantiate instead
        L2O_CUDA_CHECK(cudaGraphExecDestroy(exec_));
        exec_ = nullptr;
      }
    }
    if (!exec_) {
      const cudaError_t e = cudaGraphInstantiate(&exec_, graph, 0);
      cudaGraphDestroy(graph);
      L2O_CUDA_CHECK(e);
      return;
    }
    L2O_CUDA_CHECK(cudaGraphDestroy(graph));
  }

  void abort_capture() override {
    cudaGraph_t graph = nullptr;
    (void)cudaStreamEndCapture(stream_, &graph);
    if (graph) cudaGraphDestroy(graph);
    (void)cudaGetLastError();
  }

  void replay() override { L2O_CUDA_CHECK(cudaGraphLaunch(exec_, stream_)); }

  void carry_over() override {
    L2O_CUDA_CHECK(cudaMemcpyAsync(state_slot(0), state_slot(T_), sd_ * n_ * sizeof(float),
                                   cudaMemcpyDeviceToDevice, stream_));
    L2O_CUDA_CHECK(cudaMemcpyAsync(grad_slot(0), grad_slot(T_), n_ * sizeof(float),
                                   cudaMemcpyDeviceToDevice, stream_));
    L2O_CUDA_CHECK(cudaMemcpyAsync(loss_slot(0), loss_slot(T_), sizeof(float),
                                   cudaMemcpyDeviceToDevice, stream_));
  }

 private:
  // LSTM+GAC: the global units' rows of a state-shaped buffer (state_dim rows of n)
  // replaced by their means over the n coordinates (host/cuda/gac.cuh), on the stream.
  void average_global_rows(float* base) {
    Segment<float> all;
    all.state = base;
    all.n = n_;
    enqueue_global_means(segment_tables<float, 1>(&all, 1), gac_, no_skip_.data(),
                         gac_scratch_.data(), sms_, stream_);
  }

  // One wave of resident blocks (grid-stride loops amortise loading phi into shared memory).
  template <class Kernel>
  int grid(Kernel kernel, std::size_t smem) {
    const int per_sm = resident_blocks_per_sm(kernel, kThreads, smem, "a meta-training kernel");
    const std::size_t want = (n_ + kThreads - 1) / kThreads;
    return static_cast<int>(std::min<std::size_t>(want, std::size_t(per_sm) * sms_));
  }

  CudaStream stream_owner_;  // first member: destroyed last, after everything bound to it
  cudaStream_t stream_ = stream_owner_.get();
  std::size_t n_;
  int T_;
  std::vector<float> omega_;
  std::size_t sd_ = 0;
  int sms_ = 1;
  CublasHandle blas_;
  Weights phi_host_;
  kernels::StepParams params_{};
  kernels::GacParams gac_{};
  DeviceArray<double> gac_scratch_;  // LSTM+GAC's sums (host/cuda/gac.cuh)
  DeviceArray<int> no_skip_;         // the GAC kernels' skip flag: always 0 here
  int fwd_blocks_ = 1, bwd_blocks_ = 1;
  DeviceArray<float> phi_, dphi_, theta_, grads_, states_, losses_, dout_, htop_, carry_, lambda_,
      ones_;
  DeviceArray<float> dz_[kMaxLayers], xin_[kMaxLayers];
  cudaGraphExec_t exec_ = nullptr;
};

}  // namespace

std::unique_ptr<UnrollBackend> make_cuda_unroll(const Weights& phi, std::size_t n, int T,
                                                std::vector<float> omega) {
  return std::make_unique<CudaUnroll>(phi, n, T, std::move(omega));
}

}  // namespace detail
}  // namespace l2o
