// A buffer in the memory of one backend: host memory for the CPU, device memory for CUDA
// (internal; lets host code hold optimizee parameters without knowing the backend).
#pragma once

#include "l2o/device.hpp"

#include <cstddef>
#include <vector>

namespace l2o {
namespace detail {

void* backend_alloc(Device d, std::size_t bytes);
void backend_free(Device d, void* p);
void backend_zero(Device d, void* p, std::size_t bytes, Stream s);
// Copies backend memory to the host and waits for it.
void backend_to_host(Device d, void* dst, const void* src, std::size_t bytes, Stream s);
void backend_from_host(Device d, void* dst, const void* src, std::size_t bytes, Stream s);

template <class T>
class Buffer {
 public:
  Buffer(Device d, std::size_t n) : d_(d), n_(n) {
    p_ = static_cast<T*>(backend_alloc(d, (n ? n : 1) * sizeof(T)));
  }
  ~Buffer() { backend_free(d_, p_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return n_; }
  void zero(Stream s = nullptr) { backend_zero(d_, p_, n_ * sizeof(T), s); }
  std::vector<T> to_host(Stream s = nullptr) const {
    std::vector<T> v(n_);
    backend_to_host(d_, v.data(), p_, n_ * sizeof(T), s);
    return v;
  }
  void from_host(const std::vector<T>& v, Stream s = nullptr) {
    backend_from_host(d_, p_, v.data(), v.size() * sizeof(T), s);
  }

 private:
  Device d_;
  std::size_t n_;
  T* p_ = nullptr;
};

}  // namespace detail
}  // namespace l2o
