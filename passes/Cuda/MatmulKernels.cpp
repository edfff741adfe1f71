//===- GpuMatmulKernels.cpp - shared-memory tiled contractions for GPUs ---===//
//
// A bufferized f32 contraction (a linalg.generic with batch, m, n and one k
// loop, the body `out + f(lhs) * g(rhs)`) becomes one gpu.launch of the
// classic SIMT SGEMM: each block computes a tile x tile output block, each
// of its threads an 8 x 8 micro-tile held in registers. K advances in steps
// of 8: the block stages an 8-deep slice of both sides in shared memory
// (loads coalesced along whichever dimension is contiguous, k-major in shared
// memory so each thread reads its 8 rows and 8 columns as two 16-byte vector
// loads), then every thread does 64 fused multiply-adds per k. Two buffers
// per side: the next slice is read into registers while the current one is
// multiplied, then written to the other buffer, one barrier per slice.
// Ragged edges load zeros and skip their stores. Loop sizes may be symbolic:
// the grid is then computed on the host, and every edge is treated as
// ragged. The one-thread-per-output mapping of ube-cuda-map-to-launches
// leaves these launches alone.
//
//===----------------------------------------------------------------------===//

#include "passes/Cuda/Passes.h"
#include "passes/Utils/KernelBuilding.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace ube {
#define GEN_PASS_DEF_UBECUDAMATMULKERNELS
#include "passes/Cuda/Passes.h.inc"
} // namespace ube

using namespace mlir;

namespace {

constexpr int64_t kMicro = 8;    // rows and columns of a thread's micro-tile
constexpr int64_t kDepth = 8;    // k extent staged in shared memory at once
constexpr int64_t kPad = 4;      // shared-memory row padding (keeps 16-byte rows)
constexpr int64_t kVector = 4;   // f32 lanes of one shared-memory vector load

/// A contraction's loops and the two sides of its product.
struct Contraction {
  linalg::GenericOp op;
  SmallVector<unsigned> batch;
  unsigned m, n, k;
  /// The body's two factors, f and g in `out + f * g`; side 0 (f) spans
  /// m and k, side 1 (g) n and k.
  Value factor[2];
  /// The inputs each factor is computed from (indices into the op's inputs),
  /// and the scalar inputs (indexed by no loop) either may use.
  SmallVector<unsigned> sideInputs[2];
  SmallVector<unsigned> scalars;
};

/// The body arguments `v` is computed from, or nullopt if computing it needs
/// anything but pure ops (so it cannot move to where its operands are loaded).
std::optional<llvm::SmallDenseSet<unsigned>> argumentsOf(Value v, Block *body) {
  llvm::SmallDenseSet<unsigned> args;
  SmallVector<Value> work = {v};
  llvm::SmallPtrSet<Operation *, 8> seen;
  while (!work.empty()) {
    Value next = work.pop_back_val();
    if (auto arg = dyn_cast<BlockArgument>(next)) {
      if (arg.getOwner() == body)
        args.insert(arg.getArgNumber());
      continue;
    }
    Operation *def = next.getDefiningOp();
    if (def->getBlock() != body || !seen.insert(def).second)
      continue;
    if (!isMemoryEffectFree(def) || def->getNumRegions() != 0 || def->getNumResults() != 1)
      return std::nullopt;
    llvm::append_range(work, def->getOperands());
  }
  return args;
}

/// An input indexed by no loop: one value for the whole contraction.
bool isScalar(AffineMap map) {
  return llvm::none_of(map.getResults(), [](AffineExpr e) { return isa<AffineDimExpr>(e); });
}

std::optional<Contraction> matchContraction(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInits() != 1)
    return std::nullopt;
  for (OpOperand &operand : op->getOpOperands()) {
    auto type = dyn_cast<MemRefType>(operand.get().getType());
    if (!type || !type.getElementType().isF32())
      return std::nullopt;
  }
  if (op.getNumReductionLoops() != 1)
    return std::nullopt;
  // The body: yield out + f * g.
  Block *body = op.getBody();
  auto yield = cast<linalg::YieldOp>(body->getTerminator());
  auto add = yield.getValues()[0].getDefiningOp<arith::AddFOp>();
  if (!add)
    return std::nullopt;
  BlockArgument out = body->getArgument(op.getNumDpsInputs());
  if ((add.getLhs() == out) == (add.getRhs() == out))
    return std::nullopt;
  Value product = add.getLhs() == out ? add.getRhs() : add.getLhs();
  auto mul = product.getDefiningOp<arith::MulFOp>();
  if (!mul || mul->getBlock() != body)
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  Contraction c{op, {}, 0, 0, 0, {mul.getLhs(), mul.getRhs()}, {}, {}};
  // Each non-scalar input feeds one side only; scalars may feed both.
  SmallVector<int> sideOf(op.getNumDpsInputs(), -1);
  for (int side = 0; side < 2; ++side) {
    auto args = argumentsOf(c.factor[side], body);
    if (!args)
      return std::nullopt;
    for (unsigned arg : *args) {
      if (arg >= op.getNumDpsInputs())
        return std::nullopt; // reads the accumulator
      if (isScalar(maps[arg]))
        continue;
      if (sideOf[arg] == 1 - side)
        return std::nullopt;
      sideOf[arg] = side;
    }
  }
  for (unsigned i = 0; i < op.getNumDpsInputs(); ++i) {
    if (sideOf[i] >= 0)
      c.sideInputs[sideOf[i]].push_back(i);
    else if (isScalar(maps[i]))
      c.scalars.push_back(i);
  }
  if (c.sideInputs[0].empty() || c.sideInputs[1].empty())
    return std::nullopt;
  // Loops by what indexes them: batch (both sides and the output), m (side
  // 0 and the output), n (side 1 and the output), k (both sides; the
  // reduction). Indices are loop dimensions or constants (a broadcast).
  unsigned loops = op.getNumLoops();
  SmallVector<std::array<bool, 3>> uses(loops, {false, false, false});
  auto record = [&](AffineMap map, int slot) -> bool {
    for (AffineExpr e : map.getResults()) {
      if (auto dim = dyn_cast<AffineDimExpr>(e))
        uses[dim.getPosition()][slot] = true;
      else if (!isa<AffineConstantExpr>(e))
        return false;
    }
    return true;
  };
  for (int side = 0; side < 2; ++side)
    for (unsigned i : c.sideInputs[side])
      if (!record(maps[i], side))
        return std::nullopt;
  if (!record(maps.back(), 2) || !maps.back().isProjectedPermutation())
    return std::nullopt;
  // A batch dimension one operand broadcasts by omitting it looks like m
  // (or n): m and n are the ones the output indexes last.
  auto outputPosition = [&](unsigned d) {
    return *maps[2].getResultPosition(getAffineDimExpr(d, op.getContext()));
  };
  SmallVector<unsigned> rowLike, colLike, depth;
  for (unsigned d = 0; d < loops; ++d) {
    auto [inLhs, inRhs, inOut] = uses[d];
    bool reduction = op.getIteratorTypesArray()[d] == utils::IteratorType::reduction;
    if (reduction && inLhs && inRhs && !inOut)
      depth.push_back(d);
    else if (reduction || !inOut)
      return std::nullopt;
    else if (inLhs && inRhs)
      c.batch.push_back(d);
    else if (inLhs)
      rowLike.push_back(d);
    else if (inRhs)
      colLike.push_back(d);
    else
      return std::nullopt; // an output dimension neither operand reads
  }
  if (depth.size() != 1 || rowLike.empty() || colLike.empty())
    return std::nullopt;
  auto byOutputPosition = [&](unsigned a, unsigned b) {
    return outputPosition(a) < outputPosition(b);
  };
  llvm::sort(rowLike, byOutputPosition);
  llvm::sort(colLike, byOutputPosition);
  c.k = depth[0];
  c.m = rowLike.pop_back_val();
  c.n = colLike.pop_back_val();
  llvm::append_range(c.batch, rowLike);
  llvm::append_range(c.batch, colLike);
  llvm::sort(c.batch, byOutputPosition);
  return c;
}

/// The size of `op`'s loop `d` where `b` is: a constant, or the size of an
/// operand's dimension that the loop indexes directly.
OpFoldResult loopSize(OpBuilder &b, Location loc, linalg::GenericOp op, unsigned d) {
  int64_t known = op.getStaticLoopRanges()[d];
  if (!ShapedType::isDynamic(known))
    return b.getIndexAttr(known);
  for (OpOperand &operand : op->getOpOperands()) {
    AffineMap map = op.getMatchingIndexingMap(&operand);
    if (auto at = map.getResultPosition(getAffineDimExpr(d, op.getContext())))
      return memref::DimOp::create(b, loc, operand.get(), int64_t(*at)).getResult();
  }
  llvm_unreachable("every loop of a contraction indexes an operand");
}

struct UbeCudaMatmulKernelsPass : ube::impl::UbeCudaMatmulKernelsBase<UbeCudaMatmulKernelsPass> {
  using Base::Base;

  LogicalResult lower(Contraction &c);

  void runOnOperation() override {
    std::vector<Contraction> found;
    getOperation().walk([&](linalg::GenericOp op) {
      if (auto c = matchContraction(op))
        found.push_back(*c);
    });
    for (Contraction &c : found)
      if (failed(lower(c)))
        return signalPassFailure();
  }
};

/// Builds one contraction kernel inside a launch.
class KernelBuilder {
public:
  KernelBuilder(Contraction &c, ImplicitLocOpBuilder &b, gpu::LaunchOp launch, int64_t tile)
      : c_(c), b_(b), tile_(tile), threads_((tile / kMicro) * (tile / kMicro)),
        ranges_(c.op.getStaticLoopRanges()), maps_(c.op.getIndexingMapsArray()),
        shared_{launch.getWorkgroupAttributions()[0], launch.getWorkgroupAttributions()[1]} {
    tid_ = launch.getThreadIds().x;
    blockRow_ = launch.getBlockIds().y;
    blockCol_ = launch.getBlockIds().x;
    for (unsigned d = 0; d < ranges_.size(); ++d)
      sizes_.push_back(getValueOrCreateConstantIndexOp(b, b.getLoc(),
                                                       loopSize(b, b.getLoc(), c.op, d)));
    // Batch indices from blockIdx.z, last batch dimension fastest.
    Value rest = launch.getBlockIds().z;
    for (unsigned d : llvm::reverse(c.batch)) {
      loopValues_[d] = arith::RemUIOp::create(b, rest, sizes_[d]);
      rest = arith::DivUIOp::create(b, rest, sizes_[d]);
    }
    // Scalar inputs are read once; each side's prologue is the body's ops
    // its factor is computed by, in body order.
    Block *body = c.op.getBody();
    for (unsigned i : c.scalars)
      scalarValues_.map(body->getArgument(i),
                        memref::LoadOp::create(b, c.op.getDpsInputs()[i], indices(i, 0, {}, 0, {})));
    for (int side = 0; side < 2; ++side) {
      llvm::SmallPtrSet<Operation *, 8> slice;
      SmallVector<Value> work = {c.factor[side]};
      while (!work.empty()) {
        Operation *def = work.pop_back_val().getDefiningOp();
        if (def && def->getBlock() == body && slice.insert(def).second)
          llvm::append_range(work, def->getOperands());
      }
      for (Operation &op : body->without_terminator())
        if (slice.contains(&op))
          prologue_[side].push_back(&op);
    }
  }

  void build();

private:
  Value index(int64_t v) { return arith::ConstantIndexOp::create(b_, v); }
  Value mul(Value a, int64_t v) { return arith::MulIOp::create(b_, a, index(v)); }
  Value add(Value a, Value v) { return arith::AddIOp::create(b_, a, v); }
  Value add(Value a, int64_t v) { return v ? add(a, index(v)) : a; }

  /// Indices into operand `i` with loop `row` at `rowValue` and loop `col`
  /// at `colValue` (the batch loops at this block's values).
  SmallVector<Value> indices(int operand, unsigned row, Value rowValue, unsigned col,
                             Value colValue) {
    SmallVector<Value> result;
    for (AffineExpr e : maps_[operand].getResults()) {
      if (auto constant = dyn_cast<AffineConstantExpr>(e)) {
        result.push_back(index(constant.getValue()));
        continue;
      }
      unsigned d = cast<AffineDimExpr>(e).getPosition();
      result.push_back(d == row ? rowValue : d == col ? colValue : loopValues_.lookup(d));
    }
    return result;
  }

  Value inBounds(Value v, unsigned loop) {
    return arith::CmpIOp::create(b_, arith::CmpIPredicate::ult, v, sizes_[loop]);
  }
  /// Whether loop `loop` may end inside a block of `multiple` (a symbolic
  /// size may).
  bool ragged(unsigned loop, int64_t multiple) const {
    return ShapedType::isDynamic(ranges_[loop]) || ranges_[loop] % multiple != 0;
  }

  /// Where thread `tid` puts the elements it stages of an operand: one
  /// (row, k) position in the slice per element.
  struct Staging {
    SmallVector<Value> rows, depths;
  };
  Staging staging(int side);
  SmallVector<Value> loadSlice(int side, const Staging &at, Value kBase);
  void storeSlice(int side, const Staging &at, ValueRange values, Value stage);
  Value readShared(int side, Value stage, int64_t kk, int64_t part, Value rowBase);

  Contraction &c_;
  ImplicitLocOpBuilder &b_;
  int64_t tile_, threads_;
  SmallVector<int64_t> ranges_; ///< Static loop sizes (kDynamic where symbolic).
  SmallVector<Value> sizes_;    ///< Loop sizes in the kernel.
  SmallVector<AffineMap> maps_;
  Value shared_[2];
  Value tid_, blockRow_, blockCol_;
  llvm::DenseMap<unsigned, Value> loopValues_;
  IRMapping scalarValues_;
  SmallVector<Operation *> prologue_[2];
};

/// Consecutive threads walk the contiguous dimension of the side's first
/// input (k when its last index is k, else its row), so global reads coalesce.
KernelBuilder::Staging KernelBuilder::staging(int side) {
  auto lastDim =
      dyn_cast<AffineDimExpr>(maps_[c_.sideInputs[side].front()].getResults().back());
  bool kContiguous = lastDim && lastDim.getPosition() == c_.k;
  Staging at;
  for (int64_t r = 0; r < tile_ * kDepth / threads_; ++r) {
    Value linear = add(tid_, r * threads_);
    if (kContiguous) {
      at.rows.push_back(arith::DivUIOp::create(b_, linear, index(kDepth)));
      at.depths.push_back(arith::RemUIOp::create(b_, linear, index(kDepth)));
    } else {
      at.depths.push_back(arith::DivUIOp::create(b_, linear, index(tile_)));
      at.rows.push_back(arith::RemUIOp::create(b_, linear, index(tile_)));
    }
  }
  return at;
}

/// This thread's elements of side `side`'s [tile x kDepth] slice at
/// k = kBase: its inputs loaded, its prologue applied; elements outside the
/// iteration space read as zero.
SmallVector<Value> KernelBuilder::loadSlice(int side, const Staging &at, Value kBase) {
  unsigned row = side == 0 ? c_.m : c_.n;
  Value rowBase = mul(side == 0 ? blockRow_ : blockCol_, tile_);
  bool rowRagged = ragged(row, tile_), kRagged = ragged(c_.k, kDepth);
  Block *body = c_.op.getBody();
  Value zero = arith::ConstantOp::create(b_, b_.getF32FloatAttr(0.0f));
  SmallVector<Value> values;
  for (auto [rr, kk] : llvm::zip(at.rows, at.depths)) {
    Value rowIndex = add(rowBase, rr), kIndex = add(kBase, kk);
    Value valid;
    // Out-of-range elements read a clamped address and are replaced by 0.
    auto clampCheck = [&](Value &v, unsigned loop) {
      Value ok = inBounds(v, loop);
      valid = valid ? arith::AndIOp::create(b_, valid, ok).getResult() : ok;
      v = arith::MinUIOp::create(b_, v, arith::SubIOp::create(b_, sizes_[loop], index(1)));
    };
    if (rowRagged)
      clampCheck(rowIndex, row);
    if (kRagged)
      clampCheck(kIndex, c_.k);
    IRMapping prologue = scalarValues_;
    for (unsigned i : c_.sideInputs[side])
      prologue.map(body->getArgument(i),
                   memref::LoadOp::create(b_, c_.op.getDpsInputs()[i],
                                          indices(i, row, rowIndex, c_.k, kIndex)));
    for (Operation *op : prologue_[side])
      b_.clone(*op, prologue);
    Value factor = prologue.lookupOrDefault(c_.factor[side]);
    if (valid)
      factor = arith::SelectOp::create(b_, valid, factor, zero);
    values.push_back(factor);
  }
  return values;
}

/// Writes a slice loaded by loadSlice into shared buffer `stage` (k-major).
void KernelBuilder::storeSlice(int side, const Staging &at, ValueRange values, Value stage) {
  for (auto [value, rr, kk] : llvm::zip(values, at.rows, at.depths))
    memref::StoreOp::create(b_, value, shared_[side], ValueRange{stage, kk, rr});
}

/// Lanes [part*4, part*4+4) of this thread's 8 rows (or columns) at depth kk.
Value KernelBuilder::readShared(int side, Value stage, int64_t kk, int64_t part,
                                Value rowBase) {
  auto type = VectorType::get({kVector}, b_.getF32Type());
  return vector::LoadOp::create(b_, type, shared_[side],
                                ValueRange{stage, index(kk), add(rowBase, part * kVector)},
                                /*nontemporal=*/false, llvm::MaybeAlign(16));
}

/// Two shared buffers per operand: while the block computes on one slice,
/// the next is read from global memory into registers and written to the
/// other buffer, so one barrier per slice suffices (the buffer written in
/// step t was last read in step t-1, before that step's barrier).
void KernelBuilder::build() {
  int64_t perRow = tile_ / kMicro; // threads along a block row
  Value threadRow = mul(arith::DivUIOp::create(b_, tid_, index(perRow)), kMicro);
  Value threadCol = mul(arith::RemUIOp::create(b_, tid_, index(perRow)), kMicro);
  Staging at[2] = {staging(0), staging(1)};
  // The last slice's start, (K - 1) rounded down to a multiple of kDepth.
  Value depth = sizes_[c_.k];
  Value lastBase = mul(arith::DivUIOp::create(b_, arith::SubIOp::create(b_, depth, index(1)),
                                              index(kDepth)),
                       kDepth);
  auto loadBoth = [&](Value kBase) {
    return std::make_pair(loadSlice(0, at[0], kBase), loadSlice(1, at[1], kBase));
  };
  auto storeBoth = [&](std::pair<SmallVector<Value>, SmallVector<Value>> &slices, Value stage) {
    storeSlice(0, at[0], slices.first, stage);
    storeSlice(1, at[1], slices.second, stage);
  };
  auto first = loadBoth(index(0));
  storeBoth(first, index(0));
  gpu::BarrierOp::create(b_);
  Value zero = arith::ConstantOp::create(b_, b_.getF32FloatAttr(0.0f));
  SmallVector<Value> init(kMicro * kMicro, zero);
  init.push_back(index(0)); // the buffer holding the current slice
  auto loop = scf::ForOp::create(b_, index(0), depth, index(kDepth), init);
  {
    OpBuilder::InsertionGuard guard(b_);
    b_.setInsertionPointToStart(loop.getBody());
    Value stage = loop.getRegionIterArgs().back();
    // The last step reloads its own slice into the idle buffer: no branch.
    Value next = arith::MinUIOp::create(b_, add(loop.getInductionVar(), kDepth), lastBase);
    auto slices = loadBoth(next);
    SmallVector<Value> acc(loop.getRegionIterArgs().drop_back());
    for (int64_t kk = 0; kk < kDepth; ++kk) {
      SmallVector<Value> lhs, rhs;
      for (int64_t part = 0; part < kMicro / kVector; ++part) {
        Value a = readShared(0, stage, kk, part, threadRow);
        Value v = readShared(1, stage, kk, part, threadCol);
        for (int64_t lane = 0; lane < kVector; ++lane) {
          lhs.push_back(vector::ExtractOp::create(b_, a, lane));
          rhs.push_back(vector::ExtractOp::create(b_, v, lane));
        }
      }
      for (int64_t i = 0; i < kMicro; ++i)
        for (int64_t j = 0; j < kMicro; ++j)
          acc[i * kMicro + j] = math::FmaOp::create(b_, lhs[i], rhs[j], acc[i * kMicro + j]);
    }
    Value other = arith::SubIOp::create(b_, index(1), stage);
    storeBoth(slices, other);
    gpu::BarrierOp::create(b_);
    acc.push_back(other);
    scf::YieldOp::create(b_, acc);
  }
  // out[row, col] += the micro-tile, skipping what lies past the edges.
  bool edges = ragged(c_.m, tile_) || ragged(c_.n, tile_);
  Value output = c_.op.getDpsInits()[0];
  Value rowBase = add(mul(blockRow_, tile_), threadRow);
  Value colBase = add(mul(blockCol_, tile_), threadCol);
  for (int64_t i = 0; i < kMicro; ++i)
    for (int64_t j = 0; j < kMicro; ++j) {
      OpBuilder::InsertionGuard guard(b_);
      Value row = add(rowBase, i), col = add(colBase, j);
      if (edges) {
        Value ok = arith::AndIOp::create(b_, inBounds(row, c_.m), inBounds(col, c_.n));
        auto inside = scf::IfOp::create(b_, ok, /*withElseRegion=*/false);
        b_.setInsertionPointToStart(&inside.getThenRegion().front());
      }
      SmallVector<Value> at = indices(maps_.size() - 1, c_.m, row, c_.n, col);
      Value sum = arith::AddFOp::create(b_, memref::LoadOp::create(b_, output, at),
                                           loop.getResult(i * kMicro + j));
      memref::StoreOp::create(b_, sum, output, at);
    }
}

LogicalResult UbeCudaMatmulKernelsPass::lower(Contraction &c) {
  SmallVector<int64_t> ranges = c.op.getStaticLoopRanges();
  bool symbolic = llvm::any_of(ranges, ShapedType::isDynamic);
  int64_t batch = 1;
  for (unsigned d : c.batch)
    batch = ShapedType::isDynamic(ranges[d]) ? batch : batch * ranges[d];
  int64_t rows = ranges[c.m], cols = ranges[c.n];
  auto blocks = [&](int64_t tile) {
    return ((rows + tile - 1) / tile) * ((cols + tile - 1) / tile) * batch;
  };
  // Large tiles when they still fill the GPU, else small ones (and for
  // symbolic sizes, which serve small batches as well as large).
  int64_t tile =
      !symbolic && blocks(largeTile) >= minLargeTileBlocks ? largeTile : smallTile;
  if (tile % (kMicro * kVector) != 0 || tile <= 0)
    return c.op.emitOpError("ube-cuda-matmul-kernels: tile sizes must be multiples of 32");
  if (batch == 0 || rows == 0 || cols == 0)
    return success(); // nothing to compute; the generic path handles it
  // Grid y and z take at most 65535 blocks; a symbolic grid is checked
  // against that when the launch plan is evaluated.
  if (batch > 65535 || (!ShapedType::isDynamic(rows) && (rows + tile - 1) / tile > 65535))
    return success();
  ImplicitLocOpBuilder b(c.op.getLoc(), c.op);
  auto space = gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto sharedType = MemRefType::get({2, kDepth, tile + kPad}, b.getF32Type(),
                                    MemRefLayoutAttrInterface(), space);
  auto constant = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v).getResult(); };
  // Blocks along a loop of the grid: ceil(size / tile), on the host.
  auto tiles = [&](unsigned d) -> Value {
    OpFoldResult size = loopSize(b, b.getLoc(), c.op, d);
    if (auto known = getConstantIntValue(size))
      return constant((*known + tile - 1) / tile);
    return arith::CeilDivUIOp::create(b, cast<Value>(size), constant(tile));
  };
  // Batch blocks: the product of the batch loops' sizes.
  OpFoldResult batches = b.getIndexAttr(1);
  for (unsigned d : c.batch)
    batches = ube::mulSizes(b, b.getLoc(), batches, loopSize(b, b.getLoc(), c.op, d));
  int64_t threads = (tile / kMicro) * (tile / kMicro);
  auto launch = gpu::LaunchOp::create(b, tiles(c.n), tiles(c.m),
      getValueOrCreateConstantIndexOp(b, b.getLoc(), batches),
      constant(threads), constant(1), constant(1), /*dynamicSharedMemorySize=*/Value(),
      /*asyncTokenType=*/Type(), /*asyncDependencies=*/ValueRange(),
      TypeRange{sharedType, sharedType});
  ImplicitLocOpBuilder inner(c.op.getLoc(), b.getContext());
  inner.setInsertionPointToStart(&launch.getBody().front());
  auto terminator = gpu::TerminatorOp::create(inner);
  inner.setInsertionPoint(terminator);
  KernelBuilder(c, inner, launch, tile).build();
  c.op.erase();
  return success();
}

} // namespace
