// Versioned binary checkpoints of phi, its configuration and optional extra sections
// (meta-training state). The format is described in docs/checkpoint-format.md.
#pragma once

#include "l2o/build.hpp"

#include "l2o/config.hpp"
#include "l2o/weights.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace l2o {

// The newest format version: 4 for a phi with global averaging units
// (OptimizerConfig::gac > 0: CONF adds their number after the groups), else 3 for an
// LSTM-sub phi (OptimizerConfig::groups > 1: CONF adds the number of groups), else 2 when the
// configuration uses an option after the paper (OptimizerConfig::has_extensions: its CONF section
// is longer); files of the paper's configuration are still written as version 1, which l2o has
// always read.
constexpr std::uint32_t kCheckpointVersion = 5;
// The largest checkpoint file this l2o reads or writes (256 MiB; the default phi takes
// 21 KB, its meta-training state 80 KB more): larger files are refused before reading.
constexpr std::uint64_t kMaxCheckpointBytes = std::uint64_t(256) << 20;

struct L2O_API Checkpoint {
  Weights phi;
  // Named extra sections, each a 4-character tag (e.g. "ADAM") and raw bytes; unknown
  // tags are kept on load and written back on save.
  std::map<std::string, std::vector<std::uint8_t>> sections;
};

// Writes atomically: to a temporary file in the same folder, flushed and fsync'ed, then
// renamed over path. On failure path is untouched and l2o::Error says why.
L2O_API void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
L2O_API void save_weights(const std::string& path, const Weights& phi);

// Reads and verifies a checkpoint: magic, version, byte order, section sizes, the
// configuration's validity, the number of weights it implies, and the CRC-32 of the whole
// file. Any failure throws l2o::Error naming the file and the problem.
L2O_API Checkpoint load_checkpoint(const std::string& path);

// As load_checkpoint, and also refuses a configuration other than `expected`.
L2O_API Weights load_weights(const std::string& path, const OptimizerConfig& expected);
L2O_API Weights load_weights(const std::string& path);

// Writes bytes atomically (temporary file, fsync, rename). Used for every file l2o writes.
L2O_API void write_file_atomically(const std::string& path, const void* data, std::size_t size);

}  // namespace l2o
