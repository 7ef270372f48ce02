// train()'s meta-gradient exchange between GPUs (host/meta/exchange.hpp, docs/scaling.md):
// each rank copies its members' dL/dphi (device memory, Unroller::meta_gradient()) into
// its slots of a device buffer, ncclAllGather gives every rank all slots on the exchange's
// own stream (a mixture's optimizees may change unrollers between meta-steps), and a kernel
// averages the stepped members' gradients in member order in double — the host exchange's
// arithmetic, so phi does not depend on the number of ranks nor on the exchange. The gradient never
// passes through the host; only the headers (status, loss) and the averaged gradient come back, for
// the meta-step (host/meta/train.cpp). The NCCL communicator is bootstrapped through the Collective
// (the command line's MPI): rank 0's ncclUniqueId reaches the others by one allgather.
#include "host/cuda/check.hpp"
#include "host/meta/exchange.hpp"

#include "kernels/exchange_kernels.cuh"
#include "kernels/launch.cuh"

#include <nccl.h>

#include <cstring>
#include <exception>
#include <sstream>
#include <vector>

#define L2O_NCCL_CHECK(call, comm)                                                             \
  do {                                                                                         \
    const ncclResult_t l2o_nr_ = (call);                                                       \
    if (l2o_nr_ != ncclSuccess) {                                                              \
      const char* l2o_last_ = (comm) ? ncclGetLastError(comm) : nullptr;                       \
      ::l2o::fail("NCCL error ", ncclGetErrorString(l2o_nr_), " in ", #call, " at ", __FILE__, \
                  ":", __LINE__,                                                               \
                  l2o_last_&&* l2o_last_ ? std::string(": ") + l2o_last_ : std::string());     \
    }                                                                                          \
  } while (0)

namespace l2o {
namespace detail {
namespace {

constexpr std::size_t kHeader = kernels::kExchangeHeaderBytes;
static_assert(kHeader == sizeof(MemberHeader), "one header layout on host and device");

// A rank's GPU, as the others see it: whether it meta-trains on CUDA and the device's UUID
// (unique across hosts).
struct Placement {
  std::int32_t on_cuda;
  std::int32_t device;
  unsigned char uuid[16];
};

std::string hex(const unsigned char* b, int n) {
  std::ostringstream os;
  os << std::hex;
  for (int i = 0; i < n; ++i) os << (b[i] >> 4) << (b[i] & 15);
  return os.str();
}

class NcclExchange final : public GradientExchange {
 public:
  NcclExchange(Collective* c, int per_rank, std::size_t count)
      : ranks_(c ? c->size() : 1),
        rank_(c ? c->rank() : 0),
        per_rank_(per_rank),
        count_(count),
        // Slots 16-byte aligned: headers and gradients start on aligned addresses.
        slot_((kHeader + count * sizeof(float) + 15) / 16 * 16),
        send_(per_rank * slot_),
        recv_(static_cast<std::size_t>(ranks_) * per_rank * slot_),
        mean_(count),
        headers_(static_cast<std::size_t>(ranks_) * per_rank) {
    if (count_ > static_cast<std::size_t>(INT32_MAX))
      fail("exchange nccl: phi of ", count_, " weights");
    ncclUniqueId id{};
    if (rank_ == 0) L2O_NCCL_CHECK(ncclGetUniqueId(&id), nullptr);
    if (c) {  // rank 0's id to every rank
      std::vector<ncclUniqueId> ids(ranks_);
      c->allgather(&id, sizeof id, ids.data());
      id = ids[0];
    }
    L2O_NCCL_CHECK(ncclCommInitRank(&comm_, ranks_, id, rank_), nullptr);
    int nranks = 0;
    L2O_NCCL_CHECK(ncclCommCount(comm_, &nranks), comm_);
    if (nranks != ranks_)
      fail("exchange nccl: a communicator of ", nranks, " ranks, expected ", ranks_);
  }

  ~NcclExchange() override {
    if (!comm_) return;
    if (std::uncaught_exceptions() > unwinding_) {
      // Leaving on an error (this rank's or an exchange's): finalising would wait for the
      // other ranks, which may never come; abort frees this rank's side at once.
      (void)ncclCommAbort(comm_);
    } else {
      (void)ncclCommFinalize(comm_);  // nothing pending after reduce(), which synchronises
      (void)ncclCommDestroy(comm_);
    }
  }

  const char* name() const override { return "nccl"; }
  bool on_device() const override { return true; }

  void clear() override { L2O_CUDA_CHECK(cudaMemsetAsync(send_.data(), 0, send_.size(), stream_)); }

  void put(int slot, MemberHeader h, const float* grad) override {
    unsigned char* p = send_.data() + static_cast<std::size_t>(slot) * slot_;
    // From pageable memory: the call returns once h is staged, so h may go.
    L2O_CUDA_CHECK(cudaMemcpyAsync(p, &h, sizeof h, cudaMemcpyHostToDevice, stream_));
    if (h.status != kStepped) return;
    // Written on the unroller's stream, with which unroll_keep_gradient() has synchronised;
    // the unroller overwrites it only in its next unroll, after reduce() has waited for
    // this copy.
    L2O_CUDA_CHECK(cudaMemcpyAsync(p + kHeader, grad, count_ * sizeof(float),
                                   cudaMemcpyDeviceToDevice, stream_));
    kernels::l2o_exchange_check_kernel<<<1, kernels::kBlockThreads, 0, stream_>>>(
        p, static_cast<int>(count_), kStepped, kDiverged);
    L2O_CUDA_CHECK_LAUNCH();
  }

  int reduce(int group, std::vector<MemberHeader>& headers, std::vector<float>& mean) override {
    L2O_NCCL_CHECK(
        ncclAllGather(send_.data(), recv_.data(), send_.size(), ncclUint8, comm_, stream_), comm_);
    const int blocks =
        static_cast<int>((count_ + kernels::kBlockThreads - 1) / kernels::kBlockThreads);
    kernels::l2o_exchange_mean_kernel<<<blocks, kernels::kBlockThreads, 0, stream_>>>(
        recv_.data(), slot_, ranks_, per_rank_, group, static_cast<int>(count_), kStepped,
        mean_.data());
    L2O_CUDA_CHECK_LAUNCH();
    // Every slot's header (strided by the slot size), and the mean.
    L2O_CUDA_CHECK(cudaMemcpy2DAsync(headers_.data(), sizeof(MemberHeader), recv_.data(), slot_,
                                     sizeof(MemberHeader), headers_.size(), cudaMemcpyDeviceToHost,
                                     stream_));
    mean.resize(count_);
    L2O_CUDA_CHECK(cudaMemcpyAsync(mean.data(), mean_.data(), count_ * sizeof(float),
                                   cudaMemcpyDeviceToHost, stream_));
    L2O_CUDA_CHECK(cudaStreamSynchronize(stream_));
    headers.resize(group);
    int stepped = 0;
    for (int m = 0; m < group; ++m) {
      headers[m] = headers_[static_cast<std::size_t>(m % ranks_) * per_rank_ + m / ranks_];
      stepped += headers[m].status == kStepped;
    }
    return stepped;
  }

 private:
  CudaStream stream_owner_;  // the exchange's own stream: declared first, destroyed last
  cudaStream_t stream_ = stream_owner_.get();
  int ranks_, rank_, per_rank_;
  std::size_t count_, slot_;
  DeviceArray<unsigned char> send_, recv_;
  DeviceArray<float> mean_;
  std::vector<MemberHeader> headers_;
  ncclComm_t comm_ = nullptr;
  int unwinding_ = std::uncaught_exceptions();  // exceptions in flight at construction
};

}  // namespace

std::unique_ptr<GradientExchange> make_nccl_exchange(Collective* c, int per_rank,
                                                     std::size_t count) {
  return std::make_unique<NcclExchange>(c, per_rank, count);
}

std::string gpu_placement(Collective& c, bool on_cuda) {
  Placement mine{};
  mine.on_cuda = on_cuda;
  if (on_cuda) {
    L2O_CUDA_CHECK(cudaGetDevice(&mine.device));
    cudaDeviceProp prop{};
    L2O_CUDA_CHECK(cudaGetDeviceProperties(&prop, mine.device));
    std::memcpy(mine.uuid, prop.uuid.bytes, sizeof mine.uuid);
  }
  std::vector<Placement> all(c.size());
  c.allgather(&mine, sizeof mine, all.data());
  for (int r = 0; r < c.size(); ++r) {
    if (!all[r].on_cuda) return cat("rank ", r, " meta-trains on the CPU");
    for (int q = 0; q < r; ++q)
      if (std::memcmp(all[q].uuid, all[r].uuid, sizeof all[r].uuid) == 0)
        return cat("ranks ", q, " and ", r, " share the GPU ", hex(all[r].uuid, 16), " (device ",
                   all[r].device, " of rank ", r, ")");
  }
  return "";
}

}  // namespace detail
}  // namespace l2o
