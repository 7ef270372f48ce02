// Where each matrix and bias of phi sits in the flat weight buffer.
//
// For LSTM layer l with input size in_l (num_inputs for l = 0, hidden otherwise):
//   W_l : 4H x (in_l + H), row-major; row r = gate * H + unit, gates in the order i, f, g, o;
//         columns [0, in_l) multiply the layer input, [in_l, in_l + H) the previous h.
//   b_l : 4H
// then the output layer: w_o : H, b_o : 1.
// With H = 20, two inputs and two layers this is 1840 + 3280 + 21 = 5,141 floats.
// The members are constexpr so that device code calls them too (nvcc's
// --expt-relaxed-constexpr, set for l2o's CUDA sources) without a macro in this header.
#pragma once

#include "l2o/build.hpp"

#include <cstddef>

namespace l2o {

struct L2O_API WeightLayout {
  int layers = 0;
  int hidden = 0;
  int num_inputs = 0;

  constexpr int layer_input(int l) const { return l == 0 ? num_inputs : hidden; }
  constexpr int row_length(int l) const { return layer_input(l) + hidden; }
  constexpr std::size_t layer_size(int l) const {
    return std::size_t(4) * hidden * (row_length(l) + 1);
  }
  constexpr std::size_t w_offset(int l) const {
    std::size_t off = 0;
    for (int k = 0; k < l; ++k) off += layer_size(k);
    return off;
  }
  constexpr std::size_t b_offset(int l) const {
    return w_offset(l) + std::size_t(4) * hidden * row_length(l);
  }
  constexpr std::size_t out_w_offset() const { return w_offset(layers); }
  constexpr std::size_t out_b_offset() const { return out_w_offset() + hidden; }
  constexpr std::size_t count() const { return out_b_offset() + 1; }
};

}  // namespace l2o
