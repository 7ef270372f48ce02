// L2O_HD marks functions compiled for both the host and the device (under nvcc), so the
// per-coordinate maths is written once. Without nvcc it is a plain inline function.
#pragma once

#if defined(__CUDACC__)
#define L2O_HD __host__ __device__ __forceinline__
#else
#define L2O_HD inline
#endif

#if defined(__CUDA_ARCH__)
#define L2O_DEVICE_CODE 1
#else
#define L2O_DEVICE_CODE 0
#endif
