// NVTX v3 ranges in the domain "l2o" around the phases l2o orchestrates from the host
// (training epochs, validation, unrolls, backward, evaluation runs, baseline tuning), for
// Nsight Systems timelines (docs/profiling.md). Built with the CUDA backend, the ranges
// come from NVTX's header-only C++ API and cost next to nothing when no profiler is
// attached; the CPU-only build compiles them away and needs no CUDA header.
#pragma once

#if L2O_WITH_NVTX
#include <nvtx3/nvtx3.hpp>

namespace l2o {
namespace detail {
struct NvtxDomain {
  static constexpr char const* name{"l2o"};
};
}  // namespace detail
}  // namespace l2o

#define L2O_NVTX_CAT2(a, b) a##b
#define L2O_NVTX_CAT(a, b) L2O_NVTX_CAT2(a, b)
// A range from here to the end of the enclosing scope; `name` is a string literal.
#define L2O_NVTX_RANGE(name)                                                                  \
  const nvtx3::scoped_range_in<::l2o::detail::NvtxDomain> L2O_NVTX_CAT(l2o_nvtx_, __LINE__) { \
    nvtx3::message {                                                                          \
      name                                                                                    \
    }                                                                                         \
  }
#else
#define L2O_NVTX_RANGE(name) \
  do {                       \
  } while (0)
#endif
