// Line plots written as standalone SVG files (no plotting library needed to view them:
// any browser shows them).
#pragma once

#include "l2o/build.hpp"

#include <string>
#include <vector>

namespace l2o {

struct L2O_API Series {
  std::string name;
  std::vector<double> y;  // y[k] at x = k
};

struct L2O_API PlotOptions {
  std::string title;
  std::string x_label = "step";
  std::string y_label = "loss";
  bool log_y = true;
  int width = 860, height = 520;
};

// Renders the series to SVG text. Non-finite and (with log_y) non-positive points are
// left out of a line.
L2O_API std::string render_svg(const std::vector<Series>& series, const PlotOptions& options);
L2O_API void write_svg(const std::string& path, const std::vector<Series>& series,
                       const PlotOptions& options);

}  // namespace l2o
