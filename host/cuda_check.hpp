// Every CUDA runtime call goes through L2O_CUDA_CHECK, which turns a failure into an
// l2o::Error carrying CUDA's error text and the call site.
#pragma once

#include "l2o/error.hpp"

#include <cuda_runtime.h>

#define L2O_CUDA_CHECK(call)                                                          \
  do {                                                                                \
    const cudaError_t l2o_err_ = (call);                                              \
    if (l2o_err_ != cudaSuccess)                                                      \
      ::l2o::fail("CUDA error ", cudaGetErrorName(l2o_err_), " (",                    \
                  cudaGetErrorString(l2o_err_), ") in ", #call, " at ", __FILE__, ":", \
                  __LINE__);                                                          \
  } while (0)

// After a kernel launch: reports launch-configuration errors without synchronising.
#define L2O_CUDA_CHECK_LAUNCH() L2O_CUDA_CHECK(cudaGetLastError())
