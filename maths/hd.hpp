// L2O_HD marks functions compiled for both the host and the device (under nvcc), so the
// per-coordinate maths is written once. Without nvcc it is a plain inline function.
#pragma once

#if defined(__CUDACC__)
#define L2O_HD __host__ __device__ __forceinline__
#else
#define L2O_HD inline
#endif

// The CPU kernels are compiled once per instruction set (host/cpu/kernels_isa.cpp with
// L2O_ISA = generic, avx2 or avx512; docs/performance.md). Everything those translation
// units compile from the maths headers goes into an inline namespace named after the
// instruction set, so that an inline function compiled for AVX-512 never stands in, at
// link time, for the same function of another translation unit (the linker keeps one
// copy of each inline function). Elsewhere the namespace is empty.
#define L2O_CAT_(a, b) a##b
#define L2O_CAT(a, b) L2O_CAT_(a, b)
#if defined(L2O_ISA)
#define L2O_ISA_BEGIN inline namespace L2O_CAT(isa_, L2O_ISA) {
#define L2O_ISA_END }
#else
#define L2O_ISA_BEGIN
#define L2O_ISA_END
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
