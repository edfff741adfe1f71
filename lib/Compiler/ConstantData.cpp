//===- ConstantData.cpp - letting go of weights a compile no longer needs -===//

#include "ConstantData.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

using namespace mlir;

namespace ube {
namespace {

/// The resource blobs' manager of `context` (the builtin dialect's).
DialectResourceBlobManager &blobManager(MLIRContext *context) {
  return DenseResourceElementsHandle::getManagerInterface(context).getBlobManager();
}

/// The keys of the resources the attributes of `module` refer to.
llvm::StringSet<> referencedResources(ModuleOp module) {
  llvm::StringSet<> keys;
  module.walk([&](Operation *op) {
    for (NamedAttribute attribute : op->getAttrs())
      attribute.getValue().walk([&](DenseResourceElementsAttr resource) {
        keys.insert(resource.getRawHandle().getKey());
      });
  });
  return keys;
}

} // namespace

ConstantData::ConstantData(ModuleOp module) : usedAtStart_(referencedResources(module)) {
  blobManager(module.getContext())
      .getBlobMap([&](const llvm::StringMap<DialectResourceBlobManager::BlobEntry> &map) {
        for (const auto &entry : map)
          existingAtStart_.insert(entry.first());
      });
}

uint64_t ConstantData::releaseUnreferenced(ModuleOp module) {
  llvm::StringSet<> used = referencedResources(module);
  DialectResourceBlobManager &manager = blobManager(module.getContext());
  SmallVector<std::string> released;
  manager.getBlobMap([&](const llvm::StringMap<DialectResourceBlobManager::BlobEntry> &map) {
    for (const auto &entry : map) {
      llvm::StringRef key = entry.first();
      const AsmResourceBlob *blob = entry.second.getBlob();
      bool ours = usedAtStart_.contains(key) || !existingAtStart_.contains(key);
      if (ours && blob && !blob->getData().empty() && !used.contains(key))
        released.push_back(key.str());
    }
  });
  uint64_t bytes = 0;
  for (const std::string &key : released) {
    DialectResourceBlobManager::BlobEntry *entry = manager.lookup(key);
    bytes += entry->getBlob()->getData().size();
    entry->setBlob(AsmResourceBlob());
  }
#ifdef __GLIBC__
  // glibc keeps freed blocks of a few MB (raised mmap threshold) in its
  // heap; hand the pages back, or the process holds the weights' size
  // until it exits.
  if (bytes)
    malloc_trim(0);
#endif
  return bytes;
}

} // namespace ube
