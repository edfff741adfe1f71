//===- Philox.cpp - Philox-4x32-10 in arith ops ---------------------------===//

#include "passes/Linalg/Philox.h"

#include "ube/Support/Philox.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include <array>

using namespace mlir;

namespace ube {

Value buildPhiloxUniform(OpBuilder &b, Location loc, Value index, Value step, Value seed) {
  Type i32 = b.getI32Type(), i64 = b.getI64Type();
  auto c32 = [&](uint32_t v) {
    return arith::ConstantOp::create(b, loc, b.getIntegerAttr(i32, v)).getResult();
  };
  Value shift = arith::ConstantOp::create(b, loc, b.getIntegerAttr(i64, 32));
  auto split = [&](Value v) -> std::pair<Value, Value> {
    Value lo = arith::TruncIOp::create(b, loc, i32, v);
    Value hi = arith::TruncIOp::create(b, loc, i32, arith::ShRUIOp::create(b, loc, v, shift));
    return {lo, hi};
  };
  auto [i0, i1] = split(index);
  auto [s0, s1] = split(step);
  auto [k0, k1] = split(seed);
  std::array<Value, 4> c = {i0, i1, s0, s1};
  Value m0 = c32(kPhiloxM0), m1 = c32(kPhiloxM1), w0 = c32(kPhiloxW0), w1 = c32(kPhiloxW1);
  for (int round = 0; round < kPhiloxRounds; ++round) {
    if (round) {
      k0 = arith::AddIOp::create(b, loc, k0, w0);
      k1 = arith::AddIOp::create(b, loc, k1, w1);
    }
    auto p0 = arith::MulUIExtendedOp::create(b, loc, m0, c[0]);
    auto p1 = arith::MulUIExtendedOp::create(b, loc, m1, c[2]);
    Value x0 = arith::XOrIOp::create(
        b, loc, arith::XOrIOp::create(b, loc, p1.getHigh(), c[1]), k0);
    Value x2 = arith::XOrIOp::create(
        b, loc, arith::XOrIOp::create(b, loc, p0.getHigh(), c[3]), k1);
    c = {x0, p1.getLow(), x2, p0.getLow()};
  }
  Value top = arith::ShRUIOp::create(b, loc, c[0], c32(8));
  Value asFloat = arith::UIToFPOp::create(b, loc, b.getF32Type(), top);
  Value scale = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(1.0f / 16777216.0f));
  return arith::MulFOp::create(b, loc, asFloat, scale);
}

} // namespace ube
