//===- ManifestTest.cpp - the executable manifest's JSON -------------------===//

#include "ube/Support/ExecutableFormat.h"

#include <gtest/gtest.h>

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

} // namespace
