//===- SpecializeInPlaceKernels.cpp - one pointer for an update in place --===//
//
// An update in place (--ube-mark-in-place-updates) reads its input's buffer
// and writes its output's, which the caller may make the same buffer (a
// training step's parameters and optimizer state). A kernel given both sees
// two pointers that may overlap: LLVM's vectorizer checks at run time that
// they do not and, when they are the same, runs the scalar loop (AdamW over
// a 30522 × 384 embedding took three times as long). A call passing both
// buffers of in-place pairs instead tests whether they are the same and, if
// so, calls a copy of the kernel that reads and writes the output's
// argument alone.
//
//===----------------------------------------------------------------------===//

#include "passes/Cpu/Passes.h"

#include "dialects/ube/UbeDialect.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

namespace ube {
#define GEN_PASS_DEF_UBECPUSPECIALIZEINPLACEKERNELS
#include "passes/Cpu/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

/// The (output argument, input argument) numbers of `fn`'s updates in
/// place. After buffer-results-to-out-params the output is the argument
/// named as the input that follows it.
SmallVector<std::pair<unsigned, unsigned>> inPlaceArguments(func::FuncOp fn) {
  SmallVector<std::pair<unsigned, unsigned>> result;
  auto pairs = ube::UbeDialect::InPlaceAttrHelper(fn.getContext()).getAttr(fn);
  if (!pairs)
    return result;
  StringRef nameAttr = ube::UbeDialect::NameAttrHelper::getNameStr();
  for (int64_t k = 0; k + 1 < pairs.size(); k += 2) {
    unsigned input = pairs[k + 1];
    auto name = fn.getArgAttrOfType<StringAttr>(input, nameAttr);
    if (!name)
      continue;
    SmallVector<unsigned> outputs;
    for (unsigned j = input + 1; j < fn.getNumArguments(); ++j)
      if (fn.getArgAttrOfType<StringAttr>(j, nameAttr) == name)
        outputs.push_back(j);
    if (outputs.size() == 1 && fn.getArgument(outputs[0]).getType() ==
                                   fn.getArgument(input).getType())
      result.push_back({outputs[0], input});
  }
  return result;
}

/// `callee` with each operand `merged[k].second` read from operand
/// `merged[k].first` instead (and dropped), inserted after it; made once per
/// callee and merge. Null when the arguments cannot be dropped.
func::FuncOp specialized(func::FuncOp callee, ArrayRef<std::pair<unsigned, unsigned>> merged,
                         llvm::StringMap<func::FuncOp> &made, SymbolTable &symbols) {
  std::string key = callee.getSymName().str();
  for (auto [into, from] : merged)
    key += " " + std::to_string(into) + "<" + std::to_string(from);
  func::FuncOp &clone = made[key];
  if (clone)
    return clone;
  OpBuilder b(callee);
  b.setInsertionPointAfter(callee);
  clone = cast<func::FuncOp>(b.clone(*callee));
  clone.setSymName((callee.getSymName() + "_in_place").str());
  symbols.insert(clone);
  llvm::BitVector dropped(clone.getNumArguments());
  for (auto [into, from] : merged) {
    clone.getArgument(from).replaceAllUsesWith(clone.getArgument(into));
    dropped.set(from);
  }
  if (failed(clone.eraseArguments(dropped))) {
    clone.erase();
    clone = nullptr;
  }
  return clone;
}

struct UbeCpuSpecializeInPlaceKernelsPass
    : ube::impl::UbeCpuSpecializeInPlaceKernelsBase<UbeCpuSpecializeInPlaceKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    llvm::StringMap<func::FuncOp> made;
    for (auto fn : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (fn.isPrivate() || fn.isExternal())
        continue;
      auto pairs = inPlaceArguments(fn);
      if (pairs.empty())
        continue;
      SmallVector<func::CallOp> calls;
      fn.walk([&](func::CallOp call) { calls.push_back(call); });
      for (func::CallOp call : calls) {
        auto callee = symbols.lookup<func::FuncOp>(call.getCallee());
        if (!callee || callee.isExternal())
          continue;
        // The operand positions of each pair's output and input buffers.
        SmallVector<std::pair<unsigned, unsigned>> merged;
        for (auto [output, input] : pairs) {
          auto at = [&](unsigned arg) -> std::optional<unsigned> {
            for (OpOperand &operand : call->getOpOperands())
              if (operand.get() == fn.getArgument(arg))
                return operand.getOperandNumber();
            return std::nullopt;
          };
          std::optional<unsigned> into = at(output), from = at(input);
          if (into && from)
            merged.push_back({*into, *from});
        }
        if (merged.empty())
          continue;
        func::FuncOp clone = specialized(callee, merged, made, symbols);
        if (!clone)
          continue;
        OpBuilder b(call);
        Location loc = call.getLoc();
        Value same;
        for (auto [into, from] : merged) {
          auto pointer = [&](unsigned operand) {
            return memref::ExtractAlignedPointerAsIndexOp::create(b, loc,
                                                                 call.getOperand(operand));
          };
          Value equal = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, pointer(into),
                                              pointer(from));
          same = same ? arith::AndIOp::create(b, loc, same, equal).getResult() : equal;
        }
        SmallVector<Value> operands;
        for (OpOperand &operand : call->getOpOperands())
          if (!llvm::any_of(merged, [&](auto pair) {
                return pair.second == operand.getOperandNumber();
              }))
            operands.push_back(operand.get());
        auto branch = scf::IfOp::create(b, loc, call.getResultTypes(), same,
                                        /*withElseRegion=*/true);
        // Each branch's call, and its yield (an if without results has one).
        auto fill = [&](Block *block, function_ref<Operation *()> makeCall) {
          if (block->mightHaveTerminator())
            b.setInsertionPoint(block->getTerminator());
          else
            b.setInsertionPointToEnd(block);
          Operation *made = makeCall();
          if (!block->mightHaveTerminator())
            scf::YieldOp::create(b, loc, made->getResults());
        };
        fill(branch.thenBlock(),
             [&] { return func::CallOp::create(b, loc, clone, operands).getOperation(); });
        fill(branch.elseBlock(), [&] { return b.clone(*call); });
        call.replaceAllUsesWith(branch.getResults());
        call.erase();
      }
    }
  }
};

} // namespace
