// The CPU as a DeviceBackend: host memory (64-byte aligned, for the SIMD packs) and the
// CPU's step, baselines and unroll.
#include "host/cpu/cpu.hpp"
#include "host/fail.hpp"
#include "l2o/error.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>

namespace l2o {
namespace detail {
namespace {

class CpuDevice final : public DeviceBackend {
 public:
  Device device() const override { return Device::kCpu; }
  std::unique_ptr<StepBackend> make_step(const Weights& phi) const override {
    return make_cpu_step(phi);
  }
  std::unique_ptr<BaselineBackend> make_baseline() const override { return make_cpu_baseline(); }
  std::unique_ptr<UnrollBackend> make_unroll(const Weights& phi, std::size_t n, int T,
                                             std::vector<float> omega) const override {
    return make_cpu_unroll(phi, n, T, std::move(omega));
  }
  void* alloc(std::size_t bytes) const override {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) fail("out of host memory allocating ", bytes, " bytes");
    return p;
  }
  void free(void* p) const override { std::free(p); }
  void zero(void* p, std::size_t bytes, Stream) const override { std::memset(p, 0, bytes); }
  void to_host(void* dst, const void* src, std::size_t bytes, Stream) const override {
    std::memcpy(dst, src, bytes);
  }
  void from_host(void* dst, const void* src, std::size_t bytes, Stream) const override {
    std::memcpy(dst, src, bytes);
  }
  void copy(void* dst, const void* src, std::size_t bytes, Stream) const override {
    std::memmove(dst, src, bytes);
  }
  void wait_for(Stream, Stream) const override {}  // the CPU's work is done when enqueued
  void synchronize() const override {}
  int current_index() const override { return 0; }
};

}  // namespace

const DeviceBackend& cpu_backend() {
  // Never destroyed: buffers and optimizers in static storage may outlive a local static.
  static const CpuDevice& device = *new CpuDevice;
  return device;
}

}  // namespace detail

// Phase timing on the host: a steady clock around each phase (the CPU runs them in order).
namespace detail {
namespace {
class HostClock final : public PhaseClock {
 public:
  void begin(Phase p) override { start_[p] = std::chrono::steady_clock::now(); }
  void end(Phase p) override {
    ms_[p] +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_[p])
            .count();
  }
  std::array<double, kPhases> totals() override { return ms_; }

 private:
  std::chrono::steady_clock::time_point start_[kPhases];
  std::array<double, kPhases> ms_{};
};
}  // namespace

std::unique_ptr<PhaseClock> make_host_clock() {
  return std::make_unique<HostClock>();
}
}  // namespace detail

}  // namespace l2o
