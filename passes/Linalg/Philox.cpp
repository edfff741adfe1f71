//===- Philox.cpp - Philox-4x32-10 in arith ops ---------------------------===//

#include "passes/Linalg/Philox.h"

#include "ube/Support/Philox.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <array>

using namespace mlir;

namespace ube {

namespace {

/// The first output word's top 24 bits, the rounds on scalars: each
/// product's halves through mului_extended (one mul.hi and one mul.lo on a
/// GPU).
Value philoxScalar(OpBuilder &b, Location loc, Value index, Value step, Value seed) {
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
  return arith::ShRUIOp::create(b, loc, c[0], c32(8));
}

/// The same for a vector of indices, each 32-bit word of the state in the
/// low half of a 64-bit lane whose high half is left as it falls: a
/// product of two low halves is one 32 × 32 → 64-bit multiply (vpmuludq on
/// x86, which ignores the high halves, so the masks below fold away), its
/// high word one shift and its low word the product itself. Lanes of 32
/// bits, split and interleaved at every multiply, took twice as many
/// instructions (AVX-512: about 280 per 16 draws in the attention kernels,
/// against 135).
Value philoxVector(OpBuilder &b, Location loc, Value index, Value step, Value seed) {
  auto lanes = cast<VectorType>(index.getType());
  auto splat = [&](uint64_t v) -> Value {
    return arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(lanes, b.getIntegerAttr(b.getI64Type(), v)));
  };
  auto c64 = [&](uint64_t v) {
    return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(v)).getResult();
  };
  Value low = splat(0xFFFFFFFFu), shift = splat(32);
  auto high = [&](Value v) { return arith::ShRUIOp::create(b, loc, v, shift).getResult(); };
  auto spread = [&](Value scalar) -> Value {
    return vector::BroadcastOp::create(b, loc, lanes, scalar);
  };
  auto product = [&](Value m, Value x) {
    return arith::MulIOp::create(b, loc, m, arith::AndIOp::create(b, loc, x, low)).getResult();
  };
  auto xor3 = [&](Value x, Value y, Value z) {
    return arith::XOrIOp::create(b, loc, arith::XOrIOp::create(b, loc, x, y), z).getResult();
  };
  Value stepLanes = spread(step);
  std::array<Value, 4> c = {index, high(index), stepLanes, high(stepLanes)};
  // The key schedule is the same for every lane: scalars, splat per round.
  Value k0 = seed, k1 = arith::ShRUIOp::create(b, loc, seed, c64(32));
  Value m0 = splat(kPhiloxM0), m1 = splat(kPhiloxM1);
  for (int round = 0; round < kPhiloxRounds; ++round) {
    if (round) { // (the high halves of the key words are never read)
      k0 = arith::AddIOp::create(b, loc, k0, c64(kPhiloxW0));
      k1 = arith::AddIOp::create(b, loc, k1, c64(kPhiloxW1));
    }
    Value p0 = product(m0, c[0]), p1 = product(m1, c[2]);
    c = {xor3(high(p1), c[1], spread(k0)), p1, xor3(high(p0), c[3], spread(k1)), p0};
  }
  auto words = lanes.clone(b.getI32Type());
  Value word = arith::TruncIOp::create(b, loc, words, c[0]);
  return arith::ShRUIOp::create(
      b, loc, word,
      arith::ConstantOp::create(b, loc, DenseElementsAttr::get(words, b.getI32IntegerAttr(8))));
}

} // namespace

Value buildPhiloxUniform(OpBuilder &b, Location loc, Value index, Value step, Value seed) {
  // The top 24 bits of the first word, over 2^24.
  Value top = isa<VectorType>(index.getType()) ? philoxVector(b, loc, index, step, seed)
                                                : philoxScalar(b, loc, index, step, seed);
  Type f32 = b.getF32Type();
  TypedAttr scale = b.getF32FloatAttr(1.0f / 16777216.0f);
  Value factor;
  if (auto vector = dyn_cast<VectorType>(top.getType())) {
    f32 = vector.clone(f32);
    factor = arith::ConstantOp::create(b, loc,
                                       DenseElementsAttr::get(cast<VectorType>(f32), scale));
  } else {
    factor = arith::ConstantOp::create(b, loc, scale);
  }
  return arith::MulFOp::create(b, loc, arith::UIToFPOp::create(b, loc, f32, top), factor);
}

} // namespace ube
