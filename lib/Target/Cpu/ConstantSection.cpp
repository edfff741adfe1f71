//===- ConstantSection.cpp - large constants outside the LLVM module ------===//

#include "ConstantSection.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Interfaces/DataLayoutInterfaces.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace ube {
namespace {

/// The bytes of a constant as laid out in memory, when they are stored
/// that way (resource blobs; dense non-splat arrays of byte-sized elements).
std::optional<ArrayRef<char>> rawBytes(Attribute value) {
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
    if (AsmResourceBlob *blob = resource.getRawHandle().getBlob())
      return blob->getData();
    return std::nullopt;
  }
  auto dense = dyn_cast<DenseElementsAttr>(value);
  if (!dense || dense.isSplat())
    return std::nullopt;
  Type element = dense.getElementType();
  if (!element.isIntOrFloat() || element.getIntOrFloatBitWidth() % 8 != 0)
    return std::nullopt;
  return dense.getRawData();
}

/// Empties the blobs of `moved` (resources whose bytes are in the file)
/// that nothing left in `module` refers to.
void releaseMovedBlobs(ModuleOp module, ArrayRef<DenseResourceElementsAttr> moved) {
  llvm::DenseSet<AsmResourceBlob *> stillUsed;
  module.walk([&](Operation *op) {
    for (NamedAttribute attribute : op->getAttrs())
      attribute.getValue().walk([&](DenseResourceElementsAttr resource) {
        stillUsed.insert(resource.getRawHandle().getBlob());
      });
  });
  for (DenseResourceElementsAttr resource : moved) {
    DenseResourceElementsHandle handle = resource.getRawHandle();
    if (AsmResourceBlob *blob = handle.getBlob(); blob && !stillUsed.contains(blob))
      handle.getResource()->setBlob(AsmResourceBlob());
  }
}

/// Names and paths go into assembly as quoted strings.
bool quotable(llvm::StringRef text) { return text.find_first_of("\"\\\n") == llvm::StringRef::npos; }

} // namespace

ConstantSection::~ConstantSection() {
  if (!path_.empty())
    llvm::sys::fs::remove(path_);
}

LogicalResult ConstantSection::extract(ModuleOp module, uint64_t minBytes, bool releaseData) {
  DataLayout layout(module);
  SmallVector<std::pair<LLVM::GlobalOp, ArrayRef<char>>> globals;
  for (auto global : module.getOps<LLVM::GlobalOp>()) {
    if (!global.getConstant() || !global.getValueAttr() || !quotable(global.getSymName()))
      continue;
    std::optional<ArrayRef<char>> bytes = rawBytes(global.getValueAttr());
    if (!bytes || bytes->size() < minBytes ||
        bytes->size() != layout.getTypeSize(global.getGlobalType()).getFixedValue())
      continue;
    globals.emplace_back(global, *bytes);
  }
  if (globals.empty())
    return success();

  int fd;
  if (llvm::sys::fs::createTemporaryFile("ube-constants", "bin", fd, path_))
    return emitError(module.getLoc()) << "cannot create a temporary file for the constants";
  if (!quotable(path_))
    return emitError(module.getLoc()) << "the temporary file '" << path_
                                      << "' cannot be named in assembly";
  llvm::raw_fd_ostream file(fd, /*shouldClose=*/true);
  SmallVector<DenseResourceElementsAttr> movedResources;
  for (auto [global, bytes] : globals) {
    if (auto resource = dyn_cast<DenseResourceElementsAttr>(global.getValueAttr()))
      movedResources.push_back(resource);
    // Laid out in the file as in the section: each at its alignment.
    uint64_t alignment = std::max<uint64_t>(global.getAlignment().value_or(1), 64);
    uint64_t offset = llvm::alignTo(fileBytes_, alignment);
    file.write_zeros(offset - fileBytes_);
    file.write(bytes.data(), bytes.size());
    moved_.push_back({global.getSymName().str(), offset, bytes.size(), alignment});
    fileBytes_ = offset + bytes.size();
    // A declaration: the definition is in the module assembly.
    global.removeValueAttr();
    global.removeUnnamedAddrAttr();
    global.setLinkage(LLVM::Linkage::External);
    global.setVisibility_(LLVM::Visibility::Hidden);
  }
  file.close();
  if (file.has_error())
    return emitError(module.getLoc())
           << "cannot write the constants to '" << path_ << "': " << file.error().message();
  if (releaseData)
    releaseMovedBlobs(module, movedResources);
  return success();
}

std::string ConstantSection::assembly() const {
  std::string text;
  llvm::raw_string_ostream os(text);
  if (moved_.empty())
    return text;
  // One .incbin of the whole file, each constant a symbol at its offset.
  // The assembler reads an .incbin's whole file each time (and keeps it),
  // so one directive per constant read the file once per weight: the
  // compile's memory grew with weights times layers (issue #23).
  uint64_t alignment = 1;
  for (const Moved &m : moved_)
    alignment = std::max(alignment, m.alignment);
  os << "\t.section\t.rodata.ube_constants,\"a\",@progbits\n"
     << "\t.p2align\t" << llvm::Log2_64(alignment) << "\n"
     << ".Lube_constants:\n"
     << "\t.incbin\t\"" << path_ << "\"\n";
  for (const Moved &m : moved_) {
    std::string symbol = "\"" + m.symbol + "\"";
    os << "\t.globl\t" << symbol << "\n\t.hidden\t" << symbol << "\n"
       << "\t.type\t" << symbol << ",@object\n\t.size\t" << symbol << ", " << m.size << "\n"
       << "\t.set\t" << symbol << ", .Lube_constants + " << m.offset << "\n";
  }
  return text;
}

} // namespace ube
