//===- ConstantSection.h - large constants outside the LLVM module -*- C++ -*-===//
//
// Weights (and the weight panels packed at compile time) are most of a
// model's bytes: 440 MB for BERT-base. As initializers of LLVM globals they
// are copied into and uniqued by the LLVM context, walked by its passes,
// copied again by the object writer and freed at the end, which took about
// a third of a BERT-base compile. ConstantSection takes the large constant
// globals out of the LLVM dialect module before translation: their bytes
// go to a temporary file, each global becomes a hidden external
// declaration, and module-level assembly defines the symbols in a
// read-only section of the object with `.incbin`, so the bytes reach the
// object file without passing through LLVM IR. The code addresses them
// exactly as before (PC-relative, same alignment).
//
//===----------------------------------------------------------------------===//

#ifndef UBE_LIB_TARGET_CPU_CONSTANTSECTION_H
#define UBE_LIB_TARGET_CPU_CONSTANTSECTION_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/SmallString.h"

#include <string>
#include <vector>

namespace ube {

class ConstantSection {
public:
  ConstantSection() = default;
  ConstantSection(const ConstantSection &) = delete;
  ConstantSection &operator=(const ConstantSection &) = delete;
  /// Removes the temporary file.
  ~ConstantSection();

  /// Moves every constant `llvm.mlir.global` of at least `minBytes` bytes
  /// with a dense or resource value out of `module`. With `releaseData`,
  /// the resource blobs only the moved globals used are emptied once their
  /// bytes are in the file, so the weights are not held twice while the
  /// object is written (no other module may share them).
  mlir::LogicalResult extract(mlir::ModuleOp module, uint64_t minBytes, bool releaseData);

  /// The module-level assembly that defines the moved globals (empty when
  /// nothing moved). Valid while this object lives.
  std::string assembly() const;


private:
  struct Moved {
    std::string symbol;
    uint64_t offset, size, alignment;
  };
  std::vector<Moved> moved_;
  llvm::SmallString<128> path_;
  uint64_t fileBytes_ = 0;
};

} // namespace ube

#endif // UBE_LIB_TARGET_CPU_CONSTANTSECTION_H
