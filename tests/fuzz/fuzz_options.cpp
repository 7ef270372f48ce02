// libFuzzer harness: the command line's option parser (host/cli/args.hpp). The input is
// split at NUL bytes into arguments. Invariants: the parser refuses with a usage error or
// returns values inside the ranges it was given.
#include "host/cli/args.hpp"

#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> words(1);
  for (std::size_t i = 0; i < size && words.size() < 64; ++i) {
    if (data[i] == 0)
      words.emplace_back();
    else
      words.back() += static_cast<char>(data[i]);
  }
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  try {
    const l2o::cli::OptionTable table = {{"steps", "N", "100", ""},  {"seed", "S", "0", ""},
                                         {"epochs", "N", "1", ""},   {"meta-lr", "LR", "", ""},
                                         {"clip", "C", "0", ""},     {"list", "L", "", ""},
                                         {"force", "", "", "a flag"}};
    const l2o::cli::Args a("fuzz", static_cast<int>(argv.size()), argv.data(), table);
    const int steps = a.integer<int>("steps", 100, 1);
    if (steps < 1) std::abort();
    (void)a.integer<std::uint64_t>("seed", 0, 0);
    const long long e = a.integer<long long>("epochs", 1, 1, 1000000000000LL);
    if (e < 1 || e > 1000000000000LL) std::abort();
    const double lr = a.number("meta-lr", 1e-3, std::numeric_limits<double>::denorm_min(), 1e3);
    if (!(lr > 0 && lr <= 1e3)) std::abort();
    const double clip = a.number("clip", 0.0, 0.0, 10.0);
    if (!(clip >= 0 && clip <= 10.0)) std::abort();
    (void)a.list("list", "");
  } catch (const l2o::Error&) {
  } catch (const l2o::cli::HelpRequested& h) {
    if (h.text.find("--steps N") == std::string::npos) std::abort();  // help lists the table
  }
  return 0;
}
