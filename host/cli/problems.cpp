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
      {"problem", "quadratic|mlp|cnn|mix:SPEC", "",
       "the problem family (required); mix: a mixture, e.g. "
       "mix:mlp(activation=sigmoid|relu,hidden=10..64),quadratic (docs/generalisation.md)"},
      {"dims", "N", text(q.dims), "quadratic: dimensions of each function (1..64)"},
      {"batch", "N", text(q.batch) + " / " + text(m.batch),
       "quadratic: functions per optimizee / mlp, cnn: minibatch size"},
      {"dist", "uniform|normal", "uniform", "quadratic: distribution of W and y"},
      {"mlp-hidden", "W[,W...]", "20", "mlp: hidden layer widths"},
      {"cnn-channels", "C[,C...]", "8,16",
       "cnn: output channels of each 3x3 stride-2 convolution (1..3 of them)"},
      {"activation", "sigmoid|relu|tanh", to_string(m.activation) + " / relu",
       "mlp / cnn: hidden activation"},
      {"data", "DIR", "$L2O_FASHION_MNIST_DIR or /usr/share/datasets/fashion-mnist",
       "mlp, cnn: the Fashion-MNIST folder"},
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

std::vector<int> widths(const Args& a, const std::string& name, const std::string& def) {
  std::vector<int> out;
  for (const std::string& w : a.list(name, def)) {
    char* end = nullptr;
    const long v = std::strtol(w.c_str(), &end, 10);
    if (*end != '\0' || v < 1 || v > 1 << 20)
      usage_fail("--", name, " entry '", w, "': expected a width >= 1");
    out.push_back(static_cast<int>(v));
  }
  return out;
}

CnnOptions cnn_options(const Args& a) {
  CnnOptions c;
  c.channels = widths(a, "cnn-channels", "8,16");
  c.activation = parse_activation(a.str("activation", "relu"));
  c.batch = a.integer<int>("batch", c.batch, 1);
  c.data_dir = a.str("data", "");
  return c;
}

MlpOptions mlp_options(const Args& a) {
  MlpOptions m;
  m.hidden = widths(a, "mlp-hidden", "20");
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
  if (name == "cnn") return make_cnn_family(cnn_options(a));
  // A mixture: its components' keys override the problem options given.
  if (name.rfind("mix:", 0) == 0)
    return make_mixture_family(name.substr(4), mlp_options(a), quadratic_options(a));
  usage_fail("unknown problem '", name, "': expected quadratic, mlp, cnn or mix:SPEC");
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
      {"moment-inputs", "", "", "two more inputs: Adam-like normalised moments (Lv et al. 2017)"},
      {"bounded-output", "", "", "bounded update: scale * tanh(w_o . h + b_o)"},
      {"time-input", "", "",
       "one more input: beta2^t, how long the optimizee has trained (docs/generalisation.md)"},
      {"nominal-lr", "LR", text(c.nominal_lr),
       "add a nominal Adam step of this learning rate to the learned update (0: none)"},
      {"beta1", "B1", text(c.beta1), "decay of the running mean of g (moments)"},
      {"beta2", "B2", text(c.beta2), "decay of the running mean of g^2 (moments)"},
      {"groups", "K", text(c.groups),
       "LSTM-sub: K LSTMs, one per parameter group of the optimizee (MLP: hidden layers, "
       "output layer; CNN: convolutions, fully connected; CPU meta-training)"},
      {"gac", "G", text(c.gac),
       "LSTM+GAC: the last G units of each layer are global, their h averaged over all "
       "coordinates after each step (CPU meta-training)"},
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
  c.moment_inputs = a.flag("moment-inputs");
  c.bounded_output = a.flag("bounded-output");
  c.time_input = a.flag("time-input");
  c.nominal_lr = static_cast<float>(a.number("nominal-lr", c.nominal_lr, 0.0, 1e30));
  c.beta1 = static_cast<float>(a.number("beta1", c.beta1, 0.0, 0.999999));
  c.beta2 = static_cast<float>(a.number("beta2", c.beta2, 0.0, 0.999999));
  c.groups = a.integer<int>("groups", c.groups, 1, kMaxGroups);
  c.gac = a.integer<int>("gac", c.gac, 0);
  c.validate();
  return c;
}

}  // namespace l2o::cli
