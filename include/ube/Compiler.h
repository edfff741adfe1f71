//===- Compiler.h - the compiler API --------------------------------*- C++ -*-===//
//
// What ube-compile and the Python extension call: compile a loaded module
// (graph file or MLIR) for a target, stopping at any stage.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_COMPILER_H
#define UBE_COMPILER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/Timing.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>
#include <string>

namespace mlir {
class DialectRegistry;
class OpPassManager;
} // namespace mlir

namespace ube {

/// Everything a context that compiles needs: the ube dialect, the upstream
/// dialects and interfaces the pipelines use, and LLVM IR translation.
void registerCompilerDialects(mlir::DialectRegistry &registry);
/// Registers upstream, ube passes and ube pipelines (idempotent).
void registerCompilerPasses();

/// The stages compilation can stop at, in pipeline order.
enum class EmitStage { Ube, Linalg, Llvm, Asm, Obj, Exe };

std::optional<EmitStage> parseEmitStage(llvm::StringRef name);
/// "ube, linalg, llvm, asm, obj, exe".
llvm::StringRef emitStageNames();

/// What a compile takes for every target. A target's own options (the CPU
/// model, the CUDA toolkit, ...) are the target's option struct
/// (lib/Target/<Name>/), given here as text.
struct CompileOptions {
  /// "cpu", or "cuda:sm_90": a target name, then optionally the value of
  /// the target's suffix option (cuda: chip).
  std::string target = "cpu";
  /// The target's options as "key=value" pairs separated by spaces, e.g.
  /// "cpu=znver4 print-memory-plan=true" (cpu) or "cuda-path=/opt/cuda"
  /// (cuda); checkTarget names an unknown key or a bad value.
  std::string targetOptions;
  EmitStage emit = EmitStage::Exe;
  /// Use the target's fused kernels (e.g. the distillation losses on the
  /// cpu); off, every op takes the generic composition (for comparisons).
  bool fusedKernels = true;
  /// The module's constant data must outlive the compile: another build of
  /// it follows (the variants of a multi-ISA executable share the weights).
  /// Otherwise the compile releases the bytes of the constants it used once
  /// nothing needs them (replaced by packed copies, or written out).
  bool keepConstantData = false;
  /// Apply MLIR's pass-manager command-line options (--mlir-print-ir-*,
  /// --mlir-timing, ...); only tools that registered them set this.
  bool commandLinePassOptions = false;
  /// Verify the module after every pass (mlir-opt's --verify-each) instead
  /// of once after each pipeline: a fifth of a large model's compile time,
  /// for pinning an invalid module on the pass that made it.
  bool verifyEachPass = false;
  /// When set, the pipelines and the target's phases (translation to LLVM
  /// IR, optimization, code generation, linking) are timed under this scope
  /// (ube-compile --mlir-timing).
  mlir::TimingScope *timing = nullptr;
};

/// A timer for one phase of a compile under `options.timing` (a no-op
/// scope when the compile is not timed). Inline: the targets time their
/// phases too, and UbeTarget must not call into UbeCompiler, which links it.
inline mlir::TimingScope timePhase(const CompileOptions &options, llvm::StringRef phase) {
  return options.timing ? options.timing->nest(phase) : mlir::TimingScope();
}

/// Checks `options.target` and `options.targetOptions`: a registered target,
/// with options it has and values it accepts. Tools call it before reading
/// any input, so a wrong --target is reported as an option error; `error`
/// names the target, the option and what is available.
mlir::LogicalResult checkTarget(const CompileOptions &options, std::string &error);

/// The passes of a compile for `options.target` up to `options.emit` (at
/// most Llvm: the target's lowest MLIR level; what follows is the target's
/// serializer), on a module pass manager. The target must pass
/// checkTarget. compileModule runs the same passes (in two pass managers,
/// describing the entry points between the graph pipeline and the rest).
void buildCompilePipeline(mlir::OpPassManager &pm, const CompileOptions &options);

/// Registers --ube-<target>-pipeline for every target (options: emit,
/// fused-kernels and the target's own), so ube-opt reproduces any stage of
/// ube-compile.
void registerTargetPipelines();

/// Compiles `module` in place and writes the requested stage to `out`:
/// MLIR text for ube/linalg, LLVM IR text for llvm, assembly, an object
/// file, or the .ube executable. Errors are reported as MLIR diagnostics at
/// the offending op (for graph files: the node, file:line:col).
mlir::LogicalResult compileModule(mlir::ModuleOp module, const CompileOptions &options,
                                  llvm::raw_ostream &out);

} // namespace ube

#endif // UBE_COMPILER_H
