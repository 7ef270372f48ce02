// Where l2o computes: the CPU backend (always built, the default) or the CUDA backend.
#pragma once

#include "l2o/build.hpp"

#include <string>
#include <vector>

// cudaStream_t without the CUDA headers: cuda_runtime.h defines cudaStream_t as CUstream_st*.
struct CUstream_st;

namespace l2o {

using Stream = CUstream_st*;  // a cudaStream_t; nullptr is the default stream

enum class Device {
  kAuto,  // CUDA when l2o was built with it and a device is usable, else the CPU
  kCpu,
  kCuda,
};

L2O_API std::string to_string(Device d);
L2O_API Device parse_device(const std::string& name);  // "auto" | "cpu" | "cuda"

// True when this build has the CUDA backend and at least one device is usable. When
// false and why is given, *why says what is missing (build option or CUDA's error text).
L2O_API bool cuda_available(std::string* why = nullptr);

// The instruction set the CPU backend's kernels run with in this process: "avx512",
// "avx2" or "generic" (docs/performance.md). Chosen once, at first use, as the widest this
// build and this CPU both have, unless the environment variable L2O_CPU_ISA names one
// (generic | avx2 | avx512 | auto); a value this CPU or build cannot run makes this, and
// every CPU step, throw l2o::Error saying so.
L2O_API std::string cpu_isa();
// The instruction sets this build has and this CPU runs, widest first.
L2O_API std::vector<std::string> cpu_isas();

// CUDA devices this process can use: 0 in a build without CUDA or on a machine without a
// usable device.
L2O_API int cuda_device_count();
// The calling host thread's current CUDA device (the one l2o's CUDA objects created on this
// thread use), -1 in a build without CUDA.
L2O_API int cuda_device();
// Makes device `index` (0 .. cuda_device_count() - 1) the calling thread's current CUDA
// device; throws l2o::Error naming the index and the count otherwise. One rank per GPU of
// a data-parallel job calls it before train() (the command line does: docs/scaling.md).
L2O_API void set_cuda_device(int index);

// kAuto resolved to the backend that would be used; kCuda checked to be usable (throws
// l2o::Error with the reason otherwise).
L2O_API Device resolve(Device d);

}  // namespace l2o
