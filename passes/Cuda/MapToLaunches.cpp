//===- MapToGpuLaunches.cpp - top-level loop nests -> gpu.launch ----------===//
//
// The simplest complete mapping: one GPU thread per parallel iteration. It is
// correct for every op the linalg lowering produces. Launches already there
// (the tiled contractions of ube-cuda-matmul-kernels) are left as they are.
// Loop bounds may be symbolic sizes: grids are then computed on the host
// (the launch plan's expressions) and every thread checks its range.
//
//===----------------------------------------------------------------------===//

#include "passes/Cuda/Passes.h"
#include "passes/Utils/KernelBuilding.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"

#include <cmath>

namespace ube {
#define GEN_PASS_DEF_UBECUDAMAPTOLAUNCHES
#include "passes/Cuda/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

/// Ops that stay on the host: allocation, views, copies between buffers.
bool staysOnHost(Operation *op) {
  return isa<memref::AllocOp, memref::AllocaOp, memref::DeallocOp, memref::GetGlobalOp,
             memref::CopyOp, memref::CollapseShapeOp, memref::ExpandShapeOp,
             memref::SubViewOp, memref::ReinterpretCastOp, memref::CastOp, func::ReturnOp,
             arith::ConstantOp>(op) ||
         op->hasTrait<OpTrait::ConstantLike>();
}

/// Whether a value defined outside a kernel can be recomputed inside it:
/// scalars from pure ops (some, like arith.mului_extended in the random
/// draws, have two) or loads, not buffers.
bool recomputable(Operation *def) {
  if (!def || def->getNumResults() == 0 ||
      llvm::any_of(def->getResultTypes(), [](Type t) { return isa<MemRefType>(t); }))
    return false;
  return isa<memref::LoadOp>(def) || isMemoryEffectFree(def);
}

/// Whether a loop's start and step are constants (a positive step): its
/// end may be a size known only at run time.
bool mappableBounds(ValueRange lower, ValueRange steps) {
  return llvm::all_of(lower, [](Value v) { return getConstantIntValue(v).has_value(); }) &&
         llvm::all_of(steps, [](Value v) {
           auto s = getConstantIntValue(v);
           return s && *s > 0;
         });
}

/// The trip count of a loop of constant start and step, folded when its end
/// is a constant, else computed where `b` is (an end below the start runs
/// no iteration).
OpFoldResult tripCount(OpBuilder &b, Location loc, int64_t lower, Value upper, int64_t step) {
  if (auto u = getConstantIntValue(upper))
    return b.getIndexAttr(std::max<int64_t>(0, (*u - lower + step - 1) / step));
  Value trip = upper;
  if (lower != 0) {
    trip = arith::SubIOp::create(b, loc, trip, arith::ConstantIndexOp::create(b, loc, lower));
    trip = arith::MaxSIOp::create(b, loc, trip, arith::ConstantIndexOp::create(b, loc, 0));
  }
  if (step != 1)
    trip = arith::CeilDivUIOp::create(b, loc, trip, arith::ConstantIndexOp::create(b, loc, step));
  return trip;
}

/// A parallel loop's bounds: each dimension's start, step and trip count,
/// and the iterations in all. Trip counts of symbolic sizes are host values.
struct IterationSpace {
  SmallVector<int64_t> lower, step;
  SmallVector<OpFoldResult> trips;
  OpFoldResult total;
  /// The iteration count when it is a constant.
  std::optional<int64_t> staticTotal() const { return getConstantIntValue(total); }
};

/// `loop`'s iteration space (mappableBounds holds), computing trip counts of
/// symbolic sizes on the host before `before` (the loop, or the op that
/// holds it).
IterationSpace iterationSpace(scf::ParallelOp loop, Operation *before) {
  OpBuilder b(before);
  Location loc = loop.getLoc();
  IterationSpace space;
  space.total = b.getIndexAttr(1);
  for (auto [lb, ub, st] :
       llvm::zip(loop.getLowerBound(), loop.getUpperBound(), loop.getStep())) {
    space.lower.push_back(*getConstantIntValue(lb));
    space.step.push_back(*getConstantIntValue(st));
    space.trips.push_back(tripCount(b, loc, space.lower.back(), ub, space.step.back()));
    space.total = ube::mulSizes(b, loc, space.total, space.trips.back());
  }
  return space;
}

bool mappableBounds(scf::ParallelOp loop) {
  return mappableBounds(loop.getLowerBound(), loop.getStep());
}

struct UbeCudaMapToLaunchesPass
    : ube::impl::UbeCudaMapToLaunchesBase<UbeCudaMapToLaunchesPass> {
  using Base::Base;

  Value index(OpBuilder &b, Location loc, int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v);
  }

  /// Maps the loop's induction variables to the linear `id` split over the
  /// trip counts, innermost dimension fastest.
  void mapDelinearized(OpBuilder &b, Location loc, scf::ParallelOp loop, Value id,
                       const IterationSpace &space, IRMapping &mapping) {
    Value rest = id;
    for (int64_t d = int64_t(space.trips.size()) - 1; d >= 0; --d) {
      Value trip = getValueOrCreateConstantIndexOp(b, loc, space.trips[d]);
      Value iv = d == 0 ? rest : arith::RemUIOp::create(b, loc, rest, trip).getResult();
      if (d > 0)
        rest = arith::DivUIOp::create(b, loc, rest, trip);
      iv = arith::AddIOp::create(b, loc,
                                 arith::MulIOp::create(b, loc, iv, index(b, loc, space.step[d])),
                                 index(b, loc, space.lower[d]));
      mapping.map(loop.getInductionVars()[d], iv);
    }
  }

  /// A one-dimensional launch of grid x block threads and a builder at the
  /// start of its (terminated) body.
  std::pair<gpu::LaunchOp, OpBuilder> createLaunch(OpBuilder &b, Location loc, OpFoldResult grid,
                                                   int64_t block) {
    Value one = index(b, loc, 1);
    auto launch =
        gpu::LaunchOp::create(b, loc, getValueOrCreateConstantIndexOp(b, loc, grid), one, one,
                              index(b, loc, block), one, one);
    OpBuilder inner = OpBuilder::atBlockBegin(&launch.getBody().front());
    gpu::TerminatorOp::create(inner, loc);
    inner.setInsertionPointToStart(&launch.getBody().front());
    return {launch, inner};
  }

  /// A launch of `threads` threads in blocks of blockSize; `body` fills it
  /// with the thread's linear id (already guarded against overrun).
  LogicalResult buildLaunch(OpBuilder &b, Location loc, OpFoldResult threads,
                            function_ref<void(OpBuilder &, Value)> body) {
    std::optional<int64_t> count = getConstantIntValue(threads);
    int64_t block = count ? std::min<int64_t>(blockSize, std::max<int64_t>(*count, 1))
                          : int64_t(blockSize);
    OpFoldResult grid;
    if (count) {
      if ((*count + block - 1) / block > INT32_MAX)
        return emitError(loc) << "loop nest of " << *count << " iterations is too large";
      grid = b.getIndexAttr((*count + block - 1) / block);
    } else {
      grid = arith::CeilDivUIOp::create(b, loc, cast<Value>(threads), index(b, loc, block))
                 .getResult();
    }
    auto [launch, inner] = createLaunch(b, loc, grid, block);
    Value id = arith::AddIOp::create(
        inner, loc,
        arith::MulIOp::create(inner, loc, launch.getBlockIds().x, index(inner, loc, block)),
        launch.getThreadIds().x);
    if (!count || *getConstantIntValue(grid) * block != *count) {
      Value inRange = arith::CmpIOp::create(
          inner, loc, arith::CmpIPredicate::ult, id,
          getValueOrCreateConstantIndexOp(inner, loc, threads));
      auto guard = scf::IfOp::create(inner, loc, inRange, /*withElseRegion=*/false);
      inner.setInsertionPointToStart(&guard.getThenRegion().front());
    }
    body(inner, id);
    return success();
  }

  /// A reduction: a nest of sequential loops (each body the next loop) whose
  /// innermost body loads an accumulator, combines it (addf / maximumf) with
  /// a value computed from the iteration and stores it back to the same
  /// place, which no loop of the nest indexes.
  struct Reduction {
    SmallVector<scf::ForOp> nest; ///< Outermost first.
    memref::LoadOp accumulator;
    Operation *combine;
    memref::StoreOp store;
    Value element; ///< The value combined into the accumulator.

    /// Each loop's trip count, computed where `b` is unless a constant.
    SmallVector<OpFoldResult> trips(OpBuilder &b, Location loc) const {
      SmallVector<OpFoldResult> trips;
      for (scf::ForOp l : nest)
        trips.push_back(tripCount(b, loc, *getConstantIntValue(l.getLowerBound()),
                                  l.getUpperBound(), *getConstantIntValue(l.getStep())));
      return trips;
    }
    /// The iterations of the whole nest when they are a constant.
    std::optional<int64_t> staticLength() const {
      int64_t n = 1;
      for (scf::ForOp l : nest) {
        auto ub = getConstantIntValue(l.getUpperBound());
        if (!ub)
          return std::nullopt;
        int64_t lb = *getConstantIntValue(l.getLowerBound()),
                st = *getConstantIntValue(l.getStep());
        n *= std::max<int64_t>(0, (*ub - lb + st - 1) / st);
      }
      return n;
    }
  };

  static std::optional<Reduction> matchReduction(scf::ForOp outer) {
    SmallVector<scf::ForOp> nest{outer};
    while (true) {
      scf::ForOp l = nest.back();
      if (l.getNumRegionIterArgs() != 0 ||
          !mappableBounds(l.getLowerBound(), l.getStep()) ||
          (nest.size() > 1 && !l.getUpperBound().getParentRegion()->isProperAncestor(
                                  &outer.getRegion())))
        return std::nullopt;
      Block *body = l.getBody();
      auto next = llvm::hasSingleElement(body->without_terminator())
                      ? dyn_cast<scf::ForOp>(body->front())
                      : scf::ForOp();
      if (!next)
        break;
      nest.push_back(next);
    }
    memref::StoreOp store;
    for (Operation &op : nest.back().getBody()->without_terminator()) {
      if (auto s = dyn_cast<memref::StoreOp>(op)) {
        if (store)
          return std::nullopt; // one accumulator only
        store = s;
      } else if (!isa<memref::LoadOp>(op) && !isMemoryEffectFree(&op)) {
        return std::nullopt;
      }
    }
    if (!store || !isa<FloatType>(store.getValueToStore().getType()))
      return std::nullopt;
    Operation *combine = store.getValueToStore().getDefiningOp();
    if (!combine || !isa<arith::AddFOp, arith::MaximumFOp>(combine))
      return std::nullopt;
    auto inNest = [&](Value v) {
      return llvm::any_of(nest, [&](scf::ForOp l) { return v == l.getInductionVar(); });
    };
    for (int side = 0; side < 2; ++side) {
      auto load = combine->getOperand(side).getDefiningOp<memref::LoadOp>();
      if (load && load.getMemRef() == store.getMemRef() &&
          load.getIndices() == store.getIndices() && load->hasOneUse() &&
          llvm::none_of(store.getIndices(), inNest))
        return Reduction{nest, load, combine, store, combine->getOperand(1 - side)};
    }
    return std::nullopt;
  }

  /// A row reduction: a parallel loop whose body is one reduction nest.
  std::optional<Reduction> matchRowReduction(scf::ParallelOp loop) {
    Block *body = loop.getBody();
    if (!llvm::hasSingleElement(body->without_terminator()))
      return std::nullopt;
    auto inner = dyn_cast<scf::ForOp>(body->front());
    return inner ? matchReduction(inner) : std::nullopt;
  }

  /// One block per row (of `rows` over `space`, or one block for a reduction
  /// to a single accumulator): threads stride over the reduced iterations, innermost
  /// loop fastest (coalesced reads), combine privately, then across the
  /// block with gpu.all_reduce; thread 0 updates the accumulator. The order
  /// of the combination is fixed, so results do not vary from run to run.
  LogicalResult wrapReduction(Operation *replaced, Reduction r, scf::ParallelOp rows = {},
                              const IterationSpace &space = {}) {
    OpBuilder b(replaced);
    Location loc = replaced->getLoc();
    int64_t block = blockSize;
    SmallVector<OpFoldResult> trips = r.trips(b, loc);
    OpFoldResult length = b.getIndexAttr(1);
    for (OpFoldResult trip : trips)
      length = ube::mulSizes(b, loc, length, trip);
    auto [launch, inner] = createLaunch(b, loc, rows ? space.total : b.getIndexAttr(1), block);
    IRMapping mapping;
    if (rows)
      mapDelinearized(inner, loc, rows, launch.getBlockIds().x, space, mapping);
    auto type = cast<FloatType>(r.element.getType());
    bool isMax = isa<arith::MaximumFOp>(r.combine);
    Value identity = arith::ConstantOp::create(
        inner, loc, inner.getFloatAttr(type, isMax ? -INFINITY : 0.0));
    auto strided = scf::ForOp::create(inner, loc, launch.getThreadIds().x,
                                      getValueOrCreateConstantIndexOp(inner, loc, length),
                                      index(inner, loc, block), ValueRange{identity});
    {
      OpBuilder body = OpBuilder::atBlockBegin(strided.getBody());
      IRMapping perElement = mapping;
      // The flat iteration split over the nest's trip counts.
      Value rest = strided.getInductionVar();
      for (auto [l, tripCount] : llvm::reverse(llvm::zip(r.nest, trips))) {
        int64_t lb = *getConstantIntValue(l.getLowerBound()),
                st = *getConstantIntValue(l.getStep());
        // A loop of no iterations leaves none to split: any divisor will do.
        std::optional<int64_t> known = getConstantIntValue(tripCount);
        Value trip = known ? index(body, loc, std::max<int64_t>(1, *known))
                           : cast<Value>(tripCount);
        Value digit = l == r.nest.front()
                          ? rest
                          : arith::RemUIOp::create(body, loc, rest, trip).getResult();
        if (l != r.nest.front())
          rest = arith::DivUIOp::create(body, loc, rest, trip);
        Value iv = arith::AddIOp::create(
            body, loc, arith::MulIOp::create(body, loc, digit, index(body, loc, st)),
            index(body, loc, lb));
        perElement.map(l.getInductionVar(), iv);
      }
      for (Operation &op : r.nest.back().getBody()->without_terminator())
        if (&op != r.accumulator && &op != r.combine && &op != r.store)
          body.clone(op, perElement);
      Value element = perElement.lookupOrDefault(r.element);
      Value partial = strided.getRegionIterArgs()[0];
      Operation *combined = body.clone(*r.combine);
      combined->setOperands({partial, element});
      scf::YieldOp::create(body, loc, combined->getResult(0));
    }
    auto kind = isMax ? gpu::AllReduceOperation::MAXIMUMF : gpu::AllReduceOperation::ADD;
    Value total = gpu::AllReduceOp::create(
        inner, loc, strided.getResult(0),
        gpu::AllReduceOperationAttr::get(inner.getContext(), kind), inner.getUnitAttr());
    Value first = arith::CmpIOp::create(inner, loc, arith::CmpIPredicate::eq,
                                        launch.getThreadIds().x, index(inner, loc, 0));
    auto guard = scf::IfOp::create(inner, loc, first, /*withElseRegion=*/false);
    {
      OpBuilder then = OpBuilder::atBlockBegin(&guard.getThenRegion().front());
      Operation *load = then.clone(*r.accumulator, mapping);
      Operation *combined = then.clone(*r.combine, mapping);
      combined->setOperands({load->getResult(0), total});
      Operation *store = then.clone(*r.store, mapping);
      store->setOperand(0, combined->getResult(0));
    }
    replaced->erase();
    return success();
  }

  /// The sum or maximum a loop carries: its one float iteration argument,
  /// combined (addf / maximumf) with a value of the iteration each step.
  static Operation *carriedCombine(scf::ForOp loop) {
    if (loop.getNumRegionIterArgs() != 1 || !isa<FloatType>(loop.getResult(0).getType()))
      return nullptr;
    Operation *combine = loop.getBody()->getTerminator()->getOperand(0).getDefiningOp();
    if (!combine || !isa<arith::AddFOp, arith::MaximumFOp>(combine) ||
        combine->getBlock() != loop.getBody() || !combine->hasOneUse())
      return nullptr;
    Value acc = loop.getRegionIterArgs()[0];
    if (combine->getOperand(0) != acc && combine->getOperand(1) != acc)
      return nullptr;
    return acc.hasOneUse() ? combine : nullptr;
  }

  /// A row program (ube-cuda-row-kernels): a parallel loop over rows whose
  /// body is scalar computations and loops over the row, each either
  /// carrying one sum or maximum (a statistic) or writing outputs.
  bool isRowProgram(scf::ParallelOp loop) {
    if (loop.getNumReductions() != 0)
      return false;
    bool statistic = false;
    for (Operation &op : loop.getBody()->without_terminator()) {
      if (auto inner = dyn_cast<scf::ForOp>(op)) {
        if (!mappableBounds(inner.getLowerBound(), inner.getStep()))
          return false;
        bool stores = false;
        for (Operation &nested : inner.getBody()->without_terminator()) {
          if (nested.getNumRegions() != 0)
            return false;
          stores |= isa<memref::StoreOp>(nested);
          if (!isa<memref::LoadOp, memref::StoreOp>(nested) && !isMemoryEffectFree(&nested))
            return false;
        }
        if (inner.getNumRegionIterArgs() == 0 ? !stores : stores || !carriedCombine(inner))
          return false;
        statistic |= inner.getNumRegionIterArgs() == 1;
      } else if (!isa<memref::SubViewOp, memref::LoadOp>(op) && !isSelfCopy(&op) &&
                 !(isMemoryEffectFree(&op) && op.getNumRegions() == 0)) {
        return false;
      }
    }
    return statistic;
  }

  /// Row loop iterations a thread unrolls in a row program.
  static constexpr uint64_t kRowUnroll = 4;

  /// One block per row; each loop over the row strided over the block's
  /// threads. A statistic is each thread's partial sum or maximum combined
  /// across the block (gpu.all_reduce, which every thread receives); a
  /// barrier follows each loop that writes, for a later one that may read.
  LogicalResult wrapRowProgram(scf::ParallelOp loop, const IterationSpace &space) {
    // Short rows (attention over a few tokens) take fewer threads; rows of
    // symbolic length, a whole block.
    int64_t longest = 1;
    for (auto inner : loop.getBody()->getOps<scf::ForOp>()) {
      auto ub = getConstantIntValue(inner.getUpperBound());
      longest = std::max(longest, ub ? *ub - *getConstantIntValue(inner.getLowerBound())
                                     : int64_t(blockSize));
    }
    int64_t block = std::min<int64_t>(blockSize, (longest + 31) / 32 * 32);
    OpBuilder b(loop);
    Location loc = loop.getLoc();
    auto [launch, inner] = createLaunch(b, loc, space.total, block);
    IRMapping mapping;
    mapDelinearized(inner, loc, loop, launch.getBlockIds().x, space, mapping);
    Value thread = launch.getThreadIds().x;
    SmallVector<scf::ForOp> rowLoops;
    for (Operation &op : loop.getBody()->without_terminator()) {
      auto serial = dyn_cast<scf::ForOp>(op);
      if (!serial) {
        if (!isSelfCopy(&op))
          inner.clone(op, mapping);
        continue;
      }
      int64_t lb = *getConstantIntValue(serial.getLowerBound());
      auto staticEnd = getConstantIntValue(serial.getUpperBound());
      Value ub = staticEnd ? index(inner, loc, *staticEnd)
                           : mapping.lookupOrDefault(serial.getUpperBound());
      int64_t st = *getConstantIntValue(serial.getStep());
      Value start = arith::AddIOp::create(
          inner, loc, index(inner, loc, lb),
          arith::MulIOp::create(inner, loc, thread, index(inner, loc, st)));
      Operation *combine = carriedCombine(serial);
      bool isMax = combine && isa<arith::MaximumFOp>(combine);
      SmallVector<Value> init;
      if (combine)
        init.push_back(arith::ConstantOp::create(
            inner, loc,
            inner.getFloatAttr(serial.getResult(0).getType(), isMax ? -INFINITY : 0.0)));
      auto strided =
          scf::ForOp::create(inner, loc, start, ub, index(inner, loc, st * block), init);
      OpBuilder body = OpBuilder::atBlockBegin(strided.getBody());
      IRMapping perElement = mapping;
      perElement.map(serial.getInductionVar(), strided.getInductionVar());
      for (Operation &nested : serial.getBody()->without_terminator())
        if (&nested != combine)
          body.clone(nested, perElement);
      rowLoops.push_back(strided);
      if (!combine) {
        gpu::BarrierOp::create(inner, loc);
        continue;
      }
      Value acc = serial.getRegionIterArgs()[0];
      Value element = combine->getOperand(combine->getOperand(0) == acc ? 1 : 0);
      Operation *partial = body.clone(*combine);
      partial->setOperands({strided.getRegionIterArgs()[0], perElement.lookupOrDefault(element)});
      scf::YieldOp::create(body, loc, partial->getResult(0));
      auto kind = isMax ? gpu::AllReduceOperation::MAXIMUMF : gpu::AllReduceOperation::ADD;
      Value total = gpu::AllReduceOp::create(
          inner, loc, strided.getResult(0),
          gpu::AllReduceOperationAttr::get(inner.getContext(), kind), inner.getUnitAttr());
      // The loop's initial value joins the combination.
      Operation *withInit = inner.clone(*combine);
      withInit->setOperands({mapping.lookupOrDefault(serial.getInitArgs()[0]), total});
      mapping.map(serial.getResult(0), withInit->getResult(0));
    }
    // Several loads in flight per thread; a sum's order is unchanged (the
    // remainder loop continues the unrolled loop's chain).
    for (scf::ForOp strided : rowLoops)
      (void)loopUnrollByFactor(strided, kRowUnroll);
    loop.erase();
    return success();
  }

  LogicalResult wrapParallel(scf::ParallelOp loop) {
    if (loop.getNumReductions() != 0)
      return loop.emitOpError("with reductions cannot be mapped to threads yet");
    if (!mappableBounds(loop))
      return loop.emitOpError("needs constant starts and steps to map to GPU threads");
    IterationSpace it = iterationSpace(loop, loop);
    // A symbolic count is at least 1 (symbols' lower bounds), and its grid is
    // checked against the driver's limit when the plan is evaluated.
    std::optional<int64_t> total = it.staticTotal();
    // Long rows and not too many of them: a block per row beats a thread per
    // row (coalesced reads, the whole GPU busy).
    if (isRowProgram(loop) && (!total || (*total > 0 && *total <= INT32_MAX)))
      return wrapRowProgram(loop, it);
    if (auto reduction = matchRowReduction(loop)) {
      std::optional<int64_t> length = reduction->staticLength();
      if ((!length || *length >= blockSize) &&
          (!total || (*total > 0 && *total <= (int64_t(1) << 20))))
        return wrapReduction(loop, *reduction, loop, it);
    }
    OpBuilder b(loop);
    Location loc = loop.getLoc();
    if (total != 0 &&
        failed(buildLaunch(b, loc, it.total, [&](OpBuilder &inner, Value id) {
          IRMapping mapping;
          mapDelinearized(inner, loc, loop, id, it, mapping);
          for (Operation &op : loop.getBody()->without_terminator())
            inner.clone(op, mapping);
        })))
      return failure();
    loop.erase();
    return success();
  }

  /// A serial loop around one parallel loop whose iterations write disjoint
  /// elements whatever the serial iteration (scatter_add: for each row i,
  /// row ids[i] of a table += row i of a gradient, the parallel loop over
  /// the row's columns). Besides the parallel loop, the serial body only
  /// reads and computes (views, loads, pure ops) and may copy a view onto an
  /// identical view (a no-op bufferization leaves).
  bool isSerialOverParallel(scf::ForOp loop) {
    if (loop.getNumResults() != 0)
      return false;
    scf::ParallelOp inner;
    for (Operation &op : loop.getBody()->without_terminator()) {
      if (auto par = dyn_cast<scf::ParallelOp>(op)) {
        if (inner || par.getNumReductions() != 0)
          return false;
        inner = par;
      } else if (!isa<memref::SubViewOp, memref::LoadOp>(op) && !isSelfCopy(&op) &&
                 !(isMemoryEffectFree(&op) && op.getNumRegions() == 0)) {
        return false;
      }
    }
    // The parallel loop's sizes must not vary with the serial iteration.
    if (!inner || !mappableBounds(inner) ||
        llvm::any_of(inner.getUpperBound(), [&](Value v) {
          return loop->isAncestor(v.getParentBlock()->getParentOp());
        }))
      return false;
    // Every buffer the parallel loop writes is accessed, there, only at the
    // parallel loop's own indices along whole dimensions of the buffer, so
    // two parallel iterations never touch one element.
    SmallVector<Operation *> accesses;
    llvm::DenseSet<Value> written;
    for (Operation &op : inner.getBody()->without_terminator()) {
      if (op.getNumRegions() != 0)
        return false;
      if (auto store = dyn_cast<memref::StoreOp>(op))
        written.insert(rootBuffer(store.getMemRef()));
      else if (!isa<memref::LoadOp>(op) && !isMemoryEffectFree(&op))
        return false;
      if (isa<memref::LoadOp, memref::StoreOp>(op))
        accesses.push_back(&op);
    }
    for (Operation *access : accesses) {
      Value memref = isa<memref::LoadOp>(access) ? cast<memref::LoadOp>(access).getMemRef()
                                                 : cast<memref::StoreOp>(access).getMemRef();
      auto indices = isa<memref::LoadOp>(access) ? cast<memref::LoadOp>(access).getIndices()
                                                 : cast<memref::StoreOp>(access).getIndices();
      if (written.contains(rootBuffer(memref)) && !indexedByIvs(memref, indices, inner))
        return false;
    }
    // Every thread runs the serial body's own reads: none may read what
    // another thread writes.
    for (auto load : loop.getBody()->getOps<memref::LoadOp>())
      if (written.contains(rootBuffer(load.getMemRef())))
        return false;
    return true;
  }

  /// The buffer under a chain of views.
  static Value rootBuffer(Value v) {
    while (auto view = v.getDefiningOp<ViewLikeOpInterface>())
      v = view.getViewSource();
    return v;
  }

  /// Whether `indices` into `memref` (the buffer itself, or a view of
  /// unit strides taking whole dimensions of it where the parallel loop
  /// indexes) use each of `loop`'s induction variables as one dimension's
  /// index and nothing else varies with them.
  static bool indexedByIvs(Value memref, ValueRange indices, scf::ParallelOp loop) {
    auto subview = memref.getDefiningOp<memref::SubViewOp>();
    if (!subview && memref.getDefiningOp<ViewLikeOpInterface>())
      return false;
    for (Value iv : loop.getInductionVars()) {
      auto at = llvm::find(indices, iv);
      if (at == indices.end() || llvm::count(indices, iv) != 1)
        return false;
      int64_t d = at - indices.begin();
      if (subview) {
        auto sourceType = cast<MemRefType>(subview.getSource().getType());
        if (subview.getSourceType().getRank() != subview.getType().getRank() ||
            subview.getStaticOffsets()[d] != 0 || subview.getStaticStrides()[d] != 1 ||
            subview.getStaticSizes()[d] != sourceType.getDimSize(d))
          return false;
      }
    }
    for (Value index : indices)
      if (!llvm::is_contained(loop.getInductionVars(), index) &&
          loop->isAncestor(index.getParentBlock()->getParentOp()))
        return false;
    return true;
  }

  /// A copy of a view onto a view of the same buffer, offsets, sizes and
  /// strides: nothing moves.
  static bool isSelfCopy(Operation *op) {
    auto copy = dyn_cast<memref::CopyOp>(op);
    if (!copy)
      return false;
    if (copy.getSource() == copy.getTarget())
      return true;
    auto from = copy.getSource().getDefiningOp<memref::SubViewOp>();
    auto to = copy.getTarget().getDefiningOp<memref::SubViewOp>();
    return from && to && from.getSource() == to.getSource() &&
           from.getOffsets() == to.getOffsets() && from.getSizes() == to.getSizes() &&
           from.getStrides() == to.getStrides() &&
           from.getStaticOffsets() == to.getStaticOffsets() &&
           from.getStaticSizes() == to.getStaticSizes() &&
           from.getStaticStrides() == to.getStaticStrides();
  }

  /// One thread per iteration of the inner parallel loop, each running the
  /// serial loop in its order: the serial kernel's results, bit for bit,
  /// without atomics.
  LogicalResult wrapSerialOverParallel(scf::ForOp loop) {
    auto inner = *loop.getBody()->getOps<scf::ParallelOp>().begin();
    IterationSpace it = iterationSpace(inner, loop);
    OpBuilder b(loop);
    Location loc = loop.getLoc();
    if (it.staticTotal() != 0 &&
        failed(buildLaunch(b, loc, it.total, [&](OpBuilder &threads, Value id) {
          IRMapping mapping;
          mapDelinearized(threads, loc, inner, id, it, mapping);
          auto serial = scf::ForOp::create(threads, loc, loop.getLowerBound(),
                                           loop.getUpperBound(), loop.getStep());
          mapping.map(loop.getInductionVar(), serial.getInductionVar());
          OpBuilder body = OpBuilder::atBlockBegin(serial.getBody());
          for (Operation &op : loop.getBody()->without_terminator()) {
            if (&op == inner.getOperation()) {
              for (Operation &nested : inner.getBody()->without_terminator())
                body.clone(nested, mapping);
            } else if (!isSelfCopy(&op)) {
              body.clone(op, mapping);
            }
          }
        })))
      return failure();
    loop.erase();
    return success();
  }

  /// A serial loop whose results later ops read: a row program whose one
  /// row the canonicalizer unwrapped (a softmax of one row). It and the ops
  /// up to the last that reads what they compute go back into a loop of one
  /// iteration, which maps to one block like any row; `consumed` gets them.
  /// Fails when something on the way cannot run in a kernel.
  LogicalResult wrapOneRow(scf::ForOp op, llvm::DenseSet<Operation *> &consumed) {
    Block &block = *op->getBlock();
    SmallVector<Operation *> range{op};
    llvm::SmallPtrSet<Operation *, 16> inRange{op};
    auto readOutside = [&] {
      for (Operation *member : range)
        for (Operation *user : member->getUsers())
          if (!inRange.contains(block.findAncestorOpInBlock(*user)))
            return true;
      return false;
    };
    auto readsRange = [&](Operation *host) {
      return llvm::any_of(host->getOperands(), [&](Value v) {
        return v.getDefiningOp() && inRange.contains(v.getDefiningOp());
      });
    };
    for (Operation *next = op->getNextNode(); readOutside();) {
      if (!next || next->hasTrait<OpTrait::IsTerminator>() || isa<gpu::LaunchOp>(next))
        return op->emitOpError("computes values the host reads: it cannot move into a kernel");
      Operation *after = next->getNextNode();
      // An allocation (or a view) the row's outputs go to stays on the host,
      // before the row; a copy or a deallocation cannot move across it.
      if (staysOnHost(next)) {
        if (readsRange(next) ||
            !(isa<memref::AllocOp, memref::AllocaOp>(next) || isMemoryEffectFree(next)))
          return op->emitOpError("computes values the host reads: it cannot move into a "
                                 "kernel");
        next->moveBefore(op);
      } else {
        range.push_back(next);
        inRange.insert(next);
      }
      next = after;
    }
    OpBuilder b(op);
    Location loc = op.getLoc();
    auto row = scf::ParallelOp::create(b, loc, ValueRange{index(b, loc, 0)},
                                       ValueRange{index(b, loc, 1)},
                                       ValueRange{index(b, loc, 1)});
    for (Operation *member : range) {
      member->moveBefore(row.getBody()->getTerminator());
      consumed.insert(member);
    }
    if (!isRowProgram(row))
      return op->emitOpError("computes values the host reads: it cannot move into a kernel");
    return wrapParallel(row);
  }

  LogicalResult wrapSerial(Operation *op) {
    // A kernel returns nothing: what the host reads must come through memory.
    if (!op->use_empty())
      return op->emitOpError("computes values the host reads: it cannot move into a kernel");
    OpBuilder b(op);
    if (failed(buildLaunch(b, op->getLoc(), b.getIndexAttr(1), [&](OpBuilder &inner, Value) {
          inner.clone(*op);
        })))
      return failure();
    op->erase();
    return success();
  }

  /// Clones the scalar computations a launch reads from outside into it.
  void sinkScalars(gpu::LaunchOp launch) {
    bool changed = true;
    while (changed) {
      changed = false;
      llvm::SetVector<Value> above;
      getUsedValuesDefinedAbove(launch.getBody(), above);
      llvm::SmallPtrSet<Operation *, 8> sunk;
      for (Value v : above) {
        Operation *def = v.getDefiningOp();
        if (!recomputable(def) || isa<arith::ConstantOp>(def) || !sunk.insert(def).second)
          continue;
        OpBuilder b = OpBuilder::atBlockBegin(&launch.getBody().front());
        Operation *copy = b.clone(*def);
        for (auto [from, to] : llvm::zip(def->getResults(), copy->getResults()))
          replaceAllUsesInRegionWith(from, to, launch.getBody());
        changed = true;
      }
    }
  }

  /// A choice between two buffers on a condition computed from device data
  /// (module replacement's Bernoulli draw) cannot be made on the host: it
  /// becomes a copy of the chosen buffer's elements, a parallel loop that
  /// maps to a kernel like any other.
  LogicalResult materializeBufferSelect(arith::SelectOp select) {
    auto type = cast<MemRefType>(select.getType());
    if (!type.hasStaticShape() || !type.getLayout().isIdentity())
      return select.emitOpError("chooses between buffers of dynamic shape or strided layout, "
                                "which the cuda target cannot copy yet");
    OpBuilder b(select);
    Location loc = select.getLoc();
    Value copy = memref::AllocOp::create(b, loc, type);
    SmallVector<Value> lower(type.getRank(), index(b, loc, 0)),
        steps(type.getRank(), index(b, loc, 1)), upper;
    for (int64_t size : type.getShape())
      upper.push_back(index(b, loc, size));
    scf::ParallelOp::create(b, loc, lower, upper, steps,
                            [&](OpBuilder &inner, Location at, ValueRange ivs) {
                              Value chosen = arith::SelectOp::create(
                                  inner, at, select.getCondition(), select.getTrueValue(),
                                  select.getFalseValue());
                              Value element = memref::LoadOp::create(inner, at, chosen, ivs);
                              memref::StoreOp::create(inner, at, element, copy, ivs);
                            });
    select.replaceAllUsesWith(copy);
    select.erase();
    return success();
  }

  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    SmallVector<arith::SelectOp> bufferSelects;
    for (auto select : fn.getBody().front().getOps<arith::SelectOp>())
      if (isa<MemRefType>(select.getType()))
        bufferSelects.push_back(select);
    for (arith::SelectOp select : bufferSelects)
      if (failed(materializeBufferSelect(select)))
        return signalPassFailure();
    SmallVector<Operation *> topLevel;
    for (Operation &op : fn.getBody().front())
      topLevel.push_back(&op);
    llvm::DenseSet<Operation *> consumed; // moved into a kernel with an earlier op
    for (Operation *op : topLevel) {
      if (consumed.contains(op))
        continue;
      LogicalResult result = success();
      auto oneRow = dyn_cast<scf::ForOp>(op);
      if (oneRow && !oneRow->use_empty())
        result = wrapOneRow(oneRow, consumed);
      else if (auto loop = dyn_cast<scf::ParallelOp>(op))
        result = wrapParallel(loop);
      else if (auto serial = dyn_cast<scf::ForOp>(op); serial && isSerialOverParallel(serial))
        result = wrapSerialOverParallel(serial);
      else if (auto reduction = serial ? matchReduction(serial) : std::nullopt)
        result = wrapReduction(serial, *reduction);
      else if (!isa<gpu::LaunchOp>(op) && !staysOnHost(op) && !recomputable(op))
        result = wrapSerial(op);
      if (failed(result))
        return signalPassFailure();
    }
    fn.walk([&](gpu::LaunchOp launch) { sinkScalars(launch); });
    // Host-side scalar computations whose users all moved into kernels.
    for (Operation &op : llvm::make_early_inc_range(llvm::reverse(fn.getBody().front())))
      if (recomputable(&op) && op.use_empty() && !isa<func::ReturnOp>(op))
        op.erase();
  }
};

} // namespace
