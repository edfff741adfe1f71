#include "ube/Support/DType.h"

#include <gtest/gtest.h>

using namespace ube;

TEST(DType, NamesRoundTrip) {
  for (DType d : kAllDTypes) {
    EXPECT_EQ(parseDType(dtypeName(d)), d);
    EXPECT_EQ(parseSafetensorsDType(dtypeSafetensorsName(d)), d);
  }
  EXPECT_FALSE(parseDType("u4"));
  EXPECT_FALSE(parseSafetensorsDType("F8_E4M3"));
  EXPECT_EQ(dtypeNameList(), "f32, f16, bf16, i1, i32, i64, f64, i8, i16, u8, u16, u32, u64");
  EXPECT_TRUE(isIntegerDType(DType::I8));
  EXPECT_TRUE(isIntegerDType(DType::U64) && isUnsignedDType(DType::U8));
  EXPECT_FALSE(isUnsignedDType(DType::I8));
  EXPECT_FALSE(isIntegerDType(DType::F64));
}

TEST(DType, Sizes) {
  EXPECT_EQ(dtypeSize(DType::F32), 4u);
  EXPECT_EQ(dtypeSize(DType::BF16), 2u);
  EXPECT_EQ(dtypeSize(DType::I1), 1u);
  EXPECT_EQ(dtypeSize(DType::I64), 8u);
  EXPECT_EQ(dtypeSize(DType::F64), 8u);
  EXPECT_EQ(dtypeSize(DType::I8), 1u);
  EXPECT_EQ(dtypeSize(DType::I16), 2u);
}

TEST(DType, NumElements) {
  EXPECT_EQ(numElements({}), 1);
  EXPECT_EQ(numElements({2, 3, 4}), 24);
  EXPECT_EQ(numElements({0, 5}), 0);
  EXPECT_FALSE(numElements({-1, 2}));
  EXPECT_FALSE(numElements({INT64_MAX, 2}));
  EXPECT_EQ(shapeToString({2, 3}), "[2, 3]");
  EXPECT_EQ(shapeToString({}), "[]");
}
