#include "JsonLocator.h"

#include <gtest/gtest.h>

using namespace ube;

TEST(JsonLocator, FindsNestedValues) {
  const char *text = "{\n"
                     "  \"a\": 1,\n"
                     "  \"nodes\": [\n"
                     "    {\"name\": \"x\", \"inputs\": [\"p\", \"q\"]},\n"
                     "    {\"name\": \"y\\\"z\"}\n"
                     "  ]\n"
                     "}\n";
  JsonLocator locator(text);
  EXPECT_EQ(locator.lineColumn(""), std::make_pair(1u, 1u));
  EXPECT_EQ(locator.lineColumn("/a"), std::make_pair(2u, 8u));
  EXPECT_EQ(locator.lineColumn("/nodes/0"), std::make_pair(4u, 5u));
  EXPECT_EQ(locator.lineColumn("/nodes/0/inputs/1"), std::make_pair(4u, 35u));
  // Escaped quotes inside strings do not derail the scan.
  EXPECT_EQ(locator.lineColumn("/nodes/1"), std::make_pair(5u, 5u));
  EXPECT_EQ(locator.lineColumn("/nodes/1/name"), std::make_pair(5u, 14u));
}

TEST(JsonLocator, FallsBackToClosestAncestor) {
  JsonLocator locator("{\"a\": {\"b\": [1, 2]}}", /*maxDepth=*/1);
  // "/a/b" is below the recorded depth: its parent "/a" answers.
  EXPECT_EQ(locator.lineColumn("/a/b/1"), locator.lineColumn("/a"));
  EXPECT_EQ(locator.lineColumn("/missing"), std::make_pair(1u, 1u));
}
