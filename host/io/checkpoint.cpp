// Checkpoint files; the format is documented in docs/checkpoint-format.md.
#include "l2o/checkpoint.hpp"

#include "host/fail.hpp"
#include "host/io/files.hpp"
#include "l2o/error.hpp"

#include <zlib.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace l2o {
namespace {

constexpr char kMagic[8] = {'L', '2', 'O', 'C', 'K', 'P', 'T', '\x1a'};
constexpr std::uint32_t kByteOrderMark = 0x01020304u;
constexpr std::size_t kHeaderBytes = 24;  // magic, version, byte order, section count, reserved
constexpr std::size_t kSectionHead = 16;  // tag, reserved, length
constexpr std::size_t kConfBytesV1 = 24;
constexpr std::size_t kConfBytesV2 = 48;  // + moment_inputs, bounded_output, nominal_lr,
                                          //   beta1, beta2, moment_eps
constexpr std::size_t kConfBytesV3 = 52;  // + groups (LSTM-sub)
constexpr std::size_t kConfBytesV4 = 56;  // + gac (LSTM+GAC)
constexpr std::size_t kConfBytesV5 = 60;  // + time_input

std::uint32_t version_for(const OptimizerConfig& c) {
  return c.time_input ? 5u : c.gac > 0 ? 4u : c.groups > 1 ? 3u : c.has_extensions() ? 2u : 1u;
}
std::size_t conf_bytes(std::uint32_t version) {
  return version >= 5   ? kConfBytesV5
         : version == 4 ? kConfBytesV4
         : version == 3 ? kConfBytesV3
         : version == 2 ? kConfBytesV2
                        : kConfBytesV1;
}

bool host_is_little_endian() {
  const std::uint32_t one = 1;
  unsigned char b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

class Writer {
 public:
  template <class T>
  void put(const T& v) {
    append(&v, sizeof v);
  }
  void append(const void* p, std::size_t n) {
    const auto* c = static_cast<const std::uint8_t*>(p);
    bytes.insert(bytes.end(), c, c + n);
  }
  void section(const std::string& tag, const std::vector<std::uint8_t>& payload) {
    append(tag.data(), 4);
    put<std::uint32_t>(0);
    put<std::uint64_t>(payload.size());
    append(payload.data(), payload.size());
  }
  std::vector<std::uint8_t> bytes;
};

class Reader {
 public:
  Reader(const std::string& path, const std::uint8_t* p, std::size_t n)
      : path_(path), p_(p), n_(n) {}
  template <class T>
  T get(const char* what) {
    T v;
    need(sizeof v, what);
    std::memcpy(&v, p_ + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  const std::uint8_t* take(std::size_t n, const char* what) {
    need(n, what);
    const std::uint8_t* r = p_ + pos_;
    pos_ += n;
    return r;
  }
  std::size_t remaining() const { return n_ - pos_; }

 private:
  void need(std::size_t k, const char* what) {
    if (k > n_ - pos_)
      fail("checkpoint '", path_, "': truncated: ", what, " needs ", k, " bytes at offset ", pos_,
           ", only ", n_ - pos_, " left");
  }
  std::string path_;
  const std::uint8_t* p_;
  std::size_t n_;
  std::size_t pos_ = 0;
};

std::vector<std::uint8_t> encode_config(const OptimizerConfig& c) {
  Writer w;
  w.put<std::uint32_t>(static_cast<std::uint32_t>(c.layers));
  w.put<std::uint32_t>(static_cast<std::uint32_t>(c.hidden));
  w.put<std::uint32_t>(static_cast<std::uint32_t>(c.preprocess));
  w.put<float>(c.p);
  w.put<float>(c.output_scale);
  w.put<float>(c.forget_bias);
  if (version_for(c) >= 2) {
    w.put<std::uint32_t>(c.moment_inputs ? 1u : 0u);
    w.put<std::uint32_t>(c.bounded_output ? 1u : 0u);
    w.put<float>(c.nominal_lr);
    w.put<float>(c.beta1);
    w.put<float>(c.beta2);
    w.put<float>(c.moment_eps);
  }
  if (version_for(c) >= 3) w.put<std::uint32_t>(static_cast<std::uint32_t>(c.groups));
  if (version_for(c) >= 4) w.put<std::uint32_t>(static_cast<std::uint32_t>(c.gac));
  if (version_for(c) >= 5) w.put<std::uint32_t>(c.time_input ? 1u : 0u);
  return w.bytes;
}

std::uint32_t crc32_of(const std::uint8_t* p, std::size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {  // zlib takes uInt lengths
    const uInt chunk = n > (1u << 30) ? (1u << 30) : static_cast<uInt>(n);
    crc = crc32(crc, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<std::uint32_t>(crc);
}

}  // namespace

namespace {
// Fault injection for tests (tests/fault_test.sh): with L2O_FAULT_AT=k in the environment,
// the process ends at once, as if killed, at the k-th step of the atomic writes it makes
// (each write has 7: before creating the temporary file, after creating it, after half of
// the bytes, after all of them, after fsync, after close, after the rename).
void fault_point() {
  static const long at = [] {
    const char* e = std::getenv("L2O_FAULT_AT");
    return e ? std::atol(e) : 0L;
  }();
  static long count = 0;
  if (at > 0 && ++count == at) ::_exit(86);
}

// Writes all n bytes at p to fd; returns 0 or the errno of the failure.
int write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t k = ::write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return k < 0 ? errno : EIO;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return 0;
}
}  // namespace

void write_file_atomically(const std::string& path, const void* data, std::size_t size) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  fault_point();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot create '", tmp, "' to write '", path, "': ", std::strerror(errno));
  fault_point();
  const auto* p = static_cast<const char*>(data);
  int err = write_all(fd, p, size / 2);
  if (err == 0) fault_point();
  if (err == 0) err = write_all(fd, p + size / 2, size - size / 2);
  if (err != 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
    fail("cannot write '", tmp, "': ", std::strerror(err));
  }
  fault_point();
  if (::fsync(fd) != 0 || (fault_point(), ::close(fd) != 0)) {
    const int e = errno;
    ::unlink(tmp.c_str());
    fail("cannot flush '", tmp, "': ", std::strerror(e));
  }
  fault_point();
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    fail("cannot rename '", tmp, "' to '", path, "': ", std::strerror(e));
  }
  fault_point();
}

namespace {
// A section tag: four printable ASCII characters (so that `l2o info` prints it as it is).
bool printable_tag(const std::string& tag) {
  if (tag.size() != 4) return false;
  for (char c : tag)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

// What every checkpoint must satisfy, checked by the writer before it writes and by the
// reader after it parses: what one refuses, the other never produces.
void validate(const Checkpoint& ckpt, const std::string& where) {
  const Weights& phi = ckpt.phi;
  try {
    phi.config().validate();
  } catch (const Error& e) {
    fail(where, ": invalid configuration: ", e.what());
  }
  const std::size_t need = phi.layout().count() * static_cast<std::size_t>(phi.config().groups);
  if (phi.size() != need)
    fail(where, ": holds ", phi.size(), " weights, its configuration (", describe(phi.config()),
         ") needs ", need);
  for (std::size_t i = 0; i < phi.size(); ++i)
    if (!std::isfinite(phi.data()[i])) fail(where, ": weight ", i, " is ", phi.data()[i]);
  std::uint64_t bytes = kHeaderBytes + 2 * kSectionHead + conf_bytes(version_for(phi.config())) +
                        8 + 4 * phi.size() + 4;
  for (const auto& [tag, payload] : ckpt.sections) {
    if (!printable_tag(tag) || tag == "CONF" || tag == "PHI ")
      fail(where, ": section tag of ", tag.size(),
           " bytes: expected 4 printable characters, not CONF or PHI");
    bytes += kSectionHead + payload.size();
  }
  if (bytes > kMaxCheckpointBytes)
    fail(where, ": ", bytes, " bytes, more than the ", kMaxCheckpointBytes,
         " a checkpoint may have");
}
}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& ckpt) {
  if (!host_is_little_endian()) fail("checkpoints are little-endian; this host is not");
  validate(ckpt, "save_checkpoint '" + path + "'");
  const Weights& phi = ckpt.phi;
  Writer w;
  w.append(kMagic, sizeof kMagic);
  w.put<std::uint32_t>(version_for(phi.config()));
  w.put<std::uint32_t>(kByteOrderMark);
  w.put<std::uint32_t>(static_cast<std::uint32_t>(2 + ckpt.sections.size()));
  w.put<std::uint32_t>(0);
  w.section("CONF", encode_config(phi.config()));
  Writer weights;
  weights.put<std::uint64_t>(phi.size());
  weights.append(phi.data(), phi.size() * sizeof(float));
  w.section("PHI ", weights.bytes);
  for (const auto& [tag, payload] : ckpt.sections) w.section(tag, payload);
  w.put<std::uint32_t>(crc32_of(w.bytes.data(), w.bytes.size()));
  write_file_atomically(path, w.bytes.data(), w.bytes.size());
}

void save_weights(const std::string& path, const Weights& phi) {
  save_checkpoint(path, {phi, {}});
}

Checkpoint load_checkpoint(const std::string& path) {
  const std::vector<std::uint8_t> data =
      detail::read_regular(path, "checkpoint", kMaxCheckpointBytes);
  const std::string where = "checkpoint '" + path + "'";
  if (data.size() < sizeof kMagic || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0)
    fail(where, ": not an l2o checkpoint (wrong magic bytes)");
  if (data.size() < kHeaderBytes + 4)
    fail(where, ": truncated: ", data.size(), " bytes, a checkpoint has at least ",
         kHeaderBytes + 4);
  Reader r(path, data.data(), data.size() - 4);
  r.take(sizeof kMagic, "magic");
  const auto version = r.get<std::uint32_t>("version");
  const auto bom = r.get<std::uint32_t>("byte order");
  if (bom != kByteOrderMark)
    fail(where, ": byte-order mark 0x", std::hex, bom, " instead of 0x", kByteOrderMark,
         " (written on a machine of other endianness, or damaged)");
  if (version < 1 || version > kCheckpointVersion)
    fail(where, ": format version ", version, ", this l2o reads versions 1 to ",
         kCheckpointVersion);
  std::uint32_t stored_crc;
  std::memcpy(&stored_crc, data.data() + data.size() - 4, 4);
  const std::uint32_t crc = crc32_of(data.data(), data.size() - 4);
  if (crc != stored_crc)
    fail(where, ": checksum mismatch (CRC-32 stored 0x", std::hex, stored_crc, ", computed 0x", crc,
         "): the file is damaged or truncated");
  const auto count = r.get<std::uint32_t>("section count");
  if (const auto reserved = r.get<std::uint32_t>("reserved"); reserved != 0)
    fail(where, ": reserved header field is 0x", std::hex, reserved, ", expected 0");

  bool have_conf = false, have_phi = false;
  OptimizerConfig config;
  std::vector<float> values;
  Checkpoint out;
  for (std::uint32_t s = 0; s < count; ++s) {
    const std::uint8_t* tagp = r.take(4, "section tag");
    const std::string tag(reinterpret_cast<const char*>(tagp), 4);
    if (!printable_tag(tag)) fail(where, ": section ", s, " has a tag of unprintable bytes");
    if (const auto flags = r.get<std::uint32_t>("section flags"); flags != 0)
      fail(where, ": section '", tag, "' has reserved field 0x", std::hex, flags, ", expected 0");
    // CONF first, PHI second, every tag at most once.
    if ((s == 0) != (tag == "CONF") || (s == 1) != (tag == "PHI "))
      fail(where, ": section ", s, " is '", tag, "'; a checkpoint starts with CONF, then PHI");
    if (out.sections.count(tag)) fail(where, ": section '", tag, "' appears twice");
    const auto len = r.get<std::uint64_t>("section length");
    if (len > r.remaining())
      fail(where, ": truncated: section '", tag, "' claims ", len, " bytes, ", r.remaining(),
           " remain");
    const std::uint8_t* payload = r.take(static_cast<std::size_t>(len), "section");
    Reader sr(path, payload, static_cast<std::size_t>(len));
    if (tag == "CONF") {
      if (len != conf_bytes(version))
        fail(where, ": CONF section of ", len, " bytes, expected ", conf_bytes(version),
             " in format version ", version);
      config.layers = static_cast<int>(sr.get<std::uint32_t>("layers"));
      config.hidden = static_cast<int>(sr.get<std::uint32_t>("hidden"));
      config.preprocess = static_cast<Preprocess>(sr.get<std::uint32_t>("preprocess"));
      config.p = sr.get<float>("p");
      config.output_scale = sr.get<float>("output_scale");
      config.forget_bias = sr.get<float>("forget_bias");
      if (version >= 2) {
        const auto flag = [&](const char* what) {
          const auto v = sr.get<std::uint32_t>(what);
          if (v > 1) fail(where, ": CONF ", what, " = ", v, ", expected 0 or 1");
          return v == 1;
        };
        config.moment_inputs = flag("moment_inputs");
        config.bounded_output = flag("bounded_output");
        config.nominal_lr = sr.get<float>("nominal_lr");
        config.beta1 = sr.get<float>("beta1");
        config.beta2 = sr.get<float>("beta2");
        config.moment_eps = sr.get<float>("moment_eps");
        if (version == 2 && !config.has_extensions())
          fail(where, ": format version 2 for a configuration without its options (version 1)");
      }
      if (version >= 3) {
        const auto groups = sr.get<std::uint32_t>("groups");
        const std::uint32_t least = version == 3 ? 2 : 1;
        if (groups < least || groups > std::uint32_t(kMaxGroups))
          fail(where, ": CONF groups = ", groups, ", expected ", least, "..", kMaxGroups,
               " in format version ", version,
               version == 3 ? " (one group is version 1 or 2)" : "");
        config.groups = static_cast<int>(groups);
      }
      if (version >= 4) {
        const auto gac = sr.get<std::uint32_t>("gac");
        const std::uint32_t least = version == 4 ? 1 : 0;
        if (gac < least || gac > std::uint32_t(config.hidden))
          fail(where, ": CONF gac = ", gac, ", expected ", least, "..", config.hidden,
               " (hidden) in format version ", version,
               version == 4 ? " (no global units is version 1 to 3)" : "");
        config.gac = static_cast<int>(gac);
      }
      if (version >= 5) {
        const auto time = sr.get<std::uint32_t>("time_input");
        if (time != 1)
          fail(where, ": CONF time_input = ", time,
               ", expected 1 in format version 5 (no time input is version 1 to 4)");
        config.time_input = true;
      }
      have_conf = true;
    } else if (tag == "PHI ") {
      const auto n = sr.get<std::uint64_t>("weight count");
      if (n != sr.remaining() / sizeof(float) || sr.remaining() % sizeof(float) != 0)
        fail(where, ": PHI section says ", n, " weights but holds ", sr.remaining(), " bytes");
      values.resize(static_cast<std::size_t>(n));
      if (n > 0)  // (memcpy to the null data of an empty vector is undefined, even of 0 bytes)
        std::memcpy(values.data(), sr.take(values.size() * sizeof(float), "weights"),
                    values.size() * sizeof(float));
      have_phi = true;
    } else {
      out.sections[tag].assign(payload, payload + len);
    }
  }
  if (r.remaining() != 0)
    fail(where, ": ", r.remaining(), " unexpected bytes after the last section");
  if (!have_conf || !have_phi)
    fail(where, ": missing its ", have_conf ? "PHI" : "CONF", " section");
  try {
    config.validate();
  } catch (const Error& e) {
    fail(where, ": invalid configuration: ", e.what());
  }
  out.phi = Weights(config);
  if (values.size() != out.phi.size())
    fail(where, ": holds ", values.size(), " weights, its configuration (", describe(config),
         ") needs ", out.phi.size());
  out.phi.values() = std::move(values);
  validate(out, where);
  return out;
}

Weights load_weights(const std::string& path) {
  return load_checkpoint(path).phi;
}

Weights load_weights(const std::string& path, const OptimizerConfig& expected) {
  Weights w = load_weights(path);
  if (w.config() != expected)
    fail("checkpoint '", path, "': its optimizer is '", describe(w.config()), "', expected '",
         describe(expected), "'");
  return w;
}

}  // namespace l2o
