// Problem families and per-problem optimizer defaults from command-line options.
#pragma once

#include "args.hpp"

#include "l2o/config.hpp"
#include "l2o/problem.hpp"

#include <memory>
#include <set>
#include <string>

namespace l2o::cli {

// The options every problem family reads (--dims, --batch, ...).
std::set<std::string> problem_options();

std::unique_ptr<ProblemFamily> make_family(const Args& a);

// The reference code's optimizer for the problem (quadratic: raw gradient, scale 1;
// others: log_sign with p = 5... as MISSION.md §1), then overridden by the options.
OptimizerConfig optimizer_config(const Args& a, const std::string& problem);
std::set<std::string> optimizer_options();

}  // namespace l2o::cli
