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

// Loop unrolling in device code. Register arrays must be indexed by compile-time
// constants, so the loops over a cell's units and inputs are unrolled fully; the loops
// over gate rows only while H <= 20, beyond which the gate vectors no longer fit in
// registers anyway and full unrolling would only multiply code size and compile time.
#define L2O_PRAGMA(x) _Pragma(#x)
#if L2O_DEVICE_CODE
#define L2O_UNROLL L2O_PRAGMA(unroll)
#define L2O_UNROLL_IF_SMALL(n) L2O_PRAGMA(unroll(H <= 20 ? (n) : 1))
#else
#define L2O_UNROLL
#define L2O_UNROLL_IF_SMALL(n)
#endif
