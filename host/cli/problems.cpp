#include "problems.hpp"

#include <cstdlib>
#include <sstream>

namespace l2o::cli {

namespace {
template <class T>
std::string text(T v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
}  // namespace

OptionTable problem_options() {
  const QuadraticOptions q;
  const MlpOptions m;
  return {
      {"problem", "quadratic|mlp|mix:SPEC", "",
       "the problem family (required); mix: a mixture, e.g. "
       "mix:mlp(activation=sigmoid|relu,hidden=10..64),quadratic (docs/generalisation.md)"},
      {"dims", "N", text(q.dims), "quadratic: dimensions of each function (1..64)"},
      {"batch", "N", text(q.batch) + " / " + text(m.batch),
       "quadratic: functions per optimizee / mlp: minibatch size"},
      {"dist", "uniform|normal", "uniform", "quadratic: distribution of W and y"},
      {"mlp-hidden", "W[,W...]", "20", "mlp: hidden layer widths"},
      {"activation", "sigmoid|relu|tanh", to_string(m.activation), "mlp: hidden activation"},
      {"data", "DIR", "$L2O_FASHION_MNIST_DIR or /usr/share/datasets/fashion-mnist",
       "mlp: the Fashion-MNIST folder"},
      {"init-std", "S", text(m.init_std), "mlp: std of the initial weights"},
  };
}

namespace {
QuadraticOptions quadratic_options(const Args& a) {
  QuadraticOptions q;
  q.dims = a.integer<int>("dims", q.dims, 1, 64);
  q.batch = a.integer<int>("batch", q.batch, 1);
  const std::string dist = a.str("dist", "uniform");
  if (dist == "uniform")
    q.dist = QuadraticOptions::Dist::kUniform;
  else if (dist == "normal")
    q.dist = QuadraticOptions::Dist::kNormal;
  else
    usage_fail("--dist '", dist, "': expected uniform or normal");
  return q;
}

MlpOptions mlp_options(const Args& a) {
  MlpOptions m;
  m.hidden.clear();
  for (const std::string& w : a.list("mlp-hidden", "20")) {
    char* end = nullptr;
    const long v = std::strtol(w.c_str(), &end, 10);
    if (*end != '\0' || v < 1) usage_fail("--mlp-hidden entry '", w, "': expected a width >= 1");
    m.hidden.push_back(static_cast<int>(v));
  }
  m.activation = parse_activation(a.str("activation", "sigmoid"));
  m.batch = a.integer<int>("batch", m.batch, 1);
  m.init_std = a.number("init-std", m.init_std, 0.0, 1e3);
  m.data_dir = a.str("data", "");
  return m;
}
}  // namespace

std::unique_ptr<ProblemFamily> make_family(const Args& a) {
  const std::string name = a.required("problem");
  if (name == "quadratic") return make_quadratic_family(quadratic_options(a));
  if (name == "mlp") return make_mlp_family(mlp_options(a));
  // A mixture: its components' keys override the problem options given.
  if (name.rfind("mix:", 0) == 0)
    return make_mixture_family(name.substr(4), mlp_options(a), quadratic_options(a));
  usage_fail("unknown problem '", name, "': expected quadratic, mlp or mix:SPEC");
}

OptionTable optimizer_options() {
  const OptimizerConfig c;
  std::string sizes;
  for (int h : kSupportedHidden) sizes += (sizes.empty() ? "" : " ") + text(h);
  return {
      {"layers", "N", text(c.layers), "LSTM layers (1.." + text(kMaxLayers) + ")"},
      {"hidden", "H", text(c.hidden), "units per layer (" + sizes + ")"},
      {"preprocess", "log_sign|none", to_string(c.preprocess),
       "gradient preprocessing (the paper's log-sign, or the raw gradient)"},
      {"p", "P", text(c.p), "log-sign preprocessing exponent"},
      {"scale", "S", text(c.output_scale), "output scale of the update"},
      {"forget-bias", "B", text(c.forget_bias), "added to the forget gate"},
  };
}

OptimizerConfig optimizer_config(const Args& a) {
  OptimizerConfig c;  // the paper's: 2 x 20, log_sign with p = 10, output scale 0.1
  c.layers = a.integer<int>("layers", c.layers, 1, kMaxLayers);
  c.hidden = a.integer<int>("hidden", c.hidden, 1);
  c.preprocess = parse_preprocess(a.str("preprocess", to_string(c.preprocess)));
  c.p = static_cast<float>(a.number("p", c.p, 1e-3, 80.0));
  c.output_scale = static_cast<float>(a.number("scale", c.output_scale, -1e30, 1e30));
  c.forget_bias = static_cast<float>(a.number("forget-bias", c.forget_bias, -1e30, 1e30));
  c.validate();
  return c;
}

}  // namespace l2o::cli
