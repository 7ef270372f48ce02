// l2o::fail — how l2o's own code throws l2o::Error: the arguments, concatenated with
// operator<<, are the message (internal; users catch l2o::Error from l2o/error.hpp).
#pragma once

#include "l2o/error.hpp"

#include <sstream>
#include <string>

namespace l2o {

namespace detail {
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
