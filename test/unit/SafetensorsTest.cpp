#include "ube/Support/Safetensors.h"

#include <cstdio>
#include <cstring>
#include <gtest/gtest.h>
#include <string>
#include <unistd.h>

using namespace ube;

namespace {

/// A safetensors image with the given header text and data bytes.
std::vector<uint8_t> image(const std::string &header, std::vector<uint8_t> data = {}) {
  std::vector<uint8_t> bytes(8);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    bytes[i] = static_cast<uint8_t>(n >> (8 * i));
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

std::string errorFor(std::vector<uint8_t> bytes) {
  std::string error;
  auto file = SafetensorsFile::fromBytes(std::move(bytes), "t.safetensors", error);
  EXPECT_EQ(file, nullptr);
  return error;
}

class TempPath {
public:
  TempPath() {
    char name[] = "/tmp/ube-safetensors-XXXXXX";
    int fd = mkstemp(name);
    close(fd);
    path = name;
  }
  ~TempPath() { std::remove(path.c_str()); }
  std::string path;
};

} // namespace

TEST(Safetensors, WriteThenReadRoundTrips) {
  float weights[6] = {1, -2, 3.5f, 0, 1e-8f, -7};
  int64_t ids[3] = {0, 5, -1};
  uint8_t mask[2] = {1, 0};
  SafetensorsWriter writer;
  std::string error;
  ASSERT_TRUE(writer.add("w", DType::F32, {2, 3}, weights, sizeof weights, error)) << error;
  ASSERT_TRUE(writer.add("ids", DType::I64, {3}, ids, sizeof ids, error)) << error;
  ASSERT_TRUE(writer.add("mask", DType::I1, {2}, mask, sizeof mask, error)) << error;
  ASSERT_TRUE(writer.add("scalar", DType::F32, {}, weights, 4, error)) << error;
  writer.setMetadata("format", "pt");
  TempPath tmp;
  ASSERT_TRUE(writer.write(tmp.path, error)) << error;

  auto file = SafetensorsFile::open(tmp.path, error);
  ASSERT_NE(file, nullptr) << error;
  ASSERT_EQ(file->entries().size(), 4u);
  EXPECT_EQ(file->metadata().at("format"), "pt");
  const SafetensorsEntry *w = file->find("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, DType::F32);
  EXPECT_EQ(w->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(file->data(*w), weights, sizeof weights), 0);
  const SafetensorsEntry *i = file->find("ids");
  ASSERT_NE(i, nullptr);
  EXPECT_EQ(std::memcmp(file->data(*i), ids, sizeof ids), 0);
  EXPECT_EQ(file->find("scalar")->shape.size(), 0u);
  EXPECT_EQ(file->find("missing"), nullptr);
  // The data section starts 8-byte aligned.
  EXPECT_EQ(file->entries().front().offset % 8, 0u);
}

TEST(Safetensors, WriterRejectsBadTensors) {
  SafetensorsWriter writer;
  std::string error;
  float x[2] = {};
  EXPECT_FALSE(writer.add("x", DType::F32, {3}, x, sizeof x, error));
  EXPECT_NE(error.find("do not match"), std::string::npos);
  ASSERT_TRUE(writer.add("x", DType::F32, {2}, x, sizeof x, error));
  EXPECT_FALSE(writer.add("x", DType::F32, {2}, x, sizeof x, error));
  EXPECT_FALSE(writer.add("__metadata__", DType::F32, {2}, x, sizeof x, error));
}

TEST(Safetensors, MissingFile) {
  std::string error;
  EXPECT_EQ(SafetensorsFile::open("/nonexistent/x.safetensors", error), nullptr);
  EXPECT_NE(error.find("/nonexistent/x.safetensors: cannot open file"), std::string::npos);
}

TEST(Safetensors, TooShortForHeaderLength) {
  EXPECT_NE(errorFor({1, 2, 3}).find("shorter than the 8-byte header length"),
            std::string::npos);
}

TEST(Safetensors, HeaderLengthBeyondFile) {
  auto bytes = image("{}");
  bytes[0] = 0xff; // claims a 255-byte header
  EXPECT_NE(errorFor(bytes).find("exceeds the file"), std::string::npos);
  auto huge = image("{}");
  huge[7] = 0x7f;
  EXPECT_NE(errorFor(huge).find("exceeds the file"), std::string::npos);
}

TEST(Safetensors, GarbageHeader) {
  EXPECT_NE(errorFor(image("not json")).find("not a JSON object"), std::string::npos);
  EXPECT_NE(errorFor(image("[1, 2]")).find("not a JSON object"), std::string::npos);
}

TEST(Safetensors, TruncatedData) {
  auto error = errorFor(image(
      R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", {0, 0, 0, 0}));
  EXPECT_NE(error.find("tensor 'w'"), std::string::npos);
  EXPECT_NE(error.find("truncated"), std::string::npos);
}

TEST(Safetensors, ByteSizeMustMatchShape) {
  auto error = errorFor(image(
      R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})",
      std::vector<uint8_t>(8)));
  EXPECT_NE(error.find("holds 8 bytes but shape [3] of F32 needs 12"), std::string::npos);
}

TEST(Safetensors, UnsupportedDtype) {
  auto error = errorFor(image(
      R"({"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}})",
      std::vector<uint8_t>(1)));
  EXPECT_NE(error.find("unsupported dtype 'F8_E4M3'"), std::string::npos);
}

TEST(Safetensors, MalformedEntries) {
  EXPECT_NE(errorFor(image(R"({"w": 3})")).find("not an object"), std::string::npos);
  EXPECT_NE(errorFor(image(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})"))
                .find("'dtype'"),
            std::string::npos);
  EXPECT_NE(errorFor(image(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})"))
                .find("non-negative"),
            std::string::npos);
  EXPECT_NE(errorFor(image(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4]}})"))
                .find("data_offsets"),
            std::string::npos);
  EXPECT_NE(errorFor(image(R"({"__metadata__": {"a": 1}})")).find("not a string"),
            std::string::npos);
}

TEST(Safetensors, OverlappingTensors) {
  auto error = errorFor(image(
      R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
          "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
      std::vector<uint8_t>(12)));
  EXPECT_NE(error.find("overlap"), std::string::npos);
}

TEST(Safetensors, ElementCountOverflow) {
  auto error = errorFor(image(
      R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})"));
  EXPECT_NE(error.find("overflows"), std::string::npos);
}
