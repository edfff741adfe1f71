// RUN: ube-opt %s --ube-cpu-emit-entry-points -verify-diagnostics

module {
  // expected-error@+1 {{is not an entry point: expected (ptr...) -> void after the bare-pointer calling convention}}
  llvm.func @returns_value(%arg0: !llvm.ptr) -> i32 {
    %0 = llvm.mlir.constant(0 : i32) : i32
    llvm.return %0 : i32
  }
}
