// The meta-batch's gradient exchange of train() (internal; docs/scaling.md): each rank puts
// the optimizees it unrolled into its member slots, the exchange gathers every rank's
// slots and averages the gradients of the members that stepped, summed in member order in
// double, so the result is the same on every rank and for any number of ranks.
//   host: the gradients are host copies, gathered with Collective::allgather (any
//         transport: MPI in the command line, threads in the tests);
//   nccl: the gradients stay in device memory and are gathered with ncclAllGather on the
//         exchange's stream (host/cuda/nccl_exchange.cu), averaged by a kernel.
#pragma once

#include "l2o/device.hpp"
#include "l2o/train.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace l2o {
namespace detail {

// What a rank reports for one optimizee of the meta-batch.
enum MemberStatus : std::int32_t { kIdle = 0, kStepped = 1, kDiverged = 2 };
struct MemberHeader {
  std::int32_t status;
  std::int32_t pad;
  double loss;  // its weighted unroll loss
};
static_assert(sizeof(MemberHeader) == 16, "the header is 16 bytes in both exchanges");

class GradientExchange {
 public:
  virtual ~GradientExchange() = default;
  virtual const char* name() const = 0;
  // Whether put() takes gradients in device memory (Unroller::meta_gradient()) rather
  // than host memory.
  virtual bool on_device() const = 0;
  // Every slot of this rank idle (before a meta-step's unrolls).
  virtual void clear() = 0;
  // This rank's slot `slot` (< its slots per rank): the member's header and, when its
  // status is kStepped, its dL/dphi (count floats, read before put returns or, on the
  // device, ordered before the exchange). A gradient with a non-finite entry turns the
  // status to kDiverged.
  virtual void put(int slot, MemberHeader h, const float* grad) = 0;
  // Exchanges the slots of every rank (a collective call). For members m = 0 .. group - 1
  // (member m is slot m / R of rank m % R): their headers into `headers`, and when any
  // stepped, the mean of the stepped members' gradients into `mean` (count floats).
  // Returns how many stepped.
  virtual int reduce(int group, std::vector<MemberHeader>& headers, std::vector<float>& mean) = 0;
};

// The exchange for train()'s options on `device`: kHost, kNccl (refused with the reason
// where it cannot run), or for kAuto NCCL when meta-training on CUDA with several ranks
// in a build with NCCL, each rank on its own GPU, else the host.
std::unique_ptr<GradientExchange> make_exchange(const TrainOptions& o, Device device, int per_rank,
                                                std::size_t count);

#if L2O_WITH_NCCL
// host/cuda/nccl_exchange.cu. c may be null: one rank.
std::unique_ptr<GradientExchange> make_nccl_exchange(Collective* c, int per_rank,
                                                     std::size_t count);
// A collective call: empty when every rank of c meta-trains on CUDA (on_cuda) on a GPU of
// its own; else why not (which rank is not on a GPU, which ranks share one).
std::string gpu_placement(Collective& c, bool on_cuda);
#endif

}  // namespace detail
}  // namespace l2o
