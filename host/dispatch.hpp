// Turns the run-time hidden size into the compile-time one the kernels are built for.
#pragma once

#include "host/fail.hpp"
#include "l2o/config.hpp"
#include "l2o/error.hpp"

#include <type_traits>

namespace l2o {
namespace detail {

// Calls f(std::integral_constant<int, H>{}) for H == hidden; the list matches
// kSupportedHidden in config.hpp.
template <class F>
void dispatch_hidden(int hidden, F&& f) {
  switch (hidden) {
    case 4:
      return f(std::integral_constant<int, 4>{});
    case 8:
      return f(std::integral_constant<int, 8>{});
    case 16:
      return f(std::integral_constant<int, 16>{});
    case 20:
      return f(std::integral_constant<int, 20>{});
    case 32:
      return f(std::integral_constant<int, 32>{});
    case 40:
      return f(std::integral_constant<int, 40>{});
    case 64:
      return f(std::integral_constant<int, 64>{});
    default:
      fail("hidden size ", hidden, " has no compiled kernel");
  }
}

}  // namespace detail
}  // namespace l2o
