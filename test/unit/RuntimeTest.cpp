// The runtime C API on a real executable (examples/mlp.json compiled at
// build time): loading, introspection, invocation, and the errors of every
// misuse. RuntimeStressTest.cpp holds the long-running and concurrent cases.
#include "RuntimeTestSupport.h"

#include "ube/Support/CpuFeatures.h"
#include "ube/Support/ExecutableFormat.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

namespace {

using namespace ube::test;
using RuntimeTest = MlpTest;

TEST_F(RuntimeTest, Introspection) {
  EXPECT_STREQ(ube_device_name(device), "cpu");
  EXPECT_NE(std::string(ube_device_list()).find("cpu"), std::string::npos);
  ASSERT_EQ(ube_executable_function_count(exe), 2u);
  EXPECT_STREQ(ube_executable_function_name(exe, 0), "predict");
  EXPECT_STREQ(ube_executable_function_name(exe, 1), "loss");
  EXPECT_EQ(ube_executable_function_name(exe, 2), nullptr);
  size_t fn = 99;
  expectOk(ube_executable_find_function(exe, "loss", &fn));
  EXPECT_EQ(fn, 1u);
  ASSERT_EQ(ube_function_input_count(exe, 1), 2u);
  ASSERT_EQ(ube_function_output_count(exe, 1), 1u);
  ube_tensor_info info;
  expectOk(ube_function_input(exe, 1, 1, &info));
  EXPECT_STREQ(info.name, "labels");
  EXPECT_EQ(info.dtype, UBE_I64);
  ASSERT_EQ(info.rank, 1u);
  EXPECT_EQ(info.shape[0], 8);
  expectOk(ube_function_output(exe, 1, 0, &info));
  EXPECT_STREQ(info.name, "loss");
  EXPECT_EQ(info.rank, 0u);
  EXPECT_NE(std::string(ube_executable_target_info(exe)).find("x86_64"), std::string::npos);
}

TEST_F(RuntimeTest, PredictGivesProbabilities) {
  auto x = input(1);
  auto probs = predict(x);
  for (int row = 0; row < 8; ++row) {
    float sum = 0;
    for (int c = 0; c < 4; ++c) {
      EXPECT_GT(probs[row * 4 + c], 0.0f);
      sum += probs[row * 4 + c];
    }
    EXPECT_NEAR(sum, 1.0f, 1e-5f);
  }
}

TEST_F(RuntimeTest, AllocatedBuffersAndCopies) {
  int64_t xShape[] = {8, 16}, lShape[] = {8};
  ube_buffer *x, *labels, *loss;
  expectOk(ube_buffer_allocate(device, UBE_F32, 2, xShape, &x));
  expectOk(ube_buffer_allocate(device, UBE_I64, 1, lShape, &labels));
  expectOk(ube_buffer_allocate(device, UBE_F32, 0, nullptr, &loss));
  EXPECT_EQ(ube_buffer_size_bytes(x), 8u * 16 * 4);
  EXPECT_EQ(ube_buffer_rank(loss), 0u);
  auto data = input(2);
  expectOk(ube_buffer_copy_from_host(x, data.data(), data.size() * 4));
  std::vector<int64_t> ids = {0, 1, 2, 3, 0, 1, 2, 3};
  expectOk(ube_buffer_copy_from_host(labels, ids.data(), ids.size() * 8));
  ube_buffer *inputs[] = {x, labels};
  expectOk(ube_invoke(exe, 1, inputs, 2, &loss, 1));
  float value = -1;
  expectOk(ube_buffer_copy_to_host(loss, &value, 4));
  EXPECT_TRUE(std::isfinite(value));
  EXPECT_GT(value, 0.0f);
  EXPECT_EQ(*static_cast<float *>(ube_buffer_host_data(loss)), value);
  expectError(ube_buffer_copy_to_host(loss, &value, 8), UBE_INVALID_ARGUMENT,
              "buffer holds 4 bytes, got 8");
  ube_buffer_release(x);
  ube_buffer_release(labels);
  ube_buffer_release(loss);
}

TEST_F(RuntimeTest, InvokeChecksArguments) {
  int64_t good[] = {8, 16}, bad[] = {8, 15}, pShape[] = {8, 4};
  ube_buffer *x, *wrongShape, *wrongType, *out;
  expectOk(ube_buffer_allocate(device, UBE_F32, 2, good, &x));
  expectOk(ube_buffer_allocate(device, UBE_F32, 2, bad, &wrongShape));
  expectOk(ube_buffer_allocate(device, UBE_F16, 2, good, &wrongType));
  expectOk(ube_buffer_allocate(device, UBE_F32, 2, pShape, &out));
  expectError(ube_invoke(exe, 0, &wrongShape, 1, &out, 1), UBE_INVALID_ARGUMENT,
              "function 'predict': input 'x' expects f32 [8, 16], got f32 [8, 15]");
  expectError(ube_invoke(exe, 0, &wrongType, 1, &out, 1), UBE_INVALID_ARGUMENT,
              "input 'x' expects f32 [8, 16], got f16 [8, 16]");
  expectError(ube_invoke(exe, 0, &x, 0, &out, 1), UBE_INVALID_ARGUMENT,
              "function 'predict' takes 1 inputs, got 0");
  expectError(ube_invoke(exe, 0, &x, 1, &out, 0), UBE_INVALID_ARGUMENT,
              "function 'predict' takes 1 outputs, got 0");
  ube_buffer *null = nullptr;
  expectError(ube_invoke(exe, 0, &null, 1, &out, 1), UBE_INVALID_ARGUMENT,
              "input 0 ('x') is null");
  expectError(ube_invoke(exe, 5, &x, 1, &out, 1), UBE_INVALID_ARGUMENT, "no function #5");
  expectError(ube_invoke(nullptr, 0, &x, 1, &out, 1), UBE_INVALID_ARGUMENT, "null executable");
  // A buffer of another device instance.
  ube_device *other;
  expectOk(ube_device_open("cpu", &other));
  ube_buffer *foreign;
  expectOk(ube_buffer_allocate(other, UBE_F32, 2, good, &foreign));
  expectError(ube_invoke(exe, 0, &foreign, 1, &out, 1), UBE_INVALID_ARGUMENT,
              "lives on another device");
  // Buffers keep their device alive after the handle is released.
  ube_device_release(other);
  ube_buffer_release(foreign);
  // An output over an input's memory (predict updates nothing in place).
  std::vector<float> memory(8 * 16);
  ube_buffer *xView, *outView;
  expectOk(ube_buffer_wrap(device, UBE_F32, 2, good, memory.data(), memory.size() * 4, &xView));
  expectOk(ube_buffer_wrap(device, UBE_F32, 2, pShape, memory.data() + 8, 8 * 4 * 4, &outView));
  EXPECT_EQ(ube_function_output_in_place_of(exe, 0, 0), -1);
  expectError(ube_invoke(exe, 0, &xView, 1, &outView, 1), UBE_INVALID_ARGUMENT,
              "output 'probs' shares memory with input 'x'; only outputs the executable "
              "updates in place may");
  ube_buffer_release(xView);
  ube_buffer_release(outView);
  for (ube_buffer *b : {x, wrongShape, wrongType, out})
    ube_buffer_release(b);
}

TEST_F(RuntimeTest, BufferErrors) {
  int64_t shape[] = {2, 3}, negative[] = {-1, 3};
  ube_buffer *b = nullptr;
  float data[6];
  expectError(ube_buffer_wrap(device, UBE_F32, 2, shape, data, 20, &b), UBE_INVALID_ARGUMENT,
              "f32 [2, 3] needs 24 bytes, got 20");
  expectError(ube_buffer_allocate(device, UBE_F32, 2, negative, &b), UBE_INVALID_ARGUMENT,
              "invalid shape [-1, 3]");
  expectError(ube_buffer_allocate(device, static_cast<ube_dtype>(42), 2, shape, &b),
              UBE_INVALID_ARGUMENT, "bad dtype");
  expectError(ube_buffer_allocate(device, UBE_F32, 2, nullptr, &b), UBE_INVALID_ARGUMENT,
              "shape is null");
  EXPECT_EQ(ube_dtype_size(UBE_BF16), 2u);
}

TEST(Runtime, LoadErrors) {
  ube_device *device;
  expectOk(ube_device_open("cpu", &device));
  ube_executable *exe = nullptr;
  expectError(ube_executable_load_file(device, "/nonexistent.ube", &exe), UBE_NOT_FOUND,
              "/nonexistent.ube: cannot open file");
  const char garbage[] = "definitely not an executable";
  expectError(ube_executable_load_memory(device, garbage, sizeof garbage, "garbage", &exe),
              UBE_INVALID_EXECUTABLE, "garbage: not a ube executable (bad magic)");
  std::vector<char> bytes = readBytes(UBE_TEST_MLP_EXECUTABLE);
  // Every truncation is refused, none crashes.
  for (size_t size : {size_t(0), size_t(7), size_t(31), size_t(32), size_t(200),
                      bytes.size() / 2, bytes.size() - 1})
    expectError(ube_executable_load_memory(device, bytes.data(), size, "cut", &exe),
                UBE_INVALID_EXECUTABLE, "cut: ");
  // A flipped bit anywhere after the header is a checksum mismatch.
  for (size_t at : {size_t(40), bytes.size() / 3, bytes.size() - 1}) {
    auto flipped = bytes;
    flipped[at] ^= 1;
    expectError(ube_executable_load_memory(device, flipped.data(), flipped.size(), "flip", &exe),
                UBE_INVALID_EXECUTABLE, "checksum mismatch");
  }
  expectError(ube_device_open("tpu", &device), UBE_NOT_FOUND, "no device plugin named 'tpu'");
  ube_device_release(device);
}

TEST(Runtime, ThreadCount) {
  ube_device *device;
  expectOk(ube_device_open("cpu", &device));
  EXPECT_GE(ube_device_thread_count(device), 1u);
  expectOk(ube_device_set_thread_count(device, 3));
  EXPECT_EQ(ube_device_thread_count(device), 3u);
  expectError(ube_device_set_thread_count(device, 0), UBE_INVALID_ARGUMENT,
              "cpu: thread count must be between 1 and 4096 (got 0)");
  EXPECT_EQ(ube_device_thread_count(device), 3u);
  expectError(ube_device_set_thread_count(nullptr, 2), UBE_INVALID_ARGUMENT, "null device");
  EXPECT_EQ(ube_device_thread_count(nullptr), 0u);
  ube_device_release(device);
}

// Buffers of 2 MiB or more (arenas) start on a huge-page boundary, so the
// system can back them with transparent huge pages; smaller ones on a
// cache line.
TEST(Runtime, LargeBuffersAlignedToHugePages) {
  ube_device *device;
  expectOk(ube_device_open("cpu", &device));
  int64_t large[] = {3, 1 << 18}, small[] = {100};
  ube_buffer *a, *b;
  expectOk(ube_buffer_allocate(device, UBE_F32, 2, large, &a));
  expectOk(ube_buffer_allocate(device, UBE_F32, 1, small, &b));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(ube_buffer_host_data(a)) % (uintptr_t(2) << 20), 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(ube_buffer_host_data(b)) % 64, 0u);
  // All of it writable.
  std::memset(ube_buffer_host_data(a), 1, size_t(3) << 20);
  ube_buffer_release(a);
  ube_buffer_release(b);
  ube_device_release(device);
}

/// The example executable's manifest and sections, to write edited copies.
struct ExampleParts {
  ExampleParts() {
    std::vector<char> image = readBytes(UBE_TEST_MLP_EXECUTABLE);
    ube::ExecutableView view;
    std::string error;
    EXPECT_TRUE(ube::readExecutable(reinterpret_cast<const uint8_t *>(image.data()),
                                    image.size(), "mlp", view, error))
        << error;
    manifest = view.manifest;
    for (const ube::Section &s : view.manifest.sections)
      sections.emplace_back(view.section(s), view.section(s) + s.size);
  }
  ube::Manifest manifest;
  std::vector<std::vector<uint8_t>> sections;
};

// The host code is checked before the dynamic loader sees it.
TEST(Runtime, ForeignOrBrokenHostCodeIsRefused) {
  ube_device *device;
  expectOk(ube_device_open("cpu", &device));
  ExampleParts example;
  // Rebuilds the executable with its host object edited by `edit`.
  auto rebuilt = [&](const std::function<void(std::vector<uint8_t> &)> &edit) {
    std::vector<std::vector<uint8_t>> sections = example.sections;
    for (size_t i = 0; i < sections.size(); ++i)
      if (example.manifest.sections[i].name == "host.so")
        edit(sections[i]);
    return ube::writeExecutable(example.manifest, sections);
  };
  auto expectRefused = [&](const std::vector<uint8_t> &bytes, const std::string &text) {
    ube_executable *exe = nullptr;
    expectError(ube_executable_load_memory(device, bytes.data(), bytes.size(), "edited", &exe),
                UBE_INVALID_EXECUTABLE, "edited: host code " + text);
  };
  expectRefused(rebuilt([](auto &so) { so[18] = 183; so[19] = 0; }), // EM_AARCH64
                "is for ELF machine 183, but this host is x86-64");
  expectRefused(rebuilt([](auto &so) { so[16] = 2; }), "is not a shared object"); // ET_EXEC
  expectRefused(rebuilt([](auto &so) { so[4] = 1; }), "is not a 64-bit little-endian");
  expectRefused(rebuilt([](auto &so) { so.resize(63); }), "is too short for an ELF header");
  expectRefused(rebuilt([](auto &so) { so.resize(100); }), "has its program headers outside");
  expectRefused(rebuilt([](auto &so) { so[0] = 'M'; so[1] = 'Z'; }), "is not an ELF object");
  ube_device_release(device);
}

// The manifest's required features are checked against the host before the
// code is mapped: code for a CPU with more than this one is refused, naming
// what is missing.
TEST(Runtime, CodeForAnotherCpuIsRefused) {
  std::vector<std::string> host = ube::hostCpuFeatures();
  std::vector<std::string> lacking;
  for (const ube::CpuFeatureInfo &f : ube::checkedCpuFeatures())
    if (!std::binary_search(host.begin(), host.end(), std::string(f.name)))
      lacking.push_back(f.name);
  if (lacking.empty())
    GTEST_SKIP() << "this host has every checked feature";
  ube_device *device;
  expectOk(ube_device_open("cpu", &device));
  ExampleParts example;
  ube::Manifest manifest = example.manifest;
  const std::vector<std::vector<uint8_t>> &sections = example.sections;
  manifest.requiredFeatures = {"sse2", lacking.front()};
  std::vector<uint8_t> foreign = ube::writeExecutable(manifest, sections);
  ube_executable *exe = nullptr;
  expectError(ube_executable_load_memory(device, foreign.data(), foreign.size(), "foreign", &exe),
              UBE_INVALID_EXECUTABLE,
              "foreign: compiled for " + manifest.targetInfo +
                  ", whose instructions this host's CPU lacks (" + lacking.front() + ")");
  // What the host has is fine, and so is no list at all (format 1).
  for (std::vector<std::string> required : {host, std::vector<std::string>{}}) {
    manifest.requiredFeatures = required;
    std::vector<uint8_t> native = ube::writeExecutable(manifest, sections);
    expectOk(ube_executable_load_memory(device, native.data(), native.size(), "native", &exe));
    ube_executable_release(exe);
  }
  ube_device_release(device);
}

// Only regular files are read: a directory or a device would hang or fill memory.
TEST(Runtime, LoadsOnlyRegularFiles) {
  ube_device *device;
  expectOk(ube_device_open("cpu", &device));
  ube_executable *exe = nullptr;
  expectError(ube_executable_load_file(device, "/tmp", &exe), UBE_NOT_FOUND,
              "/tmp: is a directory, not a file");
  expectError(ube_executable_load_file(device, "/dev/zero", &exe), UBE_NOT_FOUND,
              "/dev/zero: is not a regular file");
  ube_device_release(device);
}

// Two different executables loaded in turn, and at once, each run their own
// code (the loader must not hand back the first for the second).
TEST(Runtime, DifferentExecutablesDoNotAlias) {
  ube_device *device;
  expectOk(ube_device_open("cpu", &device));
  auto mlp = readBytes(UBE_TEST_MLP_EXECUTABLE), other = readBytes(UBE_TEST_SOFTMAX_EXECUTABLE);
  for (int round = 0; round < 3; ++round) {
    ube_executable *a, *b;
    expectOk(ube_executable_load_memory(device, mlp.data(), mlp.size(), "mlp", &a));
    if (round == 1)
      ube_executable_release(a); // b may get a's file descriptor number
    expectOk(ube_executable_load_memory(device, other.data(), other.size(), "softmax", &b));
    EXPECT_STREQ(ube_executable_function_name(b, 0), "main");
    float x[4] = {1, 2, 3, 4}, y[4] = {};
    int64_t shape[] = {4};
    ube_buffer *in, *out;
    expectOk(ube_buffer_wrap(device, UBE_F32, 1, shape, x, sizeof x, &in));
    expectOk(ube_buffer_wrap(device, UBE_F32, 1, shape, y, sizeof y, &out));
    expectOk(ube_invoke(b, 0, &in, 1, &out, 1));
    float sum = y[0] + y[1] + y[2] + y[3];
    EXPECT_NEAR(sum, 1.0f, 1e-6f);
    EXPECT_GT(y[3], y[2]);
    ube_buffer_release(in);
    ube_buffer_release(out);
    ube_executable_release(b);
    if (round != 1)
      ube_executable_release(a);
  }
  ube_device_release(device);
}
} // namespace

/// An executable with symbolic batch (at most 4) and length (at most 64):
/// y = softmax(x + bias) over [batch, seq, 8], bias [seq, 1].
TEST(Runtime, SymbolicShapesThroughTheCApi) {
  ube_device *device = nullptr;
  ube_executable *exe = nullptr;
  expectOk(ube_device_open("cpu", &device));
  expectOk(ube_executable_load_file(device, UBE_TEST_SYMBOLIC_EXECUTABLE, &exe));
  ube_tensor_info x;
  expectOk(ube_function_input(exe, 0, 0, &x));
  ASSERT_EQ(x.rank, 3u);
  EXPECT_EQ(x.shape[0], -1);
  EXPECT_EQ(x.shape[1], -1);
  EXPECT_EQ(x.shape[2], 8);

  // Outputs' shapes for given inputs, and what is wrong with bad ones.
  auto outputShape = [&](std::vector<int64_t> xShape, std::vector<int64_t> biasShape,
                         std::vector<int64_t> &y) {
    const int64_t *shapes[] = {xShape.data(), biasShape.data()};
    y.assign(3, 0);
    return ube_function_output_shape(exe, 0, shapes, 2, 0, y.data());
  };
  std::vector<int64_t> y;
  expectOk(outputShape({3, 5, 8}, {5, 1}, y));
  EXPECT_EQ(y, (std::vector<int64_t>{3, 5, 8}));
  expectError(outputShape({5, 5, 8}, {5, 1}, y), UBE_INVALID_ARGUMENT,
              "input 'x' has batch = 5, outside its bounds (1 to 4)");
  expectError(outputShape({3, 5, 8}, {6, 1}, y), UBE_INVALID_ARGUMENT,
              "inputs 'x' and 'bias' must agree on seq, got 5 and 6");
  expectError(outputShape({3, 5, 9}, {5, 1}, y), UBE_INVALID_ARGUMENT, "input 'x'");
  // Every output's shape at once: the same sizes, the same errors.
  {
    int64_t xShape[] = {2, 6, 8}, biasShape[] = {6, 1};
    const int64_t *shapes[] = {xShape, biasShape};
    std::vector<int64_t> all(3, 0);
    int64_t *outs[] = {all.data()};
    expectOk(ube_function_output_shapes(exe, 0, shapes, 2, outs));
    EXPECT_EQ(all, (std::vector<int64_t>{2, 6, 8}));
    biasShape[0] = 7;
    expectError(ube_function_output_shapes(exe, 0, shapes, 2, outs), UBE_INVALID_ARGUMENT,
                "inputs 'x' and 'bias' must agree on seq, got 6 and 7");
    biasShape[0] = 6;
    expectError(ube_function_output_shapes(exe, 0, shapes, 2, nullptr), UBE_INVALID_ARGUMENT,
                "null shapes");
  }

  // Two shapes through one executable, against a float64 reference.
  for (auto [batch, seq] : {std::pair<int64_t, int64_t>{1, 7}, {4, 64}}) {
    std::mt19937 rng(unsigned(batch * 100 + seq));
    std::uniform_real_distribution<float> dist(-3, 3);
    std::vector<float> xs(batch * seq * 8), bias(seq), out(xs.size());
    for (float &v : xs)
      v = dist(rng);
    for (float &v : bias)
      v = dist(rng);
    int64_t xShape[] = {batch, seq, 8}, bShape[] = {seq, 1};
    ube_buffer *in[2], *result;
    expectOk(ube_buffer_wrap(device, UBE_F32, 3, xShape, xs.data(), xs.size() * 4, &in[0]));
    expectOk(ube_buffer_wrap(device, UBE_F32, 2, bShape, bias.data(), bias.size() * 4, &in[1]));
    expectOk(ube_buffer_wrap(device, UBE_F32, 3, xShape, out.data(), out.size() * 4, &result));
    expectOk(ube_invoke(exe, 0, in, 2, &result, 1));
    for (int64_t row = 0; row < batch * seq; ++row) {
      double top = -1e300, sum = 0;
      for (int64_t j = 0; j < 8; ++j)
        top = std::max(top, double(xs[row * 8 + j]) + bias[row % seq]);
      for (int64_t j = 0; j < 8; ++j)
        sum += std::exp(double(xs[row * 8 + j]) + bias[row % seq] - top);
      for (int64_t j = 0; j < 8; ++j)
        EXPECT_NEAR(out[row * 8 + j],
                    std::exp(double(xs[row * 8 + j]) + bias[row % seq] - top) / sum, 2e-6);
    }
    // An output buffer of another length is refused, naming the shape expected.
    int64_t wrong[] = {batch, seq + 1, 8};
    std::vector<float> other(batch * (seq + 1) * 8);
    ube_buffer *bad;
    expectOk(ube_buffer_wrap(device, UBE_F32, 3, wrong, other.data(), other.size() * 4, &bad));
    expectError(ube_invoke(exe, 0, in, 2, &bad, 1), UBE_INVALID_ARGUMENT,
                "output 'y' expects f32");
    ube_buffer_release(bad);
    for (ube_buffer *b : {in[0], in[1], result})
      ube_buffer_release(b);
  }
  ube_executable_release(exe);
  ube_device_release(device);
}

/// An executable whose symbol has no maximum (n rows through two linear
/// layers with a tanh-GELU between): its arena is sized at each call from
/// n, grows when a larger n arrives and is reused below it, and results
/// match a float64 reference at every size.
TEST(Runtime, ArenaSizedAtEachCall) {
  ube_device *device = nullptr;
  ube_executable *exe = nullptr;
  expectOk(ube_device_open("cpu", &device));
  expectOk(ube_executable_load_file(device, UBE_TEST_UNBOUNDED_EXECUTABLE, &exe));
  auto arenaBytes = [&](int64_t n, uint64_t &bytes) {
    int64_t x[] = {n, 8}, w1[] = {16, 8}, w2[] = {4, 16};
    const int64_t *shapes[] = {x, w1, w2};
    return ube_function_arena_bytes(exe, 0, shapes, 3, &bytes);
  };
  // The hidden activations, n × 16 floats, live in the arena.
  uint64_t small = 0, large = 0;
  expectOk(arenaBytes(3, small));
  expectOk(arenaBytes(3000, large));
  EXPECT_GE(large, 3000u * 16 * 4);
  EXPECT_LT(small, large);
  uint64_t bytes = 0;
  expectError(arenaBytes(int64_t(1) << 60, bytes), UBE_INVALID_ARGUMENT,
              "its arena's size");
  int64_t wrongWidth[] = {3, 9}, w1Shape[] = {16, 8}, w2Shape[] = {4, 16};
  const int64_t *wrong[] = {wrongWidth, w1Shape, w2Shape};
  expectError(ube_function_arena_bytes(exe, 0, wrong, 3, &bytes), UBE_INVALID_ARGUMENT,
              "input 'x'");

  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> w1(16 * 8), w2(4 * 16);
  for (float &v : w1)
    v = dist(rng);
  for (float &v : w2)
    v = dist(rng);
  ube_buffer *weights[2];
  expectOk(ube_buffer_wrap(device, UBE_F32, 2, w1Shape, w1.data(), w1.size() * 4, &weights[0]));
  expectOk(ube_buffer_wrap(device, UBE_F32, 2, w2Shape, w2.data(), w2.size() * 4, &weights[1]));
  for (int64_t n : {5, 2000, 1, 37}) {
    std::vector<float> x(n * 8), y(n * 4);
    for (float &v : x)
      v = dist(rng);
    int64_t xShape[] = {n, 8}, yShape[] = {n, 4};
    ube_buffer *in[3] = {nullptr, weights[0], weights[1]}, *out;
    expectOk(ube_buffer_wrap(device, UBE_F32, 2, xShape, x.data(), x.size() * 4, &in[0]));
    expectOk(ube_buffer_wrap(device, UBE_F32, 2, yShape, y.data(), y.size() * 4, &out));
    expectOk(ube_invoke(exe, 0, in, 3, &out, 1));
    double worst = 0;
    for (int64_t row = 0; row < n; ++row) {
      double a[16];
      for (int j = 0; j < 16; ++j) {
        double h = 0;
        for (int k = 0; k < 8; ++k)
          h += double(x[row * 8 + k]) * w1[j * 8 + k];
        a[j] = 0.5 * h * (1 + std::tanh(0.7978845608028654 * (h + 0.044715 * h * h * h)));
      }
      for (int j = 0; j < 4; ++j) {
        double want = 0;
        for (int k = 0; k < 16; ++k)
          want += a[k] * w2[j * 16 + k];
        worst = std::max(worst, std::abs(want - double(y[row * 4 + j])));
      }
    }
    // f32 through 24 products and a tanh: well under 1e-5 of values near 1.
    EXPECT_LT(worst, 1e-5) << "n = " << n;
    ube_buffer_release(in[0]);
    ube_buffer_release(out);
  }
  for (ube_buffer *b : weights)
    ube_buffer_release(b);
  ube_executable_release(exe);
  ube_device_release(device);
}
