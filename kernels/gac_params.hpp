// The parameters of LSTM+GAC's kernels (kernels/gac_kernels.cuh), apart from the kernels
// so that host code can size their scratch and pass them without compiling the kernels
// (they are compiled once, in host/cuda/gac.cu).
#pragma once

#include <cstddef>

namespace l2o {
namespace kernels {

constexpr int kGacBlocks = 64;  // blocks per global row of one table's partial sums

struct GacParams {
  int hidden, gac, rows;  // rows = layers * gac
  std::size_t total_n;    // coordinates of all the step's tables together
};

}  // namespace kernels
}  // namespace l2o
