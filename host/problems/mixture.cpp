// Mixtures of problem families (l2o/problem.hpp, docs/generalisation.md): each optimizee
// draws, from its own seed, a component and its parameters, then is that family's
// optimizee. The draw depends on the seed alone, so a run's optimizees (and the held-out
// ones of validation) are the same whatever the device or the ranks.
#include "host/fail.hpp"
#include "l2o/data.hpp"
#include "l2o/problem.hpp"
#include "maths/random.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace l2o {
namespace {

// The draws' generator: one SplitMix64 step from z.
std::uint64_t mix(std::uint64_t z) {
  return splitmix64(z + 0x9E3779B97F4A7C15ull);
}

// The values a key may take: a list of words, or an integer range lo..hi (a single
// integer is the range v..v).
struct Values {
  std::vector<std::string> words;
  long lo = 0, hi = -1;
  bool range() const { return words.empty(); }
  std::string text() const {
    if (!range()) {
      std::string s;
      for (const std::string& w : words) s += (s.empty() ? "" : "|") + w;
      return s;
    }
    return lo == hi ? std::to_string(lo) : std::to_string(lo) + ".." + std::to_string(hi);
  }
};

bool parse_long(const std::string& s, long* v) {
  if (s.empty()) return false;
  char* end = nullptr;
  *v = std::strtol(s.c_str(), &end, 10);
  return *end == '\0';
}

struct Component {
  std::string kind;  // "mlp" | "cnn" | "quadratic"
  std::vector<std::pair<std::string, Values>> keys;
  double weight = 1.0;
  const Values* find(const std::string& k) const {
    for (const auto& [name, v] : keys)
      if (name == k) return &v;
    return nullptr;
  }
};

std::string trim(const std::string& s) {
  std::size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

// Splits at the commas outside parentheses.
std::vector<std::string> split_top(const std::string& s, const std::string& spec) {
  std::vector<std::string> parts;
  int depth = 0;
  std::string cur;
  for (char c : s) {
    if (c == '(') ++depth;
    if (c == ')' && --depth < 0) fail("mixture '", spec, "': unbalanced ')'");
    if (c == ',' && depth == 0) {
      parts.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (depth != 0) fail("mixture '", spec, "': unbalanced '('");
  parts.push_back(trim(cur));
  return parts;
}

// The keys each kind takes, and the words or integer bounds they allow.
void check_key(const Component& c, const std::string& key, const Values& v,
               const std::string& spec) {
  auto words = [&](std::initializer_list<const char*> allowed) {
    if (v.range())
      fail("mixture '", spec, "': ", c.kind, " ", key, "=", v.text(), ", expected words");
    for (const std::string& w : v.words) {
      bool ok = false;
      for (const char* a : allowed) ok |= w == a;
      if (!ok) {
        std::string list;
        for (const char* a : allowed) list += (list.empty() ? "" : "|") + std::string(a);
        fail("mixture '", spec, "': ", c.kind, " ", key, " '", w, "', expected ", list);
      }
    }
  };
  auto ints = [&](long lo, long hi) {
    if (!v.range() || v.lo < lo || v.hi > hi || v.lo > v.hi)
      fail("mixture '", spec, "': ", c.kind, " ", key, "=", v.text(), ", expected integers in ", lo,
           "..", hi, " (a value or a range lo..hi)");
  };
  if (c.kind == "mlp") {
    if (key == "activation") return words({"sigmoid", "relu", "tanh"});
    if (key == "hidden") return ints(1, 4096);
    if (key == "layers") return ints(1, 4);
    if (key == "batch") return ints(1, 1 << 20);
  } else if (c.kind == "cnn") {
    if (key == "activation") return words({"sigmoid", "relu", "tanh"});
    if (key == "channels") return ints(1, 256);
    if (key == "layers") return ints(1, 3);
    if (key == "batch") return ints(1, 1 << 20);
  } else {
    if (key == "dist") return words({"uniform", "normal"});
    if (key == "dims") return ints(1, 64);
    if (key == "batch") return ints(1, 1 << 20);
  }
  fail("mixture '", spec, "': ", c.kind, " has no key '", key, "' (",
       c.kind == "mlp"   ? "activation, hidden, layers, batch"
       : c.kind == "cnn" ? "activation, channels, layers, batch"
                         : "dist, dims, batch",
       ", weight)");
}

Component parse_component(const std::string& text, const std::string& spec) {
  Component c;
  const std::size_t open = text.find('(');
  c.kind = trim(text.substr(0, open));
  if (c.kind != "mlp" && c.kind != "cnn" && c.kind != "quadratic")
    fail("mixture '", spec, "': component '", c.kind,
         "', expected mlp(...), cnn(...) or quadratic(...)");
  if (open == std::string::npos) return c;
  if (text.back() != ')') fail("mixture '", spec, "': '", text, "' does not end with ')'");
  const std::string inside = text.substr(open + 1, text.size() - open - 2);
  if (trim(inside).empty()) return c;
  for (const std::string& kv : split_top(inside, spec)) {
    const std::size_t eq = kv.find('=');
    if (eq == std::string::npos)
      fail("mixture '", spec, "': '", kv, "' in ", c.kind, "(...), expected KEY=VALUES");
    const std::string key = trim(kv.substr(0, eq)), val = trim(kv.substr(eq + 1));
    if (c.find(key) || (key == "weight" && c.weight != 1.0))
      fail("mixture '", spec, "': ", c.kind, " key '", key, "' given twice");
    if (key == "weight") {
      char* end = nullptr;
      c.weight = std::strtod(val.c_str(), &end);
      if (val.empty() || *end != '\0' || !(c.weight > 0) || !std::isfinite(c.weight))
        fail("mixture '", spec, "': weight '", val, "', expected a positive number");
      continue;
    }
    Values v;
    const std::size_t dots = val.find("..");
    long a = 0, b = 0;
    if (dots != std::string::npos) {
      if (!parse_long(val.substr(0, dots), &a) || !parse_long(val.substr(dots + 2), &b))
        fail("mixture '", spec, "': ", c.kind, " ", key, "=", val, ", expected a range lo..hi");
      v.lo = a, v.hi = b;
    } else if (parse_long(val, &a)) {
      v.lo = v.hi = a;
    } else {
      std::string w;
      std::istringstream is(val);
      while (std::getline(is, w, '|')) v.words.push_back(trim(w));
      if (v.words.empty() || val.back() == '|')
        fail("mixture '", spec, "': ", c.kind, " ", key, " has an empty value");
    }
    check_key(c, key, v, spec);
    c.keys.emplace_back(key, v);
  }
  return c;
}

class MixtureFamily final : public ProblemFamily {
 public:
  MixtureFamily(const std::string& spec, const MlpOptions& mlp, const QuadraticOptions& quadratic)
      : mlp_(mlp), quadratic_(quadratic) {
    if (trim(spec).empty()) fail("mixture: no component given");
    for (const std::string& part : split_top(spec, spec)) {
      if (part.empty()) fail("mixture '", spec, "': an empty component");
      components_.push_back(parse_component(part, spec));
      total_ += components_.back().weight;
      if (components_.back().kind != "quadratic") needs_data_ = true;
    }
    if (needs_data_) {  // read once, shared by every MLP and CNN drawn
      train_ = std::make_shared<const Dataset>(load_fashion_mnist("train", mlp.data_dir));
      test_ = std::make_shared<const Dataset>(load_fashion_mnist("test", mlp.data_dir));
    }
    // Every component's widest draw is a valid family (checked here, not at the first
    // draw that reaches it): build the families of the bounds once.
    for (const Component& c : components_) (void)family(c, 0, /*bounds=*/true);
  }

  std::string describe() const override {
    std::ostringstream os;
    os << "mixture of ";
    for (std::size_t k = 0; k < components_.size(); ++k) {
      const Component& c = components_[k];
      os << (k ? ", " : "") << c.kind << "(";
      for (std::size_t j = 0; j < c.keys.size(); ++j)
        os << (j ? ", " : "") << c.keys[j].first << "=" << c.keys[j].second.text();
      if (c.weight != 1.0) os << (c.keys.empty() ? "" : ", ") << "weight=" << c.weight;
      os << ")";
    }
    return os.str();
  }

  std::string describe_sample(std::uint64_t seed) const override {
    return family(pick(seed), seed, false)->describe();
  }

  std::unique_ptr<Optimizee> sample(std::uint64_t seed, Device device) const override {
    // The component's optimizee from a seed of its own, unrelated to the draws'.
    return family(pick(seed), seed, false)->sample(mix(seed ^ 0x6D69787475726521ull), device);
  }

 private:
  const Component& pick(std::uint64_t seed) const {
    const double u = unit_interval(mix(seed)) * total_;
    double acc = 0.0;
    for (const Component& c : components_) {
      acc += c.weight;
      if (u < acc) return c;
    }
    return components_.back();
  }

  // The family of component c drawn for `seed` (draw k of a seed: mix(seed + k + 1)); with
  // bounds, the largest values instead (for the checks at construction).
  std::unique_ptr<ProblemFamily> family(const Component& c, std::uint64_t seed, bool bounds) const {
    std::uint64_t k = 1;
    auto draw_int = [&](const Values& v) {
      const std::uint64_t r = mix(seed + ++k);
      return bounds ? v.hi : v.lo + static_cast<long>(r % std::uint64_t(v.hi - v.lo + 1));
    };
    auto draw_word = [&](const Values& v) -> const std::string& {
      const std::uint64_t r = mix(seed + ++k);
      return v.words[bounds ? 0 : r % v.words.size()];
    };
    if (c.kind == "mlp") {
      MlpOptions m = mlp_;
      if (const Values* v = c.find("activation")) m.activation = parse_activation(draw_word(*v));
      if (const Values* v = c.find("batch")) m.batch = static_cast<int>(draw_int(*v));
      const Values* layers = c.find("layers");
      const int L =
          layers ? static_cast<int>(draw_int(*layers)) : static_cast<int>(m.hidden.size());
      const Values* hidden = c.find("hidden");
      std::vector<int> widths(L);
      for (int l = 0; l < L; ++l)
        widths[l] = hidden ? static_cast<int>(draw_int(*hidden))
                           : m.hidden[std::min<std::size_t>(l, m.hidden.size() - 1)];
      m.hidden = widths;
      return make_mlp_family(m, train_, test_);
    }
    if (c.kind == "cnn") {
      CnnOptions o;
      o.activation = MlpOptions::Activation::kRelu;
      o.batch = mlp_.batch;
      if (const Values* v = c.find("activation")) o.activation = parse_activation(draw_word(*v));
      if (const Values* v = c.find("batch")) o.batch = static_cast<int>(draw_int(*v));
      const Values* layers = c.find("layers");
      const int L = layers ? static_cast<int>(draw_int(*layers)) : 2;
      const Values* channels = c.find("channels");
      std::vector<int> widths(L);
      for (int l = 0; l < L; ++l)  // without channels: 8, 16, 32
        widths[l] = channels ? static_cast<int>(draw_int(*channels)) : 8 << l;
      o.channels = widths;
      return make_cnn_family(o, train_, test_);
    }
    QuadraticOptions q = quadratic_;
    if (const Values* v = c.find("dist"))
      q.dist = draw_word(*v) == "normal" ? QuadraticOptions::Dist::kNormal
                                         : QuadraticOptions::Dist::kUniform;
    if (const Values* v = c.find("dims")) q.dims = static_cast<int>(draw_int(*v));
    if (const Values* v = c.find("batch")) q.batch = static_cast<int>(draw_int(*v));
    return make_quadratic_family(q);
  }

  MlpOptions mlp_;
  QuadraticOptions quadratic_;
  std::vector<Component> components_;
  double total_ = 0.0;
  bool needs_data_ = false;
  std::shared_ptr<const Dataset> train_, test_;
};

}  // namespace

std::unique_ptr<ProblemFamily> make_mixture_family(const std::string& spec, const MlpOptions& mlp,
                                                   const QuadraticOptions& quadratic) {
  return std::make_unique<MixtureFamily>(spec, mlp, quadratic);
}

}  // namespace l2o
