//===- PlanMemory.cpp - one arena for an entry point's temporaries --------===//
//
// After bufferization, each `memref.alloc` at the top level of a public
// function (static shape, identity layout) is live from the allocation to
// the last top-level op that uses it or a buffer that may alias it (a view,
// a select). Buffers whose live ranges do not overlap may share bytes: they
// are placed in one arena, largest first, each at the lowest 64-byte-aligned
// offset that does not collide with a placed buffer live at the same time
// (the greedy heap packing of XLA's buffer assignment and TVM's planner).
// The function gains a trailing `memref<Nxi8>` argument, the arena, which
// the runtime allocates once and reuses; allocations become `memref.view`s
// of it, and their deallocations go. `ube.arena_bytes` on the function
// records N.
//
// An allocation at the top level of a parallel task (an `scf.forall` at the
// top level, static bounds) is one buffer per task: a slot for each of the
// forall's iterations, live while the forall runs, each task's view at its
// slot's offset. Buffers that escape through a region's results are left
// alone, as are allocations inside loops (their count is not static). A
// task's buffer of symbolic size, or any buffer of a task whose count is
// symbolic (sizes known before the task), becomes one allocation before the
// task, a slot per iteration, each iteration's buffer a view of its slot:
// a buffer of the function like the others (hoistTaskScratch).
//
// An entry point with symbolic dimensions also places its buffers of
// symbolic shape, after the static ones. Their order is a static plan at
// the symbols' maxima (largest first, lowest offset); at a call each one
// sits at the highest end among the buffers below it in that plan live at
// the same time, so the plan keeps its order at every size and, where the
// sizes scale together, is as tight as a static plan for that size. Sizes
// and offsets are computed once, at the function's start, from the
// symbols' sizes (each size's computation is moved there), and so is the
// arena's size. The arena then comes as a pointer alone, viewed at that
// size; `ube.arena_exprs` records the size as expressions of the symbols,
// which the runtime evaluates at each call to give the call an arena that
// large (growing the one it reuses when a larger shape arrives). When every
// symbol has a maximum, `ube.arena_bytes` bounds the plan's size over the
// symbols' ranges (each size's interval from theirs): what no call exceeds.
//
// A private function (a kernel, --ube-outline-kernels) is planned the same
// way, first: its arena is scratch its callers provide. Each call gets an
// allocation of that size, live during the call, which the caller's plan
// places with its own buffers; kernels called from one entry point thus
// share that entry point's arena. A kernel's buffers of symbolic size
// (sizes computed from its arguments) become arguments instead, allocated
// at each call with the sizes computed there from the call's operands
// (liftSymbolicAllocs), where the caller's plan places them with its own
// symbolic buffers.
//
//===----------------------------------------------------------------------===//

#include "passes/Cpu/Passes.h"

#include "dialects/ube/UbeDialect.h"
#include "passes/Utils/SizeExprs.h"
#include "ube/Support/ExecutableFormat.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/BitVector.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

namespace ube {
#define GEN_PASS_DEF_UBECPUPLANMEMORY
#include "passes/Cpu/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

constexpr int64_t kAlignment = 64;

struct Buffer {
  memref::AllocOp alloc;
  /// A symbolic buffer's size and offset in bytes, computed at the
  /// function's start (null: static, `bytes` and `offset`, which then hold
  /// the symbolic buffer's at the symbols' maxima).
  Value runtimeBytes, runtimeOffset;
  /// The task whose body allocates it (null: the function's).
  scf::ForallOp task;
  int64_t bytes = 0;                ///< All slots.
  int64_t slots = 1, slotBytes = 0; ///< One per task; 64-byte aligned.
  int64_t first = 0, last = 0;      ///< Positions in the function's block.
  int64_t offset = -1;
  bool overlapsInTime(const Buffer &other) const {
    return first <= other.last && other.first <= last;
  }
};

/// Bytes of a static memref of `type` as the LLVM lowering lays it out.
std::optional<int64_t> byteSize(MemRefType type) {
  Type element = type.getElementType();
  int64_t elementBytes;
  if (element.isIndex())
    elementBytes = 8;
  else if (element.isIntOrFloat())
    elementBytes = llvm::divideCeil(element.getIntOrFloatBitWidth(), 8);
  else
    return std::nullopt;
  return std::max<int64_t>(1, type.getNumElements()) * elementBytes;
}

/// The last position (in `block`) of an op using `value` or a buffer that
/// may alias it (deallocations aside); nullopt when the value escapes
/// through a region's results.
std::optional<int64_t> lastUse(Value value, Block &block,
                               const llvm::DenseMap<Operation *, int64_t> &position) {
  int64_t last = -1;
  SmallVector<Value> worklist = {value};
  while (!worklist.empty()) {
    Value current = worklist.pop_back_val();
    for (OpOperand &use : current.getUses()) {
      Operation *user = use.getOwner();
      if (isa<memref::DeallocOp>(user))
        continue;
      if (isa<RegionBranchTerminatorOpInterface>(user) || user->hasTrait<OpTrait::ReturnLike>())
        return std::nullopt;
      // Any buffer an op returns from this one may be this one: views, and
      // arith.select between buffers (bernoulli_select), whose result lives
      // past the operands' own last uses.
      for (Value result : user->getResults())
        if (isa<BaseMemRefType>(result.getType()))
          worklist.push_back(result);
      Operation *ancestor = block.findAncestorOpInBlock(*user);
      if (!ancestor)
        return std::nullopt;
      last = std::max(last, position.lookup(ancestor));
    }
  }
  return last;
}

/// Places `buffers` (their `bytes`, live from `first` to `last`) largest
/// first, each at the lowest 64-byte-aligned offset from `base` clear of the
/// placed buffers live at the same time; returns the aligned end of the
/// highest.
int64_t placeByLiveness(ArrayRef<Buffer *> buffers, int64_t base = 0) {
  std::vector<Buffer *> order(buffers);
  llvm::sort(order, [](Buffer *a, Buffer *b) {
    return std::make_pair(-a->bytes, a->first) < std::make_pair(-b->bytes, b->first);
  });
  int64_t end = base;
  std::vector<Buffer *> placed;
  for (Buffer *buffer : order) {
    std::vector<std::pair<int64_t, int64_t>> taken;
    for (Buffer *other : placed)
      if (buffer->overlapsInTime(*other))
        taken.push_back({other->offset, other->offset + other->bytes});
    llvm::sort(taken);
    int64_t offset = base;
    for (auto [begin, finish] : taken) {
      if (offset + buffer->bytes <= begin)
        break;
      offset = std::max<int64_t>(offset, llvm::alignTo(finish, kAlignment));
    }
    buffer->offset = offset;
    end = std::max(end, offset + buffer->bytes);
    placed.push_back(buffer);
  }
  return llvm::alignTo(end, kAlignment);
}

/// The same, of the buffers themselves.
int64_t placeByLiveness(MutableArrayRef<Buffer> buffers) {
  std::vector<Buffer *> pointers;
  for (Buffer &buffer : buffers)
    pointers.push_back(&buffer);
  return placeByLiveness(pointers);
}

/// Each op's position in `block`.
llvm::DenseMap<Operation *, int64_t> positions(Block &block) {
  llvm::DenseMap<Operation *, int64_t> position;
  for (auto [i, op] : llvm::enumerate(block))
    position[&op] = i;
  return position;
}

/// The buffer of `alloc` (of `bytes`, live in `scope` from the allocation to
/// `last`), its deallocations removed; nullopt when one is in a nested
/// region (ownership decided at run time).
std::optional<Buffer> placedBuffer(memref::AllocOp alloc, Block &scope,
                                   const llvm::DenseMap<Operation *, int64_t> &position,
                                   int64_t bytes, int64_t last) {
  SmallVector<Operation *> deallocs;
  for (Operation *user : alloc->getUsers())
    if (isa<memref::DeallocOp>(user))
      deallocs.push_back(user);
  if (llvm::any_of(deallocs, [&](Operation *d) { return d->getBlock() != &scope; }))
    return std::nullopt;
  for (Operation *dealloc : deallocs)
    dealloc->erase();
  Buffer buffer;
  buffer.alloc = alloc;
  buffer.bytes = bytes;
  buffer.slotBytes = llvm::alignTo(bytes, kAlignment);
  buffer.first = position.lookup(alloc);
  buffer.last = std::max(last, buffer.first);
  return buffer;
}

/// A buffer for `alloc`, an allocation in `scope` (a static, identity
/// memref, used and deallocated only there), live in `scope` from the
/// allocation to its last use; or nullopt.
std::optional<Buffer> candidate(memref::AllocOp alloc, Block &scope,
                                const llvm::DenseMap<Operation *, int64_t> &position) {
  MemRefType type = alloc.getType();
  if (!type.hasStaticShape() || !type.getLayout().isIdentity() || type.getMemorySpace() ||
      !alloc.getDynamicSizes().empty())
    return std::nullopt;
  std::optional<int64_t> bytes = byteSize(type);
  std::optional<int64_t> last = lastUse(alloc.getResult(), scope, position);
  if (!bytes || !last)
    return std::nullopt;
  return placedBuffer(alloc, scope, position, *bytes, *last);
}

/// How many iterations `task` has, when its bounds are static.
std::optional<int64_t> iterationCount(scf::ForallOp task) {
  int64_t count = 1;
  for (auto [lower, upper, step] : llvm::zip_equal(
           task.getStaticLowerBound(), task.getStaticUpperBound(), task.getStaticStep())) {
    if (ShapedType::isDynamic(lower) || ShapedType::isDynamic(upper) ||
        ShapedType::isDynamic(step) || step <= 0)
      return std::nullopt;
    count *= std::max<int64_t>(0, llvm::divideCeil(upper - lower, step));
  }
  return count;
}

/// How many iterations each of `task`'s dimensions has: constants where
/// its bounds are static, else computed at `b`'s insertion point (before
/// the task).
SmallVector<OpFoldResult> iterationCounts(OpBuilder &b, scf::ForallOp task) {
  Location loc = task.getLoc();
  SmallVector<OpFoldResult> counts;
  for (auto [lower, upper, step] : llvm::zip_equal(
           task.getMixedLowerBound(), task.getMixedUpperBound(), task.getMixedStep())) {
    std::optional<int64_t> l = getConstantIntValue(lower), u = getConstantIntValue(upper),
                           s = getConstantIntValue(step);
    if (l && u && s) {
      counts.push_back(b.getIndexAttr(llvm::divideCeil(*u - *l, *s)));
      continue;
    }
    counts.push_back(arith::CeilDivUIOp::create(
                         b, loc,
                         arith::SubIOp::create(b, loc,
                                               getValueOrCreateConstantIndexOp(b, loc, upper),
                                               getValueOrCreateConstantIndexOp(b, loc, lower)),
                         getValueOrCreateConstantIndexOp(b, loc, step))
                         .getResult());
  }
  return counts;
}

/// The running iteration's position among `task`'s (row-major, `counts`
/// of iterationCounts), built at `b`'s insertion point inside the task.
Value slotIndex(OpBuilder &b, scf::ForallOp task, ArrayRef<OpFoldResult> counts) {
  Location loc = task.getLoc();
  Value index;
  for (auto [iv, lower, step, count] :
       llvm::zip_equal(task.getInductionVars(), task.getMixedLowerBound(),
                       task.getMixedStep(), counts)) {
    Value i = iv;
    if (!isConstantIntValue(lower, 0))
      i = arith::SubIOp::create(b, loc, i, getValueOrCreateConstantIndexOp(b, loc, lower));
    if (!isConstantIntValue(step, 1))
      i = arith::DivUIOp::create(b, loc, i, getValueOrCreateConstantIndexOp(b, loc, step));
    index = index ? arith::AddIOp::create(
                        b, loc,
                        arith::MulIOp::create(b, loc, index,
                                              getValueOrCreateConstantIndexOp(b, loc, count)),
                        i)
                  : i;
  }
  return index;
}

/// The size a `memref.dim` of one of `fn`'s arguments reads: static, or
/// the symbol `ube.dims` names for it; nullopt for any other `memref.dim`.
struct ArgumentDim {
  bool isSymbol;
  int64_t value; ///< The size, or the symbol's index in `ube.symbols`.
};
std::optional<ArgumentDim> argumentDim(func::FuncOp fn, memref::DimOp dim) {
  auto arg = dyn_cast<BlockArgument>(dim.getSource());
  std::optional<int64_t> index = dim.getConstantIndex();
  auto type = dyn_cast<MemRefType>(dim.getSource().getType());
  if (!arg || arg.getOwner() != &fn.getBody().front() || !index || !type)
    return std::nullopt;
  if (!type.isDynamicDim(*index))
    return ArgumentDim{false, type.getDimSize(*index)};
  auto dims = fn.getArgAttrOfType<ArrayAttr>(arg.getArgNumber(),
                                             ube::UbeDialect::DimsAttrHelper::getNameStr());
  auto symbols = fn->getAttrOfType<ArrayAttr>(ube::UbeDialect::SymbolsAttrHelper::getNameStr());
  if (!dims || !symbols)
    return std::nullopt;
  StringAttr name = cast<StringAttr>(dims[type.getDynamicDimIndex(*index)]);
  for (auto [k, symbol] : llvm::enumerate(symbols.getAsRange<ube::DimSymbolAttr>()))
    if (symbol.getName() == name.getValue())
      return ArgumentDim{true, int64_t(k)};
  return std::nullopt;
}

/// Sizes of symbolic buffers: each dynamic size of an allocation moved to
/// the function's start, with a bound on its value over conforming shapes
/// (interval arithmetic from the symbols' bounds). A symbol without a
/// maximum counts as kUnboundedEstimate there, which then only orders the
/// placement.
class SymbolicSizes {
public:
  static constexpr int64_t kUnboundedEstimate = 512;

  SymbolicSizes(func::FuncOp fn, ArrayAttr symbols) : fn(fn) {
    for (auto symbol : symbols.getAsRange<ube::DimSymbolAttr>()) {
      ranges.push_back({std::max<int64_t>(symbol.getMin(), 1),
                        symbol.getMax() > 0 ? symbol.getMax() : kUnboundedEstimate});
      bounded = bounded && symbol.getMax() > 0;
    }
  }

  /// Whether every symbol has a maximum.
  bool isBounded() const { return bounded; }

  /// The size's largest value over conforming shapes (a symbol without a
  /// maximum at kUnboundedEstimate), or nullopt when it is not computed
  /// from the symbols by ops whose range is bounded here.
  std::optional<int64_t> maximum(Value size) {
    std::optional<Range> range = rangeOf(size);
    return range ? std::optional<int64_t>(range->hi) : std::nullopt;
  }

  /// `size` at the function's start: the ops computing it cloned at `b`'s
  /// insertion point (once); call only when `maximum(size)` has a value.
  Value atStart(Value size, OpBuilder &b) {
    if (Value moved = mapping.lookupOrNull(size))
      return moved;
    auto arg = dyn_cast<BlockArgument>(size);
    if (arg)
      return arg;
    Operation *op = size.getDefiningOp();
    for (Value operand : op->getOperands())
      atStart(operand, b);
    Operation *clone = b.clone(*op, mapping);
    return clone->getResult(cast<OpResult>(size).getResultNumber());
  }

private:
  struct Range {
    int64_t lo, hi;
  };

  std::optional<Range> rangeOf(Value size) {
    if (auto it = known.find(size); it != known.end())
      return it->second;
    std::optional<Range> result = evaluate(size);
    known[size] = result;
    return result;
  }

  /// The interval of `size`'s values: sums, differences, products, minima,
  /// maxima, divisions and remainders by positive constants (a "same"
  /// padding's `max(0, 3 - h % 2) // 2`), unsigned ops of values that are
  /// not negative, selects (either value); nullopt on anything else or an
  /// overflow.
  std::optional<Range> evaluate(Value size) {
    Operation *op = size.getDefiningOp();
    if (!op || op->getBlock() != &fn.getBody().front())
      return std::nullopt;
    if (auto constant = getConstantIntValue(size))
      return Range{*constant, *constant};
    if (auto dim = dyn_cast<memref::DimOp>(op)) {
      // A symbolic dimension of an argument: its symbol's bounds.
      std::optional<ArgumentDim> size = argumentDim(fn, dim);
      if (!size)
        return std::nullopt;
      return size->isSymbol ? ranges[size->value] : Range{size->value, size->value};
    }
    if (auto apply = dyn_cast<affine::AffineApplyOp>(op))
      return evaluate(apply);
    // A choice (a kernel's task split): either value's range.
    if (auto select = dyn_cast<arith::SelectOp>(op)) {
      std::optional<Range> a = rangeOf(select.getTrueValue()),
                           b = rangeOf(select.getFalseValue());
      if (!a || !b)
        return std::nullopt;
      return Range{std::min(a->lo, b->lo), std::max(a->hi, b->hi)};
    }
    if (!isa<arith::AddIOp, arith::SubIOp, arith::MulIOp, arith::MaxUIOp, arith::MinUIOp,
             arith::MaxSIOp, arith::MinSIOp, arith::IndexCastOp, arith::IndexCastUIOp,
             arith::CeilDivUIOp, arith::DivUIOp, arith::FloorDivSIOp, arith::CeilDivSIOp,
             arith::DivSIOp, arith::RemSIOp, arith::RemUIOp>(op))
      return std::nullopt;
    SmallVector<Range> in;
    for (Value operand : op->getOperands()) {
      std::optional<Range> range = rangeOf(operand);
      if (!range)
        return std::nullopt;
      in.push_back(*range);
    }
    // Unsigned ops take sizes, which are not negative at the calls that pass
    // the derived sizes' checks; the intervals lose that where a window's
    // output length is clamped (`(h - 2) // 2 + 1 + min(h - 2, 0)` spans
    // [-1, ...] over h ≥ 1, though h = 1 is refused). Their operands are
    // bounded over the sizes that are not negative.
    bool signedOp = isa<arith::AddIOp, arith::SubIOp, arith::MulIOp, arith::MaxSIOp,
                        arith::MinSIOp, arith::FloorDivSIOp, arith::CeilDivSIOp, arith::DivSIOp,
                        arith::RemSIOp, arith::IndexCastOp>(op);
    if (!signedOp)
      for (Range &range : in) {
        if (range.hi < 0)
          return std::nullopt;
        range.lo = std::max<int64_t>(range.lo, 0);
      }
    if (isa<arith::IndexCastOp, arith::IndexCastUIOp>(op))
      return in[0];
    // Divisions and remainders: by a positive divisor (a constant, or a
    // size at least 1: a task count, the rows over the rows per task).
    if (isa<arith::CeilDivUIOp, arith::DivUIOp, arith::FloorDivSIOp, arith::CeilDivSIOp,
            arith::DivSIOp, arith::RemSIOp, arith::RemUIOp>(op)) {
      // An unsigned division's divisor is a size, which its intervals may
      // let reach 0 (a clamped window length): at a call that computes the
      // quotient it is at least 1.
      Range divisor = in[1];
      if (!signedOp && divisor.hi >= 1)
        divisor.lo = std::max<int64_t>(divisor.lo, 1);
      if (divisor.lo <= 0)
        return std::nullopt;
      if (isa<arith::RemSIOp, arith::RemUIOp>(op))
        return in[0].lo >= 0 ? Range{0, std::min(in[0].hi, divisor.hi - 1)}
                             : Range{-(divisor.hi - 1), std::max<int64_t>(in[0].hi, 0)};
      // (Each is monotonic in the dividend and in a divisor of one sign:
      // its extremes are at the corners.)
      ube::PlanExpr::Op division = *ube::planExprOpOf(op);
      std::optional<int64_t> lo, hi;
      for (int64_t a : {in[0].lo, in[0].hi})
        for (int64_t d : {divisor.lo, divisor.hi}) {
          std::optional<int64_t> v = ube::evaluatePlanOp(division, a, d);
          if (!v)
            return std::nullopt;
          lo = lo ? std::min(*lo, *v) : *v;
          hi = hi ? std::max(*hi, *v) : *v;
        }
      return Range{*lo, *hi};
    }
    if (isa<arith::MaxSIOp, arith::MaxUIOp>(op))
      return Range{std::max(in[0].lo, in[1].lo), std::max(in[0].hi, in[1].hi)};
    if (isa<arith::MinSIOp, arith::MinUIOp>(op))
      return Range{std::min(in[0].lo, in[1].lo), std::min(in[0].hi, in[1].hi)};
    ube::PlanExpr::Op arithmetic = *ube::planExprOpOf(op);
    // The extremes of a sum, difference or product are at its operands'.
    std::optional<int64_t> lo, hi;
    for (int64_t a : {in[0].lo, in[0].hi})
      for (int64_t b : {in[1].lo, in[1].hi}) {
        std::optional<int64_t> v = ube::evaluatePlanOp(arithmetic, a, b);
        if (!v)
          return std::nullopt;
        lo = lo ? std::min(*lo, *v) : *v;
        hi = hi ? std::max(*hi, *v) : *v;
      }
    return Range{*lo, *hi};
  }

  /// An affine size (the shapes' reified sizes, `s0 * 12`) between its
  /// values at its operands' minima and maxima, when it only grows with them.
  std::optional<Range> evaluate(affine::AffineApplyOp apply) {
    AffineMap map = apply.getAffineMap();
    if (map.getNumResults() != 1 || !growsWithOperands(map.getResult(0)))
      return std::nullopt;
    SmallVector<Attribute> lows, highs;
    for (Value operand : apply.getMapOperands()) {
      // (Sizes, bounded over those not negative, as unsigned ops' operands.)
      std::optional<Range> range = rangeOf(operand);
      if (!range || range->hi < 0)
        return std::nullopt;
      lows.push_back(
          IntegerAttr::get(IndexType::get(apply.getContext()), std::max<int64_t>(range->lo, 0)));
      highs.push_back(IntegerAttr::get(IndexType::get(apply.getContext()), range->hi));
    }
    SmallVector<Attribute> lo, hi;
    if (failed(map.constantFold(lows, lo)) || failed(map.constantFold(highs, hi)))
      return std::nullopt;
    return Range{cast<IntegerAttr>(lo[0]).getInt(), cast<IntegerAttr>(hi[0]).getInt()};
  }

  /// Sums and products of dimensions, symbols and constants ≥ 0, divided by
  /// positive constants (no `mod`, no subtraction).
  static bool growsWithOperands(AffineExpr expr) {
    if (auto constant = dyn_cast<AffineConstantExpr>(expr))
      return constant.getValue() >= 0;
    if (isa<AffineDimExpr, AffineSymbolExpr>(expr))
      return true;
    auto binary = cast<AffineBinaryOpExpr>(expr);
    switch (expr.getKind()) {
    case AffineExprKind::Add:
    case AffineExprKind::Mul:
      return growsWithOperands(binary.getLHS()) && growsWithOperands(binary.getRHS());
    case AffineExprKind::FloorDiv:
    case AffineExprKind::CeilDiv: {
      auto divisor = dyn_cast<AffineConstantExpr>(binary.getRHS());
      return divisor && divisor.getValue() > 0 && growsWithOperands(binary.getLHS());
    }
    default:
      return false;
    }
  }

  func::FuncOp fn;
  SmallVector<Range> ranges; ///< Per symbol of `ube.symbols`.
  bool bounded = true;
  llvm::DenseMap<Value, std::optional<Range>> known;
  IRMapping mapping;
};

/// Rewrites each `memref.dim` in `block` of an allocation or a reshape of
/// one as the size it reads (an allocation's operand, an expansion's output
/// size, the product of a collapsed group's sizes), so that symbolic sizes
/// are computed from the arguments' dimensions alone.
void resolveDims(Block &block) {
  SmallVector<memref::DimOp> dims;
  block.walk([&](memref::DimOp dim) { dims.push_back(dim); });
  // (Dims of a collapse's source join the list as they are made.)
  for (size_t i = 0; i < dims.size(); ++i) {
    memref::DimOp dim = dims[i];
    std::optional<int64_t> index = dim.getConstantIndex();
    if (!index)
      continue;
    OpBuilder b(dim);
    Location loc = dim.getLoc();
    Value source = dim.getSource(), resolved;
    if (auto alloc = source.getDefiningOp<memref::AllocOp>()) {
      if (alloc.getType().isDynamicDim(*index))
        resolved = alloc.getDynamicSizes()[alloc.getType().getDynamicDimIndex(*index)];
    } else if (auto expand = source.getDefiningOp<memref::ExpandShapeOp>()) {
      resolved = getValueOrCreateConstantIndexOp(b, loc, expand.getMixedOutputShape()[*index]);
    } else if (auto collapse = source.getDefiningOp<memref::CollapseShapeOp>()) {
      for (int64_t d : collapse.getReassociationIndices()[*index]) {
        Value size = memref::DimOp::create(b, loc, collapse.getSrc(), d);
        resolved = resolved ? arith::MulIOp::create(b, loc, resolved, size).getResult() : size;
        dims.push_back(size.getDefiningOp<memref::DimOp>());
      }
    }
    if (!resolved)
      continue;
    dim.replaceAllUsesWith(resolved);
    dim.erase();
  }
}

/// A buffer for `alloc`, a top-level allocation of symbolic shape in `fn`
/// (identity layout, deallocated at the top level), whose sizes `sizes` can
/// bound; or nullopt.
std::optional<Buffer> symbolicCandidate(memref::AllocOp alloc, Block &block,
                                        const llvm::DenseMap<Operation *, int64_t> &position,
                                        SymbolicSizes &sizes) {
  MemRefType type = alloc.getType();
  if (type.hasStaticShape() || !type.getLayout().isIdentity() || type.getMemorySpace())
    return std::nullopt;
  std::optional<int64_t> elementBytes =
      byteSize(MemRefType::get({}, type.getElementType()));
  std::optional<int64_t> last = lastUse(alloc.getResult(), block, position);
  if (!elementBytes || !last)
    return std::nullopt;
  int64_t maxBytes = *elementBytes;
  for (int64_t size : type.getShape())
    if (!ShapedType::isDynamic(size))
      maxBytes *= size;
  for (Value size : alloc.getDynamicSizes()) {
    std::optional<int64_t> max = sizes.maximum(size);
    if (!max)
      return std::nullopt;
    maxBytes *= *max;
  }
  return placedBuffer(alloc, block, position, maxBytes, *last);
}

/// Gives the scratch buffers of `block`'s tasks whose slots the static plan
/// cannot count (a task of a symbolic size: a depthwise kernel's padded
/// plane on symbolic planes, or any buffer of a task whose count is
/// symbolic) one allocation outside the task, a slot per iteration: each
/// iteration's buffer becomes a view of its slot. That allocation is then
/// a buffer of the function like any other (planned in the arena where its
/// size is an expression of the symbols); left in the task, each iteration
/// would allocate its own at each call. Only buffers whose sizes are known
/// before the task and whose uses stay in it.
void hoistTaskScratch(Block &block) {
  for (auto task : llvm::make_early_inc_range(block.getOps<scf::ForallOp>())) {
    bool countKnown = iterationCount(task).has_value();
    Block &body = *task.getBody();
    llvm::DenseMap<Operation *, int64_t> inTask = positions(body);
    for (auto alloc : llvm::make_early_inc_range(body.getOps<memref::AllocOp>())) {
      MemRefType type = alloc.getType();
      std::optional<int64_t> elementBytes = byteSize(MemRefType::get({}, type.getElementType()));
      if ((countKnown && type.hasStaticShape()) || !type.getLayout().isIdentity() ||
          type.getMemorySpace() || !elementBytes ||
          !llvm::all_of(alloc.getDynamicSizes(),
                        [&](Value size) { return task.isDefinedOutsideOfLoop(size); }) ||
          !lastUse(alloc.getResult(), body, inTask) ||
          llvm::any_of(alloc->getUsers(), [&](Operation *user) {
            return isa<memref::DeallocOp>(user) && user->getBlock() != &body;
          }))
        continue;
      Location loc = alloc.getLoc();
      OpBuilder b(task);
      auto constant = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
      // Slots of the buffer's bytes, rounded up to the alignment.
      Value bytes = constant(*elementBytes);
      int64_t dynamic = 0;
      for (int64_t size : type.getShape())
        bytes = arith::MulIOp::create(b, loc, bytes,
                                      ShapedType::isDynamic(size)
                                          ? alloc.getDynamicSizes()[dynamic++]
                                          : Value(constant(size)));
      Value slotBytes = arith::MulIOp::create(
          b, loc, arith::CeilDivUIOp::create(b, loc, bytes, constant(kAlignment)),
          constant(kAlignment));
      // One per iteration.
      SmallVector<OpFoldResult> counts = iterationCounts(b, task);
      Value slots = constant(1);
      for (OpFoldResult count : counts)
        slots = arith::MulIOp::create(b, loc, slots,
                                      getValueOrCreateConstantIndexOp(b, loc, count));
      auto bufferType = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
      Value buffer = memref::AllocOp::create(b, loc, bufferType,
                                             ValueRange{arith::MulIOp::create(b, loc, slots,
                                                                              slotBytes)},
                                             b.getI64IntegerAttr(kAlignment));
      b.setInsertionPointAfter(task);
      memref::DeallocOp::create(b, loc, buffer);
      b.setInsertionPoint(alloc);
      Value index = slotIndex(b, task, counts);
      Value view = memref::ViewOp::create(b, loc, type, buffer,
                                          arith::MulIOp::create(b, loc, index, slotBytes),
                                          alloc.getDynamicSizes());
      for (Operation *user : llvm::make_early_inc_range(alloc->getUsers()))
        if (isa<memref::DeallocOp>(user))
          user->erase();
      alloc.replaceAllUsesWith(view);
      alloc.erase();
    }
  }
}

/// Whether `size`, in `fn`'s entry block, is index arithmetic on `fn`'s
/// arguments (and their sizes) that a caller can compute from its call's
/// operands.
bool computableAtCalls(func::FuncOp fn, Value size) {
  Block &entry = fn.getBody().front();
  if (auto arg = dyn_cast<BlockArgument>(size))
    return arg.getOwner() == &entry;
  Operation *op = size.getDefiningOp();
  if (!op || op->getBlock() != &entry || op->getNumRegions() || !isPure(op))
    return false;
  if (!isa<arith::ConstantOp, memref::DimOp>(op) && !ube::planExprOpOf(op))
    return false;
  return llvm::all_of(op->getOperands(),
                      [&](Value operand) { return computableAtCalls(fn, operand); });
}

/// `size` computed before `call` from its operands (as `fn`'s arguments).
Value cloneAtCall(OpBuilder &b, Value size, IRMapping &mapping) {
  if (Value known = mapping.lookupOrNull(size))
    return known;
  Operation *op = size.getDefiningOp();
  for (Value operand : op->getOperands())
    cloneAtCall(b, operand, mapping);
  return b.clone(*op, mapping)->getResult(cast<OpResult>(size).getResultNumber());
}

/// Moves the buffers of a kernel (a private function) whose sizes are
/// symbolic to its callers: each becomes an argument, allocated before each
/// call (its sizes computed there from the call's operands) and freed
/// after, where the caller's plan places it with the caller's buffers of
/// symbolic size (a kernel's own arena is static). Only when every use of
/// the kernel is a call and the buffer's uses stay in it.
void liftSymbolicAllocs(func::FuncOp fn, ModuleOp module) {
  std::optional<SymbolTable::UseRange> uses = fn.getSymbolUses(module);
  if (!uses || llvm::any_of(*uses, [](const SymbolTable::SymbolUse &use) {
        return !isa<func::CallOp>(use.getUser());
      }))
    return;
  Block &entry = fn.getBody().front();
  llvm::DenseMap<Operation *, int64_t> position = positions(entry);
  for (auto alloc : llvm::make_early_inc_range(entry.getOps<memref::AllocOp>())) {
    MemRefType type = alloc.getType();
    if (alloc.getDynamicSizes().empty() || !type.getLayout().isIdentity() ||
        type.getMemorySpace() || !lastUse(alloc.getResult(), entry, position) ||
        llvm::any_of(alloc.getDynamicSizes(),
                     [&](Value size) { return !computableAtCalls(fn, size); }) ||
        llvm::any_of(alloc->getUsers(), [&](Operation *user) {
          return isa<memref::DeallocOp>(user) && user->getBlock() != &entry;
        }))
      continue;
    unsigned index = fn.getNumArguments();
    if (failed(fn.insertArgument(index, type, {}, alloc.getLoc())))
      continue;
    for (SymbolTable::SymbolUse use : *uses) {
      auto call = cast<func::CallOp>(use.getUser());
      OpBuilder b(call);
      IRMapping mapping;
      mapping.map(fn.getArguments().take_front(call.getNumOperands()), call.getOperands());
      SmallVector<Value> sizes;
      for (Value size : alloc.getDynamicSizes())
        sizes.push_back(cloneAtCall(b, size, mapping));
      Value buffer = memref::AllocOp::create(b, alloc.getLoc(), type, sizes,
                                             alloc.getAlignmentAttr());
      call->insertOperands(call->getNumOperands(), buffer);
      b.setInsertionPointAfter(call);
      memref::DeallocOp::create(b, alloc.getLoc(), buffer);
    }
    for (Operation *user : llvm::make_early_inc_range(alloc->getUsers()))
      if (isa<memref::DeallocOp>(user))
        user->erase();
    alloc.replaceAllUsesWith(fn.getArgument(index));
    alloc.erase();
  }
}

struct UbeCpuPlanMemoryPass : ube::impl::UbeCpuPlanMemoryBase<UbeCpuPlanMemoryPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Callees first: a callee's arena is an allocation at its calls.
    SmallVector<func::FuncOp> order;
    llvm::DenseSet<Operation *> visited;
    std::function<void(func::FuncOp)> visit = [&](func::FuncOp fn) {
      if (!visited.insert(fn).second)
        return;
      fn.walk([&](func::CallOp call) {
        if (auto callee = module.lookupSymbol<func::FuncOp>(call.getCallee()))
          visit(callee);
      });
      order.push_back(fn);
    };
    for (auto fn : module.getOps<func::FuncOp>())
      visit(fn);
    for (func::FuncOp fn : order) {
      if (fn.isExternal())
        continue;
      if (fn.isPrivate()) {
        hoistTaskScratch(fn.getBody().front());
        liftSymbolicAllocs(fn, module);
      }
      std::optional<int64_t> arenaBytes = plan(fn);
      if (!arenaBytes)
        continue;
      if (failed(allocateAtCalls(fn, *arenaBytes)))
        return signalPassFailure();
    }
  }

  /// Gives each call of `fn` (now taking an arena) a buffer of
  /// `arenaBytes`, allocated before and freed after the call.
  LogicalResult allocateAtCalls(func::FuncOp fn, int64_t arenaBytes) {
    std::optional<SymbolTable::UseRange> uses = fn.getSymbolUses(getOperation());
    if (!uses)
      return fn.emitError("cannot find the calls of a function given an arena");
    auto type = cast<MemRefType>(fn.getArgumentTypes().back());
    for (SymbolTable::SymbolUse use : *uses) {
      auto call = dyn_cast<func::CallOp>(use.getUser());
      if (call && fn->hasAttr(ube::UbeDialect::ArenaExprsAttrHelper::getNameStr()))
        return call.emitError("calls @")
               << fn.getName() << ", whose arena is sized at run time from its symbols";
      if (!call)
        return use.getUser()->emitError("uses @")
               << fn.getName() << ", which needs an arena of " << arenaBytes
               << " bytes from its callers";
      OpBuilder b(call);
      Location loc = call.getLoc();
      Value scratch =
          memref::AllocOp::create(b, loc, type, b.getI64IntegerAttr(kAlignment)).getResult();
      call->insertOperands(call->getNumOperands(), scratch);
      b.setInsertionPointAfter(call);
      memref::DeallocOp::create(b, loc, scratch);
    }
    return success();
  }

  /// Places `fn`'s buffers in an arena it gets as a trailing argument;
  /// returns the arena's size, or nullopt when there is nothing to place.
  std::optional<int64_t> plan(func::FuncOp fn) {
    Block &block = fn.getBody().front();
    hoistTaskScratch(block);
    llvm::DenseMap<Operation *, int64_t> position = positions(block);

    // Symbolic buffers, in an entry point's arena.
    auto symbols = fn->getAttrOfType<ArrayAttr>(ube::UbeDialect::SymbolsAttrHelper::getNameStr());
    std::optional<SymbolicSizes> sizes;
    if (fn.isPublic() && symbols && !symbols.empty())
      sizes.emplace(fn, symbols);
    if (sizes)
      resolveDims(block);

    std::vector<Buffer> buffers, symbolic;
    for (Operation &op : block) {
      if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
        if (std::optional<Buffer> buffer = candidate(alloc, block, position))
          buffers.push_back(*buffer);
        else if (sizes)
          if (std::optional<Buffer> buffer = symbolicCandidate(alloc, block, position, *sizes))
            symbolic.push_back(*buffer);
        continue;
      }
      auto task = dyn_cast<scf::ForallOp>(op);
      std::optional<int64_t> slots = task ? iterationCount(task) : std::nullopt;
      if (!slots)
        continue;
      llvm::DenseMap<Operation *, int64_t> inTask = positions(*task.getBody());
      for (auto alloc : task.getBody()->getOps<memref::AllocOp>())
        if (std::optional<Buffer> buffer = candidate(alloc, *task.getBody(), inTask)) {
          buffer->task = task;
          buffer->slots = *slots;
          buffer->bytes = *slots * buffer->slotBytes;
          buffer->first = buffer->last = position.lookup(task);
          buffers.push_back(*buffer);
        }
    }
    if (buffers.empty() && symbolic.empty())
      return std::nullopt;

    int64_t arenaBytes = placeByLiveness(buffers);

    // An arena sized at run time comes as a pointer alone (a rank-0 memref).
    MLIRContext *context = fn.getContext();
    Type i8 = IntegerType::get(context, 8);
    auto arenaType = symbolic.empty() ? MemRefType::get({arenaBytes}, i8) : MemRefType::get({}, i8);
    if (failed(fn.insertArgument(fn.getNumArguments(), arenaType, {}, fn.getLoc()))) {
      fn.emitError("cannot add the memory arena argument");
      signalPassFailure();
      return std::nullopt;
    }
    Value arena = fn.getArgument(fn.getNumArguments() - 1);
    if (!symbolic.empty()) {
      arena = placeSymbolic(fn, symbolic, *sizes, arenaBytes, arena, arenaBytes);
      if (!arena) {
        signalPassFailure();
        return std::nullopt;
      }
    }
    OpBuilder b(context);
    for (Buffer &buffer : symbolic) {
      b.setInsertionPoint(buffer.alloc);
      Value view = memref::ViewOp::create(b, buffer.alloc.getLoc(), buffer.alloc.getType(),
                                          arena, buffer.runtimeOffset,
                                          buffer.alloc.getDynamicSizes());
      buffer.alloc.replaceAllUsesWith(view);
    }
    for (Buffer &buffer : buffers) {
      b.setInsertionPoint(buffer.alloc);
      Value offset = arith::ConstantIndexOp::create(b, buffer.alloc.getLoc(), buffer.offset);
      if (buffer.task)
        offset = arith::AddIOp::create(
            b, buffer.alloc.getLoc(), offset,
            arith::MulIOp::create(
                b, buffer.alloc.getLoc(),
                slotIndex(b, buffer.task, iterationCounts(b, buffer.task)),
                arith::ConstantIndexOp::create(b, buffer.alloc.getLoc(), buffer.slotBytes)));
      Value view = memref::ViewOp::create(b, buffer.alloc.getLoc(), buffer.alloc.getType(),
                                          arena, offset, ValueRange{});
      buffer.alloc.replaceAllUsesWith(view);
    }
    llvm::append_range(buffers, symbolic);
    if (print)
      printPlan(fn, buffers, arenaBytes);
    for (Buffer &buffer : buffers)
      buffer.alloc.erase();
    // (An arena sized at run time has no bound without the symbols' maxima,
    // nor a useful one where the intervals give more than an executable may
    // declare: a task count times its buffers' size, each at its maximum.)
    if (symbolic.empty() ||
        (sizes->isBounded() && uint64_t(arenaBytes) <= ube::kMaxArenaBytes))
      fn->setAttr(ube::UbeDialect::ArenaBytesAttrHelper::getNameStr(),
                  b.getI64IntegerAttr(arenaBytes));
    return arenaBytes;
  }

  /// Places `symbolic` above the static buffers' `staticBytes`, in code at
  /// the function's start and at the maxima. Their order in the arena is a
  /// static plan at the maxima (largest first, each at the lowest offset
  /// clear of those live with it); at a call each one sits at the highest
  /// end among the buffers below it live at the same time, which keeps
  /// that order at any size: where all sizes scale together, the plan is
  /// as tight as a static one.
  /// Sets `bytesAtMaxima` to the arena's size at the maxima and
  /// `ube.arena_exprs` to its size at a call; returns `pointer` (the arena
  /// argument) viewed at that size, or null after a diagnostic.
  Value placeSymbolic(func::FuncOp fn, std::vector<Buffer> &symbolic, SymbolicSizes &sizes,
                      int64_t staticBytes, Value pointer, int64_t &bytesAtMaxima) {
    Block &block = fn.getBody().front();
    Location loc = fn.getLoc();
    OpBuilder b = OpBuilder::atBlockBegin(&block);
    auto constant = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
    // (Ops the runtime's expressions have: no bit masks.)
    auto alignUp = [&](Value bytes) -> Value {
      return arith::MulIOp::create(
          b, loc, arith::CeilDivUIOp::create(b, loc, bytes, constant(kAlignment)),
          constant(kAlignment));
    };
    auto bytesOf = [&](Buffer &buffer) -> Value {
      MemRefType type = buffer.alloc.getType();
      int64_t staticBytes = *byteSize(MemRefType::get({}, type.getElementType()));
      for (int64_t size : type.getShape())
        if (!ShapedType::isDynamic(size))
          staticBytes *= size;
      Value bytes = constant(staticBytes);
      for (Value size : buffer.alloc.getDynamicSizes())
        bytes = arith::MulIOp::create(b, loc, bytes, sizes.atStart(size, b));
      return bytes;
    };

    Value base = constant(staticBytes);
    int64_t baseAtMaxima = staticBytes;
    // The order: the static plan at the maxima, lowest offset first. Each
    // offset is then recomputed as a call's would be, at the maxima.
    std::vector<Buffer *> order;
    for (Buffer &buffer : symbolic)
      order.push_back(&buffer);
    placeByLiveness(order, baseAtMaxima);
    llvm::sort(order, [](Buffer *a, Buffer *b) {
      return std::make_pair(a->offset, a->first) < std::make_pair(b->offset, b->first);
    });
    int64_t arenaBytes = baseAtMaxima;
    std::vector<Buffer *> placed;
    // below[i]: the placed buffers that end at or under placed[i]'s offset
    // (those its offset is the maximum over, and theirs). A buffer above
    // another one that overlaps the new buffer drops out of its maximum:
    // without that, a function's start held O(n²) maxima, which LLVM's
    // instruction scheduler takes minutes over.
    std::vector<llvm::BitVector> below;
    for (Buffer *buffer : order) {
      buffer->runtimeBytes = alignUp(bytesOf(*buffer));
      buffer->offset = baseAtMaxima;
      llvm::BitVector overlapping(order.size()), dominated(order.size());
      for (auto [i, other] : llvm::enumerate(placed))
        if (buffer->overlapsInTime(*other)) {
          overlapping.set(i);
          dominated |= below[i];
          buffer->offset = std::max(buffer->offset, other->offset + other->slotBytes);
        }
      Value offset;
      for (unsigned i : overlapping.set_bits()) {
        if (dominated.test(i))
          continue;
        Value end = arith::AddIOp::create(b, loc, placed[i]->runtimeOffset,
                                          placed[i]->runtimeBytes);
        offset = offset ? arith::MaxUIOp::create(b, loc, offset, end).getResult() : end;
      }
      // Every placed buffer starts above the static ones.
      buffer->runtimeOffset = offset ? offset : base;
      arenaBytes = std::max(arenaBytes, buffer->offset + buffer->slotBytes);
      placed.push_back(buffer);
      below.push_back(dominated |= overlapping);
    }
    // The arena's size at a call: the highest end among the buffers no
    // other one sits on.
    llvm::BitVector under(order.size());
    for (const llvm::BitVector &set : below)
      under |= set;
    // (Every placed buffer ends above the static ones.)
    Value total;
    for (auto [i, buffer] : llvm::enumerate(placed)) {
      if (under.test(i))
        continue;
      Value end = arith::AddIOp::create(b, loc, buffer->runtimeOffset, buffer->runtimeBytes);
      total = total ? arith::MaxUIOp::create(b, loc, total, end).getResult() : end;
    }
    if (!total && staticBytes)
      total = base;
    bytesAtMaxima = llvm::alignTo(arenaBytes, kAlignment);
    MemRefType type = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
    Value arena = memref::ReinterpretCastOp::create(b, loc, type, pointer, b.getIndexAttr(0),
                                                    ArrayRef<OpFoldResult>{total},
                                                    ArrayRef<OpFoldResult>{b.getIndexAttr(1)});

    // The same size as expressions of the symbols, for the runtime.
    ube::SizeExprBuilder exprs(
        "the memory plan", [&](ShapedDimOpInterface dim) -> FailureOr<ube::SizeExpr> {
          auto memrefDim = dyn_cast<memref::DimOp>(dim.getOperation());
          std::optional<ArgumentDim> size =
              memrefDim ? argumentDim(fn, memrefDim) : std::nullopt;
          if (!size)
            return dim->emitOpError("reads a size the memory plan cannot follow");
          return size->isSymbol ? exprs.symbol(unsigned(size->value))
                                : ube::SizeExpr{size->value};
        });
    FailureOr<ube::SizeExpr> size = exprs.valueOf(total, fn);
    if (failed(size))
      return Value();
    std::vector<ube::PlanExpr> list = exprs.takeExprs();
    // The size is the list's last node.
    if (size->isConstant())
      list.push_back({ube::PlanExpr::Constant, size->constant});
    else if (size_t(size->expr) + 1 != list.size())
      list.push_back({ube::PlanExpr::MaxUI, 0, uint32_t(size->expr), uint32_t(size->expr)});
    fn->setAttr(ube::UbeDialect::ArenaExprsAttrHelper::getNameStr(),
                ube::sizeExprsToAttr(fn.getContext(), list));
    return arena;
  }

  void printPlan(func::FuncOp fn, std::vector<Buffer> &buffers, int64_t arenaBytes) {
    int64_t total = 0;
    for (const Buffer &buffer : buffers)
      total += buffer.bytes;
    auto mib = [](int64_t bytes) { return double(bytes) / (1 << 20); };
    llvm::raw_ostream &os = llvm::outs();
    os << "memory plan for @" << fn.getName() << ": arena " << arenaBytes << " bytes ("
       << llvm::format("%.2f", mib(arenaBytes)) << " MiB) for " << buffers.size()
       << " buffers of " << total << " bytes (" << llvm::format("%.2f", mib(total))
       << " MiB) in all"
       << (fn->hasAttr(ube::UbeDialect::ArenaExprsAttrHelper::getNameStr())
               ? "; sized at each call from the symbols (shown at their maxima, 512 "
                 "without one)"
               : "")
       << "\n";
    os << llvm::format("  %12s %12s %14s  %s\n", "offset", "bytes", "live", "buffer");
    std::vector<Buffer *> byOffset;
    for (Buffer &buffer : buffers)
      byOffset.push_back(&buffer);
    llvm::sort(byOffset, [](Buffer *a, Buffer *b) {
      return std::tie(a->offset, a->first) < std::tie(b->offset, b->first);
    });
    for (Buffer *buffer : byOffset) {
      std::string live =
          ("[" + llvm::Twine(buffer->first) + ", " + llvm::Twine(buffer->last) + "]").str();
      std::string type, loc;
      llvm::raw_string_ostream(type) << buffer->alloc.getType();
      llvm::raw_string_ostream(loc) << buffer->alloc.getLoc();
      os << llvm::format("  %12lld %12lld %14s  ", (long long)buffer->offset,
                         (long long)buffer->bytes, live.c_str())
         << type << (buffer->task ? " x" + std::to_string(buffer->slots) + " tasks" : "")
         << " " << loc << "\n";
    }
    // Callers in the same process (Python) read it as the compile returns.
    os.flush();
  }
};

} // namespace
