// l2o's one owning buffer type (internal): n values of T in the memory of one backend
// (host memory for the CPU, device memory for CUDA), through the backend's allocator
// (host/backend.hpp). Movable, never copied; host/cuda/check.hpp's DeviceArray is this
// buffer on the CUDA device.
#pragma once

#include "host/backend.hpp"

#include <cstddef>
#include <utility>
#include <vector>

namespace l2o {
namespace detail {

template <class T>
class Buffer {
 public:
  explicit Buffer(Device d = Device::kCpu, std::size_t n = 0) : Buffer(backend_for(d), n) {}
  Buffer(const DeviceBackend& backend, std::size_t n) : backend_(&backend) { resize(n); }
  ~Buffer() { backend_->free(p_); }
  Buffer(Buffer&& o) noexcept : backend_(o.backend_), p_(o.p_), n_(o.n_) {
    o.p_ = nullptr;
    o.n_ = 0;
  }
  Buffer& operator=(Buffer&& o) noexcept {
    std::swap(backend_, o.backend_);
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  // A new size; the contents are dropped when it changes (nothing is allocated for 0).
  void resize(std::size_t n) {
    if (n == n_) return;
    backend_->free(p_);
    p_ = nullptr;
    n_ = 0;
    if (n) p_ = static_cast<T*>(backend_->alloc(n * sizeof(T)));
    n_ = n;
  }
  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return n_; }
  Device device() const { return backend_->device(); }

  void zero(Stream s = nullptr) { backend_->zero(p_, n_ * sizeof(T), s); }
  // Copies to or from the host, and waits for the copy.
  std::vector<T> to_host(Stream s = nullptr) const {
    std::vector<T> v(n_);
    backend_->to_host(v.data(), p_, n_ * sizeof(T), s);
    return v;
  }
  void from_host(const std::vector<T>& v, Stream s = nullptr) {
    backend_->from_host(p_, v.data(), v.size() * sizeof(T), s);
  }

 private:
  const DeviceBackend* backend_;
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

}  // namespace detail
}  // namespace l2o
