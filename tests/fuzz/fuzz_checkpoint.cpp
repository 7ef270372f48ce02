// libFuzzer harness: the checkpoint reader. Each input is tried twice: as it is, and with
// its CRC-32 recomputed (so that the parser past the checksum is exercised, not only the
// checksum). Invariants: the reader either refuses with l2o::Error or returns a checkpoint
// that the writer accepts and that reads back identical (a save/load round trip).
#include "l2o/checkpoint.hpp"
#include "l2o/error.hpp"

#include <zlib.h>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::string temp_path(const char* what) {
  return std::string("/tmp/l2o-fuzz-") + what + "-" + std::to_string(::getpid()) + ".l2o";
}

void write(const std::string& p, const std::uint8_t* d, std::size_t n) {
  FILE* f = std::fopen(p.c_str(), "wb");
  if (!f) std::abort();
  if (n) std::fwrite(d, 1, n, f);
  std::fclose(f);
}

void check(const std::uint8_t* data, std::size_t size) {
  const std::string in = temp_path("in"), out = temp_path("out");
  write(in, data, size);
  l2o::Checkpoint ck;
  try {
    ck = l2o::load_checkpoint(in);
  } catch (const l2o::Error&) {
    return;  // refused, with a message: fine
  }
  // Accepted: the writer must accept it too, and it must read back the same.
  l2o::save_checkpoint(out, ck);
  const l2o::Checkpoint again = l2o::load_checkpoint(out);
  if (!(again.phi.config() == ck.phi.config()) || again.phi.values() != ck.phi.values() ||
      again.sections != ck.sections)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check(data, size);
  if (size >= 8) {
    std::vector<std::uint8_t> fixed(data, data + size);
    const std::uint32_t crc =
        static_cast<std::uint32_t>(crc32(0L, fixed.data(), static_cast<uInt>(size - 4)));
    std::memcpy(fixed.data() + size - 4, &crc, 4);
    check(fixed.data(), size);
  }
  return 0;
}
