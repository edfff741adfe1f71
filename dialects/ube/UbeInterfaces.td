//===- UbeInterfaces.td - ube op interfaces -----------------*- tablegen -*-===//

#ifndef UBE_INTERFACES_TD
#define UBE_INTERFACES_TD

include "mlir/IR/OpBase.td"

def Ube_DifferentiableOpInterface : OpInterface<"DifferentiableOpInterface"> {
  let cppNamespace = "::ube";
  let description = [{
    An op with a reverse-mode gradient rule (vector-Jacobian product), as
    `--ube-autodiff` uses it. The rule builds, at the builder's insertion
    point, the gradient of a scalar loss with respect to each operand from
    the gradients with respect to the op's results. A new op brings its own
    rule by implementing this interface (the ube ops attach theirs in
    dialects/ube/UbeVjp.cpp).
  }];
  let methods = [
    InterfaceMethod<[{
        `resultGrads` has one entry per result (null: the loss does not depend
        on that result, i.e. a zero gradient). Fills `operandGrads` with one
        entry per operand, shaped like it; null for an operand with no
        gradient (integer, boolean, or treated as a constant, like a
        distillation teacher's logits). Fails, with a diagnostic, for a case
        the rule does not cover.
      }],
      "::llvm::LogicalResult", "buildVjp",
      (ins "::mlir::OpBuilder &":$builder,
           "::llvm::ArrayRef<::mlir::Value>":$resultGrads,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads)>
  ];
}

#endif // UBE_INTERFACES_TD
