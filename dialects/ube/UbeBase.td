//===- UbeBase.td - ube dialect definition and constraints -*- tablegen -*-===//
//
// The `ube` dialect: the unified backend IR that framework graphs are imported
// into. Value semantics on ranked tensors.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_BASE_TD
#define UBE_BASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def Ube_Dialect : Dialect {
  let name = "ube";
  let cppNamespace = "::ube";
  let summary = "Unified backend engine: deep-learning graphs and distillation";
  let description = [{
    The `ube` dialect is the one IR that every framework frontend (graph
    files, PyTorch, ONNX) is imported into and every target lowers from. Ops
    have value semantics on ranked tensors of `f32`, `f64`, `f16`, `bf16`,
    `i1`, `i8`, `i16`, `i32` and `i64`, statically shaped or with symbolic (`?`) dimensions
    that the entry function names (`ube.symbols`, `ube.dims`). Elementwise
    ops broadcast their operands with numpy rules; negative axes count from
    the end, as in numpy.
  }];
  let hasConstantMaterializer = 1;

  // Attributes other dialects' ops carry for ube, declared once (each gets a
  // UbeDialect::<Name>AttrHelper) and checked by the verifiers below.
  let discardableAttrs = (ins
    // An argument's or result's name in the graph (func arg/result attrs).
    "::mlir::StringAttr":$name,
    // An entry point's gradient spec (wrt, loss) and training step spec
    // (optimizer, parameters), from the graph file.
    "::mlir::DictionaryAttr":$gradient,
    "::mlir::DictionaryAttr":$train,
    // (output, input) index pairs an entry point may update in place
    // (--ube-mark-in-place-updates).
    "::mlir::DenseI64ArrayAttr":$in_place,
    // An entry point's arena size in bytes (--ube-cpu-plan-memory).
    "::mlir::IntegerAttr":$arena_bytes,
    // An entry point's arena size at a call, when its symbols give it: the
    // last node of an expression list over them, [["symbol", 0], ...]
    // (--ube-cpu-plan-memory).
    "::mlir::ArrayAttr":$arena_exprs,
    // The task a dispatch call runs (--ube-cpu-outline-parallel-loops).
    "::mlir::StringAttr":$parallel_task,
    // An entry point's symbolic dimensions (func attr): #ube.dim attributes.
    "::mlir::ArrayAttr":$symbols,
    // The symbols naming an argument's or result's dynamic dimensions, in
    // order (func arg/result attrs).
    "::mlir::ArrayAttr":$dims
  );
  let useDefaultAttributePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
}

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

def Ube_FloatElement : AnyTypeOf<[F32, F64, F16, BF16]>;
// Unsigned integers are ui8 ... ui64 (--ube-lower-unsigned makes them
// signless before lowering).
def Ube_Tensor : RankedTensorOf<[F32, F64, F16, BF16, I1, I8, I16, I32, I64,
                                 UI8, UI16, UI32, UI64]>;
def Ube_FloatTensor : RankedTensorOf<[F32, F64, F16, BF16]>;
def Ube_NumericTensor : RankedTensorOf<[F32, F64, F16, BF16, I8, I16, I32, I64,
                                        UI8, UI16, UI32, UI64]>;
def Ube_IndexTensor : RankedTensorOf<[I32, I64]>;
def Ube_BoolTensor : RankedTensorOf<[I1]>;
def Ube_FloatScalar : 0DTensorOf<[F32, F64, F16, BF16]>;
def Ube_F32Scalar : 0DTensorOf<[F32]>,
    BuildableType<"::mlir::RankedTensorType::get({}, $_builder.getF32Type())">;
// Training-step counters are i64 scalars.
def Ube_StepScalar : 0DTensorOf<[I64]>,
    BuildableType<"::mlir::RankedTensorType::get({}, $_builder.getI64Type())">;

//===----------------------------------------------------------------------===//
// Attribute constraints
//===----------------------------------------------------------------------===//

// A string attribute restricted to a fixed set of spellings. Graph files carry
// attributes as JSON strings, so enumerations stay strings in the IR as well.
class Ube_StrEnumAttr<list<string> cases>
    : ConfinedAttr<StrAttr, [AttrConstraint<
        Or<!foreach(c, cases,
            CPred<"::llvm::cast<::mlir::StringAttr>($_self).getValue() == \"" # c # "\"">)>,
        "one of: " # !interleave(cases, ", ")>]>;

// A 64-bit integer attribute read as int64_t (upstream's I64Attr reads as
// uint64_t, which turns `axis < 0` checks into silent bugs).
def Ube_I64Attr : TypedSignlessIntegerAttrBase<I64, "int64_t",
                                              "64-bit signless integer attribute"> {
  let convertFromStorage = "$_self.getValue().getSExtValue()";
}

def Ube_ReductionAttr : Ube_StrEnumAttr<["mean", "sum", "none"]>;

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

def Ube_DimSymbolAttr : AttrDef<Ube_Dialect, "DimSymbol"> {
  let mnemonic = "dim";
  let summary = "a symbolic dimension of an entry point, with its bounds";
  let description = [{
    A named size that the shapes of an entry point's arguments and results
    share (`batch`, `seq`): every dimension named by the same symbol has the
    same size at run time, between `min` and `max` (0: no upper bound) and a
    multiple of `multiple_of`. Example: `#ube.dim<"seq", min = 1, max = 512>`.

    A symbol with a `size` is derived: a result's size that no input names
    but the others fix (a convolution's output length over a symbolic input
    length), or a size inside the function that the call must check. Its
    value is the last node of the expression list `size` over the symbols
    before it ([["symbol", 1], ["const", -3], ["addi", 0, 1], ...]), which
    the runtime evaluates at each call and refuses below `min` (an input
    too small for the graph's windows), before anything runs. The importer
    writes such a symbol with an empty `size`, which
    --ube-derive-symbol-sizes computes from the lowered function. Example:
    `#ube.dim<"y.2", size = [["symbol", 0], ["const", 1], ["addi", 0, 1]]>`.
  }];
  let parameters = (ins
    StringRefParameter<"the symbol's name">:$name,
    DefaultValuedParameter<"int64_t", "1", "the smallest size">:$min,
    DefaultValuedParameter<"int64_t", "0", "the largest size; 0: unbounded">:$max,
    DefaultValuedParameter<"int64_t", "1", "sizes are multiples of this">:$multiple_of,
    OptionalParameter<"::mlir::ArrayAttr",
                      "a derived size: an expression list over the symbols before it">:$size
  );
  let assemblyFormat = "`<` $name (`,` struct($min, $max, $multiple_of, $size)^)? `>`";
  let extraClassDeclaration = [{
    /// Whether the call fixes it from the others rather than an input.
    bool isDerived() const { return static_cast<bool>(getSize()); }
  }];
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// Base op classes
//===----------------------------------------------------------------------===//

class Ube_Op<string mnemonic, list<Trait> traits = []>
    : Op<Ube_Dialect, mnemonic, traits>;

#endif // UBE_BASE_TD
