//===- ManifestTest.cpp - the executable manifest's JSON -------------------===//

#include "ube/Support/ExecutableFormat.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace ube;

namespace {

Manifest sample() {
  Manifest m;
  m.target = "cpu";
  m.targetInfo = "x86_64-pc-linux-gnu znver3";
  m.producer = "test";
  EntryPoint entry;
  entry.name = "main";
  entry.symbol = "ube_entry_main";
  entry.arenaBytes = 4096;
  m.entries.push_back(entry);
  m.sections = {{"host.so", 0, 16}};
  return m;
}

TEST(Manifest, ArenaBytesRoundTrip) {
  Manifest parsed;
  std::string error;
  ASSERT_TRUE(manifestFromJson(manifestToJson(sample()), parsed, error)) << error;
  EXPECT_EQ(parsed.entries.at(0).arenaBytes, 4096u);

  Manifest none = sample();
  none.entries[0].arenaBytes = 0;
  std::string json = manifestToJson(none);
  EXPECT_EQ(json.find("arena_bytes"), std::string::npos); // absent means none
  ASSERT_TRUE(manifestFromJson(json, parsed, error)) << error;
  EXPECT_EQ(parsed.entries.at(0).arenaBytes, 0u);
}

TEST(Manifest, MalformedArenaBytesAreRefused) {
  std::string json = manifestToJson(sample());
  for (const char *bad : {"-1", "1.5", "\"4096\"", "2199023255553" /* 2^41 + 1 */}) {
    std::string text = json;
    text.replace(text.find("4096"), 4, bad);
    Manifest parsed;
    std::string error;
    EXPECT_FALSE(manifestFromJson(text, parsed, error)) << bad;
    EXPECT_EQ(error, "entry point 'main': malformed arena_bytes") << bad;
  }
}

/// An entry with inputs x, w (f32 [2, 3]) and outputs loss (f32 []), w.
Manifest withUpdate() {
  Manifest m = sample();
  EntryPoint &e = m.entries[0];
  e.inputs = {{"x", DType::F32, {2, 3}}, {"w", DType::F32, {2, 3}}};
  e.outputs = {{"loss", DType::F32, {}}, {"w", DType::F32, {2, 3}}};
  e.inPlace = {{1, 1}};
  return m;
}

TEST(Manifest, InPlaceRoundTrip) {
  Manifest parsed;
  std::string error;
  std::string json = manifestToJson(withUpdate());
  ASSERT_TRUE(manifestFromJson(json, parsed, error)) << error;
  EXPECT_EQ(parsed.entries.at(0).inPlace, (std::vector<std::pair<uint32_t, uint32_t>>{{1, 1}}));
  EXPECT_EQ(manifestToJson(sample()).find("in_place"), std::string::npos);
}

TEST(Manifest, MalformedInPlaceIsRefused) {
  nlohmann::json json = nlohmann::json::parse(manifestToJson(withUpdate()));
  struct Case {
    const char *pairs, *why;
  };
  for (Case c : {Case{"7", "not an array"}, Case{"[[1]]", "pairs are [output, input]"},
                 Case{"[[1, 2]]", "index out of range"},
                 Case{"[[0, 1]]", "'loss' and 'w' differ in type"},
                 Case{"[[1, 1], [1, 1]]", "an index appears twice"}}) {
    nlohmann::json bad = json;
    bad["entries"][0]["in_place"] = nlohmann::json::parse(c.pairs);
    Manifest parsed;
    std::string error;
    EXPECT_FALSE(manifestFromJson(bad.dump(), parsed, error)) << c.pairs;
    EXPECT_EQ(error, std::string("entry point 'main': malformed in_place (") + c.why + ")")
        << c.pairs;
  }
}

} // namespace

namespace {

TEST(Manifest, RequiredFeaturesRoundTrip) {
  Manifest m = sample();
  m.requiredFeatures = {"avx2", "avx512f", "fma"};
  Manifest parsed;
  std::string error;
  ASSERT_TRUE(manifestFromJson(manifestToJson(m), parsed, error)) << error;
  EXPECT_EQ(parsed.requiredFeatures, m.requiredFeatures);
  std::string bad = manifestToJson(m);
  bad.replace(bad.find("\"avx2\""), 6, "7");
  EXPECT_FALSE(manifestFromJson(bad, parsed, error));
  EXPECT_EQ(error, "the manifest's 'required_features' is not a list of names");
}

/// A container of `version` (header and manifest), with `producer`.
std::vector<uint8_t> containerOfVersion(uint32_t version, const std::string &producer) {
  Manifest m = sample();
  m.formatVersion = version;
  m.producer = producer;
  std::vector<uint8_t> image = writeExecutable(m, {std::vector<uint8_t>(16, 0)});
  image[8] = uint8_t(version); // the header's version (little endian u32)
  // The checksum covers what follows the header, so it still holds.
  return image;
}

// Every format from the oldest readable one to this compiler's loads; a
// newer one is refused naming the compiler that wrote it.
TEST(Manifest, FormatVersionWindow) {
  ExecutableView view;
  std::string error;
  for (uint32_t v = kOldestReadableFormatVersion; v <= kExecutableFormatVersion; ++v) {
    std::vector<uint8_t> image = containerOfVersion(v, "ube test");
    EXPECT_TRUE(readExecutable(image.data(), image.size(), "old.ube", view, error)) << error;
  }
  std::vector<uint8_t> newer = containerOfVersion(kExecutableFormatVersion + 1, "ube 9.9.9");
  ASSERT_FALSE(readExecutable(newer.data(), newer.size(), "new.ube", view, error));
  EXPECT_NE(error.find("new.ube: this executable needs a newer ube runtime (format version " +
                       std::to_string(kExecutableFormatVersion + 1) +
                       ", written by ube 9.9.9); this runtime (ube "),
            std::string::npos)
      << error;
  std::vector<uint8_t> ancient = containerOfVersion(0, "ube 0.0.1");
  ASSERT_FALSE(readExecutable(ancient.data(), ancient.size(), "old.ube", view, error));
  EXPECT_NE(error.find("old.ube: executable format version 0 is too old"), std::string::npos)
      << error;
  // Header and manifest must agree.
  std::vector<uint8_t> mixed = containerOfVersion(kExecutableFormatVersion, "ube test");
  mixed[8] = uint8_t(kOldestReadableFormatVersion);
  if (kOldestReadableFormatVersion != kExecutableFormatVersion) {
    ASSERT_FALSE(readExecutable(mixed.data(), mixed.size(), "mixed.ube", view, error));
    EXPECT_NE(error.find("the manifest says format version"), std::string::npos) << error;
  }
}

} // namespace

namespace {

TEST(Manifest, VariantsRoundTrip) {
  Manifest m = sample();
  m.variants = {{"x86-64-v3", "x86_64 x86-64-v3", {"avx2", "fma"}, "host.so:x86-64-v3"},
                {"x86-64-v4", "x86_64 x86-64-v4", {"avx2", "avx512f"}, "host.so:x86-64-v4"}};
  Manifest parsed;
  std::string error;
  ASSERT_TRUE(manifestFromJson(manifestToJson(m), parsed, error)) << error;
  ASSERT_EQ(parsed.variants.size(), 2u);
  EXPECT_EQ(parsed.variants[1].name, "x86-64-v4");
  EXPECT_EQ(parsed.variants[1].targetInfo, "x86_64 x86-64-v4");
  EXPECT_EQ(parsed.variants[1].requiredFeatures, (std::vector<std::string>{"avx2", "avx512f"}));
  EXPECT_EQ(parsed.variants[1].section, "host.so:x86-64-v4");
  // A variant must name a section the file has.
  m.sections = {{"host.so:x86-64-v3", 0, 16}};
  std::vector<uint8_t> image = writeExecutable(m, {std::vector<uint8_t>(16, 0)});
  ExecutableView view;
  EXPECT_FALSE(readExecutable(image.data(), image.size(), "v.ube", view, error));
  EXPECT_EQ(error, "v.ube: variant 'x86-64-v4' names section 'host.so:x86-64-v4', which the "
                   "file lacks");
  std::string bad = manifestToJson(m);
  bad.replace(bad.find("\"section\": \"host.so:x86-64-v3\""), 30, "\"section\": 3");
  EXPECT_FALSE(manifestFromJson(bad, parsed, error));
  EXPECT_EQ(error, "malformed variant in the manifest");
}

} // namespace

namespace {

/// An entry with symbols: x f32 [batch, seq, 4], mask i1 [batch, seq] ->
/// y f32 [batch, 4]; batch 1 to 8, seq a multiple of 2.
Manifest withSymbols() {
  Manifest m = sample();
  EntryPoint &e = m.entries[0];
  e.symbols = {{"batch", 1, 8, 1}, {"seq", 2, 0, 2}};
  e.inputs = {{"x", DType::F32, {kSymbolicDim, kSymbolicDim, 4}, {"batch", "seq"}},
              {"mask", DType::I1, {kSymbolicDim, kSymbolicDim}, {"batch", "seq"}}};
  e.outputs = {{"y", DType::F32, {kSymbolicDim, 4}, {"batch"}}};
  return m;
}

} // namespace

TEST(Manifest, SymbolsRoundTrip) {
  Manifest m = withSymbols();
  EXPECT_EQ(formatVersionOf(m), 4u);
  EXPECT_EQ(formatVersionOf(sample()), 3u);
  std::string json = manifestToJson(m);
  nlohmann::json tree = nlohmann::json::parse(json);
  EXPECT_EQ(tree["entries"][0]["inputs"][0]["shape"],
            nlohmann::json::parse(R"(["batch","seq",4])"));
  Manifest parsed;
  std::string error;
  ASSERT_TRUE(manifestFromJson(json, parsed, error)) << error;
  const EntryPoint &e = parsed.entries.at(0);
  ASSERT_EQ(e.symbols.size(), 2u);
  EXPECT_EQ(e.symbols[1].name, "seq");
  EXPECT_EQ(e.symbols[1].multipleOf, 2);
  EXPECT_EQ(e.inputs[0].shape, (std::vector<int64_t>{kSymbolicDim, kSymbolicDim, 4}));
  EXPECT_EQ(e.inputs[0].dims, (std::vector<std::string>{"batch", "seq"}));
  EXPECT_EQ(signatureShapeString(e.outputs[0]), "[batch, 4]");

  // A shape naming a symbol the entry does not declare is refused.
  nlohmann::json bad = tree;
  bad["entries"][0]["outputs"][0]["shape"][0] = "width";
  EXPECT_FALSE(manifestFromJson(bad.dump(), parsed, error));
  EXPECT_EQ(error, "entry point 'main': 'y' names symbol 'width', which it does not declare");
  bad = tree;
  bad["entries"][0]["symbols"][0]["max"] = -8;
  EXPECT_FALSE(manifestFromJson(bad.dump(), parsed, error));
  EXPECT_EQ(error, "entry point 'main': malformed symbol");
}

/// The arena of a call: 64 + batch × seq × 16 bytes, as expressions.
TEST(Manifest, ArenaExprsRoundTripAndEvaluate) {
  Manifest m = withSymbols();
  EntryPoint &e = m.entries[0];
  e.arenaBytes = 0; // seq has no maximum
  e.arenaExprs = {{PlanExpr::Symbol, 0},    {PlanExpr::Symbol, 1},
                  {PlanExpr::MulI, 0, 0, 1}, {PlanExpr::Constant, 16},
                  {PlanExpr::MulI, 0, 2, 3}, {PlanExpr::Constant, 64},
                  {PlanExpr::AddI, 0, 4, 5}};
  EXPECT_EQ(formatVersionOf(m), 5u);
  std::string json = manifestToJson(m);
  nlohmann::json tree = nlohmann::json::parse(json);
  EXPECT_EQ(tree["entries"][0]["arena_exprs"][2], nlohmann::json::parse(R"(["muli", 0, 1])"));
  Manifest parsed;
  std::string error;
  ASSERT_TRUE(manifestFromJson(json, parsed, error)) << error;
  uint64_t bytes = 0;
  ASSERT_TRUE(arenaBytesAt(parsed.entries.at(0), {3, 10}, bytes, error)) << error;
  EXPECT_EQ(bytes, 64u + 3 * 10 * 16);
  // Past the largest arena a manifest may ask for, and past int64.
  EXPECT_FALSE(arenaBytesAt(parsed.entries[0], {int64_t(1) << 20, int64_t(1) << 20}, bytes,
                            error));
  EXPECT_EQ(error, "function 'main': its arena's size at these sizes, 17592186044480 bytes, "
                   "is out of range");
  EXPECT_FALSE(arenaBytesAt(parsed.entries[0], {int64_t(1) << 40, int64_t(1) << 40}, bytes,
                            error));
  EXPECT_EQ(error, "function 'main': its arena's size fails at these sizes: overflow or "
                   "division by zero in expression 2");
  // A bound is checked: a bounded entry never needs more than its maxima.
  parsed.entries[0].arenaBytes = 256;
  EXPECT_FALSE(arenaBytesAt(parsed.entries[0], {3, 10}, bytes, error));
  EXPECT_EQ(error, "function 'main': its arena's size at these sizes, 544 bytes, is out of "
                   "range (at most 256)");

  // Malformed lists are refused as the manifest is read.
  for (const char *bad : {R"([])", R"([["symbol", 2]])", R"([["symbol", -1]])",
                          R"([["const", 1], ["addi", 0, 1]])", R"([["pow", 0, 0]])",
                          R"({"expr": 0})", R"([["const"]])"}) {
    nlohmann::json broken = tree;
    broken["entries"][0]["arena_exprs"] = nlohmann::json::parse(bad);
    EXPECT_FALSE(manifestFromJson(broken.dump(), parsed, error)) << bad;
    EXPECT_EQ(error.rfind("entry point 'main': malformed arena_exprs", 0), 0u) << error;
  }
  // And without symbols to be expressions of.
  nlohmann::json noSymbols = nlohmann::json::parse(manifestToJson(sample()));
  noSymbols["entries"][0]["arena_exprs"] = nlohmann::json::parse(R"([["const", 64]])");
  EXPECT_FALSE(manifestFromJson(noSymbols.dump(), parsed, error));
}

TEST(Manifest, BindSymbols) {
  Manifest m = withSymbols();
  const EntryPoint &e = m.entries[0];
  std::vector<int64_t> sizes;
  std::string error;
  ASSERT_TRUE(bindSymbols(e, {{3, 6, 4}, {3, 6}}, sizes, error)) << error;
  EXPECT_EQ(sizes, (std::vector<int64_t>{3, 6}));
  EXPECT_EQ(resolvedShape(e, e.outputs[0], sizes), (std::vector<int64_t>{3, 4}));

  struct Case {
    std::vector<std::vector<int64_t>> shapes;
    const char *error;
  } cases[] = {
      {{{3, 6, 4}, {3, 8}},
       "function 'main': inputs 'x' and 'mask' must agree on seq, got 6 and 8"},
      {{{9, 6, 4}, {9, 6}},
       "function 'main': input 'x' has batch = 9, outside its bounds (1 to 8)"},
      {{{3, 5, 4}, {3, 5}},
       "function 'main': input 'x' has seq = 5, outside its bounds (2 to any, a multiple of 2)"},
      {{{3, 6, 5}, {3, 6}}, "function 'main': input 'x' expects [batch, seq, 4], got [3, 6, 5]"},
      {{{3, 6}, {3, 6}}, "function 'main': input 'x' expects [batch, seq, 4], got [3, 6]"},
      {{{0, 6, 4}, {0, 6}},
       "function 'main': input 'x' has batch = 0, outside its bounds (1 to 8)"},
  };
  for (const Case &c : cases) {
    EXPECT_FALSE(bindSymbols(e, c.shapes, sizes, error));
    EXPECT_EQ(error, c.error);
  }
}

TEST(Manifest, InputsNamingDerivedSymbols) {
  // g's length is the frames of a stride-2 window over x's: (len - 1) // 2 + 1.
  Manifest m = sample();
  EntryPoint &e = m.entries[0];
  e.symbols = {{"len", 3, 0, 1}, {"frames", 1, 0, 1}};
  e.symbols[1].size = {{PlanExpr::Symbol, 0},    {PlanExpr::Constant, 1},
                       {PlanExpr::SubI, 0, 0, 1}, {PlanExpr::Constant, 2},
                       {PlanExpr::FloorDivSI, 0, 2, 3}, {PlanExpr::AddI, 0, 4, 1}};
  e.inputs = {{"x", DType::F32, {4, kSymbolicDim}, {"len"}},
              {"g", DType::F32, {6, kSymbolicDim}, {"frames"}}};
  e.outputs = {{"dx", DType::F32, {4, kSymbolicDim}, {"len"}}};
  EXPECT_EQ(formatVersionOf(m), 7u);

  std::vector<int64_t> sizes;
  std::string error;
  ASSERT_TRUE(bindSymbols(e, {{4, 11}, {6, 6}}, sizes, error)) << error;
  EXPECT_EQ(sizes, (std::vector<int64_t>{11, 6}));
  EXPECT_FALSE(bindSymbols(e, {{4, 11}, {6, 5}}, sizes, error));
  EXPECT_EQ(error, "function 'main': input 'g' has frames = 5, but the other inputs make it "
                   "(len - 1) // 2 + 1 = 6");

  // Format 7 reads it back; a manifest claiming 6 is refused.
  m.formatVersion = formatVersionOf(m);
  Manifest parsed;
  ASSERT_TRUE(manifestFromJson(manifestToJson(m), parsed, error)) << error;
  EXPECT_TRUE(parsed.entries.at(0).symbols.at(1).derived());
  m.formatVersion = 6;
  EXPECT_FALSE(manifestFromJson(manifestToJson(m), parsed, error));
  EXPECT_EQ(error, "entry point 'main': input 'g' names the derived symbol 'frames' (format 7 "
                   "and later)");
}
