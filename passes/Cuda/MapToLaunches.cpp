//===- MapToGpuLaunches.cpp - top-level loop nests -> gpu.launch ----------===//
//
// The simplest complete mapping: one GPU thread per parallel iteration. It is
// correct for every op the linalg lowering produces. Launches already there
// (the tiled contractions of ube-cuda-matmul-kernels) are left as they are.
//
//===----------------------------------------------------------------------===//

#include "passes/Cuda/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
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

/// Whether a value defined outside a kernel can be recomputed inside it: a
/// scalar from pure ops or loads, not a buffer.
bool recomputable(Operation *def) {
  if (!def || def->getNumResults() != 1 || isa<MemRefType>(def->getResult(0).getType()))
    return false;
  return isa<memref::LoadOp>(def) || isMemoryEffectFree(def);
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
                       ArrayRef<int64_t> lower, ArrayRef<int64_t> step,
                       ArrayRef<int64_t> trips, IRMapping &mapping) {
    Value rest = id;
    for (int64_t d = int64_t(trips.size()) - 1; d >= 0; --d) {
      Value trip = index(b, loc, trips[d]);
      Value iv = d == 0 ? rest : arith::RemUIOp::create(b, loc, rest, trip).getResult();
      if (d > 0)
        rest = arith::DivUIOp::create(b, loc, rest, trip);
      iv = arith::AddIOp::create(b, loc,
                                 arith::MulIOp::create(b, loc, iv, index(b, loc, step[d])),
                                 index(b, loc, lower[d]));
      mapping.map(loop.getInductionVars()[d], iv);
    }
  }

  /// A one-dimensional launch of grid x block threads and a builder at the
  /// start of its (terminated) body.
  std::pair<gpu::LaunchOp, OpBuilder> createLaunch(OpBuilder &b, Location loc, int64_t grid,
                                                   int64_t block) {
    Value one = index(b, loc, 1);
    auto launch = gpu::LaunchOp::create(b, loc, index(b, loc, grid), one, one,
                                        index(b, loc, block), one, one);
    OpBuilder inner = OpBuilder::atBlockBegin(&launch.getBody().front());
    gpu::TerminatorOp::create(inner, loc);
    inner.setInsertionPointToStart(&launch.getBody().front());
    return {launch, inner};
  }

  /// A launch of `threads` threads in blocks of blockSize; `body` fills it
  /// with the thread's linear id (already guarded against overrun).
  LogicalResult buildLaunch(OpBuilder &b, Location loc, int64_t threads,
                            function_ref<void(OpBuilder &, Value)> body) {
    int64_t block = std::min<int64_t>(blockSize, std::max<int64_t>(threads, 1));
    int64_t grid = (threads + block - 1) / block;
    if (grid > INT32_MAX)
      return emitError(loc) << "loop nest of " << threads << " iterations is too large";
    auto [launch, inner] = createLaunch(b, loc, grid, block);
    Value id = arith::AddIOp::create(
        inner, loc,
        arith::MulIOp::create(inner, loc, launch.getBlockIds().x, index(inner, loc, block)),
        launch.getThreadIds().x);
    if (grid * block != threads) {
      Value inRange = arith::CmpIOp::create(inner, loc, arith::CmpIPredicate::ult, id,
                                            index(inner, loc, threads));
      auto guard = scf::IfOp::create(inner, loc, inRange, /*withElseRegion=*/false);
      inner.setInsertionPointToStart(&guard.getThenRegion().front());
    }
    body(inner, id);
    return success();
  }

  /// A row reduction: a parallel loop whose body is one sequential loop that
  /// loads an accumulator, combines it (addf / maximumf) with a value
  /// computed from the iteration and stores it back to the same place.
  struct RowReduction {
    scf::ForOp inner;
    memref::LoadOp accumulator;
    Operation *combine;
    memref::StoreOp store;
    Value element; ///< The value combined into the accumulator.
  };

  std::optional<RowReduction> matchRowReduction(scf::ParallelOp loop) {
    Block *body = loop.getBody();
    if (!llvm::hasSingleElement(body->without_terminator()))
      return std::nullopt;
    auto inner = dyn_cast<scf::ForOp>(body->front());
    if (!inner || inner.getNumRegionIterArgs() != 0 ||
        !getConstantIntValue(inner.getLowerBound()) ||
        !getConstantIntValue(inner.getUpperBound()) || !getConstantIntValue(inner.getStep()))
      return std::nullopt;
    memref::StoreOp store;
    for (Operation &op : inner.getBody()->without_terminator()) {
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
    for (int side = 0; side < 2; ++side) {
      auto load = combine->getOperand(side).getDefiningOp<memref::LoadOp>();
      if (load && load.getMemRef() == store.getMemRef() &&
          load.getIndices() == store.getIndices() && load->hasOneUse() &&
          llvm::none_of(store.getIndices(),
                        [&](Value v) { return v == inner.getInductionVar(); }))
        return RowReduction{inner, load, combine, store, combine->getOperand(1 - side)};
    }
    return std::nullopt;
  }

  /// One block per row: threads stride over the reduced dimension (coalesced
  /// reads), combine privately, then across the block with gpu.all_reduce;
  /// thread 0 updates the accumulator.
  LogicalResult wrapRowReduction(scf::ParallelOp loop, RowReduction r,
                                 ArrayRef<int64_t> lower, ArrayRef<int64_t> step,
                                 ArrayRef<int64_t> trips, int64_t rows) {
    OpBuilder b(loop);
    Location loc = loop.getLoc();
    int64_t block = blockSize;
    auto [launch, inner] = createLaunch(b, loc, rows, block);
    IRMapping mapping;
    mapDelinearized(inner, loc, loop, launch.getBlockIds().x, lower, step, trips, mapping);
    auto type = cast<FloatType>(r.element.getType());
    bool isMax = isa<arith::MaximumFOp>(r.combine);
    Value identity = arith::ConstantOp::create(
        inner, loc, inner.getFloatAttr(type, isMax ? -INFINITY : 0.0));
    int64_t lb = *getConstantIntValue(r.inner.getLowerBound());
    int64_t ub = *getConstantIntValue(r.inner.getUpperBound());
    int64_t st = *getConstantIntValue(r.inner.getStep());
    Value start = arith::AddIOp::create(
        inner, loc, index(inner, loc, lb),
        arith::MulIOp::create(inner, loc, launch.getThreadIds().x, index(inner, loc, st)));
    auto strided = scf::ForOp::create(inner, loc, start, index(inner, loc, ub),
                                      index(inner, loc, st * block), ValueRange{identity});
    {
      OpBuilder body = OpBuilder::atBlockBegin(strided.getBody());
      IRMapping perElement = mapping;
      perElement.map(r.inner.getInductionVar(), strided.getInductionVar());
      for (Operation &op : r.inner.getBody()->without_terminator())
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
    loop.erase();
    return success();
  }

  LogicalResult wrapParallel(scf::ParallelOp loop) {
    if (loop.getNumReductions() != 0)
      return loop.emitOpError("with reductions cannot be mapped to threads yet");
    SmallVector<int64_t> lower, upper, step, trips;
    for (auto [lb, ub, st] : llvm::zip(loop.getLowerBound(), loop.getUpperBound(),
                                       loop.getStep())) {
      auto l = getConstantIntValue(lb), u = getConstantIntValue(ub), s = getConstantIntValue(st);
      if (!l || !u || !s || *s <= 0)
        return loop.emitOpError("needs static bounds to map to GPU threads");
      lower.push_back(*l);
      step.push_back(*s);
      trips.push_back(std::max<int64_t>(0, (*u - *l + *s - 1) / *s));
    }
    int64_t total = 1;
    for (int64_t t : trips)
      total *= t;
    // Long rows and not too many of them: a block per row beats a thread per
    // row (coalesced reads, the whole GPU busy).
    if (auto reduction = matchRowReduction(loop)) {
      int64_t length = *getConstantIntValue(reduction->inner.getUpperBound()) -
                       *getConstantIntValue(reduction->inner.getLowerBound());
      if (length >= blockSize && total > 0 && total <= (int64_t(1) << 20))
        return wrapRowReduction(loop, *reduction, lower, step, trips, total);
    }
    OpBuilder b(loop);
    Location loc = loop.getLoc();
    if (total > 0 &&
        failed(buildLaunch(b, loc, total, [&](OpBuilder &inner, Value id) {
          IRMapping mapping;
          mapDelinearized(inner, loc, loop, id, lower, step, trips, mapping);
          for (Operation &op : loop.getBody()->without_terminator())
            inner.clone(op, mapping);
        })))
      return failure();
    loop.erase();
    return success();
  }

  LogicalResult wrapSerial(Operation *op) {
    OpBuilder b(op);
    if (failed(buildLaunch(b, op->getLoc(), 1, [&](OpBuilder &inner, Value) {
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
      for (Value v : above) {
        Operation *def = v.getDefiningOp();
        if (!recomputable(def) || isa<arith::ConstantOp>(def))
          continue;
        OpBuilder b = OpBuilder::atBlockBegin(&launch.getBody().front());
        Operation *copy = b.clone(*def);
        replaceAllUsesInRegionWith(v, copy->getResult(0), launch.getBody());
        changed = true;
      }
    }
  }

  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    SmallVector<Operation *> topLevel;
    for (Operation &op : fn.getBody().front())
      topLevel.push_back(&op);
    for (Operation *op : topLevel) {
      LogicalResult result = success();
      if (auto loop = dyn_cast<scf::ParallelOp>(op))
        result = wrapParallel(loop);
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
