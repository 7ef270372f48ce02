// Turns the run-time hidden size into the compile-time one the kernels are built for.
#pragma once

#include "host/fail.hpp"
#include "host/hidden_sizes.hpp"
#include "l2o/config.hpp"
#include "l2o/error.hpp"

namespace l2o {
namespace detail {

// Calls f(std::integral_constant<int, H>{}) for H == hidden; fails for a size without
// compiled kernels.
template <class F>
void dispatch_hidden(int hidden, F&& f) {
  if (!visit_hidden(hidden, static_cast<F&&>(f)))
    fail("hidden size ", hidden, " has no compiled kernel");
}

}  // namespace detail
}  // namespace l2o
