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
  if (!std::isfinite(nominal_lr) || nominal_lr < 0.0f)
    fail("optimizer config: nominal_lr = ", nominal_lr, ", expected a finite number >= 0");
  if (!(beta1 >= 0.0f && beta1 < 1.0f))
    fail("optimizer config: beta1 = ", beta1, ", expected 0 <= beta1 < 1");
  if (!(beta2 >= 0.0f && beta2 < 1.0f))
    fail("optimizer config: beta2 = ", beta2, ", expected 0 <= beta2 < 1");
  if (!(std::isfinite(moment_eps) && moment_eps > 0.0f))
    fail("optimizer config: moment_eps = ", moment_eps, ", expected a finite number > 0");
  if (groups < 1 || groups > kMaxGroups)
    fail("optimizer config: groups = ", groups, ", expected 1..", kMaxGroups);
  if (gac < 0 || gac > hidden)
    fail("optimizer config: gac = ", gac, ", expected 0..", hidden,
         " (global averaging units per layer, at most hidden)");
  if (num_inputs() > hidden)
    fail("optimizer config: ", num_inputs(), " inputs with hidden = ", hidden,
         ", expected at most hidden inputs (the step keeps a layer's input in hidden slots)");
}

bool OptimizerConfig::operator==(const OptimizerConfig& o) const {
  // p only matters with log_sign preprocessing.
  return layers == o.layers && hidden == o.hidden && preprocess == o.preprocess &&
         (preprocess == Preprocess::kNone || p == o.p) && output_scale == o.output_scale &&
         forget_bias == o.forget_bias && moment_inputs == o.moment_inputs &&
         bounded_output == o.bounded_output && nominal_lr == o.nominal_lr && groups == o.groups &&
         gac == o.gac && time_input == o.time_input &&
         // the moments' constants only matter when there are moments
         (!uses_moments() || (beta1 == o.beta1 && beta2 == o.beta2 && moment_eps == o.moment_eps));
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
  if (c.moment_inputs) os << ", moment inputs";
  if (c.bounded_output) os << ", bounded output";
  if (c.nominal_lr != 0.0f) os << ", nominal Adam term lr " << c.nominal_lr;
  if (c.time_input) os << ", time input";
  if (c.uses_moments())
    os << " (beta1 " << c.beta1 << ", beta2 " << c.beta2 << ", eps " << c.moment_eps << ")";
  if (c.gac > 0)
    os << ", " << c.gac << " global averaging unit" << (c.gac > 1 ? "s" : "") << " per layer";
  if (c.groups > 1) os << "; LSTM-sub: " << c.groups << " LSTMs, one per parameter group";
  return os.str();
}

}  // namespace l2o
