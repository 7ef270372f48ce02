// The host exchange of train()'s meta-gradients, and the choice of exchange
// (host/meta/exchange.hpp).
#include "host/meta/exchange.hpp"

#include "host/fail.hpp"

#include <cmath>
#include <cstring>

namespace l2o {
namespace detail {
namespace {

class HostExchange final : public GradientExchange {
 public:
  HostExchange(Collective* c, int per_rank, std::size_t count)
      : c_(c),
        ranks_(c ? c->size() : 1),
        per_rank_(per_rank),
        count_(count),
        slot_(sizeof(MemberHeader) + count * sizeof(float)),
        send_(per_rank * slot_),
        all_(c ? send_.size() * ranks_ : 0),
        sum_(count) {}

  const char* name() const override { return "host"; }
  bool on_device() const override { return false; }
  void clear() override { std::fill(send_.begin(), send_.end(), 0); }

  void put(int slot, MemberHeader h, const float* grad) override {
    if (h.status == kStepped)
      for (std::size_t e = 0; e < count_; ++e)
        if (!std::isfinite(grad[e])) {
          h.status = kDiverged;
          break;
        }
    unsigned char* p = send_.data() + slot * slot_;
    std::memcpy(p, &h, sizeof h);
    if (h.status == kStepped) std::memcpy(p + sizeof h, grad, count_ * sizeof(float));
  }

  int reduce(int group, std::vector<MemberHeader>& headers, std::vector<float>& mean) override {
    const unsigned char* got = send_.data();
    if (c_) {
      c_->allgather(send_.data(), send_.size(), all_.data());
      got = all_.data();
    }
    headers.resize(group);
    std::fill(sum_.begin(), sum_.end(), 0.0);
    int stepped = 0;
    for (int m = 0; m < group; ++m) {
      const unsigned char* p =
          got + (static_cast<std::size_t>(m % ranks_) * per_rank_ + m / ranks_) * slot_;
      std::memcpy(&headers[m], p, sizeof(MemberHeader));
      if (headers[m].status != kStepped) continue;
      const unsigned char* g = p + sizeof(MemberHeader);
      for (std::size_t e = 0; e < count_; ++e) {
        float v;
        std::memcpy(&v, g + e * sizeof(float), sizeof v);
        sum_[e] += v;
      }
      ++stepped;
    }
    if (stepped > 0) {
      mean.resize(count_);
      for (std::size_t e = 0; e < count_; ++e) mean[e] = static_cast<float>(sum_[e] / stepped);
    }
    return stepped;
  }

 private:
  Collective* c_;
  int ranks_, per_rank_;
  std::size_t count_, slot_;
  std::vector<unsigned char> send_, all_;
  std::vector<double> sum_;
};

}  // namespace

std::unique_ptr<GradientExchange> make_exchange(const TrainOptions& o, Device device, int per_rank,
                                                std::size_t count) {
  const int R = o.collective ? o.collective->size() : 1;
  if (o.exchange == Exchange::kHost)
    return std::make_unique<HostExchange>(o.collective, per_rank, count);
#if L2O_WITH_NCCL
  // Where the ranks' GPUs are: asked of every rank (a collective call), so that all come
  // to the same choice.
  const std::string placement = o.collective && R > 1
                                    ? gpu_placement(*o.collective, device == Device::kCuda)
                                    : std::string(device == Device::kCuda ? "" : "on the CPU");
  if (o.exchange == Exchange::kNccl) {
    if (device != Device::kCuda)
      fail("train: exchange nccl gathers meta-gradients between GPUs; this rank meta-trains on ",
           to_string(device), " (use --device cuda, or --exchange host)");
    if (!placement.empty())
      fail("train: exchange nccl needs every rank on a GPU of its own: ", placement,
           " (start at most as many ranks per host as it has GPUs, or use --exchange host)");
    return make_nccl_exchange(o.collective, per_rank, count);
  }
  if (o.collective && R > 1 && placement.empty())  // kAuto
    return make_nccl_exchange(o.collective, per_rank, count);
#else
  if (o.exchange == Exchange::kNccl)
    fail(
        "train: exchange nccl: this l2o was built without NCCL (it needs the CUDA backend and "
        "nccl.h and libnccl at configure time: docs/scaling.md)");
#endif
  (void)device, (void)R;
  return std::make_unique<HostExchange>(o.collective, per_rank, count);
}

}  // namespace detail
}  // namespace l2o
