//===- CpuMatmulTiles.h - packed panels and register tiles -----*- C++ -*-===//
//
// The two pieces of Goto's algorithm that every CPU kernel computing a
// product shares (--ube-cpu-matmul-kernels, and the fused feature-map loss
// of --ube-cpu-feature-map-kernels):
//
//   panels       a right-hand side copied into k-major panels NR columns
//                wide, so that a micro-tile streams one panel sequentially
//                from L1 instead of rows a power of two apart that alias in
//                the cache;
//   register     MR × NR accumulators in vector registers summing rank-1
//   tile         updates: per k, NR/lanes panel vectors, MR broadcasts of
//                the left-hand side, MR·NR/lanes FMAs.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_PASSES_CPU_MATMULTILES_H
#define UBE_PASSES_CPU_MATMULTILES_H

#include "dialects/ube/UbeOps.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <array>
#include <optional>

namespace ube {

/// `stack` ([S, K, N], or [S, N, K] when `transposed`) as packed panels
/// [S, panels, K, NR]: Bp[s, p, k, j] = B_s[k, p·NR + j], zero past N. A
/// constant `stack` (weights) is packed at compile time; otherwise one
/// parallel task per (matrix, panel) copies it.
mlir::Value buildPackedPanels(mlir::ImplicitLocOpBuilder &b, mlir::Value stack, bool transposed,
                              int64_t panelWidth);

/// The packed panels of `stack` ([B, K, length]) with its matrices in
/// groups of `imagesPerGroup` (G, at run time) side by side:
/// [⌈B / G⌉, panels of G·length, K, NR], group r's columns those of
/// matrices r·G, r·G + 1... one after another (fewer in the last group).
/// One matrix a group reads rows as buildPackedPanels does; with more, a
/// panel row within two matrices is two masked runs, across more it is
/// gathered. `groupColumns`: a group's columns (G·length), as the caller
/// bounds them.
mlir::Value buildGroupedPanels(mlir::ImplicitLocOpBuilder &b, mlir::Value stack,
                               mlir::Value imagesPerGroup, mlir::Value groupColumns,
                               int64_t panelWidth);

/// The packed panels of `im2col`'s result [B, C·T, length] (as
/// buildPackedPanels) read straight from its input: row c·T + t of a panel
/// is the contiguous run of channel c's flattened plane at tap t's offset
/// plus the panel's first column. The patches are never materialized.
/// `transposed`: the panels of the result read as [N, K] (a weight
/// gradient's patches), each row one position's patch values, gathered.
/// `imagesPerGroup` (not with `transposed`): the panels of the groups of
/// images side by side (Im2colPanelRows), [⌈B / G⌉, panels of G·length, ...],
/// `groupColumns` G·length as the caller bounds it.
mlir::Value buildIm2colPanels(mlir::ImplicitLocOpBuilder &b, Im2colOp im2col,
                              int64_t panelWidth, bool transposed = false,
                              mlir::Value imagesPerGroup = {}, mlir::Value groupColumns = {});

/// The columns of `im2col`'s result matrices (its last dimension),
/// counted from its input's size on symbolic planes.
mlir::Value im2colColumns(mlir::ImplicitLocOpBuilder &b, Im2colOp im2col);

/// The rows of an `im2col`'s panels, read from its input (contiguous runs
/// at stride 1, gathered columns when strided or when the batch's images
/// share the columns): what buildIm2colPanels
/// packs, and what a kernel that packs each panel where it uses it reads.
class Im2colPanelRows {
public:
  /// `imagesPerGroup` (G, at run time; only without batch_columns): matrix
  /// r is then the images [r·G, r·G + G) (fewer in the last group) side by
  /// side, each image's positions after the last's, as batch_columns lays
  /// out the whole batch. Images of a few positions each (a 6×6 plane: 36
  /// columns, panels of 16 + 16 + 4) then fill whole panels together.
  Im2colPanelRows(mlir::ImplicitLocOpBuilder &b, Im2colOp im2col,
                  mlir::Value imagesPerGroup = {});
  /// Whether the panels' rows are read as contiguous runs (stride 1 along
  /// the plane's rows, one image per matrix), not gathered lane by lane.
  static bool readsRuns(Im2colOp im2col);
  /// Fills `panel` ([≥ kEnd − kBegin, NR]) with rows [kBegin, kEnd) of
  /// panel `column` / NR of matrix `r` (`width` columns inside the matrix,
  /// zeros past them). Returns the filled panel. With images per group,
  /// `grouped` says whether G > 1 where the caller knows it; otherwise
  /// that is decided at run time.
  mlir::Value fill(mlir::ImplicitLocOpBuilder &b, mlir::Value r, mlir::Value column,
                   mlir::Value width, mlir::Value kBegin, mlir::Value kEnd, mlir::Value panel,
                   int64_t panelWidth, std::optional<bool> grouped = std::nullopt) const;

private:
  /// Panel row kk: channel kk / T and tap kk mod T's offset in the plane.
  std::pair<mlir::Value, mlir::Value> channelAndOffset(mlir::ImplicitLocOpBuilder &b,
                                                       mlir::Value kk) const;
  /// fill at stride 1 along rows on one image's plane: each panel row is
  /// one contiguous run, or two (the panel spans two output rows), each a
  /// masked read; gather when it spans more.
  mlir::Value fillRowRuns(mlir::ImplicitLocOpBuilder &b, mlir::Value r, mlir::Value column,
                          mlir::Value width, mlir::Value kBegin, mlir::Value kEnd,
                          mlir::Value panel, int64_t panelWidth) const;
  /// fill with every lane's position gathered; `sideBySide`: column is a
  /// column of the images side by side (batch_columns, or a group's from
  /// its first image's), read from `flatImages`.
  mlir::Value gather(mlir::ImplicitLocOpBuilder &b, mlir::Value r, mlir::Value column,
                     mlir::Value width, mlir::Value kBegin, mlir::Value kEnd, mlir::Value panel,
                     int64_t panelWidth, bool sideBySide) const;
  /// fill of matrix r of a group of one image (image r), or of more.
  mlir::Value fillGroup(mlir::ImplicitLocOpBuilder &b, mlir::Value r, mlir::Value column,
                        mlir::Value width, mlir::Value kBegin, mlir::Value kEnd,
                        mlir::Value panel, int64_t panelWidth, bool grouped) const;

  Im2colOp im2col;
  bool contiguous;
  /// batch_columns: the images side by side.
  bool batched;
  /// Whether the gathers' offsets fit 32 bits (one image's plane; every
  /// image, side by side).
  bool narrow, narrowImages;
  std::array<int64_t, 2> stride;
  int64_t taps;
  /// Side by side (batch_columns, or groups): each image's positions (the
  /// op's length), its elements (C·H·W) and a plane's (H·W), at run time
  /// where symbolic; the images per group.
  mlir::Value imageLength, imageSize, planeSize, imagesPerGroup;
  /// Output positions per row and the plane's width (at run time on
  /// symbolic planes), the input as [B, C, H·W] (as [B·C·H·W] with
  /// batch_columns), the input as [B·C·H·W] for images side by side, and
  /// on static planes each tap's offset in the plane.
  mlir::Value rowLength, planeWidth, flat, flatImages, table;
};
/// The packed panels of a constant `stack` (as buildPackedPanels), or null
/// when `stack` is not a constant whose values can be read.
mlir::Value packConstantPanels(mlir::ImplicitLocOpBuilder &b, mlir::Value stack,
                               bool transposed, int64_t panelWidth);

/// The scalar lhs[i, k] of row `i` of a tile, and vector `v` of the rhs's
/// panel at `k`.
using TileLhs = llvm::function_ref<mlir::Value(int64_t i, mlir::Value k)>;
using TileRhs = llvm::function_ref<mlir::Value(int64_t v, mlir::Value k)>;

/// Adds sum over k in [kBegin, kEnd) of lhs(i, k) · rhs(v, k) to `acc`, the
/// accumulators of a tile of `rows` rows by the vectors of `live` (row-major,
/// one per row and live vector; a vector wholly past the matrix's last
/// column has none and is never read). Returns the new accumulators.
llvm::SmallVector<mlir::Value> buildTileProducts(mlir::ImplicitLocOpBuilder &b,
                                                 mlir::Value kBegin, mlir::Value kEnd,
                                                 mlir::ValueRange acc, int64_t rows,
                                                 llvm::ArrayRef<bool> live, TileLhs lhs,
                                                 TileRhs rhs);

} // namespace ube

#endif // UBE_PASSES_CPU_MATMULTILES_H
