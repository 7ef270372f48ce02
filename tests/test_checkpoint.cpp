// Checkpoint round trip and every refusal case. The tests patch files by hand and
// recompute the CRC-32 with their own bitwise implementation, so a refusal is tested for
// the reason it names and not just for the checksum.
#include "l2o/checkpoint.hpp"
#include "l2o/error.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace l2o {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

std::uint32_t crc32_bitwise(const std::uint8_t* p, std::size_t n) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

class CheckpointTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return tmp_.file(name); }

  static Bytes read(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  static void write(const std::string& p, const Bytes& b) {
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  static void fix_crc(Bytes& b) {
    const std::uint32_t crc = crc32_bitwise(b.data(), b.size() - 4);
    std::memcpy(b.data() + b.size() - 4, &crc, 4);
  }
  // The little-endian u32 at byte `at`, and b with it set to v (the CRC fixed to match).
  static std::uint32_t u32_at(const Bytes& b, std::size_t at) {
    std::uint32_t v;
    std::memcpy(&v, b.data() + at, 4);
    return v;
  }
  static Bytes with_u32(Bytes b, std::size_t at, std::uint32_t v) {
    std::memcpy(b.data() + at, &v, 4);
    fix_crc(b);
    return b;
  }
  // The error message load_checkpoint gives for these bytes ("" if it loads).
  std::string refusal(const Bytes& b) {
    const std::string p = path("bad.l2o");
    write(p, b);
    try {
      load_checkpoint(p);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  testing::TempDir tmp_{"l2o_ckpt"};
};

// Offsets from docs/checkpoint-format.md: 24-byte header, then CONF (16 + 24 bytes).
constexpr std::size_t kVersionAt = 8, kConfPayloadAt = 24 + 16, kPhiCountAt = 24 + 16 + 24 + 16;

TEST_F(CheckpointTest, RoundTripKeepsConfigWeightsAndSections) {
  OptimizerConfig cfg;
  cfg.hidden = 8;
  cfg.layers = 3;
  cfg.p = 5.0f;
  cfg.output_scale = 0.01f;
  cfg.forget_bias = 0.5f;
  Checkpoint ck{Weights::initialise(cfg, 9), {{"ADAM", {1, 2, 3}}, {"XTRA", {}}}};
  const std::string p = path("phi.l2o");
  save_checkpoint(p, ck);
  const Checkpoint back = load_checkpoint(p);
  EXPECT_EQ(back.phi.config(), cfg);
  EXPECT_EQ(back.phi.values(), ck.phi.values());
  EXPECT_EQ(back.sections, ck.sections);
  EXPECT_EQ(load_weights(p, cfg).values(), ck.phi.values());
  // Nothing but the checkpoint is left in the folder (the temporary file was renamed).
  int files = 0;
  for (const auto& e : fs::directory_iterator(tmp_.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

// A configuration with an option after the paper is written as format version 2 (a
// 48-byte CONF); the paper's configuration stays version 1, byte for byte what earlier
// l2o wrote, so both kinds of file load.
TEST_F(CheckpointTest, OptionsAfterThePaperUseVersionTwoAndVersionOneStillLoads) {
  OptimizerConfig cfg;
  cfg.hidden = 8;
  cfg.moment_inputs = true;
  cfg.bounded_output = true;
  cfg.nominal_lr = 0.002f;
  cfg.beta1 = 0.8f;
  cfg.beta2 = 0.99f;
  cfg.moment_eps = 1e-6f;
  const Weights phi = Weights::initialise(cfg, 3);
  save_weights(path("v2.l2o"), phi);
  Bytes b = read(path("v2.l2o"));
  std::uint32_t version, conf_bytes;
  std::memcpy(&version, b.data() + kVersionAt, 4);
  std::memcpy(&conf_bytes, b.data() + 24 + 8, 4);
  EXPECT_EQ(version, 2u);
  EXPECT_EQ(conf_bytes, 48u);
  const Checkpoint back = load_checkpoint(path("v2.l2o"));
  EXPECT_EQ(back.phi.config(), cfg);
  EXPECT_EQ(back.phi.values(), phi.values());
  EXPECT_EQ(back.phi.config().num_inputs(), 4);

  save_weights(path("v1.l2o"), Weights::initialise(OptimizerConfig{}, 3));
  const Bytes v1 = read(path("v1.l2o"));
  std::memcpy(&version, v1.data() + kVersionAt, 4);
  EXPECT_EQ(version, 1u);
  EXPECT_EQ(load_checkpoint(path("v1.l2o")).phi.config(), OptimizerConfig{});

  // A flag other than 0 or 1, and a version-2 CONF naming none of the options, are refused.
  Bytes bad = b;
  const std::uint32_t two = 2;
  std::memcpy(bad.data() + kConfPayloadAt + 24, &two, 4);
  fix_crc(bad);
  EXPECT_NE(refusal(bad).find("moment_inputs = 2"), std::string::npos) << refusal(bad);
  bad = b;
  const std::uint32_t zero = 0;
  const float no_lr = 0.0f;
  std::memcpy(bad.data() + kConfPayloadAt + 24, &zero, 4);
  std::memcpy(bad.data() + kConfPayloadAt + 28, &zero, 4);
  std::memcpy(bad.data() + kConfPayloadAt + 32, &no_lr, 4);
  fix_crc(bad);
  EXPECT_NE(refusal(bad).find("without its options"), std::string::npos) << refusal(bad);
  // A version-1 header on a 48-byte CONF is refused by its length.
  bad = b;
  const std::uint32_t one = 1;
  std::memcpy(bad.data() + kVersionAt, &one, 4);
  fix_crc(bad);
  EXPECT_NE(refusal(bad).find("CONF section of 48 bytes, expected 24"), std::string::npos)
      << refusal(bad);
}

// An LSTM-sub phi (groups > 1) is written as format version 3 (a 52-byte CONF ending in
// the number of groups), its groups' weights one after the other in PHI; a version-3 CONF
// of one group, or of more than kMaxGroups, is refused, as is a version-2 reader's view
// of it (the PHI length gives it away).
TEST_F(CheckpointTest, LstmSubUsesVersionThree) {
  OptimizerConfig cfg;
  cfg.hidden = 8;
  cfg.groups = 3;
  cfg.bounded_output = true;
  Weights phi = Weights::initialise(cfg, 3);
  ASSERT_EQ(phi.size(), 3 * phi.layout().count());
  for (std::size_t i = phi.layout().count(); i < phi.size(); ++i) phi.values()[i] += 0.001f * i;
  save_weights(path("v3.l2o"), phi);
  const Bytes b = read(path("v3.l2o"));
  std::uint32_t version, conf_bytes, groups;
  std::memcpy(&version, b.data() + kVersionAt, 4);
  std::memcpy(&conf_bytes, b.data() + 24 + 8, 4);
  std::memcpy(&groups, b.data() + kConfPayloadAt + 48, 4);
  EXPECT_EQ(version, 3u);
  EXPECT_EQ(conf_bytes, 52u);
  EXPECT_EQ(groups, 3u);
  const Weights back = load_weights(path("v3.l2o"), cfg);
  EXPECT_EQ(back.values(), phi.values());
  EXPECT_EQ(back.group(2).values(), phi.group(2).values());
  EXPECT_NE(back.group(1).values(), back.group(0).values());
  for (std::uint32_t bad_groups : {1u, 0u, 17u}) {
    Bytes bad = b;
    std::memcpy(bad.data() + kConfPayloadAt + 48, &bad_groups, 4);
    fix_crc(bad);
    EXPECT_NE(refusal(bad).find("CONF groups = " + std::to_string(bad_groups)), std::string::npos)
        << refusal(bad);
  }
  {  // the groups field dropped (a version-2 CONF): the weights do not fit
    Bytes bad(b.begin(), b.begin() + kConfPayloadAt + 48);
    bad.insert(bad.end(), b.begin() + kConfPayloadAt + 52, b.end());
    const std::uint64_t len = 48;
    const std::uint32_t two = 2;
    std::memcpy(bad.data() + 24 + 8, &len, 8);
    std::memcpy(bad.data() + kVersionAt, &two, 4);
    fix_crc(bad);
    EXPECT_NE(refusal(bad).find("needs " + std::to_string(phi.layout().count())), std::string::npos)
        << refusal(bad);
  }
}

// LSTM+GAC: format version 4, CONF of 56 bytes ending in groups and gac, with one group
// or several; a gac of 0 or above hidden, or a group count of 0, is refused.
TEST_F(CheckpointTest, GlobalUnitsUseVersionFour) {
  for (int groups : {1, 2}) {
    OptimizerConfig cfg;
    cfg.hidden = 8;
    cfg.gac = 3;
    cfg.groups = groups;
    const Weights phi = Weights::initialise(cfg, 4);
    const std::string p = path("v4_" + std::to_string(groups) + ".l2o");
    save_weights(p, phi);
    const Bytes b = read(p);
    EXPECT_EQ(u32_at(b, kVersionAt), 4u);
    EXPECT_EQ(u32_at(b, 24 + 8), 56u);  // CONF length
    EXPECT_EQ(u32_at(b, kConfPayloadAt + 48), std::uint32_t(groups));
    EXPECT_EQ(u32_at(b, kConfPayloadAt + 52), 3u);
    const Weights back = load_weights(p, cfg);
    EXPECT_EQ(back.config(), cfg);
    EXPECT_EQ(back.values(), phi.values());
    OptimizerConfig none = cfg;  // the same weights without global units are another optimizer
    none.gac = 0;
    EXPECT_THROW(load_weights(p, none), Error);
    for (std::uint32_t bad_gac : {0u, 9u}) {
      const Bytes bad = with_u32(b, kConfPayloadAt + 52, bad_gac);
      EXPECT_NE(refusal(bad).find("CONF gac = " + std::to_string(bad_gac)), std::string::npos)
          << refusal(bad);
    }
    const Bytes bad = with_u32(b, kConfPayloadAt + 48, 0);
    EXPECT_NE(refusal(bad).find("CONF groups = 0, expected 1.."), std::string::npos)
        << refusal(bad);
  }
}

// A phi with the time input is format version 5 (a 60-byte CONF ending in time_input = 1,
// gac may be 0); a version-5 CONF whose flag is not 1 is refused, and so is a version-4
// reader's view of the file (its CONF length).
TEST_F(CheckpointTest, TimeInputUsesVersionFive) {
  for (int gac : {0, 2}) {
    OptimizerConfig cfg;
    cfg.hidden = 8;
    cfg.time_input = true;
    cfg.gac = gac;
    const Weights phi = Weights::initialise(cfg, 6);
    const std::string p = path("v5_" + std::to_string(gac) + ".l2o");
    save_weights(p, phi);
    const Bytes b = read(p);
    EXPECT_EQ(u32_at(b, kVersionAt), 5u);
    EXPECT_EQ(u32_at(b, 24 + 8), 60u);  // CONF length
    EXPECT_EQ(u32_at(b, kConfPayloadAt + 52), std::uint32_t(gac));
    EXPECT_EQ(u32_at(b, kConfPayloadAt + 56), 1u);
    const Weights back = load_weights(p, cfg);
    EXPECT_EQ(back.config(), cfg);
    EXPECT_EQ(back.values(), phi.values());
    for (std::uint32_t bad_time : {0u, 2u}) {
      const Bytes bad = with_u32(b, kConfPayloadAt + 56, bad_time);
      EXPECT_NE(refusal(bad).find("CONF time_input = " + std::to_string(bad_time)),
                std::string::npos)
          << refusal(bad);
    }
    const Bytes bad = with_u32(b, kVersionAt, 4);
    EXPECT_NE(refusal(bad).find("CONF section of 60 bytes, expected 56"), std::string::npos)
        << refusal(bad);
  }
}

TEST_F(CheckpointTest, OverwriteIsAtomicAndFailureLeavesTheOldFile) {
  const std::string p = path("phi.l2o");
  const Weights a = Weights::initialise(OptimizerConfig{}, 1);
  save_weights(p, a);
  const Bytes before = read(p);
  // Writing into a folder that does not exist fails and leaves nothing behind.
  EXPECT_THROW(save_weights(path("missing/phi.l2o"), a), Error);
  // A checkpoint whose weights do not fit their configuration is refused before writing.
  Weights broken = a;
  broken.values().pop_back();
  EXPECT_THROW(save_weights(p, broken), Error);
  EXPECT_EQ(read(p), before);
}

TEST_F(CheckpointTest, RefusesWrongMagic) {
  save_weights(path("phi.l2o"), Weights::initialise(OptimizerConfig{}, 1));
  Bytes b = read(path("phi.l2o"));
  b[0] = 'X';
  EXPECT_NE(refusal(b).find("wrong magic"), std::string::npos) << refusal(b);
  EXPECT_NE(refusal(Bytes{'h', 'i'}).find("wrong magic"), std::string::npos);
}

TEST_F(CheckpointTest, RefusesUnknownVersion) {
  save_weights(path("phi.l2o"), Weights::initialise(OptimizerConfig{}, 1));
  Bytes b = read(path("phi.l2o"));
  const std::uint32_t v = 7;
  std::memcpy(b.data() + kVersionAt, &v, 4);
  fix_crc(b);
  const std::string msg = refusal(b);
  EXPECT_NE(msg.find("format version 7"), std::string::npos) << msg;
}

TEST_F(CheckpointTest, RefusesOtherByteOrder) {
  save_weights(path("phi.l2o"), Weights::initialise(OptimizerConfig{}, 1));
  Bytes b = read(path("phi.l2o"));
  std::reverse(b.begin() + 12, b.begin() + 16);
  fix_crc(b);
  EXPECT_NE(refusal(b).find("byte-order"), std::string::npos) << refusal(b);
}

TEST_F(CheckpointTest, RefusesTruncatedFilesAtEveryLength) {
  save_weights(path("phi.l2o"), Weights::initialise(OptimizerConfig{}, 1));
  const Bytes good = read(path("phi.l2o"));
  for (std::size_t len : {std::size_t(0), std::size_t(8), std::size_t(20), std::size_t(27),
                          std::size_t(60), good.size() / 2, good.size() - 1}) {
    const std::string msg = refusal(Bytes(good.begin(), good.begin() + len));
    EXPECT_FALSE(msg.empty()) << "length " << len;
    if (len >= 8)
      EXPECT_NE(msg.find("truncated"), std::string::npos) << "length " << len << ": " << msg;
  }
  // Truncated but with a valid CRC over what remains: the section bounds catch it.
  Bytes cut(good.begin(), good.begin() + good.size() / 2);
  cut.resize(cut.size() + 4);
  fix_crc(cut);
  EXPECT_NE(refusal(cut).find("truncated"), std::string::npos) << refusal(cut);
}

TEST_F(CheckpointTest, RefusesChecksumMismatch) {
  save_weights(path("phi.l2o"), Weights::initialise(OptimizerConfig{}, 1));
  Bytes b = read(path("phi.l2o"));
  b[b.size() / 2] ^= 0x10;  // one bit of one weight
  const std::string msg = refusal(b);
  EXPECT_NE(msg.find("checksum mismatch"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bad.l2o"), std::string::npos) << "names the file: " << msg;
}

TEST_F(CheckpointTest, RefusesSizesThatDoNotMatchTheConfiguration) {
  save_weights(path("phi.l2o"), Weights::initialise(OptimizerConfig{}, 1));
  const Bytes good = read(path("phi.l2o"));
  // hidden 20 -> 16: a valid configuration that needs 3,409 weights, not 5,141.
  Bytes b = good;
  const std::uint32_t hidden = 16;
  std::memcpy(b.data() + kConfPayloadAt + 4, &hidden, 4);
  fix_crc(b);
  std::string msg = refusal(b);
  EXPECT_NE(msg.find("holds 5141 weights"), std::string::npos) << msg;
  // An invalid configuration (hidden 21).
  const std::uint32_t odd = 21;
  std::memcpy(b.data() + kConfPayloadAt + 4, &odd, 4);
  fix_crc(b);
  msg = refusal(b);
  EXPECT_NE(msg.find("hidden = 21"), std::string::npos) << msg;
  // A weight count that disagrees with the section's length.
  b = good;
  const std::uint64_t count = 5000;
  std::memcpy(b.data() + kPhiCountAt, &count, 8);
  fix_crc(b);
  msg = refusal(b);
  EXPECT_NE(msg.find("says 5000 weights"), std::string::npos) << msg;
  // A different configuration than the caller expects.
  OptimizerConfig other;
  other.p = 5.0f;
  try {
    load_weights(path("phi.l2o"), other);
    FAIL() << "a checkpoint of another configuration was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected"), std::string::npos) << e.what();
  }
}

TEST_F(CheckpointTest, RefusesNonFiniteWeightsAndMissingFiles) {
  Weights w = Weights::initialise(OptimizerConfig{}, 1);
  save_weights(path("phi.l2o"), w);
  Bytes b = read(path("phi.l2o"));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(b.data() + kPhiCountAt + 8 + 4 * 10, &nan, 4);
  fix_crc(b);
  EXPECT_NE(refusal(b).find("weight 10 is nan"), std::string::npos) << refusal(b);
  try {
    load_checkpoint(path("absent.l2o"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open"), std::string::npos) << e.what();
  }
}

// Strict sections: CONF then PHI, each tag once, reserved fields zero, printable tags.
TEST_F(CheckpointTest, RefusesSectionsOutOfOrderTwiceOrWithReservedBits) {
  Checkpoint c{Weights::initialise(OptimizerConfig{}, 1), {{"ABCD", Bytes{1, 2, 3}}}};
  save_checkpoint(path("ok.l2o"), c);
  const Bytes good = read(path("ok.l2o"));
  ASSERT_EQ(refusal(good), "");
  const std::size_t conf_at = 24, phi_at = kPhiCountAt - 16;
  const std::size_t extra_at = good.size() - 4 - (16 + 3);
  {  // the header's reserved field
    Bytes b = good;
    b[20] = 1;
    fix_crc(b);
    EXPECT_NE(refusal(b).find("reserved header field"), std::string::npos) << refusal(b);
  }
  {  // a section's reserved field
    Bytes b = good;
    b[extra_at + 4] = 0x80;
    fix_crc(b);
    EXPECT_NE(refusal(b).find("section 'ABCD' has reserved field"), std::string::npos)
        << refusal(b);
  }
  {  // the extra section renamed CONF: a second CONF, after PHI
    Bytes b = good;
    std::memcpy(b.data() + extra_at, "CONF", 4);
    fix_crc(b);
    EXPECT_NE(refusal(b).find("starts with CONF, then PHI"), std::string::npos) << refusal(b);
  }
  {  // CONF renamed: PHI would come first
    Bytes b = good;
    std::memcpy(b.data() + conf_at, "XXXX", 4);
    fix_crc(b);
    EXPECT_NE(refusal(b).find("section 0 is 'XXXX'"), std::string::npos) << refusal(b);
  }
  {  // an unprintable tag (terminal escape)
    Bytes b = good;
    b[extra_at] = 0x1b;
    fix_crc(b);
    EXPECT_NE(refusal(b).find("unprintable"), std::string::npos) << refusal(b);
  }
  {  // the same extra section twice: append a copy and count it
    Bytes b(good.begin(), good.end() - 4);
    b.insert(b.end(), good.begin() + extra_at, good.end() - 4);
    b.insert(b.end(), 4, 0);
    const std::uint32_t count = 4;
    std::memcpy(b.data() + 16, &count, 4);
    fix_crc(b);
    EXPECT_NE(refusal(b).find("'ABCD' appears twice"), std::string::npos) << refusal(b);
  }
  (void)phi_at;
}

// The writer refuses what the reader would refuse, and writes nothing: a NaN weight, a
// phi of the wrong length, a bad tag. The file that was there stays loadable.
TEST_F(CheckpointTest, WriterRefusesWhatTheReaderRefusesAndKeepsTheOldFile) {
  const std::string p = path("keep.l2o");
  save_weights(p, Weights::initialise(OptimizerConfig{}, 1));
  const Bytes before = read(p);
  Weights nan_phi = Weights::initialise(OptimizerConfig{}, 2);
  nan_phi.values()[7] = std::numeric_limits<float>::infinity();
  try {
    save_weights(p, nan_phi);
    FAIL() << "a non-finite weight was written";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("weight 7 is inf"), std::string::npos) << e.what();
  }
  Weights short_phi = Weights::initialise(OptimizerConfig{}, 2);
  short_phi.values().pop_back();
  EXPECT_THROW(save_weights(p, short_phi), Error);
  EXPECT_THROW(save_checkpoint(p, {Weights::initialise(OptimizerConfig{}, 2), {{"A\nBC", {}}}}),
               Error);
  EXPECT_EQ(read(p), before);
  EXPECT_NO_THROW(load_weights(p));
}

// Only regular files are read, and never more than the documented maximum: a FIFO would
// block forever, /dev/zero never ends, a sparse file of a terabyte would be read whole.
TEST_F(CheckpointTest, RefusesSpecialAndOversizedFilesBeforeReading) {
  const std::string fifo = path("fifo.l2o");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const auto& [file, why] : std::vector<std::pair<std::string, std::string>>{
           {fifo, "a FIFO"}, {"/dev/zero", "a character device"}, {tmp_.file(""), "a directory"}}) {
    try {
      load_checkpoint(file);
      ADD_FAILURE() << file << " was read";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("is not a regular file (" + why + ")"),
                std::string::npos)
          << e.what();
    }
  }
  const std::string huge = path("huge.l2o");
  { std::ofstream(huge, std::ios::binary) << "L2OCKPT"; }
  ASSERT_EQ(::truncate(huge.c_str(), off_t(1) << 40), 0);  // sparse: no disk used
  try {
    load_checkpoint(huge);
    ADD_FAILURE() << "a 1 TB checkpoint was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than the 268435456 this l2o reads"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace l2o
