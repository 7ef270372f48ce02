// libFuzzer harness: the IDX reader (gzip or plain). The input's first byte splits it into
// an images file and a labels file. Invariants when load_idx accepts them: images hold
// count x rows x cols pixels in [0, 1], labels count values in 0..9.
#include "l2o/data.hpp"
#include "l2o/error.hpp"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {
void write(const std::string& p, const std::uint8_t* d, std::size_t n) {
  FILE* f = std::fopen(p.c_str(), "wb");
  if (!f) std::abort();
  if (n) std::fwrite(d, 1, n, f);
  std::fclose(f);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t split = 1 + (size - 1) * data[0] / 255;
  const std::string pid = std::to_string(::getpid());
  const std::string images = "/tmp/l2o-fuzz-images-" + pid, labels = "/tmp/l2o-fuzz-labels-" + pid;
  write(images, data + 1, split - 1);
  write(labels, data + split, size - split);
  try {
    const l2o::Dataset d = l2o::load_idx(images, labels);
    if (d.rows <= 0 || d.cols <= 0) std::abort();
    if (d.images.size() != d.count() * std::size_t(d.rows) * std::size_t(d.cols)) std::abort();
    for (float v : d.images)
      if (!(v >= 0.0f && v <= 1.0f)) std::abort();
    for (auto l : d.labels)
      if (l > 9) std::abort();
  } catch (const l2o::Error&) {
  }
  return 0;
}
