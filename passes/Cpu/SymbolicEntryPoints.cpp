//===- SymbolicEntryPoints.cpp - entry points with symbolic dimensions ----===//
//
// The bare-pointer calling convention (one pointer per buffer, which the
// runtime's `void ube_entry_NAME(void **buffers)` relies on) only holds
// statically shaped memrefs. An entry point with symbolic dimensions takes
// such buffers as rank-0 memrefs instead, and the symbols' sizes as one more
// buffer of i64; its body views each buffer at its dense row-major shape.
// A kernel (--ube-outline-kernels) takes each such buffer as a rank-0 memref
// followed by its `?` sizes as index arguments; its calls pass them.
//
//===----------------------------------------------------------------------===//

#include "passes/Cpu/Passes.h"

#include "dialects/ube/UbeDialect.h"
#include "passes/Utils/RowMajorStrides.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"

namespace ube {
#define GEN_PASS_DEF_UBECPUSYMBOLICENTRYPOINTS
#include "passes/Cpu/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

/// Rewrites `fn`'s symbolic buffers as described in the pass description.
LogicalResult bindSymbols(func::FuncOp fn, ArrayAttr symbols) {
  MLIRContext *context = fn.getContext();
  Block &entry = fn.getBody().front();
  StringRef dimsName = ube::UbeDialect::DimsAttrHelper::getNameStr();
  // Checked before anything changes: a failure leaves the function as it was.
  for (auto [i, type] : llvm::enumerate(fn.getArgumentTypes())) {
    auto memref = dyn_cast<MemRefType>(type);
    if (!memref || memref.hasStaticShape())
      continue;
    auto dims = fn.getArgAttrOfType<ArrayAttr>(i, dimsName);
    if (!memref.getLayout().isIdentity() || !dims ||
        dims.size() != static_cast<size_t>(memref.getNumDynamicDims()))
      return fn.emitOpError("argument ")
             << i << " of type " << type
             << " is not a dense buffer whose symbolic sizes 'ube.dims' names";
    for (auto name : dims.getAsRange<StringAttr>())
      if (llvm::none_of(symbols.getAsRange<ube::DimSymbolAttr>(),
                        [&](ube::DimSymbolAttr s) { return s.getName() == name; }))
        return fn.emitOpError("argument ")
               << i << ": symbol '" << name.getValue() << "' is not among 'ube.symbols'";
  }
  OpBuilder b = OpBuilder::atBlockBegin(&entry);
  Location loc = fn.getLoc();
  auto symbolsType = MemRefType::get({int64_t(symbols.size())}, b.getI64Type());
  Value sizesArg = entry.addArgument(symbolsType, loc);

  // Each symbol's size, loaded once.
  llvm::StringMap<Value> sizeOf;
  for (auto [k, attr] : llvm::enumerate(symbols)) {
    Value index = arith::ConstantIndexOp::create(b, loc, k);
    Value size = memref::LoadOp::create(b, loc, sizesArg, index);
    sizeOf[cast<ube::DimSymbolAttr>(attr).getName()] =
        arith::IndexCastOp::create(b, loc, b.getIndexType(), size);
  }

  SmallVector<Type> argTypes = llvm::to_vector(fn.getArgumentTypes());
  argTypes.push_back(symbolsType);
  SmallVector<DictionaryAttr> argAttrs;
  fn.getAllArgAttrs(argAttrs);
  argAttrs.push_back(DictionaryAttr::get(context));
  for (unsigned i = 0; i + 1 < entry.getNumArguments(); ++i) {
    BlockArgument arg = entry.getArgument(i);
    auto type = dyn_cast<MemRefType>(arg.getType());
    if (!type || type.hasStaticShape())
      continue;
    auto dims = fn.getArgAttrOfType<ArrayAttr>(i, dimsName);
    // Sizes, then the row-major strides (folded where static).
    SmallVector<OpFoldResult> sizes;
    size_t next = 0;
    for (int64_t size : type.getShape()) {
      if (!ShapedType::isDynamic(size)) {
        sizes.push_back(b.getIndexAttr(size));
        continue;
      }
      sizes.push_back(sizeOf.lookup(cast<StringAttr>(dims[next++]).getValue()));
    }
    SmallVector<OpFoldResult> strides = ube::rowMajorStrides(b, loc, sizes);
    auto bare = MemRefType::get({}, type.getElementType());
    Value pointer = entry.insertArgument(i, bare, arg.getLoc());
    Value view = memref::ReinterpretCastOp::create(b, loc, type, pointer, b.getIndexAttr(0),
                                                   sizes, strides);
    arg.replaceAllUsesWith(view);
    entry.eraseArgument(i + 1);
    argTypes[i] = bare;
    // The bare pointer's type no longer shows the dimensions it names.
    NamedAttrList attrs(argAttrs[i]);
    attrs.erase(dimsName);
    argAttrs[i] = attrs.getDictionary(context);
  }
  fn.setFunctionType(FunctionType::get(context, argTypes, fn.getResultTypes()));
  fn.setAllArgAttrs(argAttrs);
  return success();
}

/// Whether `type` is a buffer of symbolic shape.
bool isSymbolicBuffer(Type type) {
  auto memref = dyn_cast<MemRefType>(type);
  return memref && !memref.hasStaticShape();
}

/// Rewrites kernel `fn`'s dense buffers of dynamic shape as bare pointers
/// followed by their dynamic sizes, and its `calls` to pass them.
LogicalResult bareKernelArguments(func::FuncOp fn, ArrayRef<func::CallOp> calls) {
  MLIRContext *context = fn.getContext();
  Block &entry = fn.getBody().front();
  for (auto [i, type] : llvm::enumerate(fn.getArgumentTypes()))
    if (isSymbolicBuffer(type) && !cast<MemRefType>(type).getLayout().isIdentity())
      return fn.emitOpError("argument ") << i << " of type " << type
                                         << " is not a dense buffer of symbolic shape";
  if (llvm::any_of(fn.getResultTypes(), isSymbolicBuffer))
    return fn.emitOpError("a kernel returns a buffer of symbolic shape");

  // The body: each buffer viewed from its pointer and sizes.
  SmallVector<Type> argTypes;
  SmallVector<DictionaryAttr> oldAttrs, argAttrs;
  fn.getAllArgAttrs(oldAttrs);
  OpBuilder b = OpBuilder::atBlockBegin(&entry);
  Location loc = fn.getLoc();
  unsigned count = entry.getNumArguments();
  for (unsigned old = 0, i = 0; old < count; ++old) {
    BlockArgument arg = entry.getArgument(i);
    argTypes.push_back(arg.getType());
    argAttrs.push_back(oldAttrs[old]);
    if (!isSymbolicBuffer(arg.getType())) {
      ++i;
      continue;
    }
    auto type = cast<MemRefType>(arg.getType());
    argTypes.back() = MemRefType::get({}, type.getElementType());
    Value pointer = entry.insertArgument(i, argTypes.back(), arg.getLoc());
    SmallVector<OpFoldResult> sizes;
    unsigned next = i + 1;
    for (int64_t size : type.getShape()) {
      if (!ShapedType::isDynamic(size)) {
        sizes.push_back(b.getIndexAttr(size));
        continue;
      }
      sizes.push_back(entry.insertArgument(next++, b.getIndexType(), arg.getLoc()));
      argTypes.push_back(b.getIndexType());
      argAttrs.push_back(DictionaryAttr::get(context));
    }
    SmallVector<OpFoldResult> strides = ube::rowMajorStrides(b, loc, sizes);
    Value view = memref::ReinterpretCastOp::create(b, loc, type, pointer, b.getIndexAttr(0),
                                                   sizes, strides);
    arg.replaceAllUsesWith(view);
    entry.eraseArgument(next);
    i = next;
  }
  fn.setFunctionType(FunctionType::get(context, argTypes, fn.getResultTypes()));
  fn.setAllArgAttrs(argAttrs);

  // The calls: each such operand's base buffer (a dense buffer starts at
  // offset 0) and sizes.
  for (func::CallOp call : calls) {
    OpBuilder before(call);
    SmallVector<Value> operands;
    for (Value operand : call.getOperands()) {
      if (!isSymbolicBuffer(operand.getType())) {
        operands.push_back(operand);
        continue;
      }
      auto type = cast<MemRefType>(operand.getType());
      auto metadata = memref::ExtractStridedMetadataOp::create(before, call.getLoc(), operand);
      operands.push_back(metadata.getBaseBuffer());
      for (auto [d, size] : llvm::enumerate(type.getShape()))
        if (ShapedType::isDynamic(size))
          operands.push_back(metadata.getSizes()[d]);
    }
    call->setOperands(operands);
  }
  return success();
}

struct UbeCpuSymbolicEntryPointsPass
    : ube::impl::UbeCpuSymbolicEntryPointsBase<UbeCpuSymbolicEntryPointsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    llvm::DenseMap<StringAttr, SmallVector<func::CallOp>> callsOf;
    module.walk([&](func::CallOp call) {
      callsOf[call.getCalleeAttr().getAttr()].push_back(call);
    });
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (!fn.isPrivate() || fn.isExternal() ||
          llvm::none_of(fn.getArgumentTypes(), isSymbolicBuffer))
        continue;
      if (failed(bareKernelArguments(fn, callsOf.lookup(fn.getSymNameAttr()))))
        return signalPassFailure();
    }
    StringRef symbolsName = ube::UbeDialect::SymbolsAttrHelper::getNameStr();
    for (auto fn : module.getOps<func::FuncOp>()) {
      auto symbols = fn->getAttrOfType<ArrayAttr>(symbolsName);
      if (!fn.isPublic() || fn.isExternal() || !symbols || symbols.empty())
        continue;
      if (!fn.getBody().hasOneBlock() || fn.getNumResults() != 0) {
        fn.emitOpError("an entry point with symbolic dimensions must be one block that "
                       "writes its outputs into arguments");
        return signalPassFailure();
      }
      if (failed(bindSymbols(fn, symbols)))
        return signalPassFailure();
    }
  }
};

} // namespace
