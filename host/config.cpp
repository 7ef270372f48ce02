#include "l2o/config.hpp"

#include "host/fail.hpp"
#include "l2o/error.hpp"

#include <cmath>
#include <sstream>

namespace l2o {

void OptimizerConfig::validate() const {
  if (layers < 1 || layers > kMaxLayers)
    fail("optimizer config: layers = ", layers, ", expected 1..", kMaxLayers);
  bool supported = false;
  std::ostringstream list;
  for (int h : kSupportedHidden) {
    supported = supported || h == hidden;
    list << (list.tellp() > 0 ? ", " : "") << h;
  }
  if (!supported) fail("optimizer config: hidden = ", hidden, ", expected one of ", list.str());
  if (preprocess != Preprocess::kNone && preprocess != Preprocess::kLogSign)
    fail("optimizer config: preprocess = ", static_cast<int>(preprocess),
         ", expected none or log_sign");
  if (preprocess == Preprocess::kLogSign && !(std::isfinite(p) && p > 0.0f && p <= 80.0f))
    fail("optimizer config: p = ", p, ", expected 0 < p <= 80 (e^p must be a finite float)");
  if (!std::isfinite(output_scale) || output_scale == 0.0f)
    fail("optimizer config: output_scale = ", output_scale, ", expected a finite non-zero number");
  if (!std::isfinite(forget_bias))
    fail("optimizer config: forget_bias = ", forget_bias, ", expected a finite number");
}

bool OptimizerConfig::operator==(const OptimizerConfig& o) const {
  // p only matters with log_sign preprocessing.
  return layers == o.layers && hidden == o.hidden && preprocess == o.preprocess &&
         (preprocess == Preprocess::kNone || p == o.p) && output_scale == o.output_scale &&
         forget_bias == o.forget_bias;
}

std::string to_string(Preprocess p) {
  return p == Preprocess::kNone ? "none" : p == Preprocess::kLogSign ? "log_sign" : "?";
}

Preprocess parse_preprocess(const std::string& name) {
  if (name == "none") return Preprocess::kNone;
  if (name == "log_sign") return Preprocess::kLogSign;
  fail("preprocess '", name, "': expected none or log_sign");
}

std::string describe(const OptimizerConfig& c) {
  std::ostringstream os;
  os << c.layers << "x" << c.hidden << " LSTM, preprocess " << to_string(c.preprocess);
  if (c.preprocess == Preprocess::kLogSign) os << "(p=" << c.p << ")";
  os << ", output scale " << c.output_scale << ", forget bias " << c.forget_bias;
  return os.str();
}

}  // namespace l2o
