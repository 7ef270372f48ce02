// Reading input files without trusting them (internal): only regular files are read (a
// FIFO would block forever, a device such as /dev/zero never ends, a directory is not
// data), the check is made on the opened file (no race with a rename), and a file larger
// than the caller's documented maximum is refused before anything is read.
#pragma once

#include "host/fail.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace l2o {
namespace detail {

// Opens `path` for reading and returns the descriptor of a regular file of at most
// max_bytes bytes (its size in *size); refuses anything else with a message naming `what`
// (e.g. "checkpoint") and the path. Opening does not block on a FIFO (O_NONBLOCK, cleared
// once the file is known to be regular).
inline int open_regular(const std::string& path, const char* what, std::uint64_t max_bytes,
                        std::uint64_t* size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail("cannot open ", what, " '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail("cannot read ", what, " '", path, "': ", std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(what, " '", path, "' is not a regular file (",
         S_ISDIR(st.st_mode)    ? "a directory"
         : S_ISFIFO(st.st_mode) ? "a FIFO"
         : S_ISCHR(st.st_mode)  ? "a character device"
         : S_ISBLK(st.st_mode)  ? "a block device"
         : S_ISSOCK(st.st_mode) ? "a socket"
                                : "not a file",
         ")");
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    fail(what, " '", path, "' has ", st.st_size, " bytes, more than the ", max_bytes,
         " this l2o reads");
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  *size = static_cast<std::uint64_t>(st.st_size);
  return fd;
}

// The whole of a regular file of at most max_bytes bytes.
inline std::vector<std::uint8_t> read_regular(const std::string& path, const char* what,
                                              std::uint64_t max_bytes) {
  std::uint64_t size = 0;
  const int fd = open_regular(path, what, max_bytes, &size);
  std::vector<std::uint8_t> data(static_cast<std::size_t>(size));
  std::size_t got = 0;
  while (got < data.size()) {
    const ssize_t k = ::read(fd, data.data() + got, data.size() - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      const int err = errno;
      ::close(fd);
      fail("cannot read ", what, " '", path,
           "': ", k == 0 ? "it shrank while being read" : std::strerror(err));
    }
    got += static_cast<std::size_t>(k);
  }
  ::close(fd);
  return data;
}

}  // namespace detail
}  // namespace l2o
