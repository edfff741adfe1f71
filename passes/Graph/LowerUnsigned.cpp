//===- LowerUnsigned.cpp - unsigned integers as signless ones -------------===//
//
// ube ops take u8 ... u64 tensors (ONNX's and torch's uint types), but arith
// and linalg know signless integers only. This pass gives every unsigned
// value the signless type of its width, the same bits, and rewrites what
// reads them so that unsigned meaning survives:
//  - ops whose bits do not depend on the sign (add, sub, mul and their
//    wrap-around, data movement, sums, equality, products) only change type;
//  - order (comparisons, maximum/minimum, their reductions, argmax/argmin,
//    topk) is signed order after flipping the top bit of both sides (adding
//    the signed minimum), flipped back where a value comes out;
//  - division and remainder, clamp and casts zero-extend to a wider signed
//    type first (u64 division, which has none, is long division by halves);
//  - abs and relu are the identity, sign is x != 0.
// Any other op on unsigned values is refused with its name. The entry
// points keep their unsigned signature: the compiler describes them before
// this pass runs, and the bits passed are the same.
//
//===----------------------------------------------------------------------===//

#include "passes/Graph/Passes.h"

#include "dialects/ube/UbeBuilder.h"
#include "dialects/ube/UbeOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"

namespace ube {
#define GEN_PASS_DEF_UBELOWERUNSIGNED
#include "passes/Graph/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

IntegerType unsignedElement(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  auto integer = dyn_cast<IntegerType>(tensor ? tensor.getElementType() : type);
  return integer && integer.isUnsigned() ? integer : IntegerType();
}

Type signless(Type type) {
  IntegerType element = unsignedElement(type);
  if (!element)
    return type;
  auto signlessElement = IntegerType::get(type.getContext(), element.getWidth());
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor ? Type(tensor.clone(signlessElement)) : Type(signlessElement);
}

class UnsignedRewriter {
public:
  UnsignedRewriter(OpBuilder &b, Operation *op) : b(b), u(b, op->getLoc()) {}

  /// A rank-0 constant of `elementType` holding `bits`.
  Value constant(Type elementType, const APInt &bits) {
    auto type = RankedTensorType::get({}, elementType);
    return ConstantOp::create(u.b, type, DenseElementsAttr::get(type, bits));
  }
  /// x with its top bit flipped: unsigned order becomes signed order.
  Value flipped(Value x) {
    Type element = UbeBuilder::elementTypeOf(x);
    return u.add(x, constant(element, APInt::getSignedMinValue(element.getIntOrFloatBitWidth())));
  }
  /// The unsigned value of x's bits in a signless type of `width` > x's.
  Value zeroExtended(Value x, unsigned width) {
    unsigned from = UbeBuilder::elementTypeOf(x).getIntOrFloatBitWidth();
    Type wide = b.getIntegerType(width);
    Value extended = u.castTo(x, wide); // sign-extends
    Value wrapped = u.add(extended, constant(wide, APInt::getOneBitSet(width, from)));
    Value negative = u.compare("lt", x, constant(UbeBuilder::elementTypeOf(x), APInt(from, 0)));
    return u.where(negative, wrapped, extended);
  }
  /// The bits of `x` (signless) cast to `to`, reading them as unsigned.
  Value castFromUnsigned(Value x, Type to) {
    unsigned width = UbeBuilder::elementTypeOf(x).getIntOrFloatBitWidth();
    if (to.isInteger(1) || (to.isInteger() && to.getIntOrFloatBitWidth() <= width))
      return u.castTo(x, to); // x != 0, or the low bits
    if (to.isInteger())
      return zeroExtended(x, to.getIntOrFloatBitWidth());
    if (width < 64)
      return u.castTo(zeroExtended(x, width < 32 ? 32 : 64), to);
    // u64 to float: the high and low 32 bits, each exact in f64, added
    // with one rounding.
    Type f64 = b.getF64Type(), i64 = b.getI64Type();
    Value high = u.div(halved(x), constant(i64, APInt(64, int64_t(1) << 31)));
    Value low = u.sub(x, u.mul(high, constant(i64, APInt(64, int64_t(1) << 32))));
    Value value = u.add(u.mul(u.castTo(high, f64), u.scalar(f64, 0x1p32)), u.castTo(low, f64));
    return to.isF64() ? value : u.castTo(value, to);
  }
  /// x >> 1 (logical) of i64 bits: signed halving of a non-negative value,
  /// the top bit flipped off first where it is set.
  Value halved(Value x) {
    Type i64 = b.getI64Type();
    Value two = constant(i64, APInt(64, 2));
    Value topBit = u.compare("lt", x, constant(i64, APInt(64, 0)));
    return u.where(topBit, u.add(u.div(flipped(x), two), constant(i64, APInt(64, 1ULL << 62))),
                   u.div(x, two));
  }
  /// Unsigned x < y on signless bits.
  Value less(Value x, Value y) { return u.compare("lt", flipped(x), flipped(y)); }
  /// The quotient and remainder of u64 bits, with signed 64-bit ops only
  /// (no wider type): a divisor of 2^63 or more goes at most once; else the
  /// quotient of x/2 (shifted right through the flipped top bit, signed
  /// division of non-negatives) doubled is at most one short.
  std::pair<Value, Value> divide64(Value x, Value y) {
    Type i64 = b.getI64Type();
    auto c = [&](int64_t v) { return constant(i64, APInt(64, v, /*isSigned=*/true)); };
    Value zero = c(0), one = c(1), two = c(2);
    Value hugeY = u.compare("lt", y, zero), halfX = halved(x);
    Value safeY = u.where(hugeY, one, y); // the branch not taken must not divide by it
    Value q = u.mul(u.div(halfX, safeY), two);
    Value r = u.sub(x, u.mul(q, y));
    Value short1 = u.compare("ge", flipped(r), flipped(y));
    q = u.where(short1, u.add(q, one), q);
    r = u.where(short1, u.sub(r, y), r);
    Value once = less(x, y);
    Value hugeQ = u.where(once, zero, one), hugeR = u.where(once, x, u.sub(x, y));
    return {u.where(hugeY, hugeQ, q), u.where(hugeY, hugeR, r)};
  }
  /// `x` (float or signed integer, or bool) to unsigned bits of `width`.
  Value castToUnsigned(Value x, unsigned width) {
    Type from = UbeBuilder::elementTypeOf(x), to = b.getIntegerType(width);
    if (isa<IntegerType>(from))
      return u.castTo(x, to); // the low bits, or 0/1
    if (width < 64)
      return u.castTo(u.castTo(x, b.getI64Type()), to);
    // To u64: past 2^63, convert x - 2^63 and set the top bit.
    Value big = u.compare("ge", x, u.scalar(from, 0x1p63));
    Value high = flipped(u.castTo(u.sub(x, u.scalar(from, 0x1p63)), to));
    return u.where(big, high, u.castTo(x, to));
  }

  OpBuilder &b;
  UbeBuilder u;
};

/// A copy of `op` on `operands` whose tensor results have `element`.
Value cloned(OpBuilder &b, Operation *op, ValueRange operands, Type element) {
  Operation *copy = b.clone(*op);
  copy->setOperands(operands);
  Value result = copy->getResult(0);
  result.setType(cast<RankedTensorType>(result.getType()).clone(element));
  return result;
}

/// Rewrites `op`, whose unsigned operands are in `isUnsigned` (their types
/// already signless), into signless ops; returns the values that replace its
/// results (its own when rewritten in place), or failure with an error.
FailureOr<SmallVector<Value>> rewrite(Operation *op, llvm::function_ref<bool(Value)> isUnsigned) {
  OpBuilder b(op);
  UnsignedRewriter r(b, op);
  UbeBuilder &u = r.u;
  auto one = [](Value v) { return SmallVector<Value>{v}; };
  // Ops whose bits do not depend on the sign: the same op, signless.
  if (isa<AddOp, SubOp, MulOp, NegOp, TransposeOp, ReshapeOp, BroadcastToOp, ConcatOp, SliceOp,
          GatherOp, ScatterAddOp, WhereOp, ReduceSumOp, CumsumOp, MatmulOp>(op)) {
    for (Value result : op->getResults())
      result.setType(signless(result.getType()));
    return SmallVector<Value>(op->getResults());
  }
  if (auto constant = dyn_cast<ConstantOp>(op)) {
    // The same bits: a literal bit-cast, a weights blob viewed as signless.
    auto type = cast<RankedTensorType>(signless(constant.getType()));
    if (auto dense = dyn_cast<DenseElementsAttr>(constant.getValue()))
      return one(ConstantOp::create(b, op->getLoc(), type, dense.bitcast(type.getElementType())));
    if (auto resource = dyn_cast<DenseResourceElementsAttr>(constant.getValue()))
      return one(ConstantOp::create(b, op->getLoc(), type,
                                    DenseResourceElementsAttr::get(type, resource.getRawHandle())));
    return op->emitOpError("an unsigned constant must be dense or a weights blob");
  }
  if (isa<AbsOp, ReluOp>(op))
    return one(op->getOperand(0));
  if (auto sign = dyn_cast<SignOp>(op)) {
    Value x = sign.getInput();
    Type element = UbeBuilder::elementTypeOf(x);
    return one(u.castTo(u.compare("ne", x, u.scalar(element, 0)), element));
  }
  if (auto compare = dyn_cast<CompareOp>(op)) {
    if (compare.getPredicate() == "eq" || compare.getPredicate() == "ne")
      return SmallVector<Value>(op->getResults());
    return one(u.compare(compare.getPredicate(), r.flipped(compare.getLhs()),
                         r.flipped(compare.getRhs())));
  }
  // Order: the signed op on flipped values, a value result flipped back.
  if (isa<ArgmaxOp, ArgminOp, TopkOp>(op)) { // positions only
    op->setOperand(0, r.flipped(op->getOperand(0)));
    return SmallVector<Value>(op->getResults());
  }
  if (isa<MaximumOp, MinimumOp, ReduceMaxOp, ReduceMinOp>(op)) {
    SmallVector<Value> operands = llvm::map_to_vector(
        op->getOperands(), [&](Value v) { return r.flipped(v); });
    Type element = UbeBuilder::elementTypeOf(operands.front());
    return one(r.flipped(cloned(b, op, operands, element)));
  }
  // Division, remainders, clamping: on the zero-extended values.
  if (isa<DivOp, FmodOp, ClampOp>(op)) {
    unsigned width = UbeBuilder::elementTypeOf(op->getOperand(0)).getIntOrFloatBitWidth();
    if (width == 64 && isa<DivOp, FmodOp>(op)) {
      auto [quotient, remainder] = r.divide64(op->getOperand(0), op->getOperand(1));
      return one(isa<DivOp>(op) ? quotient : remainder);
    }
    if (width == 64)
      return op->emitOpError("on u64 is not supported; cast to i64 or f64 first");
    SmallVector<Value> operands = llvm::map_to_vector(
        op->getOperands(), [&](Value v) { return r.zeroExtended(v, 2 * width); });
    Value wide = cloned(b, op, operands, b.getIntegerType(2 * width));
    return one(u.castTo(wide, b.getIntegerType(width)));
  }
  if (auto castOp = dyn_cast<CastOp>(op)) {
    Value x = castOp.getInput();
    Type to = castOp.getType().getElementType();
    IntegerType unsignedTo = unsignedElement(to);
    if (!isUnsigned(x))
      return one(r.castToUnsigned(x, unsignedTo.getWidth()));
    return one(r.castFromUnsigned(x, unsignedTo ? b.getIntegerType(unsignedTo.getWidth()) : to));
  }
  return op->emitOpError("on unsigned integers is not supported; cast to a signed or float "
                         "type first");
}

LogicalResult lowerUnsigned(func::FuncOp fn) {
  llvm::DenseSet<Value> unsignedValues;
  auto isUnsigned = [&](Value v) { return unsignedValues.contains(v); };
  for (BlockArgument arg : fn.getArguments())
    if (unsignedElement(arg.getType())) {
      unsignedValues.insert(arg);
      arg.setType(signless(arg.getType()));
    }
  WalkResult walk = fn.walk([&](Operation *op) {
    if (op->getDialect() != op->getContext()->getLoadedDialect<UbeDialect>())
      return WalkResult::advance();
    bool unsignedResults = llvm::any_of(op->getResultTypes(),
                                        [](Type t) { return bool(unsignedElement(t)); });
    if (!unsignedResults && llvm::none_of(op->getOperands(), isUnsigned))
      return WalkResult::advance();
    SmallVector<bool> resultUnsigned;
    for (Type t : op->getResultTypes())
      resultUnsigned.push_back(bool(unsignedElement(t)));
    FailureOr<SmallVector<Value>> replacements = rewrite(op, isUnsigned);
    if (failed(replacements))
      return WalkResult::interrupt();
    bool replaced = false;
    for (auto [result, replacement, wasUnsigned] :
         llvm::zip(op->getResults(), *replacements, resultUnsigned)) {
      if (wasUnsigned)
        unsignedValues.insert(replacement);
      if (replacement != result) {
        result.replaceAllUsesWith(replacement);
        replaced = true;
      }
    }
    if (replaced)
      op->erase();
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  fn.setType(FunctionType::get(fn.getContext(), fn.front().getArgumentTypes(),
                               llvm::map_to_vector(fn.getResultTypes(), signless)));
  return success();
}

struct UbeLowerUnsignedPass : ube::impl::UbeLowerUnsignedBase<UbeLowerUnsignedPass> {
  void runOnOperation() override {
    if (failed(lowerUnsigned(getOperation())))
      signalPassFailure();
  }
};

} // namespace
