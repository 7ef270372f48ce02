#include "l2o/plot.hpp"

#include "l2o/checkpoint.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace l2o {
namespace {

const char* kColours[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else
      o += c;
  }
  return o;
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

}  // namespace

std::string render_svg(const std::vector<Series>& series, const PlotOptions& o) {
  const double ml = 80, mr = 170, mt = 40, mb = 55;
  const double W = o.width, H = o.height, pw = W - ml - mr, ph = H - mt - mb;
  auto usable = [&](double v) { return std::isfinite(v) && (!o.log_y || v > 0); };
  auto tr = [&](double v) { return o.log_y ? std::log10(v) : v; };
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  std::size_t xmax = 1;
  for (const Series& s : series) {
    xmax = std::max(xmax, s.y.size() > 1 ? s.y.size() - 1 : std::size_t(1));
    for (double v : s.y)
      if (usable(v)) lo = std::min(lo, tr(v)), hi = std::max(hi, tr(v));
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (o.log_y) lo = std::floor(lo), hi = std::ceil(hi);
  if (hi - lo < 1e-12) hi = lo + 1;
  auto px = [&](double x) { return ml + pw * x / double(xmax); };
  auto py = [&](double t) { return mt + ph * (1 - (t - lo) / (hi - lo)); };

  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"13\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << W / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"14\">"
    << escape(o.title) << "</text>\n";
  // Grid and y ticks: decades on a log axis, 5 divisions otherwise.
  const int divisions = o.log_y ? static_cast<int>(hi - lo) : 5;
  for (int k = 0; k <= divisions; ++k) {
    const double t = lo + (hi - lo) * k / divisions, y = py(t);
    s << "<line x1=\"" << ml << "\" y1=\"" << y << "\" x2=\"" << ml + pw << "\" y2=\"" << y
      << "\" stroke=\"#e0e0e0\"/>\n<text x=\"" << ml - 8 << "\" y=\"" << y + 4
      << "\" text-anchor=\"end\">";
    if (o.log_y)
      s << "1e" << static_cast<int>(std::lround(t));
    else
      s << fmt(t);
    s << "</text>\n";
  }
  for (int k = 0; k <= 5; ++k) {
    const double x = double(xmax) * k / 5;
    s << "<line x1=\"" << px(x) << "\" y1=\"" << mt << "\" x2=\"" << px(x) << "\" y2=\"" << mt + ph
      << "\" stroke=\"#f0f0f0\"/>\n<text x=\"" << px(x) << "\" y=\"" << mt + ph + 18
      << "\" text-anchor=\"middle\">" << std::lround(x) << "</text>\n";
  }
  s << "<rect x=\"" << ml << "\" y=\"" << mt << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#333\"/>\n"
    << "<text x=\"" << ml + pw / 2 << "\" y=\"" << H - 12 << "\" text-anchor=\"middle\">"
    << escape(o.x_label) << "</text>\n"
    << "<text transform=\"translate(20," << mt + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
    << escape(o.y_label) << (o.log_y ? " (log scale)" : "") << "</text>\n";
  for (std::size_t k = 0; k < series.size(); ++k) {
    const char* colour = kColours[k % (sizeof kColours / sizeof *kColours)];
    const Series& se = series[k];
    std::ostringstream path;
    bool pen = false;
    for (std::size_t i = 0; i < se.y.size(); ++i) {
      if (!usable(se.y[i])) {
        pen = false;
        continue;
      }
      const double t = std::min(std::max(tr(se.y[i]), lo), hi);
      path << (pen ? " L" : " M") << px(double(i)) << " " << py(t);
      pen = true;
    }
    s << "<path d=\"" << path.str() << "\" fill=\"none\" stroke=\"" << colour
      << "\" stroke-width=\"" << (k == 0 ? 2.6 : 1.8) << "\"/>\n";
    const double ly = mt + 18 + 22 * k;
    s << "<line x1=\"" << ml + pw + 14 << "\" y1=\"" << ly - 4 << "\" x2=\"" << ml + pw + 40
      << "\" y2=\"" << ly - 4 << "\" stroke=\"" << colour << "\" stroke-width=\"3\"/>\n<text x=\""
      << ml + pw + 46 << "\" y=\"" << ly << "\">" << escape(se.name) << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

void write_svg(const std::string& path, const std::vector<Series>& series,
               const PlotOptions& options) {
  const std::string svg = render_svg(series, options);
  write_file_atomically(path, svg.data(), svg.size());
}

}  // namespace l2o
