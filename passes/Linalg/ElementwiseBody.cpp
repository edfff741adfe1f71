//===- ElementwiseBody.cpp - the computation of one elementwise ube op ----===//

#include "passes/Linalg/ElementwiseBody.h"

#include "dialects/ube/UbeOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;

namespace ube {

namespace {

/// f64 -> f32 rounded to odd: toward zero, with the last bit set when the
/// value was inexact. Rounding that to a type of at most 22 significand bits
/// (f16, bf16) gives the correctly rounded narrowing of the f64, which two
/// round-to-nearest steps do not always; it also avoids the compiler-rt
/// routines (__truncdfhf2) that a direct f64 -> f16 truncation calls.
Value truncToOddF32(OpBuilder &b, Location loc, Value x) {
  Type f32 = b.getF32Type(), i32 = b.getI32Type();
  auto like = [&](Type element) -> Type {
    if (auto vector = dyn_cast<VectorType>(x.getType()))
      return vector.clone(element);
    return element;
  };
  auto i32c = [&](int64_t v) -> Value {
    Type type = like(i32);
    if (auto vector = dyn_cast<VectorType>(type))
      return arith::ConstantOp::create(b, loc,
                                       DenseElementsAttr::get(vector, b.getI32IntegerAttr(v)));
    return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v));
  };
  Value nearest = arith::TruncFOp::create(b, loc, like(f32), x);
  Value back = arith::ExtFOp::create(b, loc, x.getType(), nearest);
  // Ordered comparisons: NaN stays as it is.
  Value inexact = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE, back, x);
  Value away = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                     math::AbsFOp::create(b, loc, back),
                                     math::AbsFOp::create(b, loc, x));
  Value bits = arith::BitcastOp::create(b, loc, like(i32), nearest);
  // One step toward zero is one less in sign-magnitude.
  Value towardZero = arith::SelectOp::create(
      b, loc, away, arith::SubIOp::create(b, loc, bits, i32c(1)), bits);
  Value odd = arith::OrIOp::create(b, loc, towardZero, i32c(1));
  return arith::BitcastOp::create(b, loc, like(f32),
                                  arith::SelectOp::create(b, loc, inexact, odd, bits));
}

/// log(1 + e^(beta·x))/beta, or x where beta·x > threshold (PyTorch's
/// softplus: past the threshold the two agree to rounding, and e^(beta·x)
/// would overflow).
Value softplus(OpBuilder &b, Location loc, Value x, double beta, double threshold,
               function_ref<Value(double)> fc) {
  Value scaled = beta == 1.0 ? x : arith::MulFOp::create(b, loc, x, fc(beta)).getResult();
  Value soft = math::Log1pOp::create(b, loc, math::ExpOp::create(b, loc, scaled));
  if (beta != 1.0)
    soft = arith::DivFOp::create(b, loc, soft, fc(beta));
  Value linear = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, scaled, fc(threshold));
  return arith::SelectOp::create(b, loc, linear, x, soft);
}

Value hardSigmoid(OpBuilder &b, Location loc, Value x, double alpha, double beta,
                  function_ref<Value(double)> fc) {
  Value y = arith::AddFOp::create(b, loc, arith::MulFOp::create(b, loc, x, fc(alpha)), fc(beta));
  return arith::MinimumFOp::create(b, loc, arith::MaximumFOp::create(b, loc, y, fc(0.0)),
                                   fc(1.0));
}

} // namespace

Value buildElementwiseBody(Operation *op, OpBuilder &b, Location loc, ValueRange args,
                           Type resultType) {
  Value x = args[0];
  Type type = x.getType();
  bool isFloat = isa<FloatType>(getElementTypeOrSelf(type));
  auto fc = [&](double v) -> Value {
    Type element = getElementTypeOrSelf(type);
    if (auto vector = dyn_cast<VectorType>(type))
      return arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(vector, b.getFloatAttr(element, v)));
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(element, v));
  };
  return TypeSwitch<Operation *, Value>(op)
      .Case([&](AddOp) -> Value {
        return isFloat ? arith::AddFOp::create(b, loc, x, args[1]).getResult()
                       : arith::AddIOp::create(b, loc, x, args[1]).getResult();
      })
      .Case([&](SubOp) -> Value {
        return isFloat ? arith::SubFOp::create(b, loc, x, args[1]).getResult()
                       : arith::SubIOp::create(b, loc, x, args[1]).getResult();
      })
      .Case([&](MulOp) -> Value {
        return isFloat ? arith::MulFOp::create(b, loc, x, args[1]).getResult()
                       : arith::MulIOp::create(b, loc, x, args[1]).getResult();
      })
      .Case([&](DivOp) -> Value {
        return isFloat ? arith::DivFOp::create(b, loc, x, args[1]).getResult()
                       : arith::DivSIOp::create(b, loc, x, args[1]).getResult();
      })
      .Case([&](PowOp) -> Value { return math::PowFOp::create(b, loc, x, args[1]); })
      .Case([&](FmodOp) -> Value {
        return isFloat ? arith::RemFOp::create(b, loc, x, args[1]).getResult()
                       : arith::RemSIOp::create(b, loc, x, args[1]).getResult();
      })
      .Case([&](Log1pOp) -> Value { return math::Log1pOp::create(b, loc, x); })
      .Case([&](Expm1Op) -> Value { return math::ExpM1Op::create(b, loc, x); })
      .Case([&](TanOp) -> Value { return math::TanOp::create(b, loc, x); })
      .Case([&](AtanOp) -> Value { return math::AtanOp::create(b, loc, x); })
      .Case([&](AsinOp) -> Value { return math::AsinOp::create(b, loc, x); })
      .Case([&](AcosOp) -> Value { return math::AcosOp::create(b, loc, x); })
      .Case([&](SinhOp) -> Value { return math::SinhOp::create(b, loc, x); })
      .Case([&](CoshOp) -> Value { return math::CoshOp::create(b, loc, x); })
      .Case([&](AsinhOp) -> Value { return math::AsinhOp::create(b, loc, x); })
      .Case([&](AcoshOp) -> Value { return math::AcoshOp::create(b, loc, x); })
      .Case([&](AtanhOp) -> Value { return math::AtanhOp::create(b, loc, x); })
      .Case([&](Atan2Op) -> Value { return math::Atan2Op::create(b, loc, x, args[1]); })
      .Case([&](FloorOp) -> Value { return math::FloorOp::create(b, loc, x); })
      .Case([&](CeilOp) -> Value { return math::CeilOp::create(b, loc, x); })
      .Case([&](RoundOp) -> Value { return math::RoundEvenOp::create(b, loc, x); })
      .Case([&](TruncOp) -> Value { return math::TruncOp::create(b, loc, x); })
      .Case([&](SignOp) -> Value {
        if (isFloat) { // copysign(1, x) where x ≠ 0; 0 and NaN stay as they are
          Value unit = math::CopySignOp::create(b, loc, fc(1.0), x);
          Value keep = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UEQ, x, fc(0.0));
          return arith::SelectOp::create(b, loc, keep, x, unit);
        }
        auto ic = [&](int64_t v) -> Value {
          Type element = getElementTypeOrSelf(type);
          if (auto vector = dyn_cast<VectorType>(type))
            return arith::ConstantOp::create(
                b, loc, DenseElementsAttr::get(vector, b.getIntegerAttr(element, v)));
          return arith::ConstantOp::create(b, loc, b.getIntegerAttr(element, v));
        };
        Value positive = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, x, ic(0));
        Value negative = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, x, ic(0));
        return arith::SubIOp::create(b, loc, arith::ExtUIOp::create(b, loc, type, positive),
                                     arith::ExtUIOp::create(b, loc, type, negative));
      })

      .Case([&](MaximumOp) -> Value {
        return isFloat ? arith::MaximumFOp::create(b, loc, x, args[1]).getResult()
                       : arith::MaxSIOp::create(b, loc, x, args[1]).getResult();
      })
      .Case([&](MinimumOp) -> Value {
        return isFloat ? arith::MinimumFOp::create(b, loc, x, args[1]).getResult()
                       : arith::MinSIOp::create(b, loc, x, args[1]).getResult();
      })
      .Case([&](LogicalAndOp) -> Value { return arith::AndIOp::create(b, loc, x, args[1]); })
      .Case([&](LogicalOrOp) -> Value { return arith::OrIOp::create(b, loc, x, args[1]); })
      .Case([&](LogicalNotOp) -> Value {
        Value one = arith::ConstantOp::create(b, loc, b.getBoolAttr(true));
        return arith::XOrIOp::create(b, loc, x, one);
      })
      .Case([&](NegOp) -> Value {
        if (isFloat)
          return arith::NegFOp::create(b, loc, x);
        Value zero = arith::ConstantOp::create(b, loc, b.getIntegerAttr(type, 0));
        return arith::SubIOp::create(b, loc, zero, x);
      })
      .Case([&](AbsOp) -> Value {
        return isFloat ? math::AbsFOp::create(b, loc, x).getResult()
                       : math::AbsIOp::create(b, loc, x).getResult();
      })
      .Case([&](ExpOp) -> Value { return math::ExpOp::create(b, loc, x); })
      .Case([&](LogOp) -> Value { return math::LogOp::create(b, loc, x); })
      .Case([&](SqrtOp) -> Value { return math::SqrtOp::create(b, loc, x); })
      .Case([&](RsqrtOp) -> Value { return math::RsqrtOp::create(b, loc, x); })
      .Case([&](TanhOp) -> Value { return math::TanhOp::create(b, loc, x); })
      .Case([&](ErfOp) -> Value { return math::ErfOp::create(b, loc, x); })
      .Case([&](SigmoidOp) -> Value {
        Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
        return arith::DivFOp::create(b, loc, fc(1.0), arith::AddFOp::create(b, loc, fc(1.0), e));
      })
      .Case([&](SiluOp) -> Value {
        Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
        return arith::DivFOp::create(b, loc, x, arith::AddFOp::create(b, loc, fc(1.0), e));
      })
      .Case([&](LeakyReluOp op) -> Value {
        Value negative = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, x, fc(0.0));
        return arith::SelectOp::create(
            b, loc, negative,
            arith::MulFOp::create(b, loc, x, fc(op.getAlpha().convertToDouble())), x);
      })
      .Case([&](EluOp op) -> Value {
        double alpha = op.getAlpha().convertToDouble(), scale = op.getScale().convertToDouble();
        Value e = math::ExpOp::create(
            b, loc, arith::MulFOp::create(b, loc, x, fc(op.getInputScale().convertToDouble())));
        Value below = arith::MulFOp::create(b, loc, arith::SubFOp::create(b, loc, e, fc(1.0)),
                                            fc(alpha));
        Value positive = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x, fc(0.0));
        Value y = arith::SelectOp::create(b, loc, positive, x, below);
        return scale == 1.0 ? y : arith::MulFOp::create(b, loc, y, fc(scale)).getResult();
      })
      .Case([&](SoftplusOp op) -> Value {
        return softplus(b, loc, x, op.getBeta().convertToDouble(),
                        op.getThreshold().convertToDouble(), fc);
      })
      .Case([&](MishOp) -> Value {
        return arith::MulFOp::create(
            b, loc, x, math::TanhOp::create(b, loc, softplus(b, loc, x, 1.0, 20.0, fc)));
      })
      .Case([&](HardSigmoidOp op) -> Value {
        return hardSigmoid(b, loc, x, op.getAlpha().convertToDouble(),
                           op.getBeta().convertToDouble(), fc);
      })
      .Case([&](HardSwishOp) -> Value {
        return arith::MulFOp::create(b, loc, x, hardSigmoid(b, loc, x, 1.0 / 6.0, 0.5, fc));
      })
      .Case([&](ClampOp op) -> Value {
        Type element = getElementTypeOrSelf(type);
        // Compare and select: maxnumf/minnumf would turn NaN into the bound.
        auto clampTo = [&](Value y, double v, arith::CmpFPredicate fp,
                           arith::CmpIPredicate ip) -> Value {
          Value bound;
          if (isFloat) {
            bound = fc(v);
          } else {
            Attribute attr = b.getIntegerAttr(element, int64_t(v));
            bound = isa<VectorType>(type)
                        ? arith::ConstantOp::create(
                              b, loc, DenseElementsAttr::get(cast<ShapedType>(type), attr))
                        : arith::ConstantOp::create(b, loc, cast<TypedAttr>(attr));
          }
          Value past = isFloat ? arith::CmpFOp::create(b, loc, fp, y, bound).getResult()
                               : arith::CmpIOp::create(b, loc, ip, y, bound).getResult();
          return arith::SelectOp::create(b, loc, past, bound, y);
        };
        Value y = x;
        if (auto low = op.getMin())
          y = clampTo(y, low->convertToDouble(), arith::CmpFPredicate::OLT,
                      arith::CmpIPredicate::slt);
        if (auto high = op.getMax())
          y = clampTo(y, high->convertToDouble(), arith::CmpFPredicate::OGT,
                      arith::CmpIPredicate::sgt);
        return y;
      })
      .Case([&](SinOp) -> Value { return math::SinOp::create(b, loc, x); })
      .Case([&](CosOp) -> Value { return math::CosOp::create(b, loc, x); })
      .Case([&](ReluOp) -> Value {
        if (isFloat)
          return arith::MaximumFOp::create(b, loc, x, fc(0.0));
        Value zero = arith::ConstantOp::create(b, loc, b.getIntegerAttr(type, 0));
        return arith::MaxSIOp::create(b, loc, x, zero);
      })
      .Case([&](GeluOp gelu) -> Value {
        Value half = arith::MulFOp::create(b, loc, x, fc(0.5));
        Value inner;
        if (gelu.getApproximate() == "tanh") {
          // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
          Value x3 = arith::MulFOp::create(b, loc, arith::MulFOp::create(b, loc, x, x), x);
          Value poly = arith::AddFOp::create(b, loc, x, arith::MulFOp::create(b, loc, x3, fc(0.044715)));
          inner = math::TanhOp::create(
              b, loc, arith::MulFOp::create(b, loc, poly, fc(std::sqrt(2.0 / M_PI))));
        } else {
          // 0.5 x (1 + erf(x / sqrt(2)))
          inner = math::ErfOp::create(b, loc, arith::MulFOp::create(b, loc, x, fc(M_SQRT1_2)));
        }
        return arith::MulFOp::create(b, loc, half, arith::AddFOp::create(b, loc, fc(1.0), inner));
      })
      .Case([&](CompareOp compare) -> Value {
        StringRef p = compare.getPredicate();
        if (isFloat) {
          auto predicate = llvm::StringSwitch<arith::CmpFPredicate>(p)
                               .Case("eq", arith::CmpFPredicate::OEQ)
                               .Case("ne", arith::CmpFPredicate::UNE)
                               .Case("lt", arith::CmpFPredicate::OLT)
                               .Case("le", arith::CmpFPredicate::OLE)
                               .Case("gt", arith::CmpFPredicate::OGT)
                               .Default(arith::CmpFPredicate::OGE);
          return arith::CmpFOp::create(b, loc, predicate, x, args[1]);
        }
        auto predicate = llvm::StringSwitch<arith::CmpIPredicate>(p)
                             .Case("eq", arith::CmpIPredicate::eq)
                             .Case("ne", arith::CmpIPredicate::ne)
                             .Case("lt", arith::CmpIPredicate::slt)
                             .Case("le", arith::CmpIPredicate::sle)
                             .Case("gt", arith::CmpIPredicate::sgt)
                             .Default(arith::CmpIPredicate::sge);
        return arith::CmpIOp::create(b, loc, predicate, x, args[1]);
      })
      .Case([&](WhereOp) -> Value { return arith::SelectOp::create(b, loc, x, args[1], args[2]); })
      .Case([&](CastOp) -> Value {
        // convertScalarToDtype covers float<->float, int<->int and int<->float;
        // i1 targets are "!= 0" and i1 sources are unsigned (0 or 1).
        if (resultType.isInteger(1) && !type.isInteger(1)) {
          if (isFloat)
            return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, x, fc(0.0));
          Value zero = arith::ConstantOp::create(b, loc, b.getIntegerAttr(type, 0));
          return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, x, zero);
        }
        Type source = getElementTypeOrSelf(type);
        if (source.isF64() && isa<FloatType>(resultType) && resultType.getIntOrFloatBitWidth() < 32)
          x = truncToOddF32(b, loc, x);
        return convertScalarToDtype(b, loc, x, resultType, /*isUnsignedCast=*/type.isInteger(1));
      })
      .Case([&](BroadcastToOp) -> Value { return x; })
      .Default([&](Operation *) -> Value { return nullptr; });
}

bool isElementwise(Operation *op) {
  return isa<AddOp, SubOp, MulOp, DivOp, PowOp, MaximumOp, MinimumOp, LogicalAndOp,
             LogicalOrOp, LogicalNotOp, NegOp, AbsOp, ExpOp, LogOp, SqrtOp, RsqrtOp, TanhOp,
             ErfOp, SigmoidOp, SiluOp, SinOp, CosOp, ReluOp, GeluOp, CompareOp, WhereOp, CastOp,
             BroadcastToOp, LeakyReluOp, EluOp, SoftplusOp, MishOp, HardSigmoidOp, HardSwishOp,
             ClampOp, FloorOp, CeilOp, RoundOp, TruncOp, SignOp, FmodOp, Log1pOp, Expm1Op, TanOp,
             AtanOp, AsinOp, AcosOp, SinhOp, CoshOp, AsinhOp, AcoshOp, AtanhOp, Atan2Op>(op);
}

bool isFloatEpilogueOp(Operation *op) {
  return isa<AddOp, SubOp, MulOp, DivOp, MaximumOp, MinimumOp, NegOp, AbsOp, ExpOp, LogOp,
             SqrtOp, RsqrtOp, TanhOp, ErfOp, SigmoidOp, SiluOp, ReluOp, GeluOp, LeakyReluOp,
             EluOp, SoftplusOp, MishOp, HardSigmoidOp, HardSwishOp, ClampOp>(op);
}

} // namespace ube
