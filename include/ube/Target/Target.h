//===- Target.h - compilation targets and their registry ----------*- C++ -*-===//
//
// A target is a name, an option struct, pipelines built from its passes
// (passes/<Name>/: ube ops -> fused kernels, linalg on tensors -> the
// target's lowest MLIR level) and a serializer (-> LLVM IR, assembly, object,
// or the sections of a .ube). A new device adds one Target subclass in
// lib/Target/<Name>/, which registers itself (docs/architecture.md).
//
//===----------------------------------------------------------------------===//

#ifndef UBE_TARGET_TARGET_H
#define UBE_TARGET_TARGET_H

#include "ube/Compiler.h"
#include "ube/Support/ExecutableFormat.h"
#include "ube/Support/FileIO.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

#include <memory>
#include <vector>

namespace ube {

/// A target's part of an executable: what the manifest says about the code,
/// and the sections' bytes, in manifest order.
struct TargetBinary {
  /// E.g. the CPU model or the SM architecture compiled for.
  std::string targetInfo;
  /// What the host must have to run the code (Manifest::requiredFeatures).
  std::vector<std::string> requiredFeatures;
  /// The variant's name, when this is one build of several (the CPU).
  std::string variantName;
  struct OwnedSection {
    std::string name;
    /// What holds the bytes: a file mapped (not copied; its pages handed
    /// back as they are written out) or bytes held. Null when the bytes are
    /// the compile's constants (the context's blobs, which the compile keeps
    /// until the executable is written).
    std::shared_ptr<const FileBytes> storage;
    SectionBytes bytes;

    OwnedSection(std::string name, std::shared_ptr<const FileBytes> storage)
        : name(std::move(name)), storage(std::move(storage)),
          bytes(this->storage->data(), this->storage->size(), this->storage.get()) {}
    OwnedSection(std::string name, SectionBytes bytes)
        : name(std::move(name)), bytes(std::move(bytes)) {}
  };
  std::vector<OwnedSection> sections;
};

class Target {
public:
  virtual ~Target() = default;
  virtual llvm::StringRef name() const = 0;
  /// The target's option struct with its defaults: a PassOptions, so its
  /// options parse from CompileOptions::targetOptions ("key=value ...")
  /// with errors naming the option, and list themselves in help. Shared:
  /// PassOptions has no virtual destructor, and make_shared deletes the
  /// struct as what it is.
  virtual std::shared_ptr<mlir::detail::PassOptions> createOptions() const = 0;
  /// The option that "name:VALUE" in --target sets (cuda: "chip"); none
  /// when empty.
  virtual llvm::StringRef suffixOption() const { return ""; }
  /// Several builds of the code in one executable (cpu: --cpu=A,B): the
  /// target options that select each (appended to options.targetOptions,
  /// later values win), or none for one build.
  virtual std::vector<std::string> variants(const CompileOptions &options) const { return {}; }
  /// Whether entry points may have symbolic dimensions (sizes named by
  /// `ube.symbols`, bound by the runtime at each call).
  virtual bool supportsSymbolicDims() const { return false; }
  /// Checks option values beyond their syntax (a CPU model LLVM knows, a
  /// toolkit that exists); they parse.
  virtual mlir::LogicalResult validateOptions(const CompileOptions &options,
                                              std::string &error) const {
    return mlir::success();
  }
  /// Replaces ube ops with target-specific fused kernels before the generic
  /// lowering to linalg (only when `options.fusedKernels`); none by default.
  virtual void buildKernelPipeline(mlir::OpPassManager &pm,
                                   const CompileOptions &options) const {}
  /// Lowers linalg on tensors to what `emit` and `buildExecutable` take.
  virtual void buildCodegenPipeline(mlir::OpPassManager &pm,
                                    const CompileOptions &options) const = 0;
  /// Registers the target's passes and pipelines (for ube-opt).
  virtual void registerPasses() const {}
  /// Writes `stage` (Llvm, Asm or Obj) of the lowered module to `out`.
  virtual mlir::LogicalResult emit(mlir::ModuleOp module, const CompileOptions &options,
                                   EmitStage stage, llvm::raw_ostream &out) const = 0;
  /// The executable's sections, built from the lowered module, and what each
  /// of `entries` needs at run time (its host symbol or launch plan, arena,
  /// in-place pairs). The manifest is assembled from them by the compiler
  /// (lib/Compiler/Compiler.cpp), in one place.
  virtual mlir::LogicalResult buildExecutable(mlir::ModuleOp module,
                                              const CompileOptions &options,
                                              std::vector<EntryPoint> &entries,
                                              TargetBinary &binary) const = 0;
};

void registerTarget(std::unique_ptr<Target> target);
/// Null when no target has that name.
const Target *lookupTarget(llvm::StringRef name);
std::vector<llvm::StringRef> registeredTargetNames();

/// Registers the targets built into this library (cpu, cuda).
void registerBuiltinTargets();

/// `target`'s options in `options` as one "key=value ..." text: the suffix
/// of options.target ("cuda:sm_90" -> "chip=sm_90"), then
/// options.targetOptions (later values win).
std::string targetOptionText(const Target &target, const CompileOptions &options);

/// `target`'s options in `options`, parsed into its option struct; they
/// parse (checkTarget has checked them).
template <typename OptionsT>
std::unique_ptr<OptionsT> parseTargetOptions(const Target &target,
                                             const CompileOptions &options) {
  auto parsed = std::make_unique<OptionsT>();
  std::string ignored;
  llvm::raw_string_ostream errors(ignored);
  [[maybe_unused]] bool ok =
      mlir::succeeded(parsed->parseFromString(targetOptionText(target, options), errors));
  assert(ok && "checkTarget first");
  return parsed;
}

} // namespace ube

#endif // UBE_TARGET_TARGET_H
