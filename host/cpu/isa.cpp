// Which CPU kernels run (host/cpu/isa.hpp): the widest instruction set both this build
// and this CPU have, or the one L2O_CPU_ISA names.
#include "host/cpu/isa.hpp"

#include "host/dispatch.hpp"
#include "host/fail.hpp"

#include <cstdlib>

namespace l2o {
namespace cpu {
namespace {

struct Candidate {
  const char* name;
  const KernelTable& (*table)();
  bool (*runs_here)();
};

#if defined(L2O_CPU_AVX512)
bool cpu_has_avx512() {
  // What kernels_isa.cpp's avx512 flags allow the compiler to use (CMakeLists.txt).
  // __builtin_cpu_supports also checks that the OS saves the AVX-512 registers.
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif
#if defined(L2O_CPU_AVX2)
bool cpu_has_avx2() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif
bool always() {
  return true;
}

// Widest first.
const Candidate kCandidates[] = {
#if defined(L2O_CPU_AVX512)
    {"avx512", kernels_avx512, cpu_has_avx512},
#endif
#if defined(L2O_CPU_AVX2)
    {"avx2", kernels_avx2, cpu_has_avx2},
#endif
    {"generic", kernels_generic, always},
};

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

const KernelTable& choose() {
  const char* env = std::getenv("L2O_CPU_ISA");
  const std::string want = env ? env : "";
  if (want.empty() || want == "auto") {
    for (const Candidate& c : kCandidates)
      if (c.runs_here()) return c.table();
  }
  std::vector<std::string> built;
  for (const Candidate& c : kCandidates) {
    built.push_back(c.name);
    if (want != c.name) continue;
    if (!c.runs_here())
      fail("L2O_CPU_ISA=", want, ": this CPU cannot run it (it runs ", joined(supported_isas()),
           ")");
    return c.table();
  }
  fail("L2O_CPU_ISA=", want, " is not an instruction set of this build (expected auto or one of ",
       joined(built), ")");
}

}  // namespace

const KernelTable& kernels() {
  static const KernelTable& table = choose();
  return table;
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> names;
  for (const Candidate& c : kCandidates)
    if (c.runs_here()) names.push_back(c.name);
  return names;
}

void KernelPhi::set(const Weights& phi, const KernelTable& kernels) {
  const OptimizerConfig& c = phi.config();
  detail::dispatch_hidden(c.hidden, [](auto) {});  // refuses a size without kernels
  const WeightLayout L = phi.layout();
  values_ = phi.values();
  tiles_.resize(values_.size());
  for (std::size_t e = 0; e < values_.size(); ++e)
    tiles_[interleaved_index(L, e, kernels.tile_rows)] = values_[e];
  args_ = {values_.data(), tiles_.data(),   L, PreprocessParams::from(c), c.forget_bias,
           c.output_scale, c.bounded_output};
}

}  // namespace cpu
}  // namespace l2o
