//===- CpuFeatureMapKernels.cpp - the fused feature-map loss for CPUs -----===//
//
// feature_map_loss(h_s, h_t[, W]) and its gradient as one kernel over blocks
// of tokens, on tensors. The tokens are split into at most `max-tasks`
// parallel tasks; a task walks its tokens a block of R rows at a time (R·Dt
// at most `block-elements`, so that a block's projected features stay in
// L2), and per block:
//
//   project     P = h_s[block] · W into the task's tile [R, Dt]: register
//               tiles over W's packed panels. Only one block's projected
//               features exist per task, never those of all tokens.
//   statistics  per row, while it is in L1: the means of P and h_t, their
//               centered sums of squares (exact two-step formulas), then
//               the sums of d = LN(P) − LN(h_t), of d² and of d·LN(P);
//   loss        α·mean(d²) + β(μ_t − μ_s)² + γ|σ²_t − σ²_s| per row, summed
//               over the rows in f64;
//   gradient    dP = r_s·c·(d − mean d − LN(P)·mean(d·LN(P)))
//                    + b_β + k_γ·(P − μ_s)
//               written over P in the tile (docs/distillation.md derives
//               it); then d h_s[block] = dP · Wᵀ over Wᵀ's packed panels,
//               straight into the result, and the task's share of
//               d W += h_s[block]ᵀ · dP, reading the tile in place.
//
// Without a projection there is no tile: the rows are h_s's and dP is
// d h_s. The tasks' loss sums and shares of d W are added in task order
// after the loop, so results do not depend on the thread count.
//
// The token count may be symbolic (a batch of any length): the task split,
// the full blocks and the ragged last block (its rows in register tiles,
// the rows past the last full tile one tile of exactly their count chosen
// at run time) are computed from it; static counts fold to the same
// constants as before.
//
//===----------------------------------------------------------------------===//

#include "passes/Cpu/Passes.h"

#include "dialects/ube/UbeBuilder.h"
#include "passes/Cpu/MatmulTiles.h"
#include "passes/Utils/FeatureMapOperands.h"
#include "passes/Utils/KernelBuilding.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <functional>

namespace ube {
#define GEN_PASS_DEF_UBECPUFEATUREMAPKERNELS
#include "passes/Cpu/Passes.h.inc"
} // namespace ube

using namespace mlir;
using namespace ube;

namespace {

struct KernelShape {
  int64_t lanes;         ///< f32 lanes per vector.
  int64_t tileRows;      ///< MR: rows of a register tile.
  int64_t panelWidth;    ///< NR: columns of a register tile and a panel.
  int64_t blockElements; ///< R·Dt at most (R at least MR).
  int64_t maxTasks;
};

struct Results {
  Value loss, dStudent, dProjection;
};

/// Builds the kernel of one feature map: its loss (when asked) and its
/// gradients for the upstream gradient `grad` (when not null).
class FeatureMapKernelBuilder {
public:
  FeatureMapKernelBuilder(ImplicitLocOpBuilder &b, const FeatureMapOperands &fm,
                          const KernelShape &k)
      : b(b), x(b), fm(fm), k(k), alpha(fm.alpha.getValueAsDouble()),
        beta(fm.beta.getValueAsDouble()), gamma(fm.gamma.getValueAsDouble()),
        epsilon(fm.epsilon.getValueAsDouble()) {
    f32 = b.getF32Type();
    f64 = b.getF64Type();
    vec = VectorType::get({k.lanes}, f32);
    auto studentType = cast<RankedTensorType>(fm.student.getType());
    ds = studentType.getShape().back();
    dt = cast<RankedTensorType>(fm.teacher.getType()).getShape().back();
    // The tokens, and the task split over blocks of them.
    tokens = x.c(1);
    for (int64_t d = 0; d + 1 < studentType.getRank(); ++d)
      tokens = x.mul(tokens, x.dim(fm.student, d));
    blockRows = std::max<int64_t>(k.tileRows, k.blockElements / dt / k.tileRows * k.tileRows);
    if (std::optional<int64_t> count = IndexMath::constant(tokens))
      blockRows = std::min(*count, blockRows);
    Value blocks = x.ceilDiv(tokens, index(blockRows));
    blocksPerTask = x.ceilDiv(blocks, x.max(x.min(blocks, index(k.maxTasks)), index(1)));
    tasks = x.ceilDiv(blocks, blocksPerTask);
  }

  Results build(bool wantLoss, Value grad) {
    OpFoldResult tokenCount = getAsOpFoldResult(tokens);
    studentRows = reshapeTo(b, fm.student, {tokenCount, b.getIndexAttr(ds)});
    teacherRows = reshapeTo(b, fm.teacher, {tokenCount, b.getIndexAttr(dt)});
    // Every term of dP is scaled by g / (N·Dt).
    if (grad)
      perElement = arith::DivFOp::create(
          b, tensor::ExtractOp::create(b, grad, ValueRange{}),
          IndexMath::constant(tokens) ? scalar(double(*IndexMath::constant(tokens)) * double(dt))
                                      : mulf(tokensAs(f32), scalar(double(dt))));
    bool projected = bool(fm.projection);
    if (projected) {
      Value stack = reshapeTo(b, fm.projection, {1, ds, dt});
      packedW = buildPackedPanels(b, stack, /*transposed=*/false, k.panelWidth);
      if (grad) // Wᵀ's panels: W [Ds, Dt] is Wᵀ's [N, K].
        packedWt = buildPackedPanels(b, stack, /*transposed=*/true, k.panelWidth);
    }

    // The forall's shared outputs: d h_s; the tasks' tiles, shares of d W
    // and loss sums.
    SmallVector<Value> outs;
    OpFoldResult taskCount = getAsOpFoldResult(tasks);
    auto addOut = [&](ArrayRef<OpFoldResult> shape, Type type, int &slot) {
      slot = outs.size();
      outs.push_back(tensor::EmptyOp::create(b, shape, type));
    };
    auto size = [&](int64_t v) -> OpFoldResult { return b.getIndexAttr(v); };
    if (grad)
      addOut({tokenCount, size(ds)}, f32, dStudentSlot);
    if (projected)
      addOut({taskCount, size(blockRows), size(dt)}, f32, tileSlot);
    if (projected && grad)
      addOut({taskCount, size(ds), size(dt)}, f32, shareSlot);
    if (wantLoss)
      addOut({taskCount}, f64, sumSlot);
    auto forall = scf::ForallOp::create(b, ArrayRef<OpFoldResult>{taskCount}, outs,
                                        std::nullopt);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(forall.getBody());
      buildTask(forall.getInductionVars()[0], forall.getRegionIterArgs(),
                forall.getTerminator());
    }

    Results results;
    UbeBuilder u(b, b.getLoc());
    std::optional<int64_t> staticTasks = IndexMath::constant(tasks);
    if (wantLoss) {
      Value sums = forall.getResult(sumSlot);
      Value total = tensor::ExtractOp::create(b, sums, ValueRange{index(0)});
      if (staticTasks) {
        for (int64_t t = 1; t < *staticTasks; ++t)
          total = arith::AddFOp::create(
              b, total, tensor::ExtractOp::create(b, sums, ValueRange{index(t)}));
      } else {
        total = buildLoop(b, index(1), tasks, index(1), total,
                          [&](Value t, ValueRange sum) -> SmallVector<Value> {
                            return {arith::AddFOp::create(
                                b, sum[0], tensor::ExtractOp::create(b, sums, ValueRange{t}))};
                          })[0];
      }
      Value mean = arith::DivFOp::create(b, total, tokensAs(f64));
      results.loss = tensor::FromElementsOp::create(b, RankedTensorType::get({}, f32),
                                                    ValueRange{arith::TruncFOp::create(b, f32, mean)});
    }
    if (grad) {
      SmallVector<OpFoldResult> studentShape;
      for (int64_t d = 0; d < cast<RankedTensorType>(fm.student.getType()).getRank(); ++d)
        studentShape.push_back(getAsOpFoldResult(x.dim(fm.student, d)));
      results.dStudent = reshapeTo(b, forall.getResult(dStudentSlot), studentShape);
    }
    if (projected && grad) {
      // The tasks' shares in task order (one elementwise sum once lowered;
      // a sum over the tasks' axis, in order, for a task count known at
      // run time).
      Value shares = forall.getResult(shareSlot);
      if (!staticTasks)
        results.dProjection = u.reduceSum(shares, {0});
      for (int64_t t = 0; staticTasks && t < *staticTasks; ++t) {
        Value share = u.reshape(u.slice(shares, 0, t, t + 1), {ds, dt});
        results.dProjection = results.dProjection ? u.add(results.dProjection, share) : share;
      }
    }
    return results;
  }

private:
  /// One task: blocks [task·B, ...) of the tokens.
  void buildTask(Value task, ValueRange outs, scf::InParallelOp terminator) {
    Value taskRows = x.mul(blocksPerTask, index(blockRows));
    Value firstBlock = x.mul(task, blocksPerTask);
    rowBegin = x.mul(task, taskRows);
    Value rows = x.min(taskRows, x.sub(tokens, rowBegin));

    // The task's part of each shared output, and how it goes back.
    SmallVector<Value> state(outs.size());
    SmallVector<std::function<void(Value)>> insertBack;
    auto slice = [&](int slot, SmallVector<OpFoldResult> offsets, SmallVector<OpFoldResult> sizes,
                     RankedTensorType type) {
      SmallVector<OpFoldResult> strides(offsets.size(), b.getIndexAttr(1));
      state[slot] = tensor::ExtractSliceOp::create(b, type, outs[slot], offsets, sizes, strides);
      Value out = outs[slot];
      insertBack.push_back([=](Value value) {
        tensor::ParallelInsertSliceOp::create(b, value, out, offsets, sizes, strides);
      });
    };
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    if (dStudentSlot >= 0)
      slice(dStudentSlot, {rowBegin, zero}, {rows, b.getIndexAttr(ds)},
            RankedTensorType::get({ShapedType::kDynamic, ds}, f32));
    if (tileSlot >= 0)
      slice(tileSlot, {task, zero, zero}, {one, b.getIndexAttr(blockRows), b.getIndexAttr(dt)},
            RankedTensorType::get({blockRows, dt}, f32));
    if (shareSlot >= 0)
      slice(shareSlot, {task, zero, zero}, {one, b.getIndexAttr(ds), b.getIndexAttr(dt)},
            RankedTensorType::get({ds, dt}, f32));
    if (sumSlot >= 0) {
      // The loss sum travels as a scalar and goes back as a [1] slice.
      state[sumSlot] = arith::ConstantOp::create(b, b.getF64FloatAttr(0.0));
      Value out = outs[sumSlot];
      insertBack.push_back([=](Value sum) {
        tensor::ParallelInsertSliceOp::create(b, sum, out, ArrayRef<OpFoldResult>{task},
                                              ArrayRef<OpFoldResult>{b.getIndexAttr(1)},
                                              ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
      });
    }

    // The full blocks, then the ragged last one (in the last task).
    Value fullBlocks = x.div(tokens, index(blockRows));
    Value fullEnd = x.min(x.add(firstBlock, blocksPerTask), fullBlocks);
    state = buildLoop(b, firstBlock, fullEnd, index(1), state,
                      [&](Value block, ValueRange args) {
                        return buildBlock(block, index(blockRows), firstBlock, args);
                      });
    Value ragged = x.rem(tokens, index(blockRows));
    if (IndexMath::constant(ragged) != 0) {
      Value isLast = x.eq(task, x.sub(tasks, index(1)));
      if (!IndexMath::constant(ragged))
        isLast = x.andI(isLast, arith::CmpIOp::create(b, arith::CmpIPredicate::ne, ragged,
                                                      index(0)));
      auto ifOp = scf::IfOp::create(b, ValueRange(state).getTypes(), isLast, true, true);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      scf::YieldOp::create(b, buildBlock(fullBlocks, ragged, firstBlock, state));
      b.setInsertionPointToStart(ifOp.elseBlock());
      scf::YieldOp::create(b, state);
      state = ifOp.getResults();
    }

    if (sumSlot >= 0)
      state[sumSlot] = tensor::FromElementsOp::create(b, RankedTensorType::get({1}, f64),
                                                      ValueRange{state[sumSlot]});
    b.setInsertionPointToStart(terminator.getBody());
    for (auto [insert, value] : llvm::zip_equal(insertBack, state))
      insert(value);
  }

  /// Block `block` (`rows` rows from token block·R) of a task whose first
  /// block is `firstBlock`; `state` as the task's.
  SmallVector<Value> buildBlock(Value block, Value rows, Value firstBlock, ValueRange state) {
    SmallVector<Value> next(state);
    Value blockBegin = mul(block, index(blockRows));
    // The block's first row in the task's rows of d h_s.
    Value localBegin = sub(blockBegin, rowBegin);
    if (tileSlot >= 0) {
      // P = h_s[block] · W.
      next[tileSlot] = tiledProduct(
          next[tileSlot], index(0), rows, dt, index(ds), Value(),
          [&](Value row, Value kk) { return extract(studentRows, add(blockBegin, row), kk); },
          [&](Value panel, int64_t v, Value kk, Value) { return readPanel(packedW, panel, kk, v); });
    }
    // The statistics, loss and dP of each row.
    SmallVector<Value> rowState;
    if (tileSlot >= 0)
      rowState.push_back(next[tileSlot]);
    else if (dStudentSlot >= 0)
      rowState.push_back(next[dStudentSlot]);
    if (sumSlot >= 0)
      rowState.push_back(next[sumSlot]);
    rowState = buildLoop(b, index(0), rows, index(1), rowState,
                         [&](Value r, ValueRange args) {
                           return buildRow(add(blockBegin, r), r, add(localBegin, r), args);
                         });
    if (tileSlot >= 0)
      next[tileSlot] = rowState.front();
    else if (dStudentSlot >= 0)
      next[dStudentSlot] = rowState.front();
    if (sumSlot >= 0)
      next[sumSlot] = rowState.back();
    if (tileSlot < 0 || dStudentSlot < 0)
      return next;

    Value dP = next[tileSlot];
    // d h_s[block] = dP · Wᵀ.
    next[dStudentSlot] = tiledProduct(
        next[dStudentSlot], localBegin, rows, ds, index(dt), Value(),
        [&](Value row, Value kk) { return extract(dP, row, kk); },
        [&](Value panel, int64_t v, Value kk, Value) { return readPanel(packedWt, panel, kk, v); });
    // The task's share of d W += h_s[block]ᵀ · dP; the task's first block
    // starts it from zero.
    Value accumulate = arith::CmpIOp::create(b, arith::CmpIPredicate::ne, block, firstBlock);
    next[shareSlot] = tiledProduct(
        next[shareSlot], index(0), index(ds), dt, rows, accumulate,
        [&](Value row, Value kk) { return extract(studentRows, add(blockBegin, kk), row); },
        [&](Value panel, int64_t v, Value kk, Value mask) {
          return read(dP, {kk, add(mul(panel, index(k.panelWidth)), index(v * k.lanes))}, mask,
                      /*inBounds=*/true);
        });
    return next;
  }

  using ProductLhs = std::function<Value(Value row, Value kk)>;
  using ProductRhs = std::function<Value(Value panel, int64_t v, Value kk, Value mask)>;

  /// Writes rows [0, rows) × columns [0, n) of a product over k in [0, kEnd)
  /// at row `destRow` of `dest` (added to what is there where `accumulate`
  /// holds; null: never): panels outermost, so that a panel stays in L1
  /// while every register tile of the rows passes over it.
  Value tiledProduct(Value dest, Value destRow, Value rows, int64_t n, Value kEnd,
                     Value accumulate, const ProductLhs &lhs, const ProductRhs &rhs) {
    int64_t vectors = k.panelWidth / k.lanes;
    auto panelPass = [&](Value d, Value panel, int64_t width) {
      SmallVector<Value> masks;
      SmallVector<bool> live;
      for (int64_t v = 0; v < vectors; ++v) {
        int64_t valid = std::clamp<int64_t>(width - v * k.lanes, 0, k.lanes);
        live.push_back(valid > 0);
        masks.push_back(valid > 0 && valid < k.lanes ? laneMask(valid) : Value());
      }
      Value column = mul(panel, index(k.panelWidth));
      auto registerTile = [&](Value d, Value row, int64_t count) {
        auto at = [&](int64_t i, int64_t v) -> SmallVector<Value> {
          return {add(destRow, add(row, index(i))), add(column, index(v * k.lanes))};
        };
        SmallVector<Value> zeros, acc;
        for (int64_t i = 0; i < count; ++i)
          for (int64_t v = 0; v < vectors; ++v)
            if (live[v])
              zeros.push_back(splat(0.0));
        acc = zeros;
        if (accumulate) {
          auto init = scf::IfOp::create(b, ValueRange(zeros).getTypes(), accumulate, true, true);
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(init.thenBlock());
          SmallVector<Value> partial;
          for (int64_t i = 0; i < count; ++i)
            for (int64_t v = 0; v < vectors; ++v)
              if (live[v])
                partial.push_back(read(d, at(i, v), masks[v], /*inBounds=*/true));
          scf::YieldOp::create(b, partial);
          b.setInsertionPointToStart(init.elseBlock());
          scf::YieldOp::create(b, zeros);
          acc = init.getResults();
        }
        acc = buildTileProducts(
            b, index(0), kEnd, acc, count, live,
            [&](int64_t i, Value kk) { return lhs(add(row, index(i)), kk); },
            [&](int64_t v, Value kk) { return rhs(panel, v, kk, masks[v]); });
        int64_t next = 0;
        for (int64_t i = 0; i < count; ++i)
          for (int64_t v = 0; v < vectors; ++v)
            if (live[v])
              d = write(acc[next++], d, at(i, v), masks[v], /*inBounds=*/true);
        return d;
      };
      Value fullTiles = x.div(rows, index(k.tileRows));
      if (IndexMath::constant(fullTiles) != 0)
        d = buildLoop(b, index(0), fullTiles, index(1), d,
                      [&](Value tile, ValueRange args) -> SmallVector<Value> {
                        return {registerTile(args[0], mul(tile, index(k.tileRows)), k.tileRows)};
                      })[0];
      Value raggedRows = x.rem(rows, index(k.tileRows));
      Value raggedBegin = x.mul(fullTiles, index(k.tileRows));
      if (std::optional<int64_t> ragged = IndexMath::constant(raggedRows))
        return *ragged ? registerTile(d, raggedBegin, *ragged) : d;
      // Rows known at run time: the rows past the full tiles as one tile of
      // exactly their count.
      SmallVector<int64_t> counts;
      for (int64_t r = 1; r < k.tileRows; ++r)
        counts.push_back(r);
      auto rowSwitch = scf::IndexSwitchOp::create(b, TypeRange{d.getType()}, raggedRows, counts,
                                                  counts.size());
      OpBuilder::InsertionGuard guard(b);
      for (auto [r, region] : llvm::zip(counts, rowSwitch.getCaseRegions())) {
        b.setInsertionPointToStart(&region.emplaceBlock());
        scf::YieldOp::create(b, registerTile(d, raggedBegin, r));
      }
      b.setInsertionPointToStart(&rowSwitch.getDefaultRegion().emplaceBlock());
      scf::YieldOp::create(b, d);
      return rowSwitch.getResult(0);
    };
    int64_t fullPanels = n / k.panelWidth;
    if (fullPanels > 0)
      dest = buildLoop(b, index(0), index(fullPanels), index(1), dest,
                       [&](Value panel, ValueRange args) -> SmallVector<Value> {
                         return {panelPass(args[0], panel, k.panelWidth)};
                       })[0];
    if (int64_t ragged = n % k.panelWidth)
      dest = panelPass(dest, index(fullPanels), ragged);
    return dest;
  }

  /// Row `row` of the tokens: its statistics, its loss added to the sum and,
  /// with a gradient, dP written at row `tileRow` of the tile (or at row
  /// `localRow` of the task's d h_s). `state`: {tile or d h_s}, {sum}.
  SmallVector<Value> buildRow(Value row, Value tileRow, Value localRow, ValueRange state) {
    bool projected = tileSlot >= 0;
    bool withGrad = dStudentSlot >= 0;
    Value features = projected ? state.front() : studentRows;
    Value featureRow = projected ? tileRow : row;
    auto readP = [&](Value source, Value at, Value mask) {
      return read(source, {featureRow, at}, mask);
    };
    auto readT = [&](Value at, Value mask) { return read(teacherRows, {row, at}, mask); };
    auto masked = [&](Value mask, Value v) -> Value {
      return mask ? arith::SelectOp::create(b, mask, v, splat(0.0)).getResult() : v;
    };
    double width = double(dt);

    // Means, then centered sums of squares.
    SmallVector<Value> sums = forEachVector(
        {splat(0.0), splat(0.0)}, [&](Value at, Value mask, ValueRange acc) -> SmallVector<Value> {
          return {addf(acc[0], readP(features, at, mask)), addf(acc[1], readT(at, mask))};
        });
    Value meanS = divf(reduce(sums[0]), scalar(width));
    Value meanT = divf(reduce(sums[1]), scalar(width));
    Value meanSv = broadcast(meanS), meanTv = broadcast(meanT);
    auto centered = [&](Value source, Value at, Value mask) {
      return std::make_pair(masked(mask, subf(readP(source, at, mask), meanSv)),
                            masked(mask, subf(readT(at, mask), meanTv)));
    };
    SmallVector<Value> squares = forEachVector(
        {splat(0.0), splat(0.0)}, [&](Value at, Value mask, ValueRange acc) -> SmallVector<Value> {
          auto [cs, ct] = centered(features, at, mask);
          return {math::FmaOp::create(b, cs, cs, acc[0]), math::FmaOp::create(b, ct, ct, acc[1])};
        });
    Value varS = divf(reduce(squares[0]), scalar(width));
    Value varT = divf(reduce(squares[1]), scalar(width));
    Value rstdS = divf(scalar(1.0), math::SqrtOp::create(b, addf(varS, scalar(epsilon))));
    Value rstdT = divf(scalar(1.0), math::SqrtOp::create(b, addf(varT, scalar(epsilon))));
    Value rstdSv = broadcast(rstdS), rstdTv = broadcast(rstdT);
    // d = LN(P) − LN(h_t) and LN(P) of a vector.
    auto difference = [&](Value source, Value at, Value mask) {
      auto [cs, ct] = centered(source, at, mask);
      Value ys = mulf(cs, rstdSv);
      return std::make_tuple(subf(ys, mulf(ct, rstdTv)), ys, cs);
    };
    // Σ d², Σ d, Σ d·LN(P).
    Value sumD2, sumD, sumDY;
    if (alpha != 0.0) {
      SmallVector<Value> dSums = forEachVector(
          {splat(0.0), splat(0.0), splat(0.0)},
          [&](Value at, Value mask, ValueRange acc) -> SmallVector<Value> {
            auto [d, ys, cs] = difference(features, at, mask);
            return {math::FmaOp::create(b, d, d, acc[0]), addf(acc[1], d),
                    math::FmaOp::create(b, d, ys, acc[2])};
          });
      sumD2 = reduce(dSums[0]);
      sumD = reduce(dSums[1]);
      sumDY = reduce(dSums[2]);
    }

    SmallVector<Value> next(state);
    if (sumSlot >= 0) {
      Value loss = scalar(0.0);
      if (alpha != 0.0)
        loss = addf(loss, mulf(scalar(alpha), divf(sumD2, scalar(width))));
      if (beta != 0.0) {
        Value gap = subf(meanT, meanS);
        loss = addf(loss, mulf(scalar(beta), mulf(gap, gap)));
      }
      if (gamma != 0.0)
        loss = addf(loss, mulf(scalar(gamma), math::AbsFOp::create(b, subf(varT, varS))));
      next.back() = arith::AddFOp::create(b, next.back(), arith::ExtFOp::create(b, f64, loss));
    }
    if (!withGrad)
      return next;

    // dP = r_s·c·(d − mean d − LN(P)·mean(d·LN(P))) + b_β + k_γ·(P − μ_s).
    Value c, meanD, meanDY;
    if (alpha != 0.0) {
      c = broadcast(mulf(mulf(scalar(2.0 * alpha), perElement), rstdS));
      meanD = broadcast(divf(sumD, scalar(width)));
      meanDY = broadcast(divf(sumDY, scalar(width)));
    }
    Value shift = scalar(0.0), slope;
    if (beta != 0.0)
      shift = mulf(mulf(scalar(-2.0 * beta), perElement), subf(meanT, meanS));
    if (gamma != 0.0) {
      Value gap = subf(varT, varS);
      Value sign = arith::SelectOp::create(
          b, arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, gap, scalar(0.0)), scalar(1.0),
          arith::SelectOp::create(
              b, arith::CmpFOp::create(b, arith::CmpFPredicate::OLT, gap, scalar(0.0)),
              scalar(-1.0), scalar(0.0)));
      slope = broadcast(mulf(mulf(scalar(-2.0 * gamma), perElement), sign));
    }
    Value shiftV = broadcast(shift);
    Value outRow = projected ? tileRow : localRow;
    next.front() = forEachVector(
        {next.front()}, [&](Value at, Value mask, ValueRange out) -> SmallVector<Value> {
          // The tile is read where it is being overwritten, so that the
          // reads and writes are of one buffer.
          auto [d, ys, cs] = difference(projected ? out[0] : features, at, mask);
          Value dp = shiftV;
          if (c)
            dp = math::FmaOp::create(b, c, subf(subf(d, meanD), mulf(ys, meanDY)), dp);
          if (slope)
            dp = math::FmaOp::create(b, slope, cs, dp);
          return {write(dp, out[0], {outRow, at}, mask, /*inBounds=*/false)};
        })[0];
    return next;
  }

  using VectorBody =
      llvm::function_ref<SmallVector<Value>(Value at, Value mask, ValueRange state)>;

  /// Runs `body` over a row of Dt one vector at a time, threading `state`:
  /// full vectors in a loop without masks, then a ragged end as one masked
  /// step (whose reads pad with zeros).
  SmallVector<Value> forEachVector(ValueRange state, VectorBody body) {
    SmallVector<Value> values(state);
    int64_t full = dt / k.lanes * k.lanes;
    if (full > 0)
      values = buildLoop(b, index(0), index(full), index(k.lanes), values,
                         [&](Value at, ValueRange args) { return body(at, nullptr, args); });
    if (full < dt)
      values = body(index(full), laneMask(dt % k.lanes), values);
    return values;
  }

  Value readPanel(Value packed, Value panel, Value kk, int64_t v) {
    return read(packed, {index(0), panel, kk, index(v * k.lanes)}, nullptr, /*inBounds=*/true);
  }
  /// One vector of `tensor` at `indices`; masked reads pad with 0. In bounds
  /// even when masked where the mask keeps to the matrix (a tensor with a
  /// dynamic size would need its size at run time to check).
  Value read(Value tensor, ValueRange indices, Value mask, bool inBounds = false) {
    auto op = vector::TransferReadOp::create(b, vec, tensor, indices, scalar(0.0),
                                             ArrayRef<bool>{inBounds || mask == nullptr});
    if (mask)
      op.getMaskMutable().assign(mask);
    return op;
  }
  Value write(Value value, Value tensor, ValueRange indices, Value mask, bool inBounds) {
    auto op = vector::TransferWriteOp::create(b, value, tensor, indices,
                                              ArrayRef<bool>{inBounds || mask == nullptr});
    if (mask)
      op.getMaskMutable().assign(mask);
    return op.getResult();
  }
  Value extract(Value tensor, Value i, Value j) {
    return tensor::ExtractOp::create(b, tensor, ValueRange{i, j});
  }
  Value laneMask(int64_t valid) {
    return vector::CreateMaskOp::create(b, VectorType::get({k.lanes}, b.getI1Type()),
                                        ValueRange{index(valid)});
  }

  Value index(int64_t v) { return x.c(v); }
  /// The token count as a float of `type`.
  Value tokensAs(Type type) {
    if (std::optional<int64_t> count = IndexMath::constant(tokens))
      return arith::ConstantOp::create(b, b.getFloatAttr(type, double(*count)));
    Value i64 = arith::IndexCastOp::create(b, b.getI64Type(), tokens);
    return arith::SIToFPOp::create(b, type, i64);
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, x, y); }
  Value scalar(double v) { return arith::ConstantOp::create(b, b.getF32FloatAttr(float(v))); }
  Value splat(double v) {
    return arith::ConstantOp::create(b, DenseElementsAttr::get(vec, b.getF32FloatAttr(float(v))));
  }
  Value broadcast(Value s) { return vector::BroadcastOp::create(b, vec, s); }
  Value addf(Value x, Value y) { return arith::AddFOp::create(b, x, y); }
  Value subf(Value x, Value y) { return arith::SubFOp::create(b, x, y); }
  Value mulf(Value x, Value y) { return arith::MulFOp::create(b, x, y); }
  Value divf(Value x, Value y) { return arith::DivFOp::create(b, x, y); }
  Value reduce(Value v) { return vector::ReductionOp::create(b, vector::CombiningKind::ADD, v); }

  ImplicitLocOpBuilder &b;
  IndexMath x;
  FeatureMapOperands fm;
  KernelShape k;
  double alpha, beta, gamma, epsilon;
  Type f32, f64;
  VectorType vec;
  int64_t ds = 0, dt = 0, blockRows = 0;
  Value tokens, blocksPerTask, tasks; // index values: constants when static
  Value studentRows, teacherRows, perElement, packedW, packedWt;
  /// The shared outputs' positions (-1: absent).
  int dStudentSlot = -1, tileSlot = -1, shareSlot = -1, sumSlot = -1;
  /// The current task's first row.
  Value rowBegin;
};

/// Whether the kernel handles `fm`: non-empty f32 features (and
/// projection), symbolic in their token dimensions only.
bool supported(const FeatureMapOperands &fm) {
  auto ok = [](Value v, bool tokensMayBeSymbolic) {
    auto type = dyn_cast_or_null<RankedTensorType>(v ? v.getType() : Type());
    if (!type || !type.getElementType().isF32() || type.getRank() < 1 ||
        llvm::is_contained(type.getShape(), 0) || type.isDynamicDim(type.getRank() - 1))
      return false;
    return tokensMayBeSymbolic || type.hasStaticShape();
  };
  return ok(fm.student, true) && ok(fm.teacher, true) &&
         (!fm.projection || ok(fm.projection, false));
}

struct FuseFeatureMapLoss : OpRewritePattern<FeatureMapLossOp> {
  FuseFeatureMapLoss(MLIRContext *context, KernelShape shape)
      : OpRewritePattern(context), shape(shape) {}
  LogicalResult matchAndRewrite(FeatureMapLossOp op, PatternRewriter &rewriter) const override {
    FeatureMapOperands fm = FeatureMapOperands::of(op);
    if (!supported(fm))
      return rewriter.notifyMatchFailure(op, "not non-empty f32 operands of static widths");
    for (Operation *user : op.getStudent().getUsers())
      if (auto grad = dyn_cast<FeatureMapLossGradOp>(user); grad && featureMapLossOf(grad) == op)
        return rewriter.notifyMatchFailure(op, "built together with its gradient");
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    rewriter.replaceOp(op, FeatureMapKernelBuilder(b, fm, shape).build(true, Value()).loss);
    return success();
  }
  KernelShape shape;
};

struct FuseFeatureMapLossGrad : OpRewritePattern<FeatureMapLossGradOp> {
  FuseFeatureMapLossGrad(MLIRContext *context, KernelShape shape)
      : OpRewritePattern(context), shape(shape) {}
  LogicalResult matchAndRewrite(FeatureMapLossGradOp op,
                                PatternRewriter &rewriter) const override {
    FeatureMapOperands fm = FeatureMapOperands::of(op);
    if (!supported(fm))
      return rewriter.notifyMatchFailure(op, "not non-empty f32 operands of static widths");
    // With its loss (a training step): one kernel where the loss is.
    FeatureMapLossOp loss = featureMapLossOf(op);
    if (loss)
      rewriter.setInsertionPoint(loss);
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Results r = FeatureMapKernelBuilder(b, fm, shape).build(bool(loss), op.getGrad());
    if (fm.projection)
      rewriter.replaceOp(op, {r.dStudent, r.dProjection});
    else
      rewriter.replaceOp(op, r.dStudent);
    if (loss)
      rewriter.replaceOp(loss, r.loss);
    return success();
  }
  KernelShape shape;
};

struct UbeCpuFeatureMapKernelsPass
    : ube::impl::UbeCpuFeatureMapKernelsBase<UbeCpuFeatureMapKernelsPass> {
  using Base::Base;
  void runOnOperation() override {
    if (vectorWidth < 1 || panelWidth % vectorWidth != 0 || tileRows < 1 ||
        blockElements < 1 || maxTasks < 1) {
      getOperation().emitError("ube-cpu-feature-map-kernels: panel-width must be a multiple "
                               "of vector-width, and every size positive");
      return signalPassFailure();
    }
    KernelShape shape{vectorWidth, tileRows, panelWidth, blockElements, maxTasks};
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseFeatureMapLoss, FuseFeatureMapLossGrad>(&getContext(), shape);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns), kernelRewriteConfig())))
      signalPassFailure();
  }
};

} // namespace
