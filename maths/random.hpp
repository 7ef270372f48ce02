// A small, portable random number generator: the same seed gives the same numbers on
// every platform and compiler (std::normal_distribution does not promise that).
#pragma once

#include <cmath>
#include <cstdint>

namespace l2o {

// SplitMix64's finaliser: a bijection of 64-bit words that scatters nearby inputs
// (seed + 1, seed + 2, ...) into unrelated outputs.
inline std::uint64_t splitmix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The top 53 bits of a random word as a double uniform in [0, 1).
inline double unit_interval(std::uint64_t z) {
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    // SplitMix64 expands the seed into the xoshiro256** state.
    for (auto& s : s_) {
      seed += 0x9E3779B97F4A7C15ull;
      s = splitmix64(seed);
    }
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return unit_interval(next()); }

  // Standard normal by the Box-Muller transform (one value per call).
  double normal() {
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

  // Normal with the given std, redrawn until within two standard deviations.
  double truncated_normal(double stddev) {
    for (;;) {
      const double z = normal();
      if (z > -2.0 && z < 2.0) return z * stddev;
    }
  }

  // Uniform integer in [0, n), n > 0 (Lemire's multiply-shift, negligible bias for n << 2^64).
  std::uint64_t below(std::uint64_t n) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

}  // namespace l2o
