// The CUDA backend: owns the device copy of phi and one flag per stream for non-finite
// gradients (cuda_flags.hpp), and enqueues the check and step kernels on the caller's
// stream without synchronising.
#include "backend.hpp"
#include "cuda_check.hpp"
#include "cuda_flags.hpp"
#include "dispatch.hpp"

#include "kernels/step_kernels.cuh"

#include <algorithm>

namespace l2o {
namespace detail {
namespace {

constexpr int kThreads = 256;

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const Weights& phi) {
    L2O_CUDA_CHECK(cudaGetDevice(&device_));
    L2O_CUDA_CHECK(cudaDeviceGetAttribute(&sms_, cudaDevAttrMultiProcessorCount, device_));
    set_weights(phi);
  }

  // Returns with the copy complete: every later step, on any stream, reads the new phi.
  void set_weights(const Weights& phi) override {
    L2O_CUDA_CHECK(cudaDeviceSynchronize());  // no step in flight may read the old phi
    phi_.resize(phi.size());
    phi_.upload(phi.data(), phi.size(), nullptr);
    // A copy from pageable memory may return before the device has the data: wait.
    L2O_CUDA_CHECK(cudaDeviceSynchronize());
    const OptimizerConfig& c = phi.config();
    params_ = {phi_.data(), phi.layout(), PreprocessParams::from(c), c.forget_bias, c.output_scale};
    dispatch_hidden(c.hidden, [&](auto h) {
      constexpr int H = decltype(h)::value;
      per_sm_[0] = resident_blocks_per_sm(kernels::l2o_lstm_step_kernel<H, float>, kThreads,
                                          smem_bytes(), "the LSTM step kernel");
      per_sm_[1] = resident_blocks_per_sm(kernels::l2o_lstm_step_kernel<H, bfloat16>, kThreads,
                                          smem_bytes(), "the LSTM step kernel (bfloat16 state)");
    });
  }

  void zero(void* data, std::size_t bytes, Stream stream) override {
    L2O_CUDA_CHECK(cudaMemsetAsync(data, 0, bytes, stream));
  }

  void step(float* theta, const float* grad, void* state, StateFormat format, std::size_t n,
            Stream stream, int* found_nonfinite) override {
    // The flag of this stream, locked until the three enqueues are done (cuda_flags.hpp).
    const StreamFlags::Lease lease = flags_.get(stream);
    int* flag = lease.flag;
    L2O_CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof(int), stream));
    const std::size_t want = (n + kThreads - 1) / kThreads;
    const std::size_t sms = static_cast<std::size_t>(sms_);
    const int check_blocks = static_cast<int>(std::min<std::size_t>(want, 4 * sms));
    kernels::l2o_check_finite_kernel<<<check_blocks, kThreads, 0, stream>>>(grad, n, flag);
    L2O_CUDA_CHECK_LAUNCH();
    // One wave of resident blocks, each looping over coordinates: phi is copied into
    // shared memory once per block, not once per 256 coordinates.
    const bool bf16 = format == StateFormat::kBFloat16;
    const int blocks = static_cast<int>(std::min<std::size_t>(want, sms * per_sm_[bf16]));
    dispatch_hidden(params_.layout.hidden, [&](auto h) {
      constexpr int H = decltype(h)::value;
      if (bf16)
        kernels::l2o_lstm_step_kernel<H><<<blocks, kThreads, smem_bytes(), stream>>>(
            params_, theta, grad, static_cast<bfloat16*>(state), n, flag, found_nonfinite);
      else
        kernels::l2o_lstm_step_kernel<H><<<blocks, kThreads, smem_bytes(), stream>>>(
            params_, theta, grad, static_cast<float*>(state), n, flag, found_nonfinite);
      L2O_CUDA_CHECK_LAUNCH();
    });
  }

  // The flag of the most recent step() call, read on that call's stream.
  bool last_step_skipped() override {
    const auto [stream, flag] = flags_.last();
    if (!flag) return false;
    int v = 0;
    L2O_CUDA_CHECK(cudaMemcpyAsync(&v, flag, sizeof v, cudaMemcpyDeviceToHost, stream));
    L2O_CUDA_CHECK(cudaStreamSynchronize(stream));
    return v != 0;
  }

 private:
  std::size_t smem_bytes() const { return params_.layout.count() * sizeof(float); }

  int device_ = 0;
  int sms_ = 1;
  DeviceArray<float> phi_;
  StreamFlags flags_;
  int per_sm_[2] = {1, 1};  // resident blocks per SM: fp32 state, bfloat16 state
  kernels::StepParams params_{};
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const Weights& phi) {
  return std::make_unique<CudaBackend>(phi);
}

}  // namespace detail
}  // namespace l2o
