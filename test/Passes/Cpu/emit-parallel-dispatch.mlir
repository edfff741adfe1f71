// RUN: ube-opt %s --ube-cpu-emit-parallel-dispatch | FileCheck %s
// RUN: ube-opt %s --ube-cpu-emit-parallel-dispatch | ube-opt --ube-cpu-emit-parallel-dispatch | FileCheck %s --check-prefix=ONCE

// The pool pointer the runtime sets, null until then.
// CHECK: llvm.mlir.global external @ube_host_parallel_for() {{.*}} : !llvm.ptr {
// CHECK: llvm.mlir.zero : !llvm.ptr
// The task's slot adapter: captures loaded from 8-byte slots.
// CHECK: llvm.func internal @task_slots(%[[SLOTS:.*]]: !llvm.ptr, %[[B:.*]]: i64, %[[E:.*]]: i64)
// CHECK: %[[P0:.*]] = llvm.getelementptr %[[SLOTS]][0] : (!llvm.ptr) -> !llvm.ptr, i64
// CHECK: %[[C0:.*]] = llvm.load %[[P0]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[P1:.*]] = llvm.getelementptr %[[SLOTS]][1] : (!llvm.ptr) -> !llvm.ptr, i64
// CHECK: %[[C1:.*]] = llvm.load %[[P1]] : !llvm.ptr -> f32
// CHECK: llvm.call @task(%[[B]], %[[E]], %[[C0]], %[[C1]])
// The dispatch: captures stored, then the pool, or the task inline without one.
// CHECK: llvm.func internal @dispatch(%[[N:.*]]: i64, %[[X:.*]]: !llvm.ptr, %[[Y:.*]]: f32)
// CHECK-NOT: ube.parallel_task
// CHECK: %[[S:.*]] = llvm.alloca %{{.*}} x i64
// CHECK: llvm.store %[[X]]
// CHECK: llvm.store %[[Y]]
// CHECK: %[[POOL:.*]] = llvm.load %{{.*}} : !llvm.ptr -> !llvm.ptr
// CHECK: %[[ABSENT:.*]] = llvm.icmp "eq" %[[POOL]], %{{.*}}
// CHECK: llvm.cond_br %[[ABSENT]], ^[[SERIAL:.*]], ^[[PARALLEL:.*]]
// CHECK: ^[[SERIAL]]:
// CHECK: llvm.call @task_slots(%[[S]], %{{.*}}, %[[N]])
// CHECK: ^[[PARALLEL]]:
// CHECK: llvm.call %[[POOL]](%{{.*}}, %[[S]], %[[N]]) : !llvm.ptr, (!llvm.ptr, !llvm.ptr, i64) -> ()

// Once defined, a dispatch is not defined again.
// ONCE-COUNT-1: llvm.mlir.global external @ube_host_parallel_for
llvm.func internal @task(%begin: i64, %end: i64, %buffer: !llvm.ptr, %scale: f32) {
  llvm.return
}
llvm.func @dispatch(i64, !llvm.ptr, f32) attributes {ube.parallel_task = "task"}
