// l2o — command-line tool. `l2o help` lists the commands.
#include "args.hpp"
#include "mpi.hpp"
#include "problems.hpp"

#include "l2o/l2o.hpp"
#include "l2o/plot.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <new>
#include <sstream>
#include <system_error>

namespace l2o::cli {
namespace {

constexpr const char* kUsage = R"(l2o — learned optimizers (Andrychowicz et al. 2016)

usage: l2o <command> [options]        l2o <command> --help   (or l2o help <command>)

commands:
  train    meta-train an LSTM optimizer on a problem family (quadratic, Fashion-MNIST MLP)
  eval     compare a learned optimizer with tuned hand-designed ones on held-out optimizees
  init     write a freshly initialised optimizer
  info     describe an optimizer or training checkpoint
  plot     draw columns of curves.csv files (l2o eval's) into one SVG plot
  devices  which backends are usable here
  version  print the version
)";

template <class T>
std::string text(T v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// eval's defaults (used by the parser and shown by --help).
constexpr int kEvalSteps = 100, kEvalRuns = 100, kEvalValidation = 20;

const char* kTrainSynopsis =
    "Meta-trains an LSTM optimizer on a problem family: the best phi (by validation) goes to\n"
    "--out, the training state to OUT.train every --eval-every epochs (--resume continues\n"
    "it: the problem, its options, the optimizer, seed, steps, unroll, validation set and\n"
    "--omega must be the same; --epochs, the meta learning rate, --clip and --device may\n"
    "change), one JSON line per validation to OUT.log.jsonl.";

OptionTable train_options() {
  const TrainOptions o;
  return merged(
      {problem_options(),
       optimizer_options(),
       {
           {"out", "FILE", "", "where the best phi goes (required)"},
           {"steps", "N", text(o.steps), "optimizer steps per optimizee"},
           {"steps-max", "M", "--steps",
            "draw each optimizee's steps log-uniformly in [N, M] (whole unrolls); validation "
            "runs M"},
           {"unroll", "N", text(o.unroll), "steps per truncation (one meta-step each)"},
           {"unroll-max", "M", "--unroll",
            "draw each optimizee's truncation length log-uniformly in [N, M]; its steps are "
            "then whole truncations of it"},
           {"random-scale", "S", "1",
            "scale each training optimizee's coordinates by factors log-uniform in [1/S, S] "
            "(CPU)"},
           {"epochs", "N", text(o.epochs), "optimizees to train on"},
           {"meta-batch", "B", text(o.meta_batch),
            "optimizees per meta-step (their meta-gradients averaged); under mpirun, split "
            "over the ranks"},
           {"meta-lr", "LR", text(o.adam.lr), "the meta-optimizer's (Adam) learning rate"},
           {"meta-lr-final", "LR", "constant",
            "decay the meta learning rate geometrically to LR over the epochs"},
           {"clip", "C", "0: none", "clip the meta-gradient's norm to C"},
           {"phi-decay", "D", "0: none",
            "decoupled weight decay on phi after each meta-step: phi -= meta-lr * D * phi"},
           {"estimator", "bptt|pes", "bptt",
            "the meta-gradient: truncated backprop, or persistent evolution strategies"},
           {"pes-particles", "N", text(o.pes.particles),
            "PES: particles (an even number: antithetic pairs)"},
           {"pes-sigma", "S", text(o.pes.sigma), "PES: std of the perturbations of phi"},
           {"omega", "w1,...,wT", "all 1", "weights of the unroll's losses"},
           {"device", "auto|cpu|cuda", "auto",
            "where to train (under mpirun, a rank trains on GPU local-rank mod GPUs)"},
           {"exchange", "auto|host|nccl", "auto",
            "how ranks exchange meta-gradients: nccl keeps them on the GPUs (auto: when every "
            "rank has a GPU of its own)"},
           {"seed", "S", text(o.seed), "phi's initialisation and the training optimizees"},
           {"eval-every", "N", text(o.eval_every), "epochs between validations"},
           {"validation", "N", text(o.validation_optimizees), "validation optimizees"},
           {"init", "PHI", "", "start from the optimizer in PHI instead of a fresh one"},
           {"output-init", "random|zero", "random", "a fresh phi's output layer"},
           {"resume", "", "", "continue OUT.train"},
           {"force", "", "", "overwrite an existing --out"},
       }});
}

OptionTable eval_options() {
  return merged(
      {problem_options(),
       {
           {"optimizer", "FILE", "", "the learned optimizer to evaluate (required)"},
           {"steps", "N", text(kEvalSteps), "steps per held-out optimizee"},
           {"runs", "N", text(kEvalRuns), "held-out optimizees"},
           {"baselines", "LIST", "sgd,rmsprop,adam,nag",
            "hand-designed optimizers to compare, their lr tuned; none for none"},
           {"validation", "N", text(kEvalValidation), "validation optimizees for the tuning"},
           {"lr-points", "K", "4",
            "learning rates tried per decade, 10^-5 .. 10 (fewer: a cheaper, coarser tuning)"},
           {"device", "auto|cpu|cuda", "auto", "where to run"},
           {"out-dir", "DIR", "eval-PROBLEM", "where the table, curves and plot go"},
           {"state", "fp32|bf16|both", "fp32", "how the LSTM state is stored"},
           {"force", "", "", "overwrite an existing --out-dir"},
       }});
}

OptionTable init_options() {
  return merged({optimizer_options(),
                 {
                     {"out", "FILE", "", "where the fresh phi goes (required)"},
                     {"seed", "S", "0", "the initialisation's seed"},
                     {"output-init", "random|zero", "random", "the output layer"},
                     {"force", "", "", "overwrite an existing --out"},
                 }});
}

void refuse_overwrite(const std::string& path, bool force) {
  if (!force && std::filesystem::exists(path))
    usage_fail("'", path, "' exists; pass --force to overwrite it");
}

std::string hms(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  if (seconds > 1e9) return "> 30 years";
  const long s = std::lround(seconds);
  std::ostringstream os;
  if (s >= 3600)
    os << s / 3600 << ":" << std::setw(2) << std::setfill('0') << (s / 60) % 60;
  else
    os << s / 60;
  os << ":" << std::setw(2) << std::setfill('0') << s % 60;
  return os.str();
}

OutputInit parse_output_init(const Args& a) {
  const std::string v = a.str("output-init", "random");
  if (v == "random") return OutputInit::kRandom;
  if (v == "zero") return OutputInit::kZero;
  usage_fail("--output-init '", v, "', expected random or zero");
}

// "l2o train: rank R of N (pid P)[ on GPU G]" in one write, so that the ranks' lines do
// not mix.
void announce_rank(const MpiJob& job, int gpu) {
  std::ostringstream os;
  os << "l2o train: rank " << job.rank() << " of " << job.size() << " (pid " << ::getpid() << ")";
  if (gpu >= 0) os << " on GPU " << gpu;
  os << "\n";
  std::cerr << os.str() << std::flush;
}

int cmd_train(int argc, char** argv) {
  Args a("train", argc, argv, train_options(), kTrainSynopsis);
  auto family = make_family(a);
  TrainOptions o;
  o.init = a.str("init");
  // Starting from a file: its configuration, unless optimizer options say otherwise (then a
  // mismatch is refused by train).
  bool optimizer_given = false;
  for (const OptionSpec& opt : optimizer_options())
    optimizer_given |= a.has(opt.name) || a.flag(opt.name);
  const OptimizerConfig from = o.init.empty() ? OptimizerConfig{} : load_weights(o.init).config();
  const OptimizerConfig config = o.init.empty() || optimizer_given ? optimizer_config(a) : from;
  // With optimizer options the flags make the whole configuration: options PHI has and the
  // flags omit or change are dropped (a warm start may do that), which changes what PHI
  // computes, so the run says so.
  std::string dropped;
  if (!o.init.empty() && optimizer_given) {
    const auto drop = [&](bool gone, const std::string& what) {
      if (gone) dropped += (dropped.empty() ? "" : ", ") + what;
    };
    drop(from.moment_inputs && !config.moment_inputs, "--moment-inputs");
    drop(from.bounded_output && !config.bounded_output, "--bounded-output");
    drop(from.nominal_lr != 0.0f && config.nominal_lr != from.nominal_lr,
         "--nominal-lr " + text(from.nominal_lr));
    drop(from.time_input && !config.time_input, "--time-input");
    drop(from.gac > 0 && config.gac != from.gac, "--gac " + text(from.gac));
  }
  o.out = a.required("out");
  o.steps = a.integer<int>("steps", o.steps, 1);
  o.steps_max = a.integer<int>("steps-max", 0, 0);
  o.unroll = a.integer<int>("unroll", o.unroll, 1);
  o.random_scale = a.number("random-scale", 1.0, 1.0, 1e30);
  if (o.random_scale == 1.0) o.random_scale = 0.0;  // the same: no scaling
  o.unroll_max = a.integer<int>("unroll-max", 0, 1);
  if (o.unroll_max && o.unroll_max < o.unroll)
    usage_fail("train: --unroll-max ", o.unroll_max, ", expected at least --unroll ", o.unroll);
  if (o.unroll_max == o.unroll) o.unroll_max = 0;  // the same: fixed truncations
  o.phi_decay = a.number("phi-decay", 0.0, 0.0, 1e6);
  o.estimator = parse_estimator(a.str("estimator", "bptt"));
  o.pes.particles = a.integer<int>("pes-particles", o.pes.particles, 2, 1 << 16);
  if (o.pes.particles % 2 != 0)
    usage_fail("train: --pes-particles ", o.pes.particles, ", expected an even number");
  o.pes.sigma = a.number("pes-sigma", o.pes.sigma, 1e-30, 1e6);
  if (o.estimator != MetaEstimator::kPes && (a.has("pes-particles") || a.has("pes-sigma")))
    usage_fail("train: --pes-particles and --pes-sigma need --estimator pes");
  if (o.steps % o.unroll != 0)
    usage_fail("train: --steps ", o.steps, " is not a multiple of --unroll ", o.unroll);
  if (o.steps_max && (o.steps_max < o.steps || o.steps_max % o.unroll != 0))
    usage_fail("train: --steps-max ", o.steps_max, ", expected a multiple of --unroll ", o.unroll,
               " of at least --steps ", o.steps);
  o.epochs = a.integer<long long>("epochs", o.epochs, 1, 1000000000000LL);
  o.meta_batch = a.integer<int>("meta-batch", o.meta_batch, 1, 1 << 16);
  o.adam.lr = a.number("meta-lr", o.adam.lr, std::numeric_limits<double>::denorm_min(), 1e3);
  if (!(o.adam.lr > 0)) usage_fail("train: --meta-lr ", o.adam.lr, ", expected > 0");
  o.lr_final = a.number("meta-lr-final", 0.0, 0.0, 1e3);
  if (a.has("meta-lr-final") && !(o.lr_final > 0))
    usage_fail("train: --meta-lr-final ", o.lr_final, ", expected > 0");
  o.adam.clip_norm = a.number("clip", 0.0, 0.0, std::numeric_limits<double>::max());
  if (!(o.adam.clip_norm >= 0)) usage_fail("train: --clip ", o.adam.clip_norm, ", expected >= 0");
  if (a.has("omega")) {
    for (const std::string& w : a.list("omega", "")) {
      char* end = nullptr;
      const float v = std::strtof(w.c_str(), &end);
      if (*end != '\0' || !(v >= 0)) usage_fail("train: --omega entry '", w, "', expected >= 0");
      o.omega.push_back(v);
    }
    if (o.omega.size() != static_cast<std::size_t>(o.unroll))
      usage_fail("train: --omega has ", o.omega.size(), " weights, --unroll is ", o.unroll);
  }
  o.device = parse_device(a.str("device", "auto"));
  o.output_init = parse_output_init(a);
  if (a.has("output-init") && !o.init.empty())
    usage_fail("train: --output-init shapes a fresh phi; --init starts from '", o.init, "'");
  o.seed = a.integer<std::uint64_t>("seed", 0, 0);
  o.eval_every = a.integer<int>("eval-every", o.eval_every, 1);
  o.validation_optimizees = a.integer<int>("validation", o.validation_optimizees, 1);
  o.resume = a.flag("resume");
  if (!o.resume) refuse_overwrite(o.out, a.flag("force"));
  o.exchange = parse_exchange(a.str("exchange", "auto"));
  // Under mpirun: this process is one rank; rank 0 alone speaks and writes (train()
  // refuses a meta-batch smaller than the ranks). A rank that may train on CUDA takes the
  // GPU of its rank on its host (mod the GPUs), before any CUDA work.
  std::unique_ptr<MpiJob> job = join_mpi_job();
  o.collective = job.get();
  int gpu = -1;
  if (job && o.device != Device::kCpu && cuda_device_count() > 0) {
    gpu = job->local_rank() % cuda_device_count();
    set_cuda_device(gpu);
  }
  const Device device = resolve(o.device);
  if (job) announce_rank(*job, device == Device::kCuda ? gpu : -1);
  const bool speaks = !job || job->rank() == 0;
  if (speaks) {
    std::cerr << "l2o train: " << family->describe() << "\n  optimizer: " << describe(config)
              << "\n  " << o.epochs << " optimizees x " << o.steps
              << (o.steps_max ? ".." + std::to_string(o.steps_max) : std::string())
              << " steps, unroll " << o.unroll << ", meta Adam lr " << o.adam.lr;
    if (o.meta_batch > 1) std::cerr << ", meta-batch " << o.meta_batch;
    if (job) std::cerr << ", " << job->size() << " MPI ranks";
    if (o.lr_final > 0) std::cerr << " -> " << o.lr_final;
    if (!o.init.empty()) std::cerr << ", from " << o.init;
    if (o.random_scale > 1) std::cerr << ", random scale " << o.random_scale;
    if (o.unroll_max) std::cerr << ", unroll lengths " << o.unroll << ".." << o.unroll_max;
    if (o.phi_decay > 0) std::cerr << ", phi decay " << o.phi_decay;
    if (o.estimator == MetaEstimator::kPes)
      std::cerr << ", PES (" << o.pes.particles << " particles, sigma " << o.pes.sigma << ")";
    std::cerr << ", device " << to_string(device) << (o.resume ? ", resuming" : "") << "\n";
    if (!dropped.empty())
      std::cerr << "  note: " << o.init << " was trained with " << dropped
                << ", which this run's options leave out or change (pass them to keep them)\n";
  }
  const bool tty = ::isatty(STDERR_FILENO);
  // OUT.log.jsonl: one JSON object per validation (appended on --resume), for plots and
  // scripts: epoch, meta-loss, validation score, best, learning rate, seconds.
  // Opened at the first report: train() has checked the output folder by then.
  const std::string log_path = o.out + ".log.jsonl";
  std::ofstream log;
  const auto t_start = std::chrono::steady_clock::now();
  auto num = [](double v) {  // JSON has no NaN or infinity
    std::ostringstream os;
    if (std::isfinite(v))
      os << std::setprecision(9) << v;
    else
      os << "null";
    return os.str();
  };
  // OUT.draws.tsv, for a mixture: the family each training optimizee drew (a function of
  // its seed), one line each, written as training reaches it.
  const bool mixture = a.required("problem").rfind("mix:", 0) == 0;
  std::ofstream draws;
  long long drawn = -1;  // epochs written so far (-1: file not open yet)
  auto report = [&](const TrainProgress& p) {
    if (mixture) {
      if (drawn < 0) {
        const std::string draws_path = o.out + ".draws.tsv";
        draws.open(draws_path, o.resume ? std::ios::app : std::ios::trunc);
        if (!draws) fail("train: cannot write '", draws_path, "': ", std::strerror(errno));
        if (!o.resume) draws << "epoch\tseed\tproblem\n";
        drawn = p.epoch - std::min<long long>(p.epoch, o.meta_batch);
        while (drawn > 0 && drawn % o.meta_batch) --drawn;
      }
      for (; drawn < p.epoch; ++drawn) {
        const std::uint64_t seed = optimizee_seed(SeedDomain::kTrain, o.seed, drawn);
        draws << drawn << "\t" << seed << "\t" << family->describe_sample(seed) << "\n";
      }
      draws << std::flush;
    }
    if (p.validated) {
      if (!log.is_open()) {
        log.open(log_path, o.resume ? std::ios::app : std::ios::trunc);
        if (!log) fail("train: cannot write the log '", log_path, "': ", std::strerror(errno));
      }
      log << "{\"epoch\": " << p.epoch << ", \"meta_loss\": " << num(p.meta_loss)
          << ", \"validation\": " << num(p.validation) << ", \"best\": " << num(p.best)
          << ", \"lr\": " << num(p.lr) << ", \"seconds\": "
          << num(std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count())
          << "}\n"
          << std::flush;
    }
    auto shown = [](double v, int digits) {  // "-" until there is a value
      std::ostringstream os;
      if (std::isfinite(v))
        os << std::fixed << std::setprecision(digits) << v;
      else
        os << "-";
      return os.str();
    };
    std::ostringstream line;
    line << "epoch " << p.epoch << "/" << p.epochs << "  meta-loss " << std::setprecision(4)
         << p.meta_loss << "  val " << shown(p.validation, 3) << " (best " << shown(p.best, 3)
         << ")  " << std::fixed << std::setprecision(1) << p.epochs_per_second << " ep/s  ETA "
         << hms((p.epochs - p.epoch) / p.epochs_per_second);
    if (p.skipped) line << "  diverged " << p.skipped;
    if (p.validated && p.idle)
      line << "  [phi leaves the validation optimizees at their initial loss: if this lasts,"
              " restart with another --seed]";
    if (tty) {
      const int width = 30, done = static_cast<int>(width * p.epoch / p.epochs);
      std::cerr << "\r[" << std::string(done, '#') << std::string(width - done, '.') << "] "
                << line.str() << "\033[K" << (p.epoch == p.epochs ? "\n" : "") << std::flush;
    } else if (p.validated) {
      std::cerr << line.str() << "\n";
    }
  };
  TrainSummary s;
  try {
    s = speaks ? train(config, *family, o, report) : train(config, *family, o);
  } catch (const std::exception& e) {
    if (job) job->abort(2, e.what());  // ends every rank: none is left waiting
    throw;
  }
  if (!speaks) return 0;
  std::cout << "trained " << s.epochs_run << " epochs in " << std::fixed << std::setprecision(1)
            << s.seconds << " s; best validation log10 mean final loss " << std::setprecision(3)
            << s.best_validation << " at epoch " << s.best_epoch << "; wrote " << o.out;
  if (job || o.exchange != Exchange::kAuto)
    std::cout << " (meta-gradients exchanged: " << s.exchange << ")";
  std::cout << "\n";
  return 0;
}

int cmd_eval(int argc, char** argv) {
  Args a("eval", argc, argv, eval_options(),
         "The learned optimizer against hand-designed baselines with tuned learning rates,\n"
         "on held-out optimizees: a table, DIR/curves.csv and DIR/loss.svg.");
  // Every option is checked before any file is read or any work starts.
  const int steps = a.integer<int>("steps", kEvalSteps, 1);
  const int runs = a.integer<int>("runs", kEvalRuns, 1);
  const int nval = a.integer<int>("validation", kEvalValidation, 1);
  auto family = make_family(a);
  const std::string problem = a.required("problem");
  const Weights phi = load_weights(a.required("optimizer"));
  const std::vector<float> grid = lr_grid(a.integer<int>("lr-points", 4, 1, 16));
  std::vector<BaselineKind> kinds;
  for (const std::string& b : a.list("baselines", "sgd,rmsprop,adam,nag"))
    if (b != "none") kinds.push_back(parse_baseline(b));
  const std::string state = a.str("state", "fp32");
  if (state != "fp32" && state != "bf16" && state != "both")
    usage_fail("eval: --state '", state, "', expected fp32, bf16 or both");
  const Device device = resolve(parse_device(a.str("device", "auto")));
  const std::string dir = a.str("out-dir", "eval-" + problem);
  // Refused before any work: results already there (without --force), or a file in the way.
  if (std::filesystem::exists(dir)) {
    if (!std::filesystem::is_directory(dir)) usage_fail("eval: --out-dir '", dir, "' is a file");
    if (!a.flag("force")) usage_fail("eval: '", dir, "' exists; pass --force to overwrite it");
  }

  const auto test = optimizee_seeds(SeedDomain::kTest, 0, runs);
  const auto val = optimizee_seeds(SeedDomain::kValidation, 0, nval);
  std::cerr << "l2o eval: " << family->describe() << "; " << runs << " held-out optimizees, "
            << steps << " steps, device " << to_string(device) << "\n";
  struct Row {
    std::string name, column, detail;  // column: its name in curves.csv
    RunResult r;
  };
  std::vector<Row> rows;
  if (state != "bf16")
    rows.push_back({"LSTM (l2o)", "lstm", describe(phi.config()),
                    run_learned(phi, *family, test, steps, device)});
  if (state != "fp32")
    rows.push_back({"LSTM (l2o, bf16 state)", "lstm_bf16", describe(phi.config()),
                    run_learned(phi, *family, test, steps, device, StateFormat::kBFloat16)});
  for (BaselineKind k : kinds) {
    std::cerr << "  tuning " << to_string(k) << " on " << nval << " validation optimizees...\n";
    const TunedBaseline t = tune_baseline(k, *family, val, steps, device, grid);
    std::ostringstream d;
    d << "lr " << t.config.lr;
    rows.push_back({to_string(k), to_string(k), d.str(),
                    run_baseline(t.config, *family, test, steps, device)});
  }

  // The first row is the learned optimizer; "first lower on" pairs every other row with
  // it optimizee by optimizee (all rows ran on the same held-out optimizees).
  std::ostringstream table;
  table << "| optimizer | setting | log10 mean final loss | mean final loss ± s.e. |";
  const bool scored = std::isfinite(rows[0].r.mean_score());
  const bool paired = rows.size() > 1;
  if (scored) table << " mean score |";
  if (paired) table << " " << rows[0].name << " lower on |";
  table << "\n|---|---|---|---|" << (scored ? "---|" : "") << (paired ? "---|" : "") << "\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    table << "| " << r.name << " | " << r.detail << " | " << std::fixed << std::setprecision(3)
          << r.r.log10_mean_final() << " | " << std::scientific << std::setprecision(3)
          << r.r.mean_final() << " ± " << std::setprecision(1) << r.r.final_standard_error()
          << " |";
    if (scored) table << " " << std::fixed << std::setprecision(4) << r.r.mean_score() << " |";
    if (paired) {
      if (i == 0)
        table << " |";
      else
        table << " " << runs_lower(rows[0].r, r.r) << "/" << runs << " |";
    }
    table << "\n";
  }
  std::cout << table.str();

  std::ostringstream csv;
  csv << "step";
  for (const Row& r : rows) csv << "," << r.column;
  csv << "\n";
  for (int t = 0; t <= steps; ++t) {
    csv << t;
    for (const Row& r : rows) csv << "," << std::setprecision(8) << r.r.mean_loss[t];
    csv << "\n";
  }
  const std::string csv_text = csv.str(), md = table.str();
  std::filesystem::create_directories(dir);  // only now: a failed run leaves no folder
  write_file_atomically(dir + "/curves.csv", csv_text.data(), csv_text.size());
  write_file_atomically(dir + "/results.md", md.data(), md.size());
  std::vector<Series> series;
  for (const Row& r : rows) series.push_back({r.name, r.r.mean_loss});
  PlotOptions po;
  po.title = family->describe() + ": mean loss over " + std::to_string(runs) + " held-out runs";
  po.y_label = "mean loss";
  write_svg(dir + "/loss.svg", series, po);
  std::cerr << "wrote " << dir << "/results.md, " << dir << "/curves.csv and " << dir
            << "/loss.svg\n";
  return 0;
}

int cmd_init(int argc, char** argv) {
  Args a("init", argc, argv, init_options(), "Writes a freshly initialised optimizer.");
  const std::string out = a.required("out");
  refuse_overwrite(out, a.flag("force"));
  const OptimizerConfig c = optimizer_config(a);
  const Weights phi =
      Weights::initialise(c, a.integer<std::uint64_t>("seed", 0, 0), parse_output_init(a));
  save_weights(out, phi);
  std::cout << "wrote " << out << ": " << describe(c) << ", " << phi.size() << " weights\n";
  return 0;
}

int cmd_info(int argc, char** argv) {
  if (argc == 1 && (std::string(argv[0]) == "--help" || std::string(argv[0]) == "-h"))
    throw HelpRequested{
        "usage: l2o info FILE\n\nDescribes an optimizer or training checkpoint (its "
        "configuration and sections)\nand names temporary files of interrupted writes beside "
        "it.\n"};
  if (argc != 1) usage_fail("info: expected one FILE");
  const Checkpoint ck = load_checkpoint(argv[0]);
  std::cout << argv[0] << ": " << describe(ck.phi.config()) << ", " << ck.phi.size() << " weights";
  for (const auto& [tag, bytes] : ck.sections)
    std::cout << ", section " << tag << " (" << bytes.size() << " B)";
  std::cout << "\n";
  // Temporary files of atomic writes that were interrupted (PATH.tmp.PID): harmless, named
  // so that they can be removed.
  namespace fs = std::filesystem;
  const fs::path p(argv[0]);
  std::error_code ec;
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(p.filename().string() + ".tmp.", 0) == 0)
      std::cout << "stale temporary file (an interrupted write; safe to delete): "
                << e.path().string() << "\n";
  }
  return 0;
}

// One series of `l2o plot`: LABEL=FILE:COLUMN.
struct CurveSpec {
  std::string label, file, column;
};

std::vector<CurveSpec> parse_curves(const std::string& list) {
  std::vector<CurveSpec> out;
  std::size_t at = 0;
  while (at <= list.size()) {
    const std::size_t end = std::min(list.find(',', at), list.size());
    const std::string item = list.substr(at, end - at);
    const std::size_t eq = item.find('='), colon = item.rfind(':');
    if (eq == std::string::npos || eq == 0 || colon == std::string::npos || colon < eq + 2 ||
        colon + 1 == item.size())
      usage_fail("plot: --curves entry '", item, "', expected LABEL=FILE:COLUMN");
    out.push_back(
        {item.substr(0, eq), item.substr(eq + 1, colon - eq - 1), item.substr(colon + 1)});
    at = end + 1;
  }
  return out;
}

// Column `column` of a curves.csv (a header "step,NAME,...", then one row per step from 0,
// every value a number): y[k] is the value at step k. Anything else is refused naming the
// file and line.
std::vector<double> read_curve(const std::string& path, const std::string& column) {
  std::ifstream in(path);
  if (!in) fail("plot: cannot open '", path, "'");
  const auto split = [](const std::string& line) {
    std::vector<std::string> cells;
    std::size_t at = 0;
    while (true) {
      const std::size_t end = line.find(',', at);
      cells.push_back(line.substr(at, end == std::string::npos ? std::string::npos : end - at));
      if (end == std::string::npos) return cells;
      at = end + 1;
    }
  };
  std::string line;
  if (!std::getline(in, line)) fail("plot: '", path, "' is empty, expected a curves.csv header");
  const std::vector<std::string> head = split(line);
  if (head.empty() || head[0] != "step")
    fail("plot: '", path, "' line 1 is '", line, "', expected a header starting with step");
  std::size_t col = 0;
  std::string names;
  for (std::size_t k = 1; k < head.size(); ++k) {
    if (head[k] == column) col = k;
    names += (k > 1 ? ", " : "") + head[k];
  }
  if (col == 0) fail("plot: '", path, "' has no column '", column, "' (it has: ", names, ")");
  std::vector<double> y;
  for (int n = 2; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    const std::vector<std::string> cells = split(line);
    if (cells.size() != head.size())
      fail("plot: '", path, "' line ", n, " has ", cells.size(), " cells, expected ", head.size());
    const auto number = [&](const std::string& cell) {
      char* end = nullptr;
      const double v = std::strtod(cell.c_str(), &end);
      if (cell.empty() || *end != '\0')
        fail("plot: '", path, "' line ", n, ": '", cell, "' is not a number");
      return v;
    };
    if (number(cells[0]) != static_cast<double>(y.size()))
      fail("plot: '", path, "' line ", n, ": step ", cells[0], ", expected ", y.size());
    y.push_back(number(cells[col]));
  }
  if (y.empty()) fail("plot: '", path, "' has no rows");
  return y;
}

int cmd_plot(int argc, char** argv) {
  const OptionTable table = {
      {"curves", "LABEL=FILE:COLUMN[,...]", "",
       "the series: column COLUMN of FILE (a curves.csv of l2o eval), named LABEL (required)"},
      {"out", "FILE.svg", "", "where the plot goes (required)"},
      {"title", "TEXT", "", "the plot's title"},
      {"y-label", "TEXT", "mean loss", "the y axis' label"},
      {"linear", "", "", "a linear y axis (default: logarithmic)"},
      {"force", "", "", "overwrite an existing --out"},
  };
  Args a("plot", argc, argv, table,
         "Draws columns of curves.csv files (e.g. one learned optimizer's loss against\n"
         "another's and the tuned baselines', from several l2o eval runs) into one SVG plot.");
  const std::vector<CurveSpec> specs = parse_curves(a.required("curves"));
  const std::string out = a.required("out");
  refuse_overwrite(out, a.flag("force"));
  std::vector<Series> series;
  for (const CurveSpec& c : specs) series.push_back({c.label, read_curve(c.file, c.column)});
  PlotOptions po;
  po.title = a.str("title");
  po.y_label = a.str("y-label", "mean loss");
  po.log_y = !a.flag("linear");
  write_svg(out, series, po);
  std::cout << "wrote " << out << " (" << series.size() << " series)\n";
  return 0;
}

int cmd_devices() {
  std::string why;
  const bool cuda = cuda_available(&why);
  std::string isas;
  for (const std::string& s : cpu_isas()) isas += (isas.empty() ? "" : ", ") + s;
  std::cout << "cpu : available (default), kernels " << cpu_isa() << " (this CPU runs " << isas
            << "; L2O_CPU_ISA chooses)\n"
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
    if (argc > 2 && cmd == "help") {  // l2o help COMMAND
      char help[] = "--help";
      char* args[] = {argv[0], argv[2], help};
      return run(3, args);
    }
    std::cout << kUsage;
    return 0;
  }
  if (cmd == "version" || cmd == "--version") {
    std::cout << "l2o " << L2O_VERSION_STRING << "\n";
    return 0;
  }
  try {
    if (cmd == "train") return cmd_train(argc - 2, argv + 2);
    if (cmd == "eval") return cmd_eval(argc - 2, argv + 2);
    if (cmd == "init") return cmd_init(argc - 2, argv + 2);
    if (cmd == "info") return cmd_info(argc - 2, argv + 2);
    if (cmd == "plot") return cmd_plot(argc - 2, argv + 2);
  } catch (const HelpRequested& h) {
    std::cout << h.text;
    return 0;
  }
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
  } catch (const std::filesystem::filesystem_error& e) {
    std::cerr << "l2o: " << e.code().message() << ": '" << e.path1().string() << "'"
              << (e.path2().empty() ? "" : " / '" + e.path2().string() + "'") << "\n";
    return 2;
  } catch (const std::system_error& e) {
    std::cerr << "l2o: " << e.code().message() << " (" << e.what() << ")\n";
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "l2o: out of memory (the problem or the optimizer is too large for this "
                 "machine: fewer coordinates, optimizees or steps)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "l2o: internal error: " << e.what() << "\n";
    return 1;
  }
}
