// l2o::Error — the one exception type l2o throws for bad input, I/O failures and CUDA errors.
// Messages name the offending value and what was expected.
#pragma once

#include "l2o/build.hpp"

#include <sstream>
#include <stdexcept>
#include <string>

namespace l2o {

class L2O_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
// Concatenates the arguments with operator<< into one message.
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(detail::cat(args...));
}

}  // namespace l2o
