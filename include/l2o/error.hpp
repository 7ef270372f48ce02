// l2o::Error — the one exception type l2o throws for bad input, I/O failures and CUDA errors.
// Messages name the offending value and what was expected.
#pragma once

#include "l2o/build.hpp"

#include <stdexcept>
#include <string>

namespace l2o {

class L2O_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace l2o
