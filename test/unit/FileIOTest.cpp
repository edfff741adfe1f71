#include "ube/Support/ExecutableFormat.h"
#include "ube/Support/FileIO.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace ube;

namespace {

/// A temporary file with `bytes`, removed with this object.
class TempFile {
public:
  explicit TempFile(const std::vector<uint8_t> &bytes) {
    char name[] = "/tmp/ube-fileio-XXXXXX";
    int fd = mkstemp(name);
    EXPECT_EQ(write(fd, bytes.data(), bytes.size()), ssize_t(bytes.size()));
    close(fd);
    path = name;
  }
  ~TempFile() { std::remove(path.c_str()); }
  std::string path;
};

std::vector<uint8_t> pattern(size_t size) {
  std::vector<uint8_t> bytes(size);
  for (size_t i = 0; i < size; ++i)
    bytes[i] = uint8_t(i * 7 + i / 4096);
  return bytes;
}

} // namespace

TEST(FileBytes, MapsWhatReadRegularFileReads) {
  std::vector<uint8_t> bytes = pattern(3 * 4096 + 123);
  TempFile file(bytes);
  std::string error;
  std::shared_ptr<const FileBytes> mapped = FileBytes::map(file.path, error);
  ASSERT_NE(mapped, nullptr) << error;
  ASSERT_EQ(mapped->size(), bytes.size());
  EXPECT_EQ(std::memcmp(mapped->data(), bytes.data(), bytes.size()), 0);
  // Released pages read back from the file; bytes beside them are untouched.
  mapped->release(mapped->data() + 100, 2 * 4096);
  EXPECT_EQ(std::memcmp(mapped->data(), bytes.data(), bytes.size()), 0);
  mapped->release(mapped->data(), mapped->size());
  EXPECT_EQ(std::memcmp(mapped->data(), bytes.data(), bytes.size()), 0);
  // Outside the mapping: nothing happens.
  mapped->release(mapped->data() + mapped->size(), 4096);
}

TEST(FileBytes, MappingOutlivesTheFileName) {
  std::vector<uint8_t> bytes = pattern(5000);
  std::string error;
  std::shared_ptr<const FileBytes> mapped;
  {
    TempFile file(bytes);
    mapped = FileBytes::map(file.path, error);
    ASSERT_NE(mapped, nullptr) << error;
  }
  EXPECT_EQ(std::memcmp(mapped->data(), bytes.data(), bytes.size()), 0);
}

TEST(FileBytes, EmptyFileAndHeldBytes) {
  TempFile empty({});
  std::string error;
  std::shared_ptr<const FileBytes> mapped = FileBytes::map(empty.path, error);
  ASSERT_NE(mapped, nullptr) << error;
  EXPECT_EQ(mapped->size(), 0u);
  FileBytes held(pattern(10));
  EXPECT_EQ(held.size(), 10u);
  held.release(held.data(), held.size()); // nothing to hand back
  EXPECT_EQ(held.data()[3], pattern(10)[3]);
}

TEST(FileBytes, RefusesWhatIsNotARegularFile) {
  std::string error;
  EXPECT_EQ(FileBytes::map("/tmp/ube-no-such-file-xyz", error), nullptr);
  EXPECT_NE(error.find("/tmp/ube-no-such-file-xyz: cannot open file"), std::string::npos)
      << error;
  EXPECT_EQ(FileBytes::map("/tmp", error), nullptr);
  EXPECT_NE(error.find("/tmp: is a directory"), std::string::npos) << error;
  EXPECT_EQ(FileBytes::map("/dev/zero", error), nullptr);
  EXPECT_NE(error.find("is not a regular file"), std::string::npos) << error;
}

TEST(FileBytes, MappedSectionsWriteTheSameExecutable) {
  // Larger than the writer's 64 MiB pieces, so it releases as it goes.
  std::vector<uint8_t> weights = pattern((size_t(64) << 20) + 4096 + 17);
  TempFile file(weights);
  std::string error;
  std::shared_ptr<const FileBytes> mapped = FileBytes::map(file.path, error);
  ASSERT_NE(mapped, nullptr) << error;
  Manifest manifest;
  manifest.target = "cpu";
  manifest.sections = {{"host.so", 0, 0}, {section::kConstants, 0, 0}};
  std::vector<uint8_t> code = pattern(300);
  std::vector<uint8_t> fromMapping;
  std::vector<SectionBytes> sections = {{code.data(), code.size()},
                                        {mapped->data(), mapped->size(), mapped.get()}};
  writeExecutable(manifest, sections, [&](const uint8_t *data, size_t size) {
    fromMapping.insert(fromMapping.end(), data, data + size);
  });
  EXPECT_EQ(fromMapping, writeExecutable(manifest, {code, weights}));
}

TEST(FileBytes, SectionsFromPiecesWriteTheSameExecutable) {
  // A constants section gathered from the weights where they are: pieces at
  // aligned offsets, zeros between them and after the last.
  std::vector<uint8_t> first = pattern(100), second = pattern(37);
  std::vector<uint8_t> whole(300, 0);
  std::copy(first.begin(), first.end(), whole.begin());
  std::copy(second.begin(), second.end(), whole.begin() + 128);
  SectionBytes pieces;
  pieces.size = whole.size();
  pieces.pieces = {{0, first.data(), first.size()}, {128, second.data(), second.size()}};
  Manifest manifest;
  manifest.target = "cpu";
  manifest.sections = {{"host.so", 0, 0}, {section::kConstants, 0, 0}};
  std::vector<uint8_t> code = pattern(300), gathered;
  writeExecutable(manifest, {SectionBytes(code.data(), code.size()), pieces},
                  [&](const uint8_t *data, size_t size) {
                    gathered.insert(gathered.end(), data, data + size);
                  });
  EXPECT_EQ(gathered, writeExecutable(manifest, {code, whole}));
}
