// IDX files (http://yann.lecun.com/exdb/mnist/ describes the format): a big-endian header
// (magic 0x0000080D with D dimensions and type 0x08 = unsigned byte, then D sizes) and the
// bytes. gzip is read through zlib, which also reads uncompressed files transparently.
#include "l2o/data.hpp"

#include "host/fail.hpp"
#include "l2o/error.hpp"

#include <zlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace l2o {
namespace {

std::vector<std::uint8_t> read_gz(const std::string& path, const char* hint) {
  if (!std::filesystem::exists(path)) fail("data file '", path, "' does not exist", hint);
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) fail("cannot open data file '", path, "': ", std::strerror(errno));
  std::vector<std::uint8_t> out;
  std::uint8_t buf[1 << 16];
  for (;;) {
    const int k = gzread(f, buf, sizeof buf);
    if (k < 0) {
      int code = 0;
      const std::string msg = gzerror(f, &code);
      gzclose(f);
      fail("data file '", path, "' is damaged (gzip: ", msg, ")");
    }
    if (k == 0) break;
    out.insert(out.end(), buf, buf + k);
  }
  // gzread stops quietly at a truncated stream; gzclose reports it.
  if (gzclose(f) != Z_OK) fail("data file '", path, "' is truncated or damaged (gzip)");
  return out;
}

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
         std::uint32_t(p[3]);
}

// Checks an IDX header of `dims` dimensions and returns the sizes.
std::vector<std::uint32_t> header(const std::vector<std::uint8_t>& d, int dims,
                                  const std::string& path) {
  const std::size_t head = 4 + 4 * std::size_t(dims);
  if (d.size() < head)
    fail("data file '", path, "' is truncated: ", d.size(), " bytes, the IDX header needs ", head);
  const std::uint32_t magic = be32(d.data());
  const std::uint32_t want = 0x00000800u | std::uint32_t(dims);
  if (magic != want)
    fail("data file '", path, "' is not an IDX", dims, " file of unsigned bytes: magic 0x",
         std::hex, magic, ", expected 0x", want);
  std::vector<std::uint32_t> sizes(dims);
  std::size_t total = 1;
  for (int k = 0; k < dims; ++k) {
    sizes[k] = be32(d.data() + 4 + 4 * k);
    total *= sizes[k];
  }
  if (d.size() != head + total)
    fail("data file '", path, "' holds ", d.size() - head, " bytes of data, its header says ",
         total, d.size() < head + total ? " (truncated)" : " (trailing bytes)");
  return sizes;
}

}  // namespace

Dataset load_idx(const std::string& images_path, const std::string& labels_path) {
  const std::vector<std::uint8_t> im = read_gz(images_path, "");
  const std::vector<std::uint8_t> lb = read_gz(labels_path, "");
  const auto isz = header(im, 3, images_path);
  const auto lsz = header(lb, 1, labels_path);
  if (isz[0] != lsz[0])
    fail("'", images_path, "' has ", isz[0], " images but '", labels_path, "' ", lsz[0], " labels");
  Dataset d;
  d.rows = static_cast<int>(isz[1]);
  d.cols = static_cast<int>(isz[2]);
  if (d.rows == 0 || d.cols == 0) fail("'", images_path, "': images of size 0");
  d.images.resize(im.size() - 16);
  for (std::size_t k = 0; k < d.images.size(); ++k) d.images[k] = im[16 + k] / 255.0f;
  d.labels.assign(lb.begin() + 8, lb.end());
  for (std::size_t k = 0; k < d.labels.size(); ++k)
    if (d.labels[k] > 9)
      fail("'", labels_path, "': label ", int(d.labels[k]), " at index ", k, ", expected 0..9");
  return d;
}

std::string fashion_mnist_dir(const std::string& dir) {
  if (!dir.empty()) return dir;
  if (const char* env = std::getenv("L2O_FASHION_MNIST_DIR"); env && *env) return env;
  return "/usr/share/datasets/fashion-mnist";
}

Dataset load_fashion_mnist(const std::string& split, const std::string& dir) {
  std::string prefix;
  if (split == "train")
    prefix = "train";
  else if (split == "test")
    prefix = "t10k";
  else
    fail("Fashion-MNIST split '", split, "': expected train or test");
  const std::string d = fashion_mnist_dir(dir);
  const char* hint =
      " (Debian's package dataset-fashion-mnist installs it: apt-get install "
      "dataset-fashion-mnist; or set --data / L2O_FASHION_MNIST_DIR)";
  for (const char* kind : {"images-idx3", "labels-idx1"}) {
    const std::string p = d + "/" + prefix + "-" + kind + "-ubyte.gz";
    if (!std::filesystem::exists(p)) fail("data file '", p, "' does not exist", hint);
  }
  return load_idx(d + "/" + prefix + "-images-idx3-ubyte.gz",
                  d + "/" + prefix + "-labels-idx1-ubyte.gz");
}

}  // namespace l2o
