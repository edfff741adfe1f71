//===- ConstantSection.h - large constants outside the LLVM module -*- C++ -*-===//
//
// Weights (and the weight panels packed at compile time) are most of a
// model's bytes: 440 MB for BERT-base. As initializers of LLVM globals they
// are copied into and uniqued by the LLVM context, walked by its passes,
// copied again by the object writer and freed at the end, which took about
// a third of a BERT-base compile. ConstantSection takes the large constant
// globals out of the LLVM dialect module before translation: each global
// becomes a hidden external declaration, and module-level assembly defines
// the symbols at their offsets in one region, so the bytes never pass
// through LLVM IR. The region
// is a large-data section (x86-64 SHF_X86_64_LARGE: .lrodata, .lbss), which
// the linker places after all other data, and the code addresses the
// constants with 64-bit offsets (the large code model for them alone): a
// 1B-parameter model has more than the 2 GB that PC-relative addressing
// reaches, and the code and small data keep their short addressing. Where the
// bytes go (ConstantPlacement): into the object (`.incbin` of a temporary
// file), for a standalone object file; or, in an executable, into its own
// `constants` section, the object reserving uninitialized pages the loader
// fills, so neither the assembler nor the linker handles a weight (format 3,
// docs/runtime-abi.md). That section is written straight from the blobs
// that hold the bytes: nothing is copied on the way.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_LIB_TARGET_CPU_CONSTANTSECTION_H
#define UBE_LIB_TARGET_CPU_CONSTANTSECTION_H

#include "ube/Support/ExecutableFormat.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/SmallString.h"

#include <string>
#include <vector>

namespace llvm {
class Module;
} // namespace llvm

namespace ube {

enum class ConstantPlacement {
  /// The bytes in the object's read-only data.
  Embedded,
  /// The object's `ube_constants` region (ExecutableFormat.h), filled at
  /// load from the executable's constants section (bytes()).
  LoadedAtRunTime,
};

class ConstantSection {
public:
  ConstantSection() = default;
  ConstantSection(const ConstantSection &) = delete;
  ConstantSection &operator=(const ConstantSection &) = delete;
  /// Removes the temporary file, if any.
  ~ConstantSection();

  /// Moves every constant `llvm.mlir.global` of at least `minBytes` bytes
  /// with a dense or resource value out of `module`. The bytes stay where
  /// they are (the context's blobs and attributes), which must outlive this.
  mlir::LogicalResult extract(mlir::ModuleOp module, uint64_t minBytes);
  /// Writes the moved bytes to a temporary file, as the region lays them
  /// out, for ConstantPlacement::Embedded.
  mlir::LogicalResult writeFile(mlir::Location loc);
  /// The module-level assembly that defines the moved globals (empty when
  /// nothing moved; with ConstantPlacement::Embedded, after writeFile).
  std::string assembly(ConstantPlacement placement) const;
  bool empty() const { return moved_.empty(); }
  /// Marks the moved globals of `module` (its translation) for the large
  /// code model: addressed from anywhere.
  void addressAsLarge(llvm::Module &module) const;
  /// The moved bytes, as the region lays them out: the executable's
  /// constants section for ConstantPlacement::LoadedAtRunTime. They point
  /// into the blobs, which must outlive the section's writing.
  SectionBytes bytes() const;

private:
  struct Moved {
    std::string symbol;
    uint64_t offset, size, alignment;
    const uint8_t *data;
  };
  std::vector<Moved> moved_;
  llvm::SmallString<128> path_;
  uint64_t regionBytes_ = 0;
};

} // namespace ube

#endif // UBE_LIB_TARGET_CPU_CONSTANTSECTION_H
