// A small command-line parser: --name value and --flag options, with clear errors for
// unknown options, missing values and malformed numbers (exit status 2 in main).
#pragma once

#include "host/fail.hpp"
#include "l2o/error.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace l2o::cli {

class UsageError : public Error {
 public:
  using Error::Error;
};

template <class... A>
[[noreturn]] void usage_fail(const A&... a) {
  throw UsageError(detail::cat(a...));
}

class Args {
 public:
  // argv after the subcommand; `flags` take no value, `options` take one.
  Args(const std::string& command, int argc, char** argv, const std::set<std::string>& options,
       const std::set<std::string>& flags = {})
      : command_(command) {
    for (int i = 0; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) usage_fail(command, ": unexpected argument '", a, "'");
      std::string name = a.substr(2), value;
      const auto eq = name.find('=');
      const bool inline_value = eq != std::string::npos;
      if (inline_value) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      if (flags.count(name)) {
        if (inline_value) usage_fail(command, ": --", name, " takes no value");
        flags_.insert(name);
      } else if (options.count(name)) {
        if (!inline_value) {
          if (i + 1 >= argc) usage_fail(command, ": --", name, " needs a value");
          value = argv[++i];
        }
        values_[name] = value;
      } else {
        usage_fail(command, ": unknown option --", name);
      }
    }
  }

  bool flag(const std::string& name) const { return flags_.count(name) > 0; }
  bool has(const std::string& name) const { return values_.count(name) > 0; }

  std::string str(const std::string& name, const std::string& def = "") const {
    auto it = values_.find(name);
    return it == values_.end() ? def : it->second;
  }
  std::string required(const std::string& name) const {
    if (!has(name)) usage_fail(command_, ": --", name, " is required");
    return str(name);
  }

  long long integer(const std::string& name, long long def, long long min = LLONG_MIN) const {
    if (!has(name)) return def;
    const std::string s = str(name);
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno == ERANGE)
      usage_fail(command_, ": --", name, " = '", s, "', expected an integer");
    if (v < min) usage_fail(command_, ": --", name, " = ", v, ", expected at least ", min);
    return v;
  }

  double number(const std::string& name, double def) const {
    if (!has(name)) return def;
    const std::string s = str(name);
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0' || errno == ERANGE)
      usage_fail(command_, ": --", name, " = '", s, "', expected a number");
    return v;
  }

  std::vector<std::string> list(const std::string& name, const std::string& def) const {
    std::vector<std::string> out;
    std::string s = str(name, def), item;
    for (char c : s + ",") {
      if (c == ',') {
        if (!item.empty()) out.push_back(item);
        item.clear();
      } else {
        item += c;
      }
    }
    return out;
  }

 private:
  std::string command_;
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
};

}  // namespace l2o::cli
