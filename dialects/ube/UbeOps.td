//===- UbeOps.td - ube dialect operations ------------------*- tablegen -*-===//

#ifndef UBE_OPS_TD
#define UBE_OPS_TD

include "dialects/ube/UbeBase.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

defvar Ube_InferTypesDecl = [{
  /// Infers the result types from an adaptor whose attributes are resolved:
  /// present whether they came as properties or as a parsed attr-dict, with
  /// ODS defaults filled in.
  static ::llvm::LogicalResult inferTypes(::mlir::MLIRContext *context,
      std::optional<::mlir::Location> location, Adaptor adaptor,
      ::llvm::SmallVectorImpl<::mlir::Type> &types);
}];

// An op whose result types follow from its operands and attributes. The C++
// `inferTypes` doubles as the op's shape verifier: every shape or dtype
// error is reported from there, at the op's location. `inferDefinition` may
// define `inferTypes` for a whole class of ops.
class Ube_InferredOp<string mnemonic, list<Trait> traits = [],
                     code inferDefinition = "">
    : Ube_Op<mnemonic, traits # [Pure, DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let extraClassDeclaration = Ube_InferTypesDecl;
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::inferReturnTypes(::mlir::MLIRContext *context,
        std::optional<::mlir::Location> location, ::mlir::ValueRange operands,
        ::mlir::DictionaryAttr attributes, ::mlir::OpaqueProperties properties,
        ::mlir::RegionRange regions, ::llvm::SmallVectorImpl<::mlir::Type> &types) {
      auto resolved = resolveProperties<$cppClass>(context, attributes, properties);
      return inferTypes(context, location,
                        Adaptor(operands, attributes, ::mlir::OpaqueProperties(&resolved),
                                regions),
                        types);
    }
  }] # inferDefinition;
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

// Result type = operand type; ODS derives the type inference from the trait.
class Ube_UnaryOp<string mnemonic, Type operandType, list<Trait> traits = []>
    : Ube_Op<mnemonic, traits # [Pure, SameOperandsAndResultType]> {
  let arguments = (ins operandType:$input);
  let results = (outs operandType:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Ube_NegOp : Ube_UnaryOp<"neg", Ube_NumericTensor> {
  let summary = "Elementwise negation";
  let hasFolder = 1;
}
def Ube_AbsOp : Ube_UnaryOp<"abs", Ube_NumericTensor> {
  let summary = "Elementwise absolute value";
}
def Ube_ExpOp : Ube_UnaryOp<"exp", Ube_FloatTensor> {
  let summary = "Elementwise e^x";
}
def Ube_LogOp : Ube_UnaryOp<"log", Ube_FloatTensor> {
  let summary = "Elementwise natural logarithm";
}
def Ube_SqrtOp : Ube_UnaryOp<"sqrt", Ube_FloatTensor> {
  let summary = "Elementwise square root";
}
def Ube_RsqrtOp : Ube_UnaryOp<"rsqrt", Ube_FloatTensor> {
  let summary = "Elementwise reciprocal square root, 1/sqrt(x)";
}
def Ube_TanhOp : Ube_UnaryOp<"tanh", Ube_FloatTensor> {
  let summary = "Elementwise hyperbolic tangent";
}
def Ube_ErfOp : Ube_UnaryOp<"erf", Ube_FloatTensor> {
  let summary = "Elementwise Gauss error function";
}
def Ube_SigmoidOp : Ube_UnaryOp<"sigmoid", Ube_FloatTensor> {
  let summary = "Elementwise logistic function, 1/(1+e^-x)";
}
def Ube_ReluOp : Ube_UnaryOp<"relu", Ube_NumericTensor> {
  let summary = "Elementwise max(x, 0)";
}
def Ube_LogicalNotOp : Ube_UnaryOp<"logical_not", Ube_BoolTensor> {
  let summary = "Elementwise boolean negation";
}

def Ube_SiluOp : Ube_UnaryOp<"silu", Ube_FloatTensor> {
  let summary = "Sigmoid linear unit (swish), x·sigmoid(x)";
}
def Ube_SinOp : Ube_UnaryOp<"sin", Ube_FloatTensor> {
  let summary = "Elementwise sine (radians)";
}
def Ube_CosOp : Ube_UnaryOp<"cos", Ube_FloatTensor> {
  let summary = "Elementwise cosine (radians)";
}

// Transcendental functions without an LLVM intrinsic: polynomial code or
// libm calls on the cpu target, libdevice on cuda.
def Ube_Log1pOp : Ube_UnaryOp<"log1p", Ube_FloatTensor> {
  let summary = "Elementwise log(1 + x), accurate near 0";
}
def Ube_Expm1Op : Ube_UnaryOp<"expm1", Ube_FloatTensor> {
  let summary = "Elementwise exp(x) − 1, accurate near 0";
}
def Ube_TanOp : Ube_UnaryOp<"tan", Ube_FloatTensor> {
  let summary = "Elementwise tangent (radians)";
}
def Ube_AtanOp : Ube_UnaryOp<"atan", Ube_FloatTensor> {
  let summary = "Elementwise arctangent";
}
def Ube_AsinOp : Ube_UnaryOp<"asin", Ube_FloatTensor> {
  let summary = "Elementwise arcsine";
}
def Ube_AcosOp : Ube_UnaryOp<"acos", Ube_FloatTensor> {
  let summary = "Elementwise arccosine";
}
def Ube_SinhOp : Ube_UnaryOp<"sinh", Ube_FloatTensor> {
  let summary = "Elementwise hyperbolic sine";
}
def Ube_CoshOp : Ube_UnaryOp<"cosh", Ube_FloatTensor> {
  let summary = "Elementwise hyperbolic cosine";
}
def Ube_AsinhOp : Ube_UnaryOp<"asinh", Ube_FloatTensor> {
  let summary = "Elementwise inverse hyperbolic sine";
}
def Ube_AcoshOp : Ube_UnaryOp<"acosh", Ube_FloatTensor> {
  let summary = "Elementwise inverse hyperbolic cosine";
}
def Ube_AtanhOp : Ube_UnaryOp<"atanh", Ube_FloatTensor> {
  let summary = "Elementwise inverse hyperbolic tangent";
}

// Rounding: their gradient is zero wherever it exists.
def Ube_FloorOp : Ube_UnaryOp<"floor", Ube_FloatTensor> {
  let summary = "Elementwise largest integer not above x";
}
def Ube_CeilOp : Ube_UnaryOp<"ceil", Ube_FloatTensor> {
  let summary = "Elementwise smallest integer not below x";
}
def Ube_RoundOp : Ube_UnaryOp<"round", Ube_FloatTensor> {
  let summary = "Elementwise nearest integer, halves to even (as torch.round and ONNX Round)";
}
def Ube_TruncOp : Ube_UnaryOp<"trunc", Ube_FloatTensor> {
  let summary = "Elementwise integer part (rounds toward zero)";
}
def Ube_SignOp : Ube_UnaryOp<"sign", Ube_NumericTensor> {
  let summary = "Elementwise -1, 0 or 1 by the sign of x (NaN stays NaN)";
}

def Ube_GeluOp : Ube_UnaryOp<"gelu", Ube_FloatTensor> {
  let summary = "Gaussian error linear unit";
  let description = [{
    `approximate = "none"`: x·Φ(x) with the exact normal CDF (erf).
    `approximate = "tanh"`: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as
    PyTorch's `gelu(approximate="tanh")`.
  }];
  let arguments = (ins Ube_FloatTensor:$input,
                   DefaultValuedStrAttr<Ube_StrEnumAttr<["none", "tanh"]>, "none">:$approximate);
}

// Activations with parameters (convolutional networks' and ONNX's).
def Ube_LeakyReluOp : Ube_UnaryOp<"leaky_relu", Ube_FloatTensor> {
  let summary = "x for x ≥ 0, alpha·x below";
  let arguments = (ins Ube_FloatTensor:$input, DefaultValuedAttr<F64Attr, "0.01">:$alpha);
}
def Ube_EluOp : Ube_UnaryOp<"elu", Ube_FloatTensor> {
  let summary = "Exponential linear unit: scale·x for x > 0, scale·alpha·(e^(x·input_scale) − 1) below";
  let description = [{
    PyTorch's `elu` (alpha, scale, input_scale); SELU is `scale = 1.0507…,
    alpha = 1.6733…`, CELU `input_scale = 1/alpha`.
  }];
  let arguments = (ins Ube_FloatTensor:$input, DefaultValuedAttr<F64Attr, "1.0">:$alpha,
                   DefaultValuedAttr<F64Attr, "1.0">:$scale,
                   DefaultValuedAttr<F64Attr, "1.0">:$input_scale);
}
def Ube_SoftplusOp : Ube_UnaryOp<"softplus", Ube_FloatTensor> {
  let summary = "log(1 + e^(beta·x))/beta, x itself where beta·x > threshold";
  let arguments = (ins Ube_FloatTensor:$input, DefaultValuedAttr<F64Attr, "1.0">:$beta,
                   DefaultValuedAttr<F64Attr, "20.0">:$threshold);
}
def Ube_MishOp : Ube_UnaryOp<"mish", Ube_FloatTensor> {
  let summary = "x·tanh(softplus(x))";
}
def Ube_HardSigmoidOp : Ube_UnaryOp<"hard_sigmoid", Ube_FloatTensor> {
  let summary = "max(0, min(1, alpha·x + beta)); PyTorch's hardsigmoid is alpha = 1/6";
  let arguments = (ins Ube_FloatTensor:$input,
                   DefaultValuedAttr<F64Attr, "0.16666666666666666">:$alpha,
                   DefaultValuedAttr<F64Attr, "0.5">:$beta);
}
def Ube_HardSwishOp : Ube_UnaryOp<"hard_swish", Ube_FloatTensor> {
  let summary = "x·max(0, min(1, x/6 + 1/2)), as MobileNetV3's";
}
def Ube_ClampOp : Ube_UnaryOp<"clamp", Ube_NumericTensor> {
  let summary = "Elementwise min(max(x, min), max); either bound may be absent (relu6: 0, 6)";
  let description = [{
    NaN stays NaN. On integers the bounds are truncated to integers.
  }];
  let arguments = (ins Ube_NumericTensor:$input, OptionalAttr<F64Attr>:$min,
                   OptionalAttr<F64Attr>:$max);
}

class Ube_BinaryOp<string mnemonic, Type operandType, list<Trait> traits = []>
    : Ube_InferredOp<mnemonic, traits, [{
    ::llvm::LogicalResult $cppClass::inferTypes(::mlir::MLIRContext *,
        std::optional<::mlir::Location> loc, Adaptor adaptor,
        ::llvm::SmallVectorImpl<::mlir::Type> &types) {
      return inferBroadcastResult(loc, {adaptor.getLhs(), adaptor.getRhs()},
                                  /*elementType=*/nullptr, types);
    }
  }]> {
  let description = [{
    Elementwise, with numpy broadcasting of the two operands. Both operands
    have the same element type.
  }];
  let arguments = (ins operandType:$lhs, operandType:$rhs);
  let results = (outs operandType:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs)";
}

def Ube_AddOp : Ube_BinaryOp<"add", Ube_NumericTensor, [Commutative]> {
  let summary = "Elementwise addition";
}
def Ube_SubOp : Ube_BinaryOp<"sub", Ube_NumericTensor> {
  let summary = "Elementwise subtraction";
}
def Ube_MulOp : Ube_BinaryOp<"mul", Ube_NumericTensor, [Commutative]> {
  let summary = "Elementwise multiplication";
}
def Ube_DivOp : Ube_BinaryOp<"div", Ube_NumericTensor> {
  let summary = "Elementwise division (integer division truncates toward zero)";
}
def Ube_PowOp : Ube_BinaryOp<"pow", Ube_FloatTensor> {
  let summary = "Elementwise power, lhs^rhs";
}
def Ube_MaximumOp : Ube_BinaryOp<"maximum", Ube_NumericTensor, [Commutative]> {
  let summary = "Elementwise maximum (NaN-propagating)";
}
def Ube_MinimumOp : Ube_BinaryOp<"minimum", Ube_NumericTensor, [Commutative]> {
  let summary = "Elementwise minimum (NaN-propagating)";
}
def Ube_Atan2Op : Ube_BinaryOp<"atan2", Ube_FloatTensor> {
  let summary = "Elementwise angle of the point (rhs, lhs): atan(lhs / rhs) in the right quadrant";
}
def Ube_FmodOp : Ube_BinaryOp<"fmod", Ube_NumericTensor> {
  let summary = "Elementwise remainder of division truncated toward zero (sign of lhs), as C's fmod";
}
def Ube_LogicalAndOp : Ube_BinaryOp<"logical_and", Ube_BoolTensor, [Commutative]> {
  let summary = "Elementwise boolean and";
}
def Ube_LogicalOrOp : Ube_BinaryOp<"logical_or", Ube_BoolTensor, [Commutative]> {
  let summary = "Elementwise boolean or";
}

def Ube_CompareOp : Ube_InferredOp<"compare"> {
  let summary = "Elementwise comparison producing i1";
  let description = [{
    `predicate` is one of `eq`, `ne`, `lt`, `le`, `gt`, `ge`. Operands
    broadcast with numpy rules and share an element type; integers compare as
    signed, floats as ordered comparisons (NaN compares false, except `ne`).
  }];
  let arguments = (ins Ube_Tensor:$lhs, Ube_Tensor:$rhs,
                   Ube_StrEnumAttr<["eq", "ne", "lt", "le", "gt", "ge"]>:$predicate);
  let results = (outs Ube_BoolTensor:$result);
  let assemblyFormat = "$predicate `,` $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs)";
}

def Ube_WhereOp : Ube_InferredOp<"where"> {
  let summary = "Elementwise select: condition ? lhs : rhs";
  let description = [{
    The three operands broadcast together with numpy rules; `lhs` and `rhs`
    share an element type, which is the result's.
  }];
  let arguments = (ins Ube_BoolTensor:$condition, Ube_Tensor:$lhs, Ube_Tensor:$rhs);
  let results = (outs Ube_Tensor:$result);
  let assemblyFormat = [{
    $condition `,` $lhs `,` $rhs attr-dict `:` type($condition) `,` type($lhs) `,` type($rhs)
  }];
}

def Ube_CastOp : Ube_Op<"cast", [Pure, SameOperandsAndResultShape]> {
  let summary = "Elementwise conversion to another element type";
  let description = [{
    Float to integer truncates toward zero; to `i1` is `x != 0`; `i1` to a
    number gives 0 or 1. In graph files the target is the node's `dtype`.
  }];
  let arguments = (ins Ube_Tensor:$input);
  let results = (outs Ube_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Contractions
//===----------------------------------------------------------------------===//

def Ube_MatmulOp : Ube_InferredOp<"matmul"> {
  let summary = "Matrix product with numpy semantics";
  let description = [{
    As `numpy.matmul`: operands of rank ≥ 2 are stacks of matrices whose batch
    dimensions broadcast; a rank-1 `lhs` is a row vector and a rank-1 `rhs` a
    column vector, and the added dimension is removed from the result.
    `transpose_lhs` / `transpose_rhs` swap the last two dimensions of an
    operand of rank ≥ 2 before the product.
  }];
  let arguments = (ins Ube_NumericTensor:$lhs, Ube_NumericTensor:$rhs,
                   DefaultValuedAttr<BoolAttr, "false">:$transpose_lhs,
                   DefaultValuedAttr<BoolAttr, "false">:$transpose_rhs);
  let results = (outs Ube_NumericTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs)";
}

def Ube_LinearOp : Ube_InferredOp<"linear"> {
  let summary = "Affine map x·Wᵀ + b, as torch.nn.functional.linear";
  let description = [{
    `input` is `[..., in]`, `weight` is `[out, in]`, the optional `bias` is
    `[out]`; the result is `[..., out]`.
  }];
  let arguments = (ins Ube_FloatTensor:$input, Ube_FloatTensor:$weight,
                   Optional<Ube_FloatTensor>:$bias);
  let results = (outs Ube_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` type($input) `,` type($weight) (`,` type($bias)^)?
  }];
}

//===----------------------------------------------------------------------===//
// Convolution and pooling
//===----------------------------------------------------------------------===//

defvar Ube_WindowDecl = [{
  /// The op's window: kernel, stride, padding and dilation per spatial
  /// dimension (dialects/ube/UbeWindow.h).
  ::ube::Window window();
}];

def Ube_ConvOp : Ube_InferredOp<"conv"> {
  let summary = "Convolution over 1 to 3 spatial dimensions, channels first";
  let description = [{
    The cross-correlation of torch's `conv1d`/`conv2d`/`conv3d` and ONNX's
    `Conv`: `input` is `[N, C, *S]`, `weight` `[O, C / groups, *K]`, the
    optional `bias` `[O]`; the result is `[N, O, *out]`, with
    `out = ⌊(S + begin + end − dilation·(K − 1) − 1) / stride⌋ + 1`.
    `padding` is `[begin..., end...]` (zeros; asymmetric allowed), `stride`
    and `dilation` one value per spatial dimension (1 when absent).
    `groups` divides `C` and `O`: output channel `o` sees input channels
    of its group only (`groups = C`: depthwise). Spatial sizes are static;
    `N` may be symbolic. Canonicalization folds an input padded with +0
    blocks along spatial axes (`concat` of `broadcast_to` zeros: an
    explicit zero pad) into `padding`.

    ```mlir
    %y = ube.conv %x, %w, %b {stride = array<i64: 2, 2>,
                              padding = array<i64: 3, 3, 3, 3>}
        : tensor<8x3x224x224xf32>, tensor<64x3x7x7xf32>, tensor<64xf32>
    ```
  }];
  let arguments = (ins Ube_FloatTensor:$input, Ube_FloatTensor:$weight,
                   Optional<Ube_FloatTensor>:$bias,
                   OptionalAttr<DenseI64ArrayAttr>:$stride,
                   OptionalAttr<DenseI64ArrayAttr>:$padding,
                   OptionalAttr<DenseI64ArrayAttr>:$dilation,
                   DefaultValuedAttr<Ube_I64Attr, "1">:$groups);
  let results = (outs Ube_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` type($input) `,` type($weight) (`,` type($bias)^)?
  }];
  let extraClassDeclaration = !strconcat(Ube_InferTypesDecl, Ube_WindowDecl);
  let hasCanonicalizer = 1;
}

def Ube_Im2colOp : Ube_InferredOp<"im2col"> {
  let summary = "The taps of a window over each channel's flattened plane";
  let description = [{
    `input` is `[B, C, H, W]` (already padded); the result is
    `[B, C · KH · KW, length]` with

        result[b, c · KH · KW + kh · KW + kw, j]
          = input[b, c] flattened to H · W, at
            sh · (j / Q) · W + sw · (j mod Q) + kh · dh · W + kw · dw

    for the `kernel` `[KH, KW]`, `dilation` `[dh, dw]` and `stride`
    `[sh, sw]` (default 1), and `Q` output positions per row (`columns`,
    default `W`). Position `j` is output row `j / Q` and column `j mod Q`.

    With stride 1 and the default `columns`, `j = oh · W + ow` covers the
    plane's whole width (the columns past the window's last fit are
    wrapped-around values the convolution crops), and every row of the
    result is one contiguous run of the input, `j + offset`: the cpu matmul
    kernels pack their panels straight from the input (implicit im2col)
    rather than from a materialized patch matrix. A strided window takes
    `columns` = the output width, and its panels gather their columns.
    Every position read must lie in the plane.

    With `batch_columns`, the images' positions lie side by side instead:
    the result is `[1, C · KH · KW, B · length]`, column `b · length + j`
    being image `b`'s position `j` (`?` where `B` or `length` is
    symbolic). A small plane's positions fill only part of a panel; the
    batch's together fill them (a 4 × 4 output is 16 columns of a 32-wide
    panel, 8 images are 4 panels), and a weight gradient's product sums
    over every image's positions in one matrix. Its panels gather their
    columns.

    Without `length` (and then without `columns`), the result covers the
    window's output positions, `Q` = OW per row and `length` = OH · OW,
    with OH and OW counted from the input's size: at run time where its
    height or width is symbolic (the result's last dimension is then `?`).
    A convolution over planes of any size takes this form; its panels
    gather their columns.
  }];
  let arguments = (ins Ube_FloatTensor:$input, DenseI64ArrayAttr:$kernel,
                   OptionalAttr<DenseI64ArrayAttr>:$dilation,
                   OptionalAttr<DenseI64ArrayAttr>:$stride,
                   OptionalAttr<Ube_I64Attr>:$columns, OptionalAttr<Ube_I64Attr>:$length,
                   UnitAttr:$batch_columns);
  let results = (outs Ube_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let extraClassDeclaration = Ube_InferTypesDecl # [{
    /// [dh, dw]: `dilation`, or 1 where absent.
    std::array<int64_t, 2> dilations();
    /// [sh, sw]: `stride`, or 1 where absent.
    std::array<int64_t, 2> strides();
    /// Output positions per row: `columns`, the plane's width, or without
    /// `length` the output's width (symbolic when the plane's width is).
    int64_t rowLength();
    /// The window the op slides over its (padded) input: no padding.
    Window window();
    /// Output positions per row and in all, as index values (counted from
    /// the input's size at run time on symbolic planes).
    mlir::Value rowLength(mlir::OpBuilder &b, mlir::Location loc);
    mlir::Value positions(mlir::OpBuilder &b, mlir::Location loc);
    /// Whether every row of the result is a contiguous run of the plane
    /// (stride 1, positions over the whole width, one image per matrix).
    bool isContiguous();
    /// The images whose positions share one matrix's columns: the batch
    /// with `batch_columns` (read at run time when symbolic), otherwise 1.
    mlir::Value imagesPerMatrix(mlir::OpBuilder &b, mlir::Location loc);
    /// The flat offset of tap `t` (row-major over the kernel) in a plane
    /// of `width` columns.
    mlir::Value tapOffset(mlir::OpBuilder &b, mlir::Location loc, mlir::Value t,
                          mlir::Value width);
  }];
}

class Ube_PoolOp<string mnemonic> : Ube_InferredOp<mnemonic> {
  let results = (outs Ube_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let extraClassDeclaration = !strconcat(Ube_InferTypesDecl, Ube_WindowDecl);
}

def Ube_MaxPoolOp : Ube_PoolOp<"max_pool"> {
  let summary = "Maximum over sliding windows, 1 to 3 spatial dimensions";
  let description = [{
    `input` is `[N, C, *S]`; each output element is the maximum of a
    `kernel` window (strided, dilated) of its channel. Padding
    (`[begin..., end...]`) never wins: it is −∞. `ceil_mode` adds a last,
    partial window where one starts inside the input or its leading
    padding, as PyTorch and ONNX do. Spatial sizes are static.
  }];
  let arguments = (ins Ube_FloatTensor:$input, DenseI64ArrayAttr:$kernel,
                   OptionalAttr<DenseI64ArrayAttr>:$stride,
                   OptionalAttr<DenseI64ArrayAttr>:$padding,
                   OptionalAttr<DenseI64ArrayAttr>:$dilation,
                   DefaultValuedAttr<BoolAttr, "false">:$ceil_mode);
}

def Ube_AvgPoolOp : Ube_PoolOp<"avg_pool"> {
  let summary = "Mean over sliding windows, 1 to 3 spatial dimensions";
  let description = [{
    `input` is `[N, C, *S]`; each output element is the mean of a `kernel`
    window of its channel. With `count_include_pad`, the divisor counts the
    window's taps on the zero padding too (not those of a ceil-mode window
    past the padding); without it, only taps on input elements (a window
    wholly in the padding gives NaN). `stride`, `padding`, `dilation` and
    `ceil_mode` as in `ube.max_pool`. Spatial sizes are static.
  }];
  let arguments = (ins Ube_FloatTensor:$input, DenseI64ArrayAttr:$kernel,
                   OptionalAttr<DenseI64ArrayAttr>:$stride,
                   OptionalAttr<DenseI64ArrayAttr>:$padding,
                   OptionalAttr<DenseI64ArrayAttr>:$dilation,
                   DefaultValuedAttr<BoolAttr, "false">:$ceil_mode,
                   DefaultValuedAttr<BoolAttr, "false">:$count_include_pad);
}

// Gradients of the window ops, as autodiff writes them and as PyTorch's
// backward graphs hold them (convolution_backward, *_pool*_backward);
// --ube-decompose expands them into ube.conv and data movement.

def Ube_ConvInputGradOp : Ube_InferredOp<"conv_input_grad"> {
  let summary = "Gradient of ube.conv's input";
  let description = [{
    `grad` is the gradient of a `ube.conv` result `[N, O, *out]`, `weight`
    its weight `[O, C / groups, *K]`; the result is the gradient of its
    input `[N, C, *input_spatial]`. The window attributes are the
    convolution's. An `input_spatial` size of -1 is known at run time: the
    next of `input_sizes` (a convolution over planes of any size, whose
    strided output does not fix its input's size).
  }];
  let arguments = (ins Ube_FloatTensor:$grad, Ube_FloatTensor:$weight,
                   DenseI64ArrayAttr:$input_spatial,
                   OptionalAttr<DenseI64ArrayAttr>:$stride,
                   OptionalAttr<DenseI64ArrayAttr>:$padding,
                   OptionalAttr<DenseI64ArrayAttr>:$dilation,
                   DefaultValuedAttr<Ube_I64Attr, "1">:$groups,
                   Variadic<Index>:$input_sizes);
  let results = (outs Ube_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $weight (` ` `[` $input_sizes^ `]`)? attr-dict `:` "
                       "type($grad) `,` type($weight)";
  let extraClassDeclaration = !strconcat(Ube_InferTypesDecl, Ube_WindowDecl);
}

def Ube_ConvWeightGradOp : Ube_InferredOp<"conv_weight_grad"> {
  let summary = "Gradient of ube.conv's weight";
  let description = [{
    `input` is a `ube.conv` input `[N, C, *S]`, `grad` the gradient of its
    result `[N, O, *out]`; the result is the gradient of its weight
    `[O, C / groups, *kernel]`.
  }];
  let arguments = (ins Ube_FloatTensor:$input, Ube_FloatTensor:$grad,
                   DenseI64ArrayAttr:$kernel,
                   OptionalAttr<DenseI64ArrayAttr>:$stride,
                   OptionalAttr<DenseI64ArrayAttr>:$padding,
                   OptionalAttr<DenseI64ArrayAttr>:$dilation,
                   DefaultValuedAttr<Ube_I64Attr, "1">:$groups);
  let results = (outs Ube_FloatTensor:$result);
  let assemblyFormat = "$input `,` $grad attr-dict `:` type($input) `,` type($grad)";
  let extraClassDeclaration = !strconcat(Ube_InferTypesDecl, Ube_WindowDecl) # [{
    /// Whether the convolution is depthwise: one input and one output
    /// channel per group.
    bool isDepthwise();
  }];
}

def Ube_AvgPoolGradOp : Ube_InferredOp<"avg_pool_grad"> {
  let summary = "Gradient of ube.avg_pool's input";
  let description = [{
    `grad` is the gradient of a `ube.avg_pool` result `[N, C, *out]`; the
    result is the gradient of its input `[N, C, *input_spatial]`. The other
    attributes are the pooling's. An `input_spatial` size of -1 is known at
    run time: the next of `input_sizes`.
  }];
  let arguments = (ins Ube_FloatTensor:$grad, DenseI64ArrayAttr:$input_spatial,
                   DenseI64ArrayAttr:$kernel,
                   OptionalAttr<DenseI64ArrayAttr>:$stride,
                   OptionalAttr<DenseI64ArrayAttr>:$padding,
                   OptionalAttr<DenseI64ArrayAttr>:$dilation,
                   DefaultValuedAttr<BoolAttr, "false">:$ceil_mode,
                   DefaultValuedAttr<BoolAttr, "false">:$count_include_pad,
                   Variadic<Index>:$input_sizes);
  let results = (outs Ube_FloatTensor:$result);
  let assemblyFormat = "$grad (` ` `[` $input_sizes^ `]`)? attr-dict `:` type($grad)";
  let extraClassDeclaration = !strconcat(Ube_InferTypesDecl, Ube_WindowDecl);
}

def Ube_MaxPoolGradOp : Ube_InferredOp<"max_pool_grad"> {
  let summary = "Gradient of ube.max_pool's input";
  let description = [{
    `input` is a `ube.max_pool` input `[N, C, *S]`, `grad` the gradient of
    its result; each window's gradient goes to the window's first maximum
    (row-major), as PyTorch's does. The attributes are the pooling's.
  }];
  let arguments = (ins Ube_FloatTensor:$input, Ube_FloatTensor:$grad,
                   DenseI64ArrayAttr:$kernel,
                   OptionalAttr<DenseI64ArrayAttr>:$stride,
                   OptionalAttr<DenseI64ArrayAttr>:$padding,
                   OptionalAttr<DenseI64ArrayAttr>:$dilation,
                   DefaultValuedAttr<BoolAttr, "false">:$ceil_mode);
  let results = (outs Ube_FloatTensor:$result);
  let assemblyFormat = "$input `,` $grad attr-dict `:` type($input) `,` type($grad)";
  let extraClassDeclaration = !strconcat(Ube_InferTypesDecl, Ube_WindowDecl);
}

def Ube_MaxPoolIndicesOp : Ube_InferredOp<"max_pool_indices"> {
  let summary = "Where ube.max_pool's maxima are, as PyTorch's max_pool indices";
  let description = [{
    For each output element of the `ube.max_pool` with the same attributes,
    the flat index of its window's first maximum within the channel's
    (unpadded) spatial plane: `h·W + w` in 2-D. i64, the pooling's shape.
  }];
  let arguments = (ins Ube_FloatTensor:$input, DenseI64ArrayAttr:$kernel,
                   OptionalAttr<DenseI64ArrayAttr>:$stride,
                   OptionalAttr<DenseI64ArrayAttr>:$padding,
                   OptionalAttr<DenseI64ArrayAttr>:$dilation,
                   DefaultValuedAttr<BoolAttr, "false">:$ceil_mode);
  let results = (outs RankedTensorOf<[I64]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let extraClassDeclaration = !strconcat(Ube_InferTypesDecl, Ube_WindowDecl);
}

def Ube_ScaledDotProductAttentionOp : Ube_InferredOp<"scaled_dot_product_attention",
    [AttrSizedOperandSegments]> {
  let summary = "softmax(q·kᵀ·scale + mask)·v, as torch's scaled_dot_product_attention";
  let description = [{
    `query` is `[..., Hq, L, E]`, `key` `[..., Hk, S, E]`, `value`
    `[..., Hk, S, Ev]`; the result is `[..., Hq, L, Ev]`. Leading batch
    dimensions broadcast (numpy rules). When `Hk` divides `Hq` and differs
    from it, query heads share keys and values in groups (grouped-query
    attention, PyTorch's `enable_gqa`): query head `h` attends with key and
    value head `h / (Hq / Hk)`.

    `scale` defaults to `1/sqrt(E)`. The optional `mask` broadcasts to
    `[..., Hq, L, S]`: a boolean mask keeps the scores where it is true, a
    float mask (the query's element type) is added to them. `is_causal`
    keeps query `i` to keys `j <= i` (the top-left-aligned lower triangle).
    A query row left with no key (every score masked or -inf) gives zeros,
    as PyTorch does, never NaN. f16 and bf16 operands are computed in f32
    and the result rounded once.

    `dropout_p > 0` drops attention probabilities as `ube.dropout` of the
    `[..., Hq, L, S]` probabilities would (the same `seed`, `step` and
    element indices), before they weight the values: the normalizing sums
    count every key. A training step gives `step` to an op without one.
  }];
  let arguments = (ins Ube_FloatTensor:$query, Ube_FloatTensor:$key, Ube_FloatTensor:$value,
                   Optional<Ube_Tensor>:$mask, Optional<Ube_StepScalar>:$step,
                   DefaultValuedAttr<BoolAttr, "false">:$is_causal,
                   OptionalAttr<F64Attr>:$scale,
                   DefaultValuedAttr<F64Attr, "0.0">:$dropout_p,
                   DefaultValuedAttr<Ube_I64Attr, "0">:$seed);
  let results = (outs Ube_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`,` $mask^)? (`step` $step^)? attr-dict `:` type($query) `,`
    type($key) `,` type($value) (`,` type($mask)^)?
  }];
  let extraClassDeclaration = Ube_InferTypesDecl # [{
    /// The scale of the scores: `scale`, or 1/sqrt(E).
    double getScaleOrDefault();
  }];
}

def Ube_ScaledDotProductAttentionGradOp
    : Ube_InferredOp<"scaled_dot_product_attention_grad",
                     [AllTypesMatch<["output", "grad"]>, AttrSizedOperandSegments]> {
  let summary = "Gradient of `scaled_dot_product_attention` for q, k and v";
  let description = [{
    The vector-Jacobian product of `ube.scaled_dot_product_attention` with
    the same `query`, `key`, `value`, `mask`, `step`, `is_causal`, `scale`,
    `dropout_p` and `seed`, for `grad`, the gradient of its result `output`
    (which the forward computed; its rows give `rowsum(grad ⊙ output)`).
    With `P` the probabilities, `Z` the dropout's mask over `1 - dropout_p`
    (all ones without dropout) and `S` the scaled scores:
    `d_value = (P ⊙ Z)ᵀ·grad`,
    `dS = P ⊙ (Z ⊙ grad·vᵀ − rowsum(grad ⊙ output))`, `d_query = scale·dS·k`,
    `d_key = scale·dSᵀ·q`, each summed over what was broadcast (batch
    dimensions, the query heads of a key head). Rows without keys have
    zero gradients. A float mask's gradient (`dS`) is not a result: the
    gradient rule computes it apart when the mask needs one.
  }];
  let arguments = (ins Ube_FloatTensor:$query, Ube_FloatTensor:$key, Ube_FloatTensor:$value,
                   Optional<Ube_Tensor>:$mask, Ube_FloatTensor:$output, Ube_FloatTensor:$grad,
                   Optional<Ube_StepScalar>:$step,
                   DefaultValuedAttr<BoolAttr, "false">:$is_causal,
                   OptionalAttr<F64Attr>:$scale,
                   DefaultValuedAttr<F64Attr, "0.0">:$dropout_p,
                   DefaultValuedAttr<Ube_I64Attr, "0">:$seed);
  let results = (outs Ube_FloatTensor:$d_query, Ube_FloatTensor:$d_key,
                 Ube_FloatTensor:$d_value);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`mask` $mask^)? `output` $output `grad` $grad
    (`step` $step^)? attr-dict `:` type($query) `,` type($key) `,` type($value) `,`
    type($output) (`,` type($mask)^)?
  }];
  let extraClassDeclaration = Ube_InferTypesDecl # [{
    /// The scale of the scores: `scale`, or 1/sqrt(E).
    double getScaleOrDefault();
  }];
}

//===----------------------------------------------------------------------===//
// Normalization and reductions
//===----------------------------------------------------------------------===//

class Ube_SoftmaxLikeOp<string mnemonic> : Ube_InferredOp<mnemonic> {
  let arguments = (ins Ube_FloatTensor:$input, DefaultValuedAttr<Ube_I64Attr, "-1">:$axis);
  let results = (outs Ube_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Ube_SoftmaxOp : Ube_SoftmaxLikeOp<"softmax"> {
  let summary = "exp(x) / sum(exp(x)) along `axis`";
}
def Ube_LogSoftmaxOp : Ube_SoftmaxLikeOp<"log_softmax"> {
  let summary = "x - log(sum(exp(x))) along `axis`";
}

def Ube_LayerNormOp : Ube_InferredOp<"layer_norm"> {
  let summary = "Layer normalization over the trailing dimensions from `axis`";
  let description = [{
    Normalizes over dimensions `[axis, rank)` with the biased variance:
    `(x − mean) / sqrt(var + epsilon)`. The optional `affine` operands are
    `weight`, or `weight` then `bias`, each shaped like the normalized
    dimensions: the result is multiplied by `weight` and `bias` is added.
  }];
  let arguments = (ins Ube_FloatTensor:$input,
                   Variadic<Ube_FloatTensor>:$affine,
                   DefaultValuedAttr<Ube_I64Attr, "-1">:$axis,
                   DefaultValuedAttr<F64Attr, "1e-5">:$epsilon);
  let results = (outs Ube_FloatTensor:$result);
  let assemblyFormat = [{
    $input (`,` $affine^)? attr-dict `:` type($input) (`,` type($affine)^)?
  }];
  let extraClassDeclaration = Ube_InferTypesDecl # [{
    ::mlir::Value getWeight() { return getAffine().empty() ? nullptr : getAffine()[0]; }
    ::mlir::Value getBias() { return getAffine().size() < 2 ? nullptr : getAffine()[1]; }
  }];
}

def Ube_RmsNormOp : Ube_InferredOp<"rms_norm"> {
  let summary = "Root-mean-square normalization over the trailing dimensions from `axis`";
  let description = [{
    `x / sqrt(mean(x²) + epsilon)` over dimensions `[axis, rank)`, times the
    optional `weight` (shaped like the normalized dimensions), as
    `torch.nn.functional.rms_norm`, Llama's and T5's RMSNorm and ONNX
    `RMSNormalization`.
  }];
  let arguments = (ins Ube_FloatTensor:$input,
                   Optional<Ube_FloatTensor>:$weight,
                   DefaultValuedAttr<Ube_I64Attr, "-1">:$axis,
                   DefaultValuedAttr<F64Attr, "1e-6">:$epsilon);
  let results = (outs Ube_FloatTensor:$result);
  let assemblyFormat = [{
    $input (`,` $weight^)? attr-dict `:` type($input) (`,` type($weight)^)?
  }];
}

class Ube_ReduceOp<string mnemonic, Type operandType>
    : Ube_InferredOp<mnemonic, [], [{
    ::llvm::LogicalResult $cppClass::inferTypes(::mlir::MLIRContext *,
        std::optional<::mlir::Location> loc, Adaptor adaptor,
        ::llvm::SmallVectorImpl<::mlir::Type> &types) {
      return inferReductionResult(loc, adaptor.getInput(), adaptor.getAxes(),
                                  adaptor.getKeepdims(), types);
    }
  }]> {
  let description = [{
    Reduces over `axes` (all dimensions when empty). With `keepdims`, reduced
    dimensions stay with size 1.
  }];
  let arguments = (ins operandType:$input,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{}">:$axes,
                   DefaultValuedAttr<BoolAttr, "false">:$keepdims);
  let results = (outs operandType:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Ube_ReduceSumOp : Ube_ReduceOp<"reduce_sum", Ube_NumericTensor> {
  let summary = "Sum over axes";
}
def Ube_ReduceMeanOp : Ube_ReduceOp<"reduce_mean", Ube_FloatTensor> {
  let summary = "Arithmetic mean over axes";
}
def Ube_ReduceMaxOp : Ube_ReduceOp<"reduce_max", Ube_NumericTensor> {
  let summary = "Maximum over axes";
}
def Ube_ReduceMinOp : Ube_ReduceOp<"reduce_min", Ube_NumericTensor> {
  let summary = "Minimum over axes";
}

class Ube_ArgReduceOp<string mnemonic> : Ube_InferredOp<mnemonic, [], [{
    ::llvm::LogicalResult $cppClass::inferTypes(::mlir::MLIRContext *context,
        std::optional<::mlir::Location> loc, Adaptor adaptor,
        ::llvm::SmallVectorImpl<::mlir::Type> &types) {
      return inferArgReductionResult(loc, adaptor.getInput(), adaptor.getAxis(),
                                     adaptor.getKeepdims(), types);
    }
  }]> {
  let description = [{
    The i64 position along `axis` of each lane's extreme element: the first
    one, or the last with `select_last_index`. NaN counts as the extreme (as
    PyTorch's). With `keepdims` the axis stays with size 1.
  }];
  let arguments = (ins Ube_NumericTensor:$input, Ube_I64Attr:$axis,
                   DefaultValuedAttr<BoolAttr, "false">:$keepdims,
                   DefaultValuedAttr<BoolAttr, "false">:$select_last_index);
  let results = (outs RankedTensorOf<[I64]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}
def Ube_ArgmaxOp : Ube_ArgReduceOp<"argmax"> {
  let summary = "Index of the maximum along an axis";
}
def Ube_ArgminOp : Ube_ArgReduceOp<"argmin"> {
  let summary = "Index of the minimum along an axis";
}

def Ube_TopkOp : Ube_InferredOp<"topk", [], [{
    ::llvm::LogicalResult $cppClass::inferTypes(::mlir::MLIRContext *context,
        std::optional<::mlir::Location> loc, Adaptor adaptor,
        ::llvm::SmallVectorImpl<::mlir::Type> &types) {
      return inferTopkResult(loc, adaptor.getInput(), adaptor.getK(), adaptor.getAxis(), types);
    }
  }]> {
  let summary = "Positions of the k largest (or smallest) elements along an axis, in order";
  let description = [{
    The i64 positions, along `axis`, of the k largest elements of each lane
    (the smallest with `largest = false`), the most extreme first; the
    values are the input gathered at them (the frontends take them so).
    Equal elements keep their order (the lower position first), and NaN
    counts as larger than every number, as in PyTorch. With k the axis's
    size this is a stable argsort. Each lane's order comes from comparing
    every pair of its elements: n² compares for an axis of n, on every
    target.
  }];
  let arguments = (ins Ube_NumericTensor:$input, Ube_I64Attr:$k,
                   DefaultValuedAttr<Ube_I64Attr, "-1">:$axis,
                   DefaultValuedAttr<BoolAttr, "true">:$largest);
  let results = (outs RankedTensorOf<[I64]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Ube_CumsumOp : Ube_InferredOp<"cumsum", [], [{
    ::llvm::LogicalResult $cppClass::inferTypes(::mlir::MLIRContext *,
        std::optional<::mlir::Location> loc, Adaptor adaptor,
        ::llvm::SmallVectorImpl<::mlir::Type> &types) {
      auto type = rankedType(loc, adaptor.getInput(), "input");
      if (failed(type) || failed(normalizeAxis(loc, adaptor.getAxis(), type->getRank())))
        return ::mlir::failure();
      types.push_back(*type);
      return ::mlir::success();
    }
  }]> {
  let summary = "Running sum along an axis";
  let description = [{
    `result[..., i, ...]` is the sum of `input[..., j, ...]` over j ≤ i; with
    `exclusive` over j < i; with `reverse` over j ≥ i (j > i). Floats
    accumulate in f32 at least (f64 in f64), as the reductions do.
  }];
  let arguments = (ins Ube_NumericTensor:$input, Ube_I64Attr:$axis,
                   DefaultValuedAttr<BoolAttr, "false">:$exclusive,
                   DefaultValuedAttr<BoolAttr, "false">:$reverse);
  let results = (outs Ube_NumericTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

def Ube_TransposeOp : Ube_InferredOp<"transpose"> {
  let summary = "Permutes dimensions: result dim i is input dim perm[i]";
  let arguments = (ins Ube_Tensor:$input, DenseI64ArrayAttr:$perm);
  let results = (outs Ube_Tensor:$result);
  let assemblyFormat = "$input `,` $perm attr-dict `:` type($input)";
  let hasFolder = 1;
}

def Ube_ReshapeOp : Ube_Op<"reshape", [Pure]> {
  let summary = "Reinterprets the elements, in row-major order, with a new shape";
  let description = [{
    The result shape is the result type; in graph files it is the node's
    `shape`. The element count is unchanged. A symbolic (`?`) result size
    is the matching one of `sizes` (one index per `?`, in order; in graph
    files a symbol in the node's `shape`), or, without `sizes`, follows
    from the input's when the reshape is one collapse or one expansion of
    dimensions (`[?, 16, 4]` to `[?, 64]`).

    ```mlir
    %0 = ube.reshape %x [%batch, %seq] : tensor<?x384xf32> to tensor<?x?x12x32xf32>
    ```
  }];
  let arguments = (ins Ube_Tensor:$input, Variadic<Index>:$sizes);
  let results = (outs Ube_Tensor:$result);
  let assemblyFormat =
      "$input (` ` `[` $sizes^ `]`)? attr-dict `:` type($input) `to` type($result)";
  let builders = [
    OpBuilder<(ins "::mlir::Type":$type, "::mlir::Value":$input), [{
      build($_builder, $_state, type, input, ::mlir::ValueRange{});
    }]>
  ];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Ube_BroadcastToOp : Ube_Op<"broadcast_to", [Pure]> {
  let summary = "Broadcasts to a shape with numpy rules";
  let description = [{
    The target shape is the result type; in graph files it is the node's
    `shape`. The input's dimensions align with the trailing result dimensions
    and are either equal to them or 1. A symbolic (`?`) result size is the
    matching one of `sizes` (one index per `?`, in order; in graph files a
    symbol in the node's `shape`), or, without `sizes`, the input's.
  }];
  let arguments = (ins Ube_Tensor:$input, Variadic<Index>:$sizes);
  let results = (outs Ube_Tensor:$result);
  let assemblyFormat =
      "$input (` ` `[` $sizes^ `]`)? attr-dict `:` type($input) `to` type($result)";
  let builders = [
    OpBuilder<(ins "::mlir::Type":$type, "::mlir::Value":$input), [{
      build($_builder, $_state, type, input, ::mlir::ValueRange{});
    }]>
  ];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Ube_ArangeOp : Ube_Op<"arange", [Pure]> {
  let summary = "`start + step·i` for i = 0, 1, … along a rank-1 result";
  let description = [{
    The result's length is its type's; in graph files the node's `shape`
    (and `dtype`). A symbolic (`?`) length is `sizes` (one index; in graph
    files a symbol in the node's `shape`): the positions of a batch or a
    sequence of any length. Integer results take integral `start` and
    `step`.

    ```mlir
    %0 = ube.arange [%seq] : tensor<?xi64>
    ```
  }];
  let arguments = (ins DefaultValuedAttr<F64Attr, "0.0">:$start,
                   DefaultValuedAttr<F64Attr, "1.0">:$step, Variadic<Index>:$sizes);
  let results = (outs Ube_Tensor:$result);
  let assemblyFormat = "(`[` $sizes^ `]`)? attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Ube_ConcatOp : Ube_InferredOp<"concat"> {
  let summary = "Joins tensors along `axis`";
  let arguments = (ins Variadic<Ube_Tensor>:$inputs, DefaultValuedAttr<Ube_I64Attr, "0">:$axis);
  let results = (outs Ube_Tensor:$result);
  let assemblyFormat = "$inputs attr-dict `:` type($inputs)";
  let hasFolder = 1;
}

def Ube_SliceOp : Ube_InferredOp<"slice"> {
  let summary = "Strided slice of every dimension";
  let description = [{
    For each dimension d, takes indices `start[d], start[d] + stride[d], …`
    below `limit[d]`, with `0 ≤ start ≤ limit ≤ size` and `stride ≥ 1`
    (frontends normalize negative and clamped indices). A limit of -1 is
    the next of `limits`, known at run time (a symbolic size: the first
    `seq` rows of a position table), and the result's size there is `?`;
    a runtime limit past the dimension's size takes the whole dimension. A
    symbolic (`?`) dimension is sliced with a runtime limit only.

    ```mlir
    %0 = ube.slice %table [%seq] {start = array<i64: 0, 0>, limit = array<i64: 1, -1>,
                                  stride = array<i64: 1, 1>} : tensor<1x512xi64>
    ```
  }];
  let arguments = (ins Ube_Tensor:$input, DenseI64ArrayAttr:$start,
                   DenseI64ArrayAttr:$limit, DenseI64ArrayAttr:$stride,
                   Variadic<Index>:$limits);
  let results = (outs Ube_Tensor:$result);
  let assemblyFormat = "$input (` ` `[` $limits^ `]`)? attr-dict `:` type($input)";
  let builders = [
    OpBuilder<(ins "::mlir::Value":$input, "::llvm::ArrayRef<int64_t>":$start,
                   "::llvm::ArrayRef<int64_t>":$limit, "::llvm::ArrayRef<int64_t>":$stride), [{
      build($_builder, $_state, input, start, limit, stride, ::mlir::ValueRange{});
    }]>
  ];
  let hasFolder = 1;
}

def Ube_PadOp : Ube_InferredOp<"pad", [AttrSizedOperandSegments]> {
  let summary = "Pads each dimension with a constant, or crops it by negative amounts";
  let description = [{
    Dimension d gains `low[d]` elements of `value` before its first and
    `high[d]` after its last; a negative amount removes that many elements
    instead (torch's `constant_pad_nd`, ONNX `Pad`). An amount may be known
    only at run time: a `?` in the list, the next of `low_amounts` or
    `high_amounts`, and the result's size there is `?`. It serves
    TensorFlow-style "same" padding, whose amounts depend on the input's size
    (`max(0, 3 - len % 2)`). The verifier refuses a known result size below
    0; a call whose runtime amounts make one below 1 is refused before
    anything runs (the derived sizes' check).

    ```mlir
    %0 = ube.pad %x low[0, 0, %top, 0] high[0, 0, %bottom, 1] : tensor<1x8x?x?xf32>
    ```
  }];
  let arguments = (ins Ube_Tensor:$input, Variadic<Index>:$low_amounts,
                   Variadic<Index>:$high_amounts, DenseI64ArrayAttr:$low,
                   DenseI64ArrayAttr:$high, DefaultValuedAttr<F64Attr, "0.0">:$value);
  let results = (outs Ube_Tensor:$result);
  let assemblyFormat = [{
    $input `low` `` custom<DynamicIndexList>($low_amounts, $low)
    `high` `` custom<DynamicIndexList>($high_amounts, $high) attr-dict `:` type($input)
  }];
  let hasFolder = 1;
}

def Ube_GatherOp : Ube_InferredOp<"gather"> {
  let summary = "Takes slices of `input` at `indices` along `axis` (numpy.take)";
  let description = [{
    The result shape is `input.shape[:axis] + indices.shape +
    input.shape[axis+1:]`; an embedding lookup is `gather(table, ids)` with
    `axis = 0`. Indices must lie in `[0, input.shape[axis])`.
  }];
  let arguments = (ins Ube_Tensor:$input, Ube_IndexTensor:$indices,
                   DefaultValuedAttr<Ube_I64Attr, "0">:$axis);
  let results = (outs Ube_Tensor:$result);
  let assemblyFormat = "$input `,` $indices attr-dict `:` type($input) `,` type($indices)";
}

def Ube_ScatterAddOp : Ube_Op<"scatter_add", [Pure]> {
  let summary = "Adds rows of `updates` at `indices` into zeros (the gradient of gather)";
  let description = [{
    `updates` is `[P, d1, ...]`, `indices` is `[P]`, the result
    `[V, d1, ...]`: zeros, then `result[indices[p]] += updates[p]` for each
    p in order (rows with the same index add up). Indices are clamped into
    `[0, V)`, as `gather` reads them. One pass over `updates`, where a
    one-hot product would cost P·V per element of a row. A symbolic V (the
    gradient of a gather along a dimension of a batch of any length) is
    `rows`.
  }];
  let arguments = (ins Ube_FloatTensor:$updates, Ube_IndexTensor:$indices,
                   Optional<Index>:$rows);
  let results = (outs Ube_FloatTensor:$result);
  let assemblyFormat = [{
    $updates `,` $indices (`rows` $rows^)? attr-dict `:` type($updates) `,` type($indices)
    `to` type($result)
  }];
  let builders = [
    OpBuilder<(ins "::mlir::Type":$type, "::mlir::Value":$updates, "::mlir::Value":$indices), [{
      build($_builder, $_state, type, updates, indices, ::mlir::Value());
    }]>
  ];
  let hasVerifier = 1;
}

def Ube_ConstantOp : Ube_Op<"constant", [ConstantLike, Pure,
    AllTypesMatch<["value", "result"]>]> {
  let summary = "A constant tensor";
  let description = [{
    Small literals are `dense<...>`; model parameters imported from a graph
    file are `dense_resource<name>` blobs keyed by the parameter's name.
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Ube_Tensor:$result);
  let assemblyFormat = "attr-dict $value";
  let hasFolder = 1;
}

def Ube_DropoutOp : Ube_InferredOp<"dropout"> {
  let summary = "Seeded, counter-based dropout";
  let description = [{
    Zeroes each element with probability `rate` and scales the rest by
    `1/(1-rate)`. The keep mask is a pure function of (`seed`, `step`, element
    index) through Philox-4x32, so it is reproducible and target-independent.
    Without `step` the step is 0 (a training step gives its own step to the
    dropouts that have none). `rate = 0` is the identity.

    The element index is the row-major index in the input, or, with
    `counter_shape` and `counter_offset`, in a tensor of `counter_shape`
    of which the input is the block at `counter_offset`: a block of a
    larger tensor gets that tensor's mask (flash attention's blocks). A
    symbolic size in `counter_shape` is the input's own (offset 0).
  }];
  let arguments = (ins Ube_FloatTensor:$input, Optional<Ube_StepScalar>:$step,
                   F64Attr:$rate, DefaultValuedAttr<Ube_I64Attr, "0">:$seed,
                   OptionalAttr<DenseI64ArrayAttr>:$counter_shape,
                   OptionalAttr<DenseI64ArrayAttr>:$counter_offset);
  let results = (outs Ube_FloatTensor:$result);
  let assemblyFormat = "$input (`step` $step^)? attr-dict `:` type($input)";
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

def Ube_CrossEntropyOp : Ube_InferredOp<"cross_entropy"> {
  let summary = "Softmax cross-entropy with integer class labels";
  let description = [{
    `logits` is `[..., C]` (classes last), `labels` is `[...]`. Rows whose
    label equals `ignore_index` contribute nothing; `mean` divides by the
    number of remaining rows (0 when none remain), `sum` adds them, `none`
    returns the per-row losses (0 for ignored rows).
  }];
  let arguments = (ins Ube_FloatTensor:$logits, Ube_IndexTensor:$labels,
                   DefaultValuedAttr<Ube_I64Attr, "-100">:$ignore_index,
                   DefaultValuedStrAttr<Ube_ReductionAttr, "mean">:$reduction);
  let results = (outs Ube_FloatTensor:$result);
  let assemblyFormat = "$logits `,` $labels attr-dict `:` type($logits) `,` type($labels)";
}

def Ube_MseLossOp : Ube_InferredOp<"mse_loss"> {
  let summary = "Squared error (input − target)², reduced";
  let arguments = (ins Ube_FloatTensor:$input, Ube_FloatTensor:$target,
                   DefaultValuedStrAttr<Ube_ReductionAttr, "mean">:$reduction);
  let results = (outs Ube_FloatTensor:$result);
  let assemblyFormat = "$input `,` $target attr-dict `:` type($input) `,` type($target)";
}

//===----------------------------------------------------------------------===//
// Distillation
//===----------------------------------------------------------------------===//

def Ube_KdLossOp : Ube_InferredOp<"kd_loss"> {
  let summary = "Soft-logit knowledge-distillation loss";
  let description = [{
    With `p = softmax(z / temperature)` over the last axis and all leading
    axes flattened into rows:
    `loss = s · mean_rows KL(p_teacher ‖ p_student) + alpha · CE(labels, student)`
    where `s = temperature²` when `scale_by_temperature_squared` (Hinton, HF)
    and 1 otherwise (TextBrewer). The hard-label term uses the student logits
    at temperature 1 and needs `labels`; rows labelled `ignore_index` are left
    out of both terms. The result is a scalar.
  }];
  let arguments = (ins Ube_FloatTensor:$student_logits, Ube_FloatTensor:$teacher_logits,
                   Optional<Ube_IndexTensor>:$labels,
                   DefaultValuedAttr<F64Attr, "1.0">:$temperature,
                   DefaultValuedAttr<BoolAttr, "true">:$scale_by_temperature_squared,
                   DefaultValuedAttr<F64Attr, "0.0">:$alpha,
                   DefaultValuedAttr<Ube_I64Attr, "-100">:$ignore_index);
  let results = (outs Ube_FloatScalar:$result);
  let assemblyFormat = [{
    $student_logits `,` $teacher_logits (`labels` $labels^)? attr-dict `:`
    type($student_logits) `,` type($teacher_logits) (`,` type($labels)^)?
  }];
}

def Ube_KdLossGradOp : Ube_InferredOp<"kd_loss_grad"> {
  let summary = "Gradient of `kd_loss` with respect to the student logits";
  let description = [{
    The vector-Jacobian product of `ube.kd_loss` (same operands and
    attributes) for the student logits: `grad` is the scalar gradient of the
    loss, the result has the shape of `student_logits`. With `N` the number of
    counted rows (all rows, or those whose label is not `ignore_index`), a
    counted row `r` gets
    `grad · (s / (N·T) · (softmax(z_s/T) − softmax(z_t/T)) + alpha / N · (softmax(z_s) − onehot(y_r)))`
    and an ignored row zero. The teacher is a constant here, as in every
    distillation setup (its logits come from a frozen model).
  }];
  let arguments = (ins Ube_FloatTensor:$student_logits, Ube_FloatTensor:$teacher_logits,
                   Ube_FloatScalar:$grad, Optional<Ube_IndexTensor>:$labels,
                   DefaultValuedAttr<F64Attr, "1.0">:$temperature,
                   DefaultValuedAttr<BoolAttr, "true">:$scale_by_temperature_squared,
                   DefaultValuedAttr<F64Attr, "0.0">:$alpha,
                   DefaultValuedAttr<Ube_I64Attr, "-100">:$ignore_index);
  let results = (outs Ube_FloatTensor:$result);
  let assemblyFormat = [{
    $student_logits `,` $teacher_logits `,` $grad (`labels` $labels^)? attr-dict `:`
    type($student_logits) `,` type($teacher_logits) `,` type($grad) (`,` type($labels)^)?
  }];
}

def Ube_ProjectedKdLossOp : Ube_InferredOp<"projected_kd_loss"> {
  let summary = "kd_loss of two output projections, without the logits (Liger-Kernel)";
  let description = [{
    `kd_loss(student_hidden · student_weightᵀ, teacher_hidden ·
    teacher_weightᵀ, labels)` with kd_loss's attributes: hidden states
    `[..., D]` (D may differ between the sides), weights `[V, D]` as
    `torch.nn.Linear` stores them (an LM head without bias). The lowering
    takes the rows in chunks, so no `[rows, V]` logits exist; with its
    gradient in the same function each chunk's logits serve both.
  }];
  let arguments = (ins Ube_FloatTensor:$student_hidden, Ube_FloatTensor:$student_weight,
                   Ube_FloatTensor:$teacher_hidden, Ube_FloatTensor:$teacher_weight,
                   Optional<Ube_IndexTensor>:$labels,
                   DefaultValuedAttr<F64Attr, "1.0">:$temperature,
                   DefaultValuedAttr<BoolAttr, "true">:$scale_by_temperature_squared,
                   DefaultValuedAttr<F64Attr, "0.0">:$alpha,
                   DefaultValuedAttr<Ube_I64Attr, "-100">:$ignore_index);
  let results = (outs Ube_FloatScalar:$result);
  let assemblyFormat = [{
    $student_hidden `,` $student_weight `,` $teacher_hidden `,` $teacher_weight
    (`labels` $labels^)? attr-dict `:` type($student_hidden) `,` type($student_weight) `,`
    type($teacher_hidden) `,` type($teacher_weight) (`,` type($labels)^)?
  }];
}

def Ube_ProjectedKdLossGradOp : Ube_InferredOp<"projected_kd_loss_grad"> {
  let summary = "Gradient of `projected_kd_loss` for the student's hidden states and weight";
  let description = [{
    With `G` = kd_loss_grad of the projected logits for the scalar upstream
    gradient `grad`: `d student_hidden = G · student_weight` and
    `d student_weight = Gᵀ · student_hidden` (rows flattened), computed a
    chunk of rows at a time with the weight's gradient summed over the
    chunks. The teacher's side is a constant.
  }];
  let arguments = (ins Ube_FloatTensor:$student_hidden, Ube_FloatTensor:$student_weight,
                   Ube_FloatTensor:$teacher_hidden, Ube_FloatTensor:$teacher_weight,
                   Ube_FloatScalar:$grad, Optional<Ube_IndexTensor>:$labels,
                   DefaultValuedAttr<F64Attr, "1.0">:$temperature,
                   DefaultValuedAttr<BoolAttr, "true">:$scale_by_temperature_squared,
                   DefaultValuedAttr<F64Attr, "0.0">:$alpha,
                   DefaultValuedAttr<Ube_I64Attr, "-100">:$ignore_index);
  let results = (outs Ube_FloatTensor:$d_student_hidden, Ube_FloatTensor:$d_student_weight);
  let assemblyFormat = [{
    $student_hidden `,` $student_weight `,` $teacher_hidden `,` $teacher_weight `,` $grad
    (`labels` $labels^)? attr-dict `:` type($student_hidden) `,` type($student_weight) `,`
    type($teacher_hidden) `,` type($teacher_weight) `,` type($grad) (`,` type($labels)^)?
  }];
}

def Ube_FeatureMapLossOp : Ube_InferredOp<"feature_map_loss"> {
  let summary = "Feature-map transfer loss (MobileBERT-style)";
  let description = [{
    With `h = h_student · W` (or `h_student` without `projection`), non-affine
    layer normalization `LN` over the hidden axis and per-token mean μ and
    biased variance σ² over that axis:
    `alpha · MSE(LN(h), LN(h_teacher)) + beta · mean((μ_t − μ_s)²) +
    gamma · mean(|σ²_t − σ²_s|)`, where μ_s, σ²_s are those of `h`.
    `h_student` is `[..., Ds]`, `h_teacher` `[..., Dt]`, `projection`
    `[Ds, Dt]`; without it Ds = Dt. The result is a scalar.
  }];
  let arguments = (ins Ube_FloatTensor:$student, Ube_FloatTensor:$teacher,
                   Optional<Ube_FloatTensor>:$projection,
                   DefaultValuedAttr<F64Attr, "1.0">:$alpha,
                   DefaultValuedAttr<F64Attr, "0.0">:$beta,
                   DefaultValuedAttr<F64Attr, "0.0">:$gamma,
                   DefaultValuedAttr<F64Attr, "1e-5">:$epsilon);
  let results = (outs Ube_FloatScalar:$result);
  let assemblyFormat = [{
    $student `,` $teacher (`projection` $projection^)? attr-dict `:`
    type($student) `,` type($teacher) (`,` type($projection)^)?
  }];
}

def Ube_FeatureMapLossGradOp : Ube_InferredOp<"feature_map_loss_grad"> {
  let summary = "Gradient of `feature_map_loss` for the student and the projection";
  let description = [{
    The vector-Jacobian product of `ube.feature_map_loss` (same operands and
    attributes) for the scalar upstream gradient `grad`: the gradient with
    respect to `student` and, when there is a `projection`, with respect to
    it (a second result). The teacher's features are constants.
  }];
  let arguments = (ins Ube_FloatTensor:$student, Ube_FloatTensor:$teacher,
                   Ube_FloatScalar:$grad, Optional<Ube_FloatTensor>:$projection,
                   DefaultValuedAttr<F64Attr, "1.0">:$alpha,
                   DefaultValuedAttr<F64Attr, "0.0">:$beta,
                   DefaultValuedAttr<F64Attr, "0.0">:$gamma,
                   DefaultValuedAttr<F64Attr, "1e-5">:$epsilon);
  let results = (outs Ube_FloatTensor:$d_student, Optional<Ube_FloatTensor>:$d_projection);
  let assemblyFormat = [{
    $student `,` $teacher `,` $grad (`projection` $projection^)? attr-dict `:`
    type($student) `,` type($teacher) `,` type($grad) (`,` type($projection)^)?
  }];
}

def Ube_AttentionTransferLossOp : Ube_InferredOp<"attention_transfer_loss"> {
  let summary = "Self-attention distribution transfer loss (MiniLM/TinyBERT)";
  let description = [{
    Queries and keys are `[batch, heads, tokens, d]` (d may differ between
    student and teacher; each side scales by its own 1/√d). With
    `A = softmax(q·kᵀ/√d)` over keys, the loss is the mean over batch, heads
    and valid query rows of `KL(A_teacher ‖ A_student)`. The optional `mask`
    `[batch, tokens]` (i1, true = keep) excludes padded keys from the softmax
    and padded queries from the mean; a row without a valid key contributes 0.
    The result is a scalar.
  }];
  let arguments = (ins Ube_FloatTensor:$student_query, Ube_FloatTensor:$student_key,
                   Ube_FloatTensor:$teacher_query, Ube_FloatTensor:$teacher_key,
                   Optional<Ube_BoolTensor>:$mask);
  let results = (outs Ube_FloatScalar:$result);
  let assemblyFormat = [{
    $student_query `,` $student_key `,` $teacher_query `,` $teacher_key
    (`mask` $mask^)? attr-dict `:` type($student_query) `,` type($student_key) `,`
    type($teacher_query) `,` type($teacher_key) (`,` type($mask)^)?
  }];
}

def Ube_AttentionTransferLossGradOp : Ube_InferredOp<"attention_transfer_loss_grad"> {
  let summary = "Gradient of `attention_transfer_loss` for the student's queries and keys";
  let description = [{
    The vector-Jacobian product of `ube.attention_transfer_loss` (same
    operands) for the scalar upstream gradient `grad`. With `G` the gradient
    of the loss with respect to the student's scaled scores,
    `G = grad · w_row · (A_student − A_teacher)` (`w_row` = 1 / the number
    of counted query rows for a valid query, 0 for a padded one), the results
    are `G·k_s/√d` and `Gᵀ·q_s/√d`. The teacher's queries and keys are
    constants.
  }];
  let arguments = (ins Ube_FloatTensor:$student_query, Ube_FloatTensor:$student_key,
                   Ube_FloatTensor:$teacher_query, Ube_FloatTensor:$teacher_key,
                   Ube_FloatScalar:$grad, Optional<Ube_BoolTensor>:$mask);
  let results = (outs Ube_FloatTensor:$d_student_query, Ube_FloatTensor:$d_student_key);
  let assemblyFormat = [{
    $student_query `,` $student_key `,` $teacher_query `,` $teacher_key `,` $grad
    (`mask` $mask^)? attr-dict `:` type($student_query) `,` type($student_key) `,`
    type($teacher_query) `,` type($teacher_key) `,` type($grad) (`,` type($mask)^)?
  }];
}

def Ube_TransferProbabilityOp : Ube_Op<"transfer_probability", [Pure]> {
  let summary = "Linear transfer schedule p(t) = min(1, slope·t + offset)";
  let description = [{
    The probability that a mapped module uses the student's output at
    training step `step` (BERT-of-Theseus linear schedule). `offset` is in
    [0, 1] (the literature uses 0.1 to 0.3) and `slope` is non-negative.
  }];
  let arguments = (ins Ube_StepScalar:$step, F64Attr:$slope, F64Attr:$offset);
  let results = (outs Ube_F32Scalar:$result);
  let assemblyFormat = "$step attr-dict";
  let hasVerifier = 1;
}

def Ube_BernoulliSelectOp : Ube_Op<"bernoulli_select",
    [Pure, AllTypesMatch<["student", "teacher", "result"]>]> {
  let summary = "Per-module Bernoulli choice between student and teacher outputs";
  let description = [{
    Draws one `z ~ Bernoulli(probability)` per call from Philox-4x32 keyed by
    (`seed`, `step`, `module_id`) and returns `student` where z = 1 and
    `teacher` otherwise. The same key always gives the same draw, on every
    target.
  }];
  let arguments = (ins Ube_F32Scalar:$probability, Ube_StepScalar:$step,
                   Ube_Tensor:$student, Ube_Tensor:$teacher,
                   DefaultValuedAttr<Ube_I64Attr, "0">:$seed, Ube_I64Attr:$module_id);
  let results = (outs Ube_Tensor:$result);
  let assemblyFormat = [{
    $probability `,` $step `,` $student `,` $teacher attr-dict `:` type($student)
  }];
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Optimizers
//===----------------------------------------------------------------------===//

def Ube_SgdUpdateOp : Ube_Op<"sgd_update", [Pure,
    AllTypesMatch<["param", "grad", "momentum_buffer", "new_param", "new_momentum_buffer"]>]> {
  let summary = "One SGD step with momentum and weight decay (PyTorch's torch.optim.SGD)";
  let description = [{
    With `d = grad + weight_decay · param` and
    `b = momentum · momentum_buffer + d`, the new parameter is
    `param − lr · (nesterov ? d + momentum · b : b)` and the new buffer `b`
    (a buffer of zeros before the first step gives PyTorch's first step;
    with `momentum = 0` the buffer is just the last `d`). One elementwise
    pass over the four tensors.
  }];
  let arguments = (ins Ube_FloatTensor:$param, Ube_FloatTensor:$grad,
                   Ube_FloatTensor:$momentum_buffer, Ube_F32Scalar:$lr,
                   DefaultValuedAttr<F64Attr, "0.0">:$momentum,
                   DefaultValuedAttr<F64Attr, "0.0">:$weight_decay,
                   DefaultValuedAttr<BoolAttr, "false">:$nesterov);
  let results = (outs Ube_FloatTensor:$new_param, Ube_FloatTensor:$new_momentum_buffer);
  let assemblyFormat = [{
    $param `,` $grad `,` $momentum_buffer `,` $lr attr-dict `:` type($param)
  }];
  let hasVerifier = 1;
}

def Ube_AdamwUpdateOp : Ube_Op<"adamw_update", [Pure,
    AllTypesMatch<["param", "grad", "exp_avg", "exp_avg_sq", "new_param", "new_exp_avg",
                   "new_exp_avg_sq"]>]> {
  let summary = "One AdamW step (decoupled weight decay, bias correction; torch.optim.AdamW)";
  let description = [{
    At step `t` (counted from 1): `m = β1·exp_avg + (1 − β1)·grad`,
    `v = β2·exp_avg_sq + (1 − β2)·grad²`, and
    `param·(1 − lr·weight_decay) − lr · (m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε)`.
    Returns the new parameter and the new moments; one elementwise pass.
  }];
  let arguments = (ins Ube_FloatTensor:$param, Ube_FloatTensor:$grad,
                   Ube_FloatTensor:$exp_avg, Ube_FloatTensor:$exp_avg_sq,
                   Ube_F32Scalar:$lr, Ube_StepScalar:$step,
                   DefaultValuedAttr<F64Attr, "0.9">:$beta1,
                   DefaultValuedAttr<F64Attr, "0.999">:$beta2,
                   DefaultValuedAttr<F64Attr, "1e-8">:$epsilon,
                   DefaultValuedAttr<F64Attr, "0.01">:$weight_decay);
  let results = (outs Ube_FloatTensor:$new_param, Ube_FloatTensor:$new_exp_avg,
                      Ube_FloatTensor:$new_exp_avg_sq);
  let assemblyFormat = [{
    $param `,` $grad `,` $exp_avg `,` $exp_avg_sq `,` $lr `,` $step attr-dict `:` type($param)
  }];
  let hasVerifier = 1;
}

#endif // UBE_OPS_TD
