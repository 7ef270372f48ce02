#include "baseline_backend.hpp"
#include "cuda_check.hpp"
#include "cuda_flags.hpp"

#include "kernels/baseline_kernels.cuh"
#include "kernels/step_kernels.cuh"

#include <algorithm>

namespace l2o {
namespace detail {
namespace {

constexpr int kThreads = 256;

class CudaBaseline final : public BaselineBackend {
 public:
  CudaBaseline() {
    int device = 0;
    L2O_CUDA_CHECK(cudaGetDevice(&device));
    L2O_CUDA_CHECK(cudaDeviceGetAttribute(&sms_, cudaDevAttrMultiProcessorCount, device));
  }
  void zero(float* data, std::size_t count, Stream stream) override {
    L2O_CUDA_CHECK(cudaMemsetAsync(data, 0, count * sizeof(float), stream));
  }
  void step(const BaselineParams& p, float* theta, const float* grad, float* state, std::size_t n,
            Stream stream, int* found) override {
    // The flag of this stream, locked until the three enqueues are done (cuda_flags.hpp).
    const StreamFlags::Lease lease = flags_.get(stream);
    int* flag = lease.flag;
    L2O_CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof(int), stream));
    const std::size_t want = (n + kThreads - 1) / kThreads;
    const int blocks = static_cast<int>(std::min<std::size_t>(want, 8 * std::size_t(sms_)));
    kernels::l2o_check_finite_kernel<<<blocks, kThreads, 0, stream>>>(grad, n, flag);
    L2O_CUDA_CHECK_LAUNCH();
    float* s0 = p.kind == 0 ? nullptr : state;
    float* s1 = p.kind == 2 ? state + n : nullptr;
    kernels::l2o_baseline_step_kernel<<<blocks, kThreads, 0, stream>>>(p, theta, grad, s0, s1, n,
                                                                       flag, found);
    L2O_CUDA_CHECK_LAUNCH();
  }

 private:
  int sms_ = 1;
  StreamFlags flags_;
};

}  // namespace

std::unique_ptr<BaselineBackend> make_cuda_baseline() {
  return std::make_unique<CudaBaseline>();
}

}  // namespace detail
}  // namespace l2o
