// The hidden sizes the kernels are compiled for (kSupportedHidden in l2o/config.hpp), as a
// visit that needs nothing else: the per-instruction-set CPU kernels include it.
#pragma once

#include <type_traits>

namespace l2o {
namespace detail {

// Calls f(std::integral_constant<int, H>{}) for H == hidden and returns true, or returns
// false when hidden has no compiled kernel.
template <class F>
bool visit_hidden(int hidden, F&& f) {
  switch (hidden) {
    case 4:
      return f(std::integral_constant<int, 4>{}), true;
    case 8:
      return f(std::integral_constant<int, 8>{}), true;
    case 16:
      return f(std::integral_constant<int, 16>{}), true;
    case 20:
      return f(std::integral_constant<int, 20>{}), true;
    case 32:
      return f(std::integral_constant<int, 32>{}), true;
    case 40:
      return f(std::integral_constant<int, 40>{}), true;
    case 64:
      return f(std::integral_constant<int, 64>{}), true;
    default:
      return false;
  }
}

}  // namespace detail
}  // namespace l2o
