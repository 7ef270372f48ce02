// Image classification data in the IDX format (MNIST, Fashion-MNIST), gzip-compressed
// or not.
#pragma once

#include "l2o/build.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace l2o {

struct L2O_API Dataset {
  int rows = 0, cols = 0;            // image size (28 x 28)
  std::vector<float> images;         // count x (rows * cols), pixels scaled to [0, 1]
  std::vector<std::uint8_t> labels;  // count, 0..9
  std::size_t count() const { return labels.size(); }
  int features() const { return rows * cols; }
};

// Reads an IDX3 image file and its IDX1 label file (each optionally gzip-compressed).
// A missing, truncated or malformed file, or counts that disagree, are refused with an
// l2o::Error naming the file and the problem.
L2O_API Dataset load_idx(const std::string& images_path, const std::string& labels_path);
// What load_idx reads at most (anything larger is refused before it is allocated): a file
// of 4 GiB, 4 GiB of (uncompressed) data, images of 2^24 pixels. Fashion-MNIST's training
// images are 47 MB of data.
constexpr std::uint64_t kMaxIdxFileBytes = std::uint64_t(4) << 30;
constexpr std::uint64_t kMaxIdxDataBytes = std::uint64_t(4) << 30;
constexpr std::uint64_t kMaxIdxPixels = std::uint64_t(1) << 24;

// Where Fashion-MNIST is read from: `dir` if not empty, else $L2O_FASHION_MNIST_DIR, else
// /usr/share/datasets/fashion-mnist (Debian's package dataset-fashion-mnist).
L2O_API std::string fashion_mnist_dir(const std::string& dir = "");

// The "train" (60,000 images) or "test" (10,000) split. A missing file's message names
// the package that provides it.
L2O_API Dataset load_fashion_mnist(const std::string& split, const std::string& dir = "");

}  // namespace l2o
