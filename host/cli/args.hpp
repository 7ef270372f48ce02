// A small command-line parser: --name value and --flag options, with clear errors for
// unknown options, missing values and malformed numbers (exit status 2 in main).
#pragma once

#include "host/fail.hpp"
#include "l2o/error.hpp"

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <type_traits>
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

// One option of a command: --name VALUE (a flag when `value` is empty), its default as
// shown in --help (from the same constants the command's code uses) and what it does. The
// parser accepts exactly the options of the table, and --help prints exactly them.
struct OptionSpec {
  std::string name, value, def, help;
};
using OptionTable = std::vector<OptionSpec>;

inline OptionTable merged(std::initializer_list<OptionTable> tables) {
  OptionTable all;
  for (const auto& t : tables) all.insert(all.end(), t.begin(), t.end());
  return all;
}

// `l2o COMMAND --help`: the synopsis, then the table.
inline std::string help_text(const std::string& command, const std::string& synopsis,
                             const OptionTable& table) {
  std::string out = "usage: l2o " + command + " [options]\n\n" + synopsis + "\n\noptions:\n";
  for (const OptionSpec& o : table) {
    std::string head = "  --" + o.name + (o.value.empty() ? "" : " " + o.value);
    if (head.size() < 34) head.resize(34, ' ');
    out += head + " " + o.help + (o.def.empty() ? "" : " (default " + o.def + ")") + "\n";
  }
  return out;
}

// Thrown when the arguments ask for --help: main prints the text and exits 0.
struct HelpRequested {
  std::string text;
};

class Args {
 public:
  // argv after the subcommand, parsed against `table`; --help (anywhere) throws
  // HelpRequested with the command's help.
  Args(const std::string& command, int argc, char** argv, const OptionTable& table,
       const std::string& synopsis = "")
      : command_(command) {
    std::set<std::string> options, flags;
    for (const OptionSpec& o : table) (o.value.empty() ? flags : options).insert(o.name);
    for (int i = 0; i < argc; ++i) {
      const std::string h = argv[i];
      if (h == "--help" || h == "-h") throw HelpRequested{help_text(command, synopsis, table)};
    }
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

  // An integer option of type T in [min, max] (max: T's largest by default): a value out
  // of that range, or one T cannot hold, is refused naming the option, the value and the
  // range; nothing is silently cut to a narrower type.
  template <class T>
  T integer(const std::string& name, T def, T min, T max = std::numeric_limits<T>::max()) const {
    static_assert(std::is_integral<T>::value, "integer options are integral");
    if (!has(name)) return def;
    const std::string s = str(name);
    auto refuse = [&] {
      usage_fail(command_, ": --", name, " = '", s, "', expected an integer in [", +min, ", ", +max,
                 "]");
    };
    if (s.empty() || (std::is_unsigned<T>::value && s[0] == '-')) refuse();
    errno = 0;
    char* end = nullptr;
    if constexpr (std::is_unsigned<T>::value) {
      const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
      if (*end != '\0' || errno == ERANGE || v < static_cast<unsigned long long>(min) ||
          v > static_cast<unsigned long long>(max))
        refuse();
      return static_cast<T>(v);
    } else {
      const long long v = std::strtoll(s.c_str(), &end, 10);
      if (*end != '\0' || errno == ERANGE || v < static_cast<long long>(min) ||
          v > static_cast<long long>(max))
        refuse();
      return static_cast<T>(v);
    }
  }

  // A finite real option in [min, max]; "inf", "nan" and values beyond the range are
  // refused naming the option, the value and the range (a subnormal value is a number).
  double number(const std::string& name, double def, double min, double max) const {
    if (!has(name)) return def;
    const std::string s = str(name);
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    const bool overflow = errno == ERANGE && std::fabs(v) == HUGE_VAL;
    if (s.empty() || *end != '\0' || overflow || !std::isfinite(v) || !(v >= min && v <= max))
      usage_fail(command_, ": --", name, " = '", s, "', expected a finite number in [", min, ", ",
                 max, "]");
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
