//===- ConstantSection.cpp - large constants outside the LLVM module ------===//

#include "ConstantSection.h"

#include "ube/Support/ExecutableFormat.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Interfaces/DataLayoutInterfaces.h"
#include "llvm/IR/Module.h"
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

/// Names and paths go into assembly as quoted strings.
bool quotable(llvm::StringRef text) { return text.find_first_of("\"\\\n") == llvm::StringRef::npos; }

} // namespace

ConstantSection::~ConstantSection() {
  if (!path_.empty())
    llvm::sys::fs::remove(path_);
}

LogicalResult ConstantSection::extract(ModuleOp module, uint64_t minBytes) {
  DataLayout layout(module);
  for (auto global : module.getOps<LLVM::GlobalOp>()) {
    if (!global.getConstant() || !global.getValueAttr() || !quotable(global.getSymName()))
      continue;
    std::optional<ArrayRef<char>> bytes = rawBytes(global.getValueAttr());
    if (!bytes || bytes->size() < minBytes ||
        bytes->size() != layout.getTypeSize(global.getGlobalType()).getFixedValue())
      continue;
    // Laid out in the region each at its alignment.
    uint64_t alignment = std::max<uint64_t>(global.getAlignment().value_or(1), 64);
    uint64_t offset = llvm::alignTo(regionBytes_, alignment);
    moved_.push_back({global.getSymName().str(), offset, bytes->size(), alignment,
                      reinterpret_cast<const uint8_t *>(bytes->data())});
    regionBytes_ = offset + bytes->size();
    // A declaration: the definition is in the module assembly.
    global.removeValueAttr();
    global.removeUnnamedAddrAttr();
    global.setLinkage(LLVM::Linkage::External);
    global.setVisibility_(LLVM::Visibility::Hidden);
  }
  return success();
}

LogicalResult ConstantSection::writeFile(Location loc) {
  if (moved_.empty() || !path_.empty())
    return success();
  int fd;
  if (llvm::sys::fs::createTemporaryFile("ube-constants", "bin", fd, path_))
    return emitError(loc) << "cannot create a temporary file for the constants";
  if (!quotable(path_))
    return emitError(loc) << "the temporary file '" << path_ << "' cannot be named in assembly";
  llvm::raw_fd_ostream file(fd, /*shouldClose=*/true);
  uint64_t written = 0;
  for (const Moved &m : moved_) {
    file.write_zeros(m.offset - written);
    file.write(reinterpret_cast<const char *>(m.data), m.size);
    written = m.offset + m.size;
  }
  file.close();
  if (file.has_error())
    return emitError(loc) << "cannot write the constants to '" << path_
                          << "': " << file.error().message();
  return success();
}

std::string ConstantSection::assembly(ConstantPlacement placement) const {
  std::string text;
  llvm::raw_string_ostream os(text);
  if (moved_.empty())
    return text;
  // Each constant is a symbol at its offset from the start of one region:
  // with the bytes, one .incbin of the whole file (the assembler reads an
  // .incbin's whole file each time and keeps it, so one directive per
  // constant read the file once per weight: memory grew with weights times
  // layers, issue #23); without, uninitialized memory the loader fills.
  if (placement == ConstantPlacement::Embedded) {
    assert(!path_.empty() && "writeFile() first");
    uint64_t alignment = 1;
    for (const Moved &m : moved_)
      alignment = std::max(alignment, m.alignment);
    os << "\t.section\t.lrodata.ube_constants,\"al\",@progbits\n"
       << "\t.p2align\t" << llvm::Log2_64(alignment) << "\n"
       << ".Lube_constants:\n"
       << "\t.incbin\t\"" << path_ << "\"\n";
  } else {
    // Whole pages, so the loader can make them read-only once filled.
    os << "\t.section\t.lbss.ube_constants,\"awl\",@nobits\n"
       << "\t.p2align\t" << llvm::Log2_64(kHostConstantsPageBytes) << "\n"
       << "\t.globl\t" << kHostConstantsSymbol << "\n"
       << "\t.type\t" << kHostConstantsSymbol << ",@object\n"
       << "\t.size\t" << kHostConstantsSymbol << ", " << regionBytes_ << "\n"
       << kHostConstantsSymbol << ":\n"
       << ".Lube_constants:\n"
       << "\t.zero\t" << llvm::alignTo(regionBytes_, kHostConstantsPageBytes) << "\n"
       << "\t.section\t.rodata.ube_constants_size,\"a\",@progbits\n"
       << "\t.p2align\t3\n"
       << "\t.globl\t" << kHostConstantsSizeSymbol << "\n"
       << "\t.type\t" << kHostConstantsSizeSymbol << ",@object\n"
       << "\t.size\t" << kHostConstantsSizeSymbol << ", 8\n"
       << kHostConstantsSizeSymbol << ":\n"
       << "\t.quad\t" << regionBytes_ << "\n";
  }
  for (const Moved &m : moved_) {
    std::string symbol = "\"" + m.symbol + "\"";
    os << "\t.globl\t" << symbol << "\n\t.hidden\t" << symbol << "\n"
       << "\t.type\t" << symbol << ",@object\n\t.size\t" << symbol << ", " << m.size << "\n"
       << "\t.set\t" << symbol << ", .Lube_constants + " << m.offset << "\n";
  }
  return text;
}

void ConstantSection::addressAsLarge(llvm::Module &module) const {
  for (const Moved &m : moved_)
    if (llvm::GlobalVariable *global = module.getGlobalVariable(m.symbol, /*AllowInternal=*/true))
      global->setCodeModel(llvm::CodeModel::Large);
}

SectionBytes ConstantSection::bytes() const {
  SectionBytes section;
  section.size = regionBytes_;
  for (const Moved &m : moved_)
    section.pieces.push_back({m.offset, m.data, m.size});
  return section;
}

} // namespace ube
