// IDX files (http://yann.lecun.com/exdb/mnist/ describes the format): a big-endian header
// (magic 0x0000080D with D dimensions and type 0x08 = unsigned byte, then D sizes) and the
// bytes. gzip is read through zlib, which also reads uncompressed files transparently.
#include "l2o/data.hpp"

#include "host/fail.hpp"
#include "host/io/files.hpp"
#include "l2o/error.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace l2o {
namespace {

// An IDX file's header and data, read header first: the sizes are checked (with overflow
// checks, against the maxima in l2o/data.hpp) before anything is allocated, and exactly
// the declared number of bytes is read, so a damaged header or a gzip bomb costs no more
// than the declared size. Only regular files are opened (host/io/files.hpp).
struct Idx {
  std::vector<std::uint32_t> sizes;
  std::vector<std::uint8_t> data;
};

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
         std::uint32_t(p[3]);
}

class GzFile {
 public:
  GzFile(const std::string& path, const char* hint) : path_(path) {
    if (!std::filesystem::exists(path)) fail("data file '", path, "' does not exist", hint);
    std::uint64_t size = 0;  // of the (compressed) file
    const int fd = detail::open_regular(path, "data file", kMaxIdxFileBytes, &size);
    f_ = gzdopen(fd, "rb");
    if (!f_) {
      ::close(fd);
      fail("cannot read data file '", path, "': out of memory");
    }
  }
  ~GzFile() {
    if (f_) gzclose(f_);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads up to n bytes; returns how many (fewer only at the end of the data).
  std::size_t read(std::uint8_t* p, std::size_t n) {
    std::size_t got = 0;
    while (got < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - got, 1u << 30));
      const int k = gzread(f_, p + got, chunk);
      if (k < 0) {
        int code = 0;
        fail("data file '", path_, "' is damaged (gzip: ", gzerror(f_, &code), ")");
      }
      if (k == 0) break;
      got += static_cast<std::size_t>(k);
    }
    return got;
  }
  // gzread stops quietly at a truncated stream; gzclose reports it.
  void close() {
    const int rc = gzclose(f_);
    f_ = nullptr;
    if (rc != Z_OK) fail("data file '", path_, "' is truncated or damaged (gzip)");
  }

 private:
  std::string path_;
  gzFile f_ = nullptr;
};

Idx read_idx(const std::string& path, int dims, const char* hint) {
  GzFile f(path, hint);
  std::uint8_t head[4 + 4 * 3];
  const std::size_t head_bytes = 4 + 4 * std::size_t(dims);
  const std::size_t got = f.read(head, head_bytes);
  if (got < head_bytes)
    fail("data file '", path, "' is truncated: ", got, " bytes, the IDX header needs ", head_bytes);
  const std::uint32_t magic = be32(head);
  const std::uint32_t want = 0x00000800u | std::uint32_t(dims);
  if (magic != want)
    fail("data file '", path, "' is not an IDX", dims, " file of unsigned bytes: magic 0x",
         std::hex, magic, ", expected 0x", want);
  Idx idx;
  std::uint64_t total = 1;
  for (int k = 0; k < dims; ++k) {
    const std::uint32_t d = be32(head + 4 + 4 * k);
    idx.sizes.push_back(d);
    if (d > 0 && total > kMaxIdxDataBytes / d)
      fail("data file '", path, "': its header declares sizes whose product exceeds the ",
           kMaxIdxDataBytes, " bytes of data this l2o reads");
    total *= d;
  }
  // Grown as the data arrives (a header that declares gigabytes in front of a few bytes
  // costs a few bytes), never past the declared size.
  std::size_t n = 0;
  while (n < total) {
    const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(total - n, 1 << 20));
    idx.data.resize(n + chunk);
    const std::size_t k = f.read(idx.data.data() + n, chunk);
    n += k;
    if (k < chunk) break;
  }
  idx.data.resize(n);
  std::uint8_t extra = 0;
  const bool trailing = n == total && f.read(&extra, 1) == 1;
  if (n < total || trailing)
    fail("data file '", path, "' holds ", trailing ? "more than " : "", n,
         " bytes of data, its header says ", total,
         trailing ? " (trailing bytes)" : " (truncated)");
  f.close();
  return idx;
}

}  // namespace

Dataset load_idx(const std::string& images_path, const std::string& labels_path) {
  const Idx im = read_idx(images_path, 3, "");
  const Idx lb = read_idx(labels_path, 1, "");
  if (im.sizes[0] != lb.sizes[0])
    fail("'", images_path, "' has ", im.sizes[0], " images but '", labels_path, "' ", lb.sizes[0],
         " labels");
  if (im.sizes[1] == 0 || im.sizes[2] == 0) fail("'", images_path, "': images of size 0");
  if (std::uint64_t(im.sizes[1]) * im.sizes[2] > kMaxIdxPixels)
    fail("'", images_path, "': images of ", im.sizes[1], " x ", im.sizes[2], " pixels, at most ",
         kMaxIdxPixels, " are read");
  Dataset d;
  d.rows = static_cast<int>(im.sizes[1]);
  d.cols = static_cast<int>(im.sizes[2]);
  d.images.resize(im.data.size());
  for (std::size_t k = 0; k < d.images.size(); ++k) d.images[k] = im.data[k] / 255.0f;
  d.labels = lb.data;
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
