//===- FileIO.cpp - reading whole input files ------------------------------===//

#include "ube/Support/FileIO.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ube {

bool readRegularFile(const std::string &path, std::vector<uint8_t> &bytes, std::string &error) {
  auto fail = [&](const std::string &why) {
    error = fmt::format("{}: {}", path, why);
    return false;
  };
  // O_NONBLOCK: opening a FIFO must not wait for a writer before fstat says
  // what it is.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return fail(fmt::format("cannot open file: {}", std::strerror(errno)));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return fail(fmt::format("cannot stat file: {}", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(S_ISDIR(st.st_mode) ? "is a directory, not a file" : "is not a regular file");
  }
  bytes.resize(size_t(st.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int err = n < 0 ? errno : 0;
      ::close(fd);
      return fail(err ? fmt::format("read failed: {}", std::strerror(err))
                      : "the file shrank while being read");
    }
    done += size_t(n);
  }
  ::close(fd);
  return true;
}

} // namespace ube
