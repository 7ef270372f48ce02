// The hidden sizes the kernels are compiled for, kSupportedHidden of l2o/config.hpp, as a
// visit that needs nothing else: the per-instruction-set CPU kernels include it.
#pragma once

#include "l2o/config.hpp"

#include <cstddef>
#include <type_traits>
#include <utility>

namespace l2o {
namespace detail {

template <class F, std::size_t... I>
bool visit_hidden_in(int hidden, F&& f, std::index_sequence<I...>) {
  return ((hidden == kSupportedHidden[I] &&
           (f(std::integral_constant<int, kSupportedHidden[I]>{}), true)) ||
          ...);
}

// Calls f(std::integral_constant<int, H>{}) for H == hidden and returns true, or returns
// false when hidden has no compiled kernel.
template <class F>
bool visit_hidden(int hidden, F&& f) {
  constexpr std::size_t n = sizeof(kSupportedHidden) / sizeof(kSupportedHidden[0]);
  return visit_hidden_in(hidden, static_cast<F&&>(f), std::make_index_sequence<n>{});
}

}  // namespace detail
}  // namespace l2o
