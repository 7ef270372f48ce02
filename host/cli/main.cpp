// l2o — command-line tool. `l2o help` lists the commands.
#include "args.hpp"

#include "l2o/l2o.hpp"

#include <cstdio>
#include <iostream>

namespace l2o::cli {
namespace {

constexpr const char* kUsage = R"(l2o — learned optimizers (Andrychowicz et al. 2016)

usage: l2o <command> [options]

commands:
  init   --out FILE [--layers 2] [--hidden 20] [--preprocess log_sign|none] [--p 10]
         [--scale 0.1] [--forget-bias 1] [--seed 0]
         write a freshly initialised optimizer (phi and its configuration)
  info   FILE       describe an optimizer file
  devices           which backends are usable here
  version           print the version
)";

OptimizerConfig config_from(const Args& a) {
  OptimizerConfig c;
  c.layers = static_cast<int>(a.integer("layers", c.layers, 1));
  c.hidden = static_cast<int>(a.integer("hidden", c.hidden, 1));
  c.preprocess = parse_preprocess(a.str("preprocess", to_string(c.preprocess)));
  c.p = static_cast<float>(a.number("p", c.p));
  c.output_scale = static_cast<float>(a.number("scale", c.output_scale));
  c.forget_bias = static_cast<float>(a.number("forget-bias", c.forget_bias));
  c.validate();
  return c;
}

int cmd_init(int argc, char** argv) {
  Args a("init", argc, argv,
         {"out", "layers", "hidden", "preprocess", "p", "scale", "forget-bias", "seed"});
  const std::string out = a.required("out");
  const OptimizerConfig c = config_from(a);
  const Weights phi = Weights::initialise(c, static_cast<std::uint64_t>(a.integer("seed", 0, 0)));
  save_weights(out, phi);
  std::cout << "wrote " << out << ": " << describe(c) << ", " << phi.size() << " weights\n";
  return 0;
}

int cmd_info(int argc, char** argv) {
  if (argc != 1) usage_fail("info: expected one FILE");
  const Checkpoint ck = load_checkpoint(argv[0]);
  std::cout << argv[0] << ": " << describe(ck.phi.config()) << ", " << ck.phi.size()
            << " weights";
  for (const auto& [tag, bytes] : ck.sections) std::cout << ", section " << tag << " (" << bytes.size() << " B)";
  std::cout << "\n";
  return 0;
}

int cmd_devices() {
  std::string why;
  const bool cuda = cuda_available(&why);
  std::cout << "cpu : available (default)\n"
            << "cuda: " << (cuda ? "available" : "unavailable: " + why) << "\n";
  return 0;
}

int run(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    std::cout << kUsage;
    return 0;
  }
  if (cmd == "version" || cmd == "--version") {
    std::cout << "l2o " << L2O_VERSION_STRING << "\n";
    return 0;
  }
  if (cmd == "init") return cmd_init(argc - 2, argv + 2);
  if (cmd == "info") return cmd_info(argc - 2, argv + 2);
  if (cmd == "devices") return cmd_devices();
  usage_fail("unknown command '", cmd, "' (try: l2o help)");
}

}  // namespace
}  // namespace l2o::cli

int main(int argc, char** argv) {
  try {
    return l2o::cli::run(argc, argv);
  } catch (const l2o::Error& e) {
    std::cerr << "l2o: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "l2o: internal error: " << e.what() << "\n";
    return 1;
  }
}
