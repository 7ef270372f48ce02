#include "host/cuda/check.hpp"
#include "host/cuda/cuda.hpp"
#include "host/cuda/flags.hpp"
#include "host/cuda/segments.hpp"

#include "kernels/baseline_kernels.cuh"
#include "kernels/step_kernels.cuh"

#include <algorithm>
#include <type_traits>

namespace l2o {
namespace detail {
namespace {

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
  void step(const BaselineParams& p, const Segment<float>* segments, std::size_t count,
            Stream stream, int* found) override {
    with_tables<float>(segments, count, [&](const auto& tables) {
      using Table = typename std::decay_t<decltype(tables)>::value_type;
      // The flag of this stream, locked until the enqueues are done (cuda_flags.hpp).
      const StreamFlags::Lease lease = flags_.get(stream);
      int* flag = lease.flag;
      enqueue_checks(tables, flag, stream, sms_);
      for (const auto& t : tables) {
        kernels::l2o_baseline_step_kernel<Table::kCapacity>
            <<<kernels::grid_for(t.first_tile[t.count], sms_, 8), kernels::kBlockThreads, 0,
               stream>>>(p, t, flag, found);
        L2O_CUDA_CHECK_LAUNCH();
        found = nullptr;  // reported once, by the first table's kernel
      }
    });
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
