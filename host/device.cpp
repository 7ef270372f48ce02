#include "l2o/device.hpp"

#include "host/backend.hpp"
#include "host/cpu/isa.hpp"

#include "host/fail.hpp"
#include "l2o/error.hpp"

#if L2O_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace l2o {

std::string to_string(Device d) {
  switch (d) {
    case Device::kAuto:
      return "auto";
    case Device::kCpu:
      return "cpu";
    case Device::kCuda:
      return "cuda";
  }
  return "?";
}

Device parse_device(const std::string& name) {
  if (name == "auto") return Device::kAuto;
  if (name == "cpu") return Device::kCpu;
  if (name == "cuda") return Device::kCuda;
  fail("device '", name, "': expected auto, cpu or cuda");
}

std::string cpu_isa() {
  return cpu::kernels().name;
}

std::vector<std::string> cpu_isas() {
  return cpu::supported_isas();
}

namespace {

constexpr const char* kBuiltWithoutCuda =
    "l2o was built without CUDA (L2O_CUDA=OFF or no nvcc at configure time)";

// The usable CUDA devices; when there are none, why not into *why (if given).
int usable_cuda_devices(std::string* why) {
#if L2O_WITH_CUDA
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    if (why) *why = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(e);
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return 0;
  }
  if (count == 0 && why) *why = "no CUDA device found";
  return count;
#else
  if (why) *why = kBuiltWithoutCuda;
  return 0;
#endif
}

}  // namespace

bool cuda_available(std::string* why) {
  return usable_cuda_devices(why) > 0;
}

int cuda_device_count() {
  return usable_cuda_devices(nullptr);
}

int cuda_device() {
#if L2O_WITH_CUDA
  int d = 0;
  if (cudaGetDevice(&d) != cudaSuccess) {
    (void)cudaGetLastError();
    return -1;
  }
  return d;
#else
  return -1;
#endif
}

void set_cuda_device(int index) {
#if L2O_WITH_CUDA
  const int count = cuda_device_count();
  if (index < 0 || index >= count)
    fail("CUDA device ", index, ": expected 0 .. ", count - 1, " (", count, " usable devices)");
  const cudaError_t e = cudaSetDevice(index);
  if (e != cudaSuccess) fail("cudaSetDevice(", index, ") failed: ", cudaGetErrorString(e));
#else
  fail("CUDA device ", index, ": ", kBuiltWithoutCuda);
#endif
}

Device resolve(Device d) {
  if (d == Device::kCpu) return d;
  std::string why;
  const bool ok = cuda_available(&why);
  if (d == Device::kAuto) return ok ? Device::kCuda : Device::kCpu;
  if (!ok) fail("the CUDA backend was requested but is not usable: ", why);
  return Device::kCuda;
}

namespace detail {

// The one place that knows which backends exist.
const DeviceBackend& backend_for(Device d) {
#if L2O_WITH_CUDA
  if (resolve(d) == Device::kCuda) return cuda_backend();
#else
  (void)resolve(d);  // throws for kCuda: l2o was built without it
#endif
  return cpu_backend();
}

}  // namespace detail

}  // namespace l2o
