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
