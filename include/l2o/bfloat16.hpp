// bfloat16 storage for the LSTM optimizer's state (fp32 arithmetic, half the bytes in
// memory): the upper 16 bits of an IEEE fp32, the layout of CUDA's __nv_bfloat16 and of
// PyTorch's torch.bfloat16, so buffers of either can be passed as l2o::bfloat16*.
#pragma once

#include "l2o/build.hpp"

#include <cstddef>
#include <cstdint>

namespace l2o {

struct L2O_API bfloat16 {
  std::uint16_t bits;
};
static_assert(sizeof(bfloat16) == 2, "bfloat16 must be two bytes");

// How LstmOptimizer::step stores the state: chosen by the state pointer's type.
enum class StateFormat { kFloat32, kBFloat16 };

inline std::size_t bytes_per_value(StateFormat f) {
  return f == StateFormat::kBFloat16 ? 2 : 4;
}

}  // namespace l2o
