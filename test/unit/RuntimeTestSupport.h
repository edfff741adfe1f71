//===- RuntimeTestSupport.h - helpers for the runtime C API tests -*- C++ -*-===//
//
// Status checks and a fixture holding the example MLP (examples/mlp.json,
// compiled at build time) loaded on the cpu device.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_TEST_UNIT_RUNTIMETESTSUPPORT_H
#define UBE_TEST_UNIT_RUNTIMETESTSUPPORT_H

#include "ube/runtime.h"

#include <fstream>
#include <gtest/gtest.h>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace ube::test {

/// Expects `status` to be an error of `code` whose message contains `text`.
inline void expectError(ube_status status, ube_status_code code, const std::string &text) {
  ASSERT_NE(status, nullptr) << "expected an error containing: " << text;
  EXPECT_EQ(ube_status_get_code(status), code);
  EXPECT_NE(std::string(ube_status_message(status)).find(text), std::string::npos)
      << ube_status_message(status);
  ube_status_free(status);
}

inline void expectOk(ube_status status) {
  ASSERT_EQ(status, nullptr) << ube_status_message(status);
}

inline std::vector<char> readBytes(const char *path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), {});
}

class MlpTest : public ::testing::Test {
protected:
  void SetUp() override {
    expectOk(ube_device_open("cpu", &device));
    expectOk(ube_executable_load_file(device, UBE_TEST_MLP_EXECUTABLE, &exe));
  }
  void TearDown() override {
    ube_executable_release(exe);
    ube_device_release(device);
  }
  /// A random [8, 16] input.
  std::vector<float> input(uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-2, 2);
    std::vector<float> x(8 * 16);
    for (float &v : x)
      v = dist(rng);
    return x;
  }
  /// Runs `predict` on `x` with wrapped caller memory.
  std::vector<float> predict(std::vector<float> &x) {
    std::vector<float> probs(8 * 4);
    int64_t xShape[] = {8, 16}, pShape[] = {8, 4};
    ube_buffer *in = nullptr, *out = nullptr;
    expectOk(ube_buffer_wrap(device, UBE_F32, 2, xShape, x.data(), x.size() * 4, &in));
    expectOk(ube_buffer_wrap(device, UBE_F32, 2, pShape, probs.data(), probs.size() * 4, &out));
    expectOk(ube_invoke(exe, 0, &in, 1, &out, 1));
    ube_buffer_release(in);
    ube_buffer_release(out);
    return probs;
  }
  /// Runs `loss` on `x` and `labels` with buffers the runtime allocates.
  float loss(const std::vector<float> &x, const std::vector<int64_t> &labels) {
    int64_t xShape[] = {8, 16}, lShape[] = {8};
    ube_buffer *inputs[2], *out;
    expectOk(ube_buffer_allocate(device, UBE_F32, 2, xShape, &inputs[0]));
    expectOk(ube_buffer_allocate(device, UBE_I64, 1, lShape, &inputs[1]));
    expectOk(ube_buffer_allocate(device, UBE_F32, 0, nullptr, &out));
    expectOk(ube_buffer_copy_from_host(inputs[0], x.data(), x.size() * 4));
    expectOk(ube_buffer_copy_from_host(inputs[1], labels.data(), labels.size() * 8));
    expectOk(ube_invoke(exe, 1, inputs, 2, &out, 1));
    float value = -1;
    expectOk(ube_buffer_copy_to_host(out, &value, 4));
    for (ube_buffer *b : {inputs[0], inputs[1], out})
      ube_buffer_release(b);
    return value;
  }
  ube_device *device = nullptr;
  ube_executable *exe = nullptr;
};

} // namespace ube::test

#endif // UBE_TEST_UNIT_RUNTIMETESTSUPPORT_H
