//===- FileIO.cpp - reading whole input files ------------------------------===//

#include "ube/Support/FileIO.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ube {

namespace {

/// Opens `path` for reading if it is a regular file; -1 with `error` set
/// otherwise.
int openRegularFile(const std::string &path, size_t &size, std::string &error) {
  auto fail = [&](const std::string &why) {
    error = fmt::format("{}: {}", path, why);
    return -1;
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
  size = size_t(st.st_size);
  return fd;
}

} // namespace

bool readRegularFile(const std::string &path, std::vector<uint8_t> &bytes, std::string &error) {
  auto fail = [&](const std::string &why) {
    error = fmt::format("{}: {}", path, why);
    return false;
  };
  size_t size;
  int fd = openRegularFile(path, size, error);
  if (fd < 0)
    return false;
  bytes.resize(size);
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

FileBytes::FileBytes(std::vector<uint8_t> bytes)
    : owned_(std::move(bytes)), data_(owned_.data()), size_(owned_.size()) {}

FileBytes::~FileBytes() {
  if (mapped_)
    munmap(const_cast<uint8_t *>(data_), size_);
}

std::shared_ptr<const FileBytes> FileBytes::map(const std::string &path, std::string &error) {
  size_t size;
  int fd = openRegularFile(path, size, error);
  if (fd < 0)
    return nullptr;
  if (size == 0) {
    ::close(fd);
    return std::make_shared<FileBytes>(std::vector<uint8_t>());
  }
  void *data = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);
  if (data == MAP_FAILED) {
    error = fmt::format("{}: cannot map file: {}", path, std::strerror(err));
    return nullptr;
  }
  std::shared_ptr<FileBytes> file(new FileBytes());
  file->data_ = static_cast<const uint8_t *>(data);
  file->size_ = size;
  file->mapped_ = true;
  return file;
}

/// Applies `advice` to the pages wholly inside [begin, begin + size).
static void adviseWholePages(const void *begin, size_t size, int advice) {
  uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  uintptr_t first = (uintptr_t(begin) + page - 1) / page * page;
  uintptr_t last = (uintptr_t(begin) + size) / page * page;
  if (first < last)
    madvise(reinterpret_cast<void *>(first), last - first, advice);
}

void adviseReclaim(const void *begin, size_t size) {
#ifdef MADV_PAGEOUT
  adviseWholePages(begin, size, MADV_PAGEOUT); // Linux 5.4 on; a hint where unknown
#endif
}

void FileBytes::release(const uint8_t *begin, size_t size) const {
  if (!mapped_ || begin < data_ || begin + size > data_ + size_)
    return;
  adviseWholePages(begin, size, MADV_DONTNEED);
}

} // namespace ube
