#include "memory.hpp"

#include "l2o/error.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

#if L2O_WITH_CUDA
#include "cuda_check.hpp"
#endif

namespace l2o {
namespace detail {

void* backend_alloc(Device d, std::size_t bytes) {
#if L2O_WITH_CUDA
  if (d == Device::kCuda) {
    void* p = nullptr;
    L2O_CUDA_CHECK(cudaMalloc(&p, bytes));
    return p;
  }
#endif
  (void)d;
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!p) fail("out of host memory allocating ", bytes, " bytes");
  return p;
}

void backend_free(Device d, void* p) {
#if L2O_WITH_CUDA
  if (d == Device::kCuda) {
    cudaFree(p);
    return;
  }
#endif
  (void)d;
  std::free(p);
}

void backend_zero(Device d, void* p, std::size_t bytes, Stream s) {
#if L2O_WITH_CUDA
  if (d == Device::kCuda) {
    L2O_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, s));
    return;
  }
#endif
  (void)d;
  (void)s;
  std::memset(p, 0, bytes);
}

namespace {
// Copies between backend memory and the host and waits for it.
void copy(Device d, void* dst, const void* src, std::size_t bytes, Stream s, bool to_host) {
#if L2O_WITH_CUDA
  if (d == Device::kCuda) {
    L2O_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes,
                                   to_host ? cudaMemcpyDeviceToHost : cudaMemcpyHostToDevice, s));
    L2O_CUDA_CHECK(cudaStreamSynchronize(s));
    return;
  }
#endif
  (void)d;
  (void)s;
  (void)to_host;
  std::memcpy(dst, src, bytes);
}
}  // namespace

void backend_to_host(Device d, void* dst, const void* src, std::size_t bytes, Stream s) {
  copy(d, dst, src, bytes, s, true);
}

void backend_from_host(Device d, void* dst, const void* src, std::size_t bytes, Stream s) {
  copy(d, dst, src, bytes, s, false);
}

}  // namespace detail
}  // namespace l2o
