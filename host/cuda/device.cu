// The CUDA device as a DeviceBackend: cudaMalloc'd memory, copies ordered on the caller's
// stream, and the CUDA step, baselines and unroll.
#include "host/cuda/check.hpp"
#include "host/cuda/cuda.hpp"

namespace l2o {
namespace detail {
namespace {

class CudaDevice final : public DeviceBackend {
 public:
  Device device() const override { return Device::kCuda; }
  std::unique_ptr<StepBackend> make_step(const Weights& phi) const override {
    return make_cuda_step(phi);
  }
  std::unique_ptr<BaselineBackend> make_baseline() const override { return make_cuda_baseline(); }
  std::unique_ptr<UnrollBackend> make_unroll(const Weights& phi, std::size_t n, int T,
                                             std::vector<float> omega) const override {
    return make_cuda_unroll(phi, n, T, std::move(omega));
  }
  void* alloc(std::size_t bytes) const override {
    void* p = nullptr;
    L2O_CUDA_CHECK(cudaMalloc(&p, bytes));
    return p;
  }
  void free(void* p) const override { cudaFree(p); }  // no error can be reported here
  void zero(void* p, std::size_t bytes, Stream s) const override {
    L2O_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, s));
  }
  void to_host(void* dst, const void* src, std::size_t bytes, Stream s) const override {
    L2O_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s));
    L2O_CUDA_CHECK(cudaStreamSynchronize(s));
  }
  void from_host(void* dst, const void* src, std::size_t bytes, Stream s) const override {
    L2O_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s));
    L2O_CUDA_CHECK(cudaStreamSynchronize(s));
  }
  void copy(void* dst, const void* src, std::size_t bytes, Stream s) const override {
    L2O_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s));
  }
  void wait_for(Stream waiter, Stream other) const override {
    if (waiter == other) return;
    cudaEvent_t e = nullptr;
    L2O_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    const cudaError_t recorded = cudaEventRecord(e, other);
    const cudaError_t waited =
        recorded == cudaSuccess ? cudaStreamWaitEvent(waiter, e, 0) : recorded;
    cudaEventDestroy(e);  // released once the event has completed; the wait holds it
    L2O_CUDA_CHECK(waited);
  }
  void synchronize() const override { L2O_CUDA_CHECK(cudaDeviceSynchronize()); }
  int current_index() const override {
    int d = 0;
    L2O_CUDA_CHECK(cudaGetDevice(&d));
    return d;
  }
};

}  // namespace

const DeviceBackend& cuda_backend() {
  // Never destroyed: buffers and optimizers in static storage may outlive a local static.
  static const CudaDevice& device = *new CudaDevice;
  return device;
}

}  // namespace detail
}  // namespace l2o
