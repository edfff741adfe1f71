#include "ConstantData.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <gtest/gtest.h>

using namespace mlir;

namespace {

/// A module with one constant per name, each a dense_resource of 4 floats.
OwningOpRef<ModuleOp> moduleWith(MLIRContext &context, std::vector<std::string> names) {
  OpBuilder builder(&context);
  OwningOpRef<ModuleOp> module = ModuleOp::create(builder.getUnknownLoc());
  builder.setInsertionPointToEnd(module->getBody());
  auto type = RankedTensorType::get({4}, builder.getF32Type());
  auto fn = func::FuncOp::create(builder, builder.getUnknownLoc(), "f",
                                 builder.getFunctionType({}, {}));
  builder.setInsertionPointToEnd(fn.addEntryBlock());
  for (const std::string &name : names) {
    float values[4] = {1, 2, 3, 4};
    auto blob = HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef<float>(values));
    arith::ConstantOp::create(builder, builder.getUnknownLoc(),
                              DenseResourceElementsAttr::get(type, name, std::move(blob)));
  }
  func::ReturnOp::create(builder, builder.getUnknownLoc());
  return module;
}

/// The bytes of resource `name` (0 once released).
size_t blobBytes(MLIRContext &context, llvm::StringRef name) {
  auto &manager = DenseResourceElementsHandle::getManagerInterface(&context).getBlobManager();
  auto *entry = manager.lookup(name);
  return entry && entry->getBlob() ? entry->getBlob()->getData().size() : 0;
}

} // namespace

TEST(ConstantData, ReleasesOnlyItsOwnUnreferencedBlobs) {
  MLIRContext context;
  context.loadDialect<arith::ArithDialect, func::FuncDialect>();
  OwningOpRef<ModuleOp> other = moduleWith(context, {"other"});
  OwningOpRef<ModuleOp> module = moduleWith(context, {"kept", "replaced"});
  ube::ConstantData data(*module);

  // A pass replaces "replaced" by a new blob: the original is dead.
  module->walk([](arith::ConstantOp op) {
    if (auto resource = dyn_cast<DenseResourceElementsAttr>(op.getValue());
        resource && resource.getRawHandle().getKey() == "replaced") {
      float values[4] = {4, 3, 2, 1};
      op.setValueAttr(DenseResourceElementsAttr::get(
          resource.getType(), "packed",
          HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef<float>(values))));
    }
  });
  // The other module's constant is unreferenced by this one, but not ours.
  EXPECT_EQ(data.releaseUnreferenced(*module), 16u);
  EXPECT_EQ(blobBytes(context, "replaced"), 0u);
  EXPECT_EQ(blobBytes(context, "kept"), 16u);
  EXPECT_EQ(blobBytes(context, "packed"), 16u);
  EXPECT_EQ(blobBytes(context, "other"), 16u);

  // Once written out, the blobs the compile created go too.
  module->walk([](arith::ConstantOp op) { op->erase(); });
  EXPECT_EQ(data.releaseUnreferenced(*module), 32u);
  EXPECT_EQ(blobBytes(context, "packed"), 0u);
  EXPECT_EQ(blobBytes(context, "other"), 16u);
  EXPECT_EQ(data.releaseUnreferenced(*module), 0u);
}
