// Device flags for the non-finite check, one per stream (internal).
//
// A step enqueues three things on the caller's stream: clear the flag, the check kernel
// (sets it when a gradient is NaN or +-Inf), the step kernel (does nothing when it is
// set). With one flag per optimizer object, a step on another stream could clear the flag
// between this stream's check and its step, and a NaN update would go through. So each
// stream gets its own flag, and the three enqueues of one step happen under a lock, so
// that two host threads stepping on one stream cannot interleave them either.
//
// Streams are told apart by cudaStreamGetId, unique for the life of the program (a
// destroyed stream's handle may come back for a new stream while the old one's work is
// still running; the default, legacy and per-thread streams all get their own ids). Under
// stream capture that query is not allowed: there the handle is the key, and the flag is
// recorded into the graph. Every distinct stream costs 4 bytes of device memory until the
// optimizer goes away.
#pragma once

#include "host/cuda/check.hpp"
#include "host/fail.hpp"

#include <cstddef>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace l2o {
namespace detail {

class StreamFlags {
 public:
  // Allocates the first kChunk flags now, so that steps on the first kChunk streams need
  // no allocation (cudaMalloc is not allowed inside a CUDA Graph capture).
  StreamFlags() { grow(); }

  // The flag of `stream` and the lock to hold while enqueuing the step that uses it.
  struct Lease {
    int* flag;
    std::unique_lock<std::mutex> lock;
  };
  Lease get(cudaStream_t stream) {
    std::unique_lock<std::mutex> lock(mutex_);
    const Key key = key_of(stream);
    auto it = flags_.find(key);
    int* flag = nullptr;
    if (it != flags_.end()) {
      flag = it->second;
    } else {
      if (used_ == chunks_.size() * kChunk) {
        if (key.first == kCaptured)
          fail(
              "a step inside a CUDA Graph capture on a stream this optimizer has not seen, "
              "after ",
              used_, " others: step once on that stream before capturing");
        grow();
      }
      flag = chunks_.back().data() + used_ % kChunk;
      ++used_;
      flags_.emplace(key, flag);
    }
    last_ = {stream, flag};
    return {flag, std::move(lock)};
  }

  // The stream and flag of the most recent get() (nullptr flag before the first).
  std::pair<cudaStream_t, int*> last() {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_;
  }

 private:
  static constexpr std::size_t kChunk = 256;
  // (kind, value): the stream's id, or under capture the handle.
  enum : unsigned { kId = 0, kCaptured = 1 };
  using Key = std::pair<unsigned, unsigned long long>;

  static Key key_of(cudaStream_t stream) {
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(stream, &capture) != cudaSuccess) {
      (void)cudaGetLastError();  // e.g. the legacy stream during another thread's capture
      capture = cudaStreamCaptureStatusActive;
    }
    if (capture == cudaStreamCaptureStatusNone) {
      unsigned long long id = 0;
      L2O_CUDA_CHECK(cudaStreamGetId(stream, &id));
      return {kId, id};
    }
    return {kCaptured, reinterpret_cast<unsigned long long>(stream)};
  }

  void grow() { chunks_.emplace_back(kChunk); }

  std::mutex mutex_;
  std::map<Key, int*> flags_;
  std::vector<DeviceArray<int>> chunks_;
  std::size_t used_ = 0;
  std::pair<cudaStream_t, int*> last_{nullptr, nullptr};
};

}  // namespace detail
}  // namespace l2o
