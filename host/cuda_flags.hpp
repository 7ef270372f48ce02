// Device flags for the non-finite check, one per stream (internal).
//
// A step enqueues three things on the caller's stream: clear the flag, the check kernel
// (sets it when a gradient is NaN or +-Inf), the step kernel (does nothing when it is
// set). With one flag per optimizer object, a step on another stream could clear the flag
// between this stream's check and its step, and a NaN update would go through. So each
// stream gets its own flag: work on one stream is ordered, so its clear-check-step
// sequences never interleave. The stream handle is the key (CUDA frees a destroyed
// stream's handle only after its work has finished, so a reused handle never meets work
// of the stream it replaced); cudaStreamPerThread names a different stream in every host
// thread, so there the host thread is part of the key.
#pragma once

#include "cuda_check.hpp"

#include <cstddef>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace l2o {
namespace detail {

class StreamFlags {
 public:
  // Allocates the first kChunk flags now, so that the first steps (also inside a CUDA
  // Graph capture, where cudaMalloc is not allowed) need no allocation.
  StreamFlags() { grow(); }

  // The flag of `stream`; allocated on the current device on first use.
  int* get(cudaStream_t stream) {
    const Key key{stream,
                  stream == cudaStreamPerThread ? std::this_thread::get_id() : std::thread::id{}};
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = flags_.find(key);
    if (it != flags_.end()) return it->second;
    if (used_ == chunks_.size() * kChunk) grow();
    int* flag = chunks_.back().data() + used_ % kChunk;
    ++used_;
    flags_.emplace(key, flag);
    return flag;
  }

 private:
  static constexpr std::size_t kChunk = 64;
  using Key = std::pair<cudaStream_t, std::thread::id>;

  void grow() { chunks_.emplace_back(kChunk); }

  std::mutex mutex_;
  std::map<Key, int*> flags_;
  std::vector<DeviceArray<int>> chunks_;
  std::size_t used_ = 0;
};

}  // namespace detail
}  // namespace l2o
