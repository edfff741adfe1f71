#include "ube/Support/Npy.h"

#include <cstdio>
#include <cstring>
#include <gtest/gtest.h>
#include <string>
#include <unistd.h>

using namespace ube;

namespace {
std::vector<uint8_t> npy(const std::string &header, size_t dataBytes, uint8_t major = 1) {
  std::vector<uint8_t> bytes = {0x93, 'N', 'U', 'M', 'P', 'Y', major, 0};
  uint32_t n = uint32_t(header.size());
  bytes.push_back(uint8_t(n));
  bytes.push_back(uint8_t(n >> 8));
  if (major >= 2) {
    bytes.push_back(uint8_t(n >> 16));
    bytes.push_back(uint8_t(n >> 24));
  }
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.resize(bytes.size() + dataBytes, 7);
  return bytes;
}
std::string errorFor(const std::vector<uint8_t> &bytes) {
  NpyArray array;
  std::string error;
  EXPECT_FALSE(parseNpy(bytes.data(), bytes.size(), "x.npy", array, error));
  return error;
}
} // namespace

TEST(Npy, WriteThenReadRoundTrips) {
  char name[] = "/tmp/ube-npy-XXXXXX";
  close(mkstemp(name));
  std::string path = name;
  int64_t values[6] = {1, -2, 3, 4, 5, 600000000000};
  std::string error;
  ASSERT_TRUE(writeNpy(path, DType::I64, {2, 3}, values, error)) << error;
  NpyArray array;
  ASSERT_TRUE(readNpy(path, array, error)) << error;
  EXPECT_EQ(array.dtype, DType::I64);
  EXPECT_EQ(array.shape, (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(array.data.size(), sizeof values);
  EXPECT_EQ(std::memcmp(array.data.data(), values, sizeof values), 0);
  float scalar = 2.5f;
  ASSERT_TRUE(writeNpy(path, DType::F32, {}, &scalar, error)) << error;
  ASSERT_TRUE(readNpy(path, array, error)) << error;
  EXPECT_TRUE(array.shape.empty());
  std::remove(path.c_str());
}

TEST(Npy, ParsesNumpyHeaders) {
  NpyArray array;
  std::string error;
  auto one = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", 12);
  ASSERT_TRUE(parseNpy(one.data(), one.size(), "x.npy", array, error)) << error;
  EXPECT_EQ(array.shape, (std::vector<int64_t>{3}));
  auto v2 = npy("{'descr': '|b1', 'fortran_order': False, 'shape': (2, 2), }\n", 4, 2);
  ASSERT_TRUE(parseNpy(v2.data(), v2.size(), "x.npy", array, error)) << error;
  EXPECT_EQ(array.dtype, DType::I1);
}

TEST(Npy, RejectsBadFiles) {
  EXPECT_NE(errorFor({1, 2, 3}).find("not a .npy file"), std::string::npos);
  EXPECT_NE(errorFor(npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", 8))
                .find("unsupported dtype '<c8'"),
            std::string::npos);
  EXPECT_NE(errorFor(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", 4))
                .find("Fortran-order"),
            std::string::npos);
  EXPECT_NE(errorFor(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8))
                .find("holds 8 data bytes but shape [3] of f32 needs 12"),
            std::string::npos);
  EXPECT_NE(errorFor(npy("{'descr': '<f4', 'fortran_order': False}", 4)).find("'shape'"),
            std::string::npos);
  auto truncated = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4);
  truncated.resize(20);
  EXPECT_NE(errorFor(truncated).find("truncated"), std::string::npos);
}
