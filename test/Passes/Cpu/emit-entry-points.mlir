// RUN: ube-opt %s --ube-cpu-emit-entry-points | FileCheck %s

// CHECK-LABEL: llvm.func internal @predict(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// CHECK-NOT: ube.name
// CHECK-LABEL: llvm.func @ube_entry_predict(
// CHECK-SAME: %[[ARGV:.*]]: !llvm.ptr)
// CHECK: %[[P0:.*]] = llvm.getelementptr %[[ARGV]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[A0:.*]] = llvm.load %[[P0]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[P1:.*]] = llvm.getelementptr %[[ARGV]][1] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[A1:.*]] = llvm.load %[[P1]] : !llvm.ptr -> !llvm.ptr
// CHECK: llvm.call @predict(%[[A0]], %[[A1]])
// CHECK: llvm.return
module {
  llvm.func @malloc(i64) -> !llvm.ptr
  llvm.func @predict(%arg0: !llvm.ptr {ube.name = "x"}, %arg1: !llvm.ptr {ube.name = "y"}) {
    llvm.return
  }
  // Private helpers get no wrapper.
  // CHECK-NOT: ube_entry_helper
  llvm.func internal @helper() {
    llvm.return
  }
}
