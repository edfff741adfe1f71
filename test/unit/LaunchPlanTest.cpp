// The cuda device's launch plans are validated before anything reaches the
// driver: every reference, range and kernel of a plan read from a file must
// lie inside what the executable holds. CUDA-free, so this runs anywhere.
#include "cuda/LaunchPlan.h"

#include <cstring>
#include <fstream>
#include <gtest/gtest.h>
#include <iterator>

namespace {

using namespace ube;
using namespace ube::runtime;

class LaunchPlanTest : public ::testing::Test {
protected:
  LaunchPlanTest() {
    // Two arguments: x f32[4, 8] (128 bytes) and y f32[4] (16 bytes); a PTX
    // module "m"; 64 bytes of constants.
    view.manifest.target = "cuda";
    view.manifest.sections = {{"ptx:m", 0, 16}, {"constants", 64, 64}};
    entry.name = "main";
    entry.inputs = {{"x", DType::F32, {4, 8}}};
    entry.outputs = {{"y", DType::F32, {4}}};
  }
  MaybeError parse(const std::string &plan) {
    entry.plan = plan;
    return parseLaunchPlan(view, entry, "test.ube", parsed);
  }
  void expectRejected(const std::string &plan, const std::string &text) {
    MaybeError error = parse(plan);
    ASSERT_TRUE(error) << "accepted: " << plan;
    EXPECT_EQ(error->code, UBE_INVALID_EXECUTABLE);
    EXPECT_NE(error->message.find("test.ube (main): malformed launch plan: " + text),
              std::string::npos)
        << error->message;
  }
  /// A plan with the given buffers and steps.
  static std::string plan(const std::string &buffers, const std::string &steps) {
    return R"({"buffers": [)" + buffers + R"(], "steps": [)" + steps + "]}";
  }
  static constexpr const char *kBuffers =
      R"({"kind": "argument", "index": 0}, {"kind": "argument", "index": 1},
         {"kind": "temporary", "bytes": 32}, {"kind": "constant", "offset": 16, "bytes": 48})";
  static std::string launch(const std::string &fields) {
    return R"({"op": "launch", "module": "m", "kernel": "k", )" + fields + "}";
  }
  ExecutableView view;
  EntryPoint entry;
  LaunchPlan parsed;
};

TEST_F(LaunchPlanTest, AcceptsAWellFormedPlan) {
  auto error = parse(plan(kBuffers, launch(R"("grid": [4, 1, 1], "block": [256, 1, 1],
      "args": [{"ptr": 0}, {"ptr": 3}, {"i64": -5}, {"f32_bits": 1065353216}])") +
                                        R"(, {"op": "copy", "src": 2, "dst": 1, "src_offset": 16,
                                             "dst_offset": 0, "bytes": 16})"));
  ASSERT_FALSE(error) << error->message;
  ASSERT_EQ(parsed.buffers.size(), 4u);
  EXPECT_EQ(parsed.buffers[0].bytes, 128u);
  EXPECT_EQ(parsed.buffers[1].bytes, 16u);
  EXPECT_EQ(parsed.buffers[3].kind, LaunchBuffer::Constant);
  ASSERT_EQ(parsed.steps.size(), 2u);
  EXPECT_EQ(parsed.steps[0].kernel, "k");
  EXPECT_EQ(parsed.steps[0].grid[0], 4u);
  EXPECT_EQ(parsed.steps[0].args[2].kind, LaunchArg::I64);
  EXPECT_EQ(int64_t(parsed.steps[0].args[2].bits), -5);
  EXPECT_EQ(parsed.steps[1].kind, LaunchStep::Copy);
}

TEST_F(LaunchPlanTest, RejectsBadBuffers) {
  expectRejected("[]", "not a JSON object");
  expectRejected(R"({"buffers": []})", "missing buffers or steps");
  expectRejected(plan(R"({"kind": "argument", "index": 2})", ""),
                 "argument buffer index out of range (the entry has 2 arguments)");
  expectRejected(plan(R"({"kind": "temporary"})", ""), "temporary buffer without a size");
  expectRejected(plan(R"({"kind": "constant", "offset": 32, "bytes": 33})", ""),
                 "constant buffer outside the constants section");
  expectRejected(plan(R"({"kind": "constant", "offset": 18446744073709551615, "bytes": 2})",
                      ""),
                 "constant buffer outside the constants section");
  expectRejected(plan(R"({"kind": "heap"})", ""), "unknown buffer 'heap'");
  expectRejected(plan("7", ""), "buffer without kind");
}

TEST_F(LaunchPlanTest, RejectsBadSteps) {
  expectRejected(plan(kBuffers, "3"), "step without op");
  expectRejected(plan(kBuffers, R"({"op": "jump"})"), "unknown step 'jump'");
  expectRejected(plan(kBuffers, R"({"op": "launch", "module": "n", "kernel": "k",
                                    "grid": [1, 1, 1], "block": [1, 1, 1], "args": []})"),
                 "no module 'n'");
  expectRejected(plan(kBuffers, R"({"op": "launch", "module": "m"})"),
                 "launch without a kernel name");
  expectRejected(plan(kBuffers, launch(R"("block": [1, 1, 1], "args": [])")),
                 "'grid' must hold 3 dimensions");
  expectRejected(plan(kBuffers, launch(R"("grid": [0, 1, 1], "block": [1, 1, 1], "args": [])")),
                 "bad 'grid' dimension");
  expectRejected(plan(kBuffers,
                      launch(R"("grid": [1, 1, 1], "block": [64, 32, 1], "args": [])")),
                 "more than 1024 threads per block");
  expectRejected(plan(kBuffers, launch(R"("grid": [1, 1, 1], "block": [1, 1, 1])")),
                 "launch without args");
  expectRejected(plan(kBuffers, launch(R"("grid": [1, 1, 1], "block": [1, 1, 1],
                                          "args": [{"ptr": 4}])")),
                 "bad buffer reference");
  expectRejected(plan(kBuffers, launch(R"("grid": [1, 1, 1], "block": [1, 1, 1],
                                          "args": [{"f16": 1}])")),
                 "unknown argument kind 'f16'");
  // Copies must stay inside both buffers: y holds 16 bytes, the temporary 32.
  expectRejected(plan(kBuffers, R"({"op": "copy", "src": 2, "dst": 1, "bytes": 32})"),
                 "copy outside its buffers");
  expectRejected(plan(kBuffers, R"({"op": "copy", "src": 0, "dst": 2, "src_offset": 120,
                                    "bytes": 16})"),
                 "copy outside its buffers");
  expectRejected(plan(kBuffers, R"({"op": "copy", "src": 0, "dst": 9, "bytes": 4})"),
                 "bad buffer reference");
  expectRejected(plan(kBuffers, R"({"op": "copy", "src": 0, "dst": 1, "bytes": -4})"),
                 "bad copy range");
}

// Every plan the compiler writes passes the runtime's validation; those of
// symbolic entries, at their symbols' smallest, largest and a middle size.
TEST(LaunchPlan, CompilerOutputIsValid) {
  std::string paths = UBE_TEST_CUDA_EXECUTABLES; // ','-separated
  if (paths.empty())
    GTEST_SKIP() << "no CUDA toolkit (libdevice) to compile cuda executables";
  size_t launches = 0, constants = 0, symbolic = 0;
  for (size_t begin = 0; begin < paths.size();) {
    size_t end = std::min(paths.find(',', begin), paths.size());
    std::string path = paths.substr(begin, end - begin);
    begin = end + 1;
    std::ifstream in(path, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
    ExecutableView view;
    std::string error;
    ASSERT_TRUE(readExecutable(bytes.data(), bytes.size(), path, view, error)) << error;
    std::vector<std::pair<std::string, const Section *>> modules;
    MaybeError modulesError = findPtxModules(view, path, modules);
    ASSERT_FALSE(modulesError) << modulesError->message;
    for (const EntryPoint &entry : view.manifest.entries) {
      LaunchPlan plan;
      MaybeError planError = parseLaunchPlan(view, entry, path, plan);
      ASSERT_FALSE(planError) << planError->message;
      for (const LaunchStep &step : plan.steps)
        launches += step.kind == LaunchStep::Launch;
      for (const LaunchBuffer &buffer : plan.buffers)
        constants += buffer.kind == LaunchBuffer::Constant;
      if (entry.symbols.empty())
        continue;
      ++symbolic;
      for (int at : {0, 1, 2}) {
        std::vector<int64_t> sizes;
        for (const DimSymbol &s : entry.symbols) {
          int64_t max = s.max ? s.max : 1000;
          sizes.push_back(at == 0 ? s.min : at == 1 ? max : (s.min + max) / 2);
        }
        LaunchPlan instance;
        MaybeError e = instantiateLaunchPlan(plan, entry, sizes, path, instance);
        ASSERT_FALSE(e) << e->message;
        for (const LaunchStep &step : instance.steps)
          if (step.kind == LaunchStep::Launch)
            EXPECT_GT(step.grid[0], 0u) << entry.name << " " << step.module;
      }
    }
  }
  EXPECT_GT(launches, 5u);
  EXPECT_GT(constants, 0u);
  EXPECT_GT(symbolic, 0u);
}

TEST(LaunchPlan, PtxMustBeNulTerminated) {
  const uint8_t payload[] = {'.', 'v', 'e', 'r', 0, '.', 'v', 'e', 'r'};
  ExecutableView view;
  view.payload = payload;
  view.payloadSize = sizeof payload;
  view.manifest.sections = {{"ptx:good", 0, 5}};
  std::vector<std::pair<std::string, const Section *>> modules;
  EXPECT_FALSE(findPtxModules(view, "t.ube", modules));
  ASSERT_EQ(modules.size(), 1u);
  EXPECT_EQ(modules[0].first, "good");
  view.manifest.sections.push_back({"ptx:bad", 5, 4});
  modules.clear();
  MaybeError error = findPtxModules(view, "t.ube", modules);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->message, "t.ube: PTX of 'bad' is not NUL-terminated");
}

} // namespace

// The compiler writes plans with launchPlanToJson and the runtime reads
// them with launchPlanFromJson: one definition, every field round-trips.
TEST(LaunchPlan, JsonRoundTrip) {
  LaunchPlan plan;
  plan.buffers = {{LaunchBuffer::Argument, 1, 0},
                  {LaunchBuffer::Temporary, 0, 4096},
                  {LaunchBuffer::Constant, 256, 48}};
  LaunchStep launch;
  launch.module = "m";
  launch.kernel = "k";
  launch.grid[0] = 7;
  launch.block[1] = 32;
  int64_t minusFive = -5;
  LaunchArg i32{LaunchArg::I32, 0, 0};
  std::memcpy(&i32.bits, &minusFive, 8);
  launch.args = {{LaunchArg::Pointer, 2, 0}, i32, {LaunchArg::I64, 0, 1ull << 40},
                 {LaunchArg::F32, 0, 0xff800000u}, {LaunchArg::F64, 0, 0x7ff8000000000000ull}};
  LaunchStep copy;
  copy.kind = LaunchStep::Copy;
  copy.src = 1;
  copy.dst = 0;
  copy.srcOffset = 64;
  copy.dstOffset = 8;
  copy.bytes = 16;
  plan.steps = {launch, copy};

  LaunchPlan read;
  std::string error;
  ASSERT_TRUE(launchPlanFromJson(launchPlanToJson(plan), read, error)) << error;
  ASSERT_EQ(read.buffers.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(read.buffers[i].kind, plan.buffers[i].kind);
    EXPECT_EQ(read.buffers[i].index, plan.buffers[i].index);
  }
  EXPECT_EQ(read.buffers[1].bytes, 4096u);
  EXPECT_EQ(read.buffers[2].bytes, 48u);
  ASSERT_EQ(read.steps.size(), 2u);
  const LaunchStep &l = read.steps[0];
  EXPECT_EQ(l.module, "m");
  EXPECT_EQ(l.kernel, "k");
  EXPECT_EQ(l.grid[0], 7u);
  EXPECT_EQ(l.block[1], 32u);
  ASSERT_EQ(l.args.size(), launch.args.size());
  for (size_t i = 0; i < l.args.size(); ++i) {
    EXPECT_EQ(l.args[i].kind, launch.args[i].kind) << i;
    EXPECT_EQ(l.args[i].buffer, launch.args[i].buffer) << i;
    EXPECT_EQ(l.args[i].bits, launch.args[i].bits) << i;
  }
  const LaunchStep &c = read.steps[1];
  EXPECT_EQ(c.kind, LaunchStep::Copy);
  EXPECT_EQ(c.src, 1u);
  EXPECT_EQ(c.dst, 0u);
  EXPECT_EQ(c.srcOffset, 64u);
  EXPECT_EQ(c.dstOffset, 8u);
  EXPECT_EQ(c.bytes, 16u);
}

// Plans of entries with symbolic dimensions: sizes as expressions of the
// symbols, evaluated per invocation.
namespace {

/// seq * 4 bytes (expression 3), ceil(seq / 256) blocks (expression 4).
constexpr const char *kSymbolicExprs =
    R"("exprs": [["symbol", 0], ["const", 4], ["const", 256], ["muli", 0, 1],
                 ["ceildivui", 0, 2]])";

TEST(LaunchPlanExprs, EvaluateLikeArith) {
  using E = PlanExpr;
  EXPECT_EQ(evaluatePlanOp(E::FloorDivSI, -7, 2), -4);
  EXPECT_EQ(evaluatePlanOp(E::CeilDivSI, -7, 2), -3);
  EXPECT_EQ(evaluatePlanOp(E::CeilDivSI, 7, 2), 4);
  EXPECT_EQ(evaluatePlanOp(E::DivSI, -7, 2), -3);
  EXPECT_EQ(evaluatePlanOp(E::RemSI, -7, 2), -1);
  EXPECT_EQ(evaluatePlanOp(E::CeilDivUI, 257, 256), 2);
  EXPECT_EQ(evaluatePlanOp(E::DivUI, -1, 2), INT64_MAX);
  EXPECT_EQ(evaluatePlanOp(E::MaxUI, -1, 2), -1);
  EXPECT_EQ(evaluatePlanOp(E::MinSI, -1, 2), -1);
  EXPECT_EQ(evaluatePlanOp(E::DivSI, 1, 0), std::nullopt);
  EXPECT_EQ(evaluatePlanOp(E::RemUI, 1, 0), std::nullopt);
  EXPECT_EQ(evaluatePlanOp(E::DivSI, INT64_MIN, -1), std::nullopt);
  EXPECT_EQ(evaluatePlanOp(E::MulI, INT64_MAX, 2), std::nullopt);
  EXPECT_EQ(evaluatePlanOp(E::AddI, INT64_MAX, 1), std::nullopt);
}

TEST(LaunchPlanExprs, JsonRoundTripAndResolve) {
  std::string text = std::string(R"({"buffers": [{"kind": "temporary", "bytes": {"expr": 3}}],
      "steps": [{"op": "launch", "module": "m", "kernel": "k", "grid": [{"expr": 4}, 1, 1],
                 "block": [256, 1, 1], "args": [{"ptr": 0}, {"i64": {"expr": 0}}, {"i32": 7}]},
                {"op": "copy", "src": 0, "dst": 0, "src_offset": 0,
                 "dst_offset": {"expr": 1}, "bytes": {"expr": 1}}], )") +
                     kSymbolicExprs + "}";
  LaunchPlan plan;
  std::string error;
  ASSERT_TRUE(launchPlanFromJson(text, plan, error)) << error;
  ASSERT_EQ(plan.exprs.size(), 5u);
  EXPECT_TRUE(plan.symbolic());
  LaunchPlan again;
  ASSERT_TRUE(launchPlanFromJson(launchPlanToJson(plan), again, error)) << error;
  EXPECT_EQ(launchPlanToJson(again), launchPlanToJson(plan));

  // seq = 300: 1200 bytes, 2 blocks, the argument 300.
  ASSERT_TRUE(resolveLaunchPlan(again, {300}, error)) << error;
  EXPECT_EQ(again.buffers[0].bytes, 1200u);
  EXPECT_EQ(again.steps[0].grid[0], 2u);
  EXPECT_EQ(again.steps[0].args[1].bits, 300u);
  EXPECT_EQ(again.steps[0].args[2].bits, 7u);
  EXPECT_EQ(again.steps[1].bytes, 4u);
  EXPECT_EQ(again.steps[1].dstOffset, 4u);

  // A size that goes negative or a grid past 2^31 - 1 is refused.
  LaunchPlan bad = plan;
  EXPECT_FALSE(resolveLaunchPlan(bad, {-5}, error));
  EXPECT_EQ(error, "a temporary buffer of -20 (expression 3)");
  bad = plan;
  EXPECT_FALSE(resolveLaunchPlan(bad, {int64_t(1) << 40}, error));
  EXPECT_EQ(error, "a grid dimension of 4294967296 (expression 4)");
  bad = plan;
  EXPECT_FALSE(resolveLaunchPlan(bad, {int64_t(1) << 62}, error));
  EXPECT_EQ(error, "overflow or division by zero in expression 3");
  bad = plan;
  EXPECT_FALSE(resolveLaunchPlan(bad, {}, error));
  EXPECT_EQ(error, "expression 0 names symbol 0 of 0");
}

TEST(LaunchPlanExprs, RejectsMalformedExpressions) {
  auto rejected = [](const std::string &exprs, const std::string &message) {
    LaunchPlan plan;
    std::string error;
    EXPECT_FALSE(launchPlanFromJson(R"({"buffers": [], "steps": [], "exprs": )" + exprs + "}",
                                    plan, error))
        << exprs;
    EXPECT_EQ(error, message) << exprs;
  };
  rejected("{}", "'exprs' is not a list");
  rejected(R"([["pow", 0, 0]])", "unknown expression 'pow'");
  rejected(R"([["symbol", -1]])", "bad expression 0");
  rejected(R"([["const", 1], ["addi", 0, 1]])", "expression 1 reads no earlier expression");
  rejected(R"([["const", 1], ["addi", 0]])", "expression 1 reads no earlier expression");
  rejected(R"([7])", "bad expression 0");
  // A field naming an expression that is not there.
  LaunchPlan plan;
  std::string error;
  EXPECT_FALSE(launchPlanFromJson(
      R"({"buffers": [{"kind": "temporary", "bytes": {"expr": 2}}], "steps": [],
          "exprs": [["const", 1]]})",
      plan, error));
  EXPECT_EQ(error, "temporary buffer without a size");
}

// The runtime's side: what depends on the symbols is checked per
// invocation, against the arguments' sizes at that call.
TEST(LaunchPlanExprs, InstantiatedPerInvocation) {
  ExecutableView view;
  view.manifest.target = "cuda";
  view.manifest.sections = {{"ptx:m", 0, 16}};
  EntryPoint entry;
  entry.name = "main";
  entry.symbols = {{"seq", 1, 0, 1}};
  entry.inputs = {{"x", DType::F32, {kSymbolicDim}, {"seq"}}};
  entry.outputs = {{"y", DType::F32, {kSymbolicDim}, {"seq"}}};
  // Copies x (seq * 4 bytes) into y, launches ceil(seq / 256) blocks, an
  // empty copy at y's end, and x into a 16-byte temporary (seq <= 4 fits).
  entry.plan = std::string(R"({"buffers": [{"kind": "argument", "index": 0},
      {"kind": "argument", "index": 1}, {"kind": "temporary", "bytes": 16}],
      "steps": [{"op": "copy", "src": 0, "dst": 1, "bytes": {"expr": 3}},
                {"op": "launch", "module": "m", "kernel": "k", "grid": [{"expr": 4}, 1, 1],
                 "block": [256, 1, 1], "args": [{"ptr": 1}, {"i64": {"expr": 0}}]},
                {"op": "copy", "src": 2, "dst": 1, "dst_offset": {"expr": 3}, "bytes": 0},
                {"op": "copy", "src": 0, "dst": 2, "bytes": {"expr": 3}}], )") +
               kSymbolicExprs + "}";
  LaunchPlan plan;
  MaybeError error = parseLaunchPlan(view, entry, "t.ube", plan);
  ASSERT_FALSE(error) << error->message;
  LaunchPlan at;
  error = instantiateLaunchPlan(plan, entry, {4}, "t.ube", at);
  ASSERT_FALSE(error) << error->message;
  EXPECT_EQ(at.buffers[0].bytes, 16u);
  EXPECT_EQ(at.buffers[1].bytes, 16u);
  EXPECT_EQ(at.steps[0].bytes, 16u);
  EXPECT_EQ(at.steps[1].grid[0], 1u);
  EXPECT_EQ(at.steps[1].args[1].bits, 4u);
  // At seq = 5 the last copy (20 bytes) overruns the 16-byte temporary.
  error = instantiateLaunchPlan(plan, entry, {5}, "t.ube", at);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->message,
            "t.ube (main): the launch plan fails at these sizes: copy outside its buffers");
  EXPECT_EQ(error->code, UBE_INVALID_EXECUTABLE);

  // A plan without expressions still has its copies of symbolic buffers
  // checked per call: 32 bytes of x fit at seq = 8, not at seq = 4.
  LaunchPlan plain;
  entry.plan = R"({"buffers": [{"kind": "argument", "index": 0},
      {"kind": "temporary", "bytes": 64}],
      "steps": [{"op": "copy", "src": 0, "dst": 1, "bytes": 32}]})";
  error = parseLaunchPlan(view, entry, "t.ube", plain);
  ASSERT_FALSE(error) << error->message;
  EXPECT_FALSE(instantiateLaunchPlan(plain, entry, {8}, "t.ube", at));
  EXPECT_TRUE(instantiateLaunchPlan(plain, entry, {4}, "t.ube", at));

  // Parsing checks what it can: symbols the entry has.
  entry.plan = std::string(R"({"buffers": [], "steps": [], )") + kSymbolicExprs + "}";
  entry.symbols.clear();
  error = parseLaunchPlan(view, entry, "t.ube", plan);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->message,
            "t.ube (main): malformed launch plan: an expression names symbol 0 (the entry has 0)");
}

} // namespace

TEST(LaunchPlanExprs, ParseWhatTheyPrint) {
  std::vector<std::string> names = {"len", "batch"};
  auto index = [&](std::string_view name) -> std::optional<int64_t> {
    for (size_t k = 0; k < names.size(); ++k)
      if (names[k] == name)
        return int64_t(k);
    return std::nullopt;
  };
  auto value = [&](std::string_view text, std::vector<int64_t> symbols) {
    std::vector<PlanExpr> exprs;
    std::string error;
    EXPECT_TRUE(parsePlanExprString(text, index, exprs, error)) << error;
    std::vector<int64_t> values;
    EXPECT_TRUE(evaluatePlanExprs(exprs, symbols, values, error)) << error;
    return values.empty() ? INT64_MIN : values.back();
  };
  // Precedence and associativity as Python's, floor division rounding down.
  EXPECT_EQ(value("(len - 3) // 2 + 1", {10, 1}), 4);
  EXPECT_EQ(value("len - 3 - 2", {10, 1}), 5);
  EXPECT_EQ(value("2 * len // 3", {10, 1}), 6);
  EXPECT_EQ(value("-len // 4", {10, 1}), -3);
  EXPECT_EQ(value("len % 4 + batch*2", {10, 3}), 8);
  EXPECT_EQ(value("min(ceildiv(len, 4), max(batch, 7))", {10, 3}), 3);
  EXPECT_EQ(value("  batch ", {10, 3}), 3);
  // What planExprString prints parses back to the same values.
  std::vector<PlanExpr> exprs;
  std::string error;
  ASSERT_TRUE(parsePlanExprString("min((len + 2) // 3, ceildiv(len, 2)) * batch - 1", index,
                                  exprs, error));
  std::string printed = planExprString(exprs, names);
  for (int64_t len : {1, 5, 17})
    for (int64_t batch : {1, 4})
      EXPECT_EQ(value(printed, {len, batch}), std::min((len + 2) / 3, (len + 1) / 2) * batch - 1)
          << printed;
  // Errors say what and where.
  for (auto [text, message] : std::vector<std::pair<std::string, std::string>>{
           {"len / 2", "'/' is ambiguous"},
           {"(len - 1", "expected ')'"},
           {"seq + 1", "'seq' is not a symbol"},
           {"len +", "unexpected end"},
           {"floor(len, 2)", "unknown function 'floor'"},
           {"len 2", "unexpected '2'"},
           {"max(len 2)", "expected ','"}}) {
    exprs.clear();
    EXPECT_FALSE(parsePlanExprString(text, index, exprs, error)) << text;
    EXPECT_NE(error.find(message), std::string::npos) << text << ": " << error;
  }
}
