// What the CUDA tests share: the fixture that skips, visibly, without a usable device, and
// (in CUDA builds) a device buffer whose copies are complete when they return.
#pragma once

#include "l2o/device.hpp"
#include "l2o/error.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#if L2O_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace l2o {
namespace test_cuda {

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda_available(&why)) GTEST_SKIP() << "no usable CUDA device: " << why;
  }
};

#if L2O_WITH_CUDA
#define CHECK_CUDA(x) ASSERT_EQ((x), cudaSuccess) << #x

// A device buffer that frees itself. upload() and download() wait for the whole device:
// cudaMemcpy from pageable memory may return before the data has reached the device, and
// the kernels under test run on other (non-blocking) streams that would not wait for it.
template <class T>
struct DeviceBuffer {
  T* ptr = nullptr;
  std::size_t n = 0;
  explicit DeviceBuffer(std::size_t count) : n(count) {
    if (cudaMalloc(&ptr, std::max<std::size_t>(1, n) * sizeof(T)) != cudaSuccess)
      throw Error("cudaMalloc of " + std::to_string(n * sizeof(T)) + " bytes failed in a test");
  }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void upload(const std::vector<T>& v) {
    if (v.size() > n) throw Error("upload of more values than the buffer holds");
    if (cudaDeviceSynchronize() != cudaSuccess ||
        cudaMemcpy(ptr, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice) != cudaSuccess ||
        cudaDeviceSynchronize() != cudaSuccess)
      throw Error("upload failed in a test");
  }
  // Elements [first, first + count) (all by default).
  std::vector<T> download(std::size_t first = 0, std::size_t count = std::size_t(-1)) const {
    count = std::min(count, n - first);
    std::vector<T> v(count);
    if (cudaDeviceSynchronize() != cudaSuccess ||
        cudaMemcpy(v.data(), ptr + first, count * sizeof(T), cudaMemcpyDeviceToHost) != cudaSuccess)
      throw Error("download failed in a test");
    return v;
  }
};
#endif

}  // namespace test_cuda
}  // namespace l2o
