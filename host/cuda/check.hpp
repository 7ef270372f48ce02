// Every CUDA runtime call goes through L2O_CUDA_CHECK, which turns a failure into an
// l2o::Error carrying CUDA's error text and the call site.
#pragma once

#include "host/buffer.hpp"
#include "host/fail.hpp"
#include "l2o/error.hpp"

#include <cuda_runtime.h>

#include <cstddef>
#include <mutex>
#include <utility>

#define L2O_CUDA_CHECK(call)                                                                     \
  do {                                                                                           \
    const cudaError_t l2o_err_ = (call);                                                         \
    if (l2o_err_ != cudaSuccess)                                                                 \
      ::l2o::fail("CUDA error ", cudaGetErrorName(l2o_err_), " (", cudaGetErrorString(l2o_err_), \
                  ") in ", #call, " at ", __FILE__, ":", __LINE__);                              \
  } while (0)

// After a kernel launch: reports launch-configuration errors without synchronising.
#define L2O_CUDA_CHECK_LAUNCH() L2O_CUDA_CHECK(cudaGetLastError())

#include <cublas_v2.h>

#define L2O_CUBLAS_CHECK(call)                                                           \
  do {                                                                                   \
    const cublasStatus_t l2o_st_ = (call);                                               \
    if (l2o_st_ != CUBLAS_STATUS_SUCCESS)                                                \
      ::l2o::fail("cuBLAS error ", cublasGetStatusName(l2o_st_), " (",                   \
                  cublasGetStatusString(l2o_st_), ") in ", #call, " at ", __FILE__, ":", \
                  __LINE__);                                                             \
  } while (0)

namespace l2o {
namespace detail {

// The buffer type of host/buffer.hpp on the CUDA device, with an upload ordered on a
// stream.
template <class T>
class DeviceArray : public Buffer<T> {
 public:
  explicit DeviceArray(std::size_t n = 0) : Buffer<T>(cuda_backend(), n) {}
  void upload(const T* host, std::size_t n, cudaStream_t s) {
    L2O_CUDA_CHECK(cudaMemcpyAsync(this->data(), host, n * sizeof(T), cudaMemcpyHostToDevice, s));
  }
};

// Raises the dynamic shared-memory limit of `kernel` (a property of the kernel
// instantiation, shared by every object that launches it) to at least `smem` bytes; never
// lowers it, so an object with a smaller phi cannot break the launches of one with a
// larger phi. Throws, naming `what`, when the device cannot give `smem` bytes at all.
template <class Kernel>
void ensure_dynamic_smem(Kernel kernel, std::size_t smem, const char* what) {
  static std::mutex mutex;  // one read-then-raise at a time
  std::lock_guard<std::mutex> lock(mutex);
  cudaFuncAttributes attr{};
  L2O_CUDA_CHECK(cudaFuncGetAttributes(&attr, kernel));
  if (smem <= static_cast<std::size_t>(attr.maxDynamicSharedSizeBytes)) return;
  int device = 0, optin = 0;
  L2O_CUDA_CHECK(cudaGetDevice(&device));
  L2O_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  const std::size_t allowed = optin > static_cast<int>(attr.sharedSizeBytes)
                                  ? static_cast<std::size_t>(optin) - attr.sharedSizeBytes
                                  : 0;
  if (smem > allowed)
    fail(what, ": phi needs ", smem, " bytes of shared memory per block, the device allows ",
         allowed, " (choose fewer layers or hidden units)");
  L2O_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      static_cast<int>(smem)));
}

// Resident blocks per multiprocessor of `kernel` launched with `threads` threads and `smem`
// bytes of dynamic shared memory, raising the kernel's shared-memory limit first when
// needed. Throws, naming `what`, when not even one block fits.
template <class Kernel>
int resident_blocks_per_sm(Kernel kernel, int threads, std::size_t smem, const char* what) {
  ensure_dynamic_smem(kernel, smem, what);
  int per_sm = 0;
  L2O_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, smem));
  if (per_sm < 1)
    fail(what, " cannot run: phi needs ", smem,
         " bytes of shared memory per block, more than this device offers");
  return per_sm;
}

// Owning CUDA stream (non-blocking: it does not wait for the legacy default stream).
class CudaStream {
 public:
  CudaStream() { L2O_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~CudaStream() { cudaStreamDestroy(s_); }
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

// Owning cuBLAS handle with a workspace of its own: cuBLAS then never allocates inside a
// CUDA Graph capture (it would otherwise take a new workspace for every captured graph).
// 4 MiB covers the small products l2o issues (cuBLAS's own default off Hopper).
class CublasHandle {
 public:
  explicit CublasHandle(std::size_t workspace_bytes = std::size_t(4) << 20)
      : workspace_(workspace_bytes) {
    L2O_CUBLAS_CHECK(cublasCreate(&h_));
    L2O_CUBLAS_CHECK(cublasSetWorkspace(h_, workspace_.data(), workspace_.size()));
  }
  // Products on `stream` from now on. cublasSetStream resets the workspace to cuBLAS's
  // pool, so the handle's own is set again.
  void bind(cudaStream_t stream) {
    L2O_CUBLAS_CHECK(cublasSetStream(h_, stream));
    L2O_CUBLAS_CHECK(cublasSetWorkspace(h_, workspace_.data(), workspace_.size()));
  }
  // Unbound from its last stream first: that stream may be gone by now (an optimizee's
  // handle follows the streams of the unrollers that use it).
  ~CublasHandle() {
    cublasSetStream(h_, nullptr);
    cublasDestroy(h_);
  }
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  cublasHandle_t get() const { return h_; }

 private:
  DeviceArray<unsigned char> workspace_;
  cublasHandle_t h_ = nullptr;
};

}  // namespace detail
}  // namespace l2o
