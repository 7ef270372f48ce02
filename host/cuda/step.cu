// The CUDA backend: owns the device copy of phi and one flag per stream for non-finite
// gradients (cuda_flags.hpp), and enqueues the check and step kernels on the caller's
// stream without synchronising.
#include "host/cuda/check.hpp"
#include "host/cuda/cuda.hpp"
#include "host/cuda/flags.hpp"
#include "host/cuda/gac.cuh"
#include "host/cuda/segments.hpp"
#include "host/dispatch.hpp"

#include "kernels/step_kernels.cuh"

#include <algorithm>
#include <map>
#include <type_traits>

namespace l2o {
namespace detail {
namespace {

using kernels::kBlockThreads;

class CudaStep final : public StepBackend {
 public:
  explicit CudaStep(const Weights& phi) {
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
    params_ = {phi_.data(),   phi.layout(),   PreprocessParams::from(c),
               c.forget_bias, c.output_scale, c.bounded_output ? 1 : 0};
    gac_ = {c.hidden, c.gac, c.layers * c.gac, 0};
    gac_scratch_.clear();  // sized for the old rows (no step is in flight: synchronised above)
    dispatch_hidden(c.hidden, [&](auto h) {
      constexpr int H = decltype(h)::value;
      const std::size_t smem = smem_bytes();
      const char* what = "the LSTM step kernel";
      using kernels::kMaxSegments;
      per_sm_[0][0] = resident_blocks_per_sm(kernels::l2o_lstm_step_kernel<H, float, 1>,
                                             kBlockThreads, smem, what);
      per_sm_[0][1] = resident_blocks_per_sm(kernels::l2o_lstm_step_kernel<H, float, kMaxSegments>,
                                             kBlockThreads, smem, what);
      per_sm_[1][0] = resident_blocks_per_sm(kernels::l2o_lstm_step_kernel<H, bfloat16, 1>,
                                             kBlockThreads, smem, what);
      per_sm_[1][1] = resident_blocks_per_sm(
          kernels::l2o_lstm_step_kernel<H, bfloat16, kMaxSegments>, kBlockThreads, smem, what);
    });
  }

  void zero(void* data, std::size_t bytes, Stream stream) override {
    L2O_CUDA_CHECK(cudaMemsetAsync(data, 0, bytes, stream));
  }

  void step(const SegmentRef* segments, std::size_t count, StateFormat format, Stream stream,
            int* found_nonfinite) override {
    if (format == StateFormat::kBFloat16)
      enqueue<bfloat16>(segments, count, stream, found_nonfinite);
    else
      enqueue<float>(segments, count, stream, found_nonfinite);
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

  // Clear the stream's flag, check every table, then step every table: the check of all
  // tensors precedes any update, so a non-finite gradient anywhere skips every tensor.
  template <class S>
  void enqueue(const SegmentRef* segments, std::size_t count, Stream stream, int* found) {
    with_tables<S>(segments, count, [&](const auto& tables) {
      using Table = typename std::decay_t<decltype(tables)>::value_type;
      constexpr int Cap = Table::kCapacity;
      // The flag of this stream, locked until the enqueues are done (cuda_flags.hpp).
      const StreamFlags::Lease lease = flags_.get(stream);
      int* flag = lease.flag;
      enqueue_checks(tables, flag, stream, sms_);
      const int per_sm = per_sm_[std::is_same<S, bfloat16>::value][Cap > 1];
      dispatch_hidden(params_.layout.hidden, [&](auto h) {
        constexpr int H = decltype(h)::value;
        for (const auto& t : tables) {
          kernels::l2o_lstm_step_kernel<H, S, Cap>
              <<<kernels::grid_for(t.first_tile[t.count], sms_, per_sm), kBlockThreads,
                 smem_bytes(), stream>>>(params_, t, flag, found);
          L2O_CUDA_CHECK_LAUNCH();
          found = nullptr;  // reported once, by the first table's kernel
        }
      });
      if (gac_.gac > 0) enqueue_gac(tables, flag, stream);
    });
  }

  // LSTM+GAC: the global units' h rows averaged over every coordinate of the step
  // (host/cuda/gac.cuh), in the stream's scratch. Called under the stream's lease
  // (flags_), which also guards scratch_.
  template <class Tables>
  void enqueue_gac(const Tables& tables, const int* flag, cudaStream_t stream) {
    if (tables.empty()) return;  // every tensor empty (empty tensors are not in tables)
    enqueue_global_means(tables, gac_, flag, gac_scratch(flag, stream).data(), sms_, stream);
  }

  // The stream's GAC scratch (the stream's flag identifies it): rows x (kGacBlocks + 1)
  // doubles for the partials and sums, then the rows' float means. Allocated on the
  // stream's first step with global units (not allowed inside a CUDA Graph capture: step
  // once on the stream before capturing, as for flags); set_weights drops them all.
  DeviceArray<double>& gac_scratch(const int* flag, cudaStream_t stream) {
    auto it = gac_scratch_.find(flag);
    if (it != gac_scratch_.end()) return it->second;
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    L2O_CUDA_CHECK(cudaStreamIsCapturing(stream, &capture));
    if (capture != cudaStreamCaptureStatusNone)
      fail(
          "a step with global averaging units inside a CUDA Graph capture on a stream this "
          "optimizer has not stepped on since its weights were set: step once on that stream "
          "before capturing");
    DeviceArray<double>& a = gac_scratch_[flag];
    a.resize(global_means_scratch(gac_.rows));
    return a;
  }

  int device_ = 0;
  int sms_ = 1;
  DeviceArray<float> phi_;
  StreamFlags flags_;
  // Resident blocks per SM of the step kernel: [fp32 | bfloat16 state][one tensor | a list].
  int per_sm_[2][2] = {{1, 1}, {1, 1}};
  kernels::StepParams params_{};
  kernels::GacParams gac_{};
  std::map<const int*, DeviceArray<double>> gac_scratch_;  // per stream (its flag)
};

}  // namespace

std::unique_ptr<StepBackend> make_cuda_step(const Weights& phi) {
  return std::make_unique<CudaStep>(phi);
}

}  // namespace detail
}  // namespace l2o
