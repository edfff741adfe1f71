//===- TargetPipelines.cpp - a compile's passes as registered pipelines ---===//
//
// --ube-cpu-pipeline and --ube-cuda-pipeline are the passes ube-compile runs
// for that target, up to a stage, so ube-opt reproduces any stage of a
// compile (and --dump-pass-pipeline prints it as text).
//
//===----------------------------------------------------------------------===//

#include "ube/Compiler.h"

#include "ube/Target/Target.h"

#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;

namespace ube {

namespace {

/// ube-compile's options, as pipeline options.
struct TargetPipelineOptions : PassPipelineOptions<TargetPipelineOptions> {
  Option<std::string> emit{*this, "emit",
                           llvm::cl::desc("Stop after this stage: ube, linalg, or llvm (the "
                                          "target's lowest MLIR level, before translation)"),
                           llvm::cl::init("llvm")};
  Option<bool> fusedKernels{*this, "fused-kernels",
                            llvm::cl::desc("Use the target's fused kernels"),
                            llvm::cl::init(true)};
  Option<std::string> cpu{*this, "cpu",
                          llvm::cl::desc("cpu: the CPU model ('native': this host)"),
                          llvm::cl::init("native")};
  Option<std::string> chip{*this, "chip", llvm::cl::desc("cuda: the architecture, sm_NN"),
                           llvm::cl::init("sm_90")};
  Option<std::string> cudaPath{*this, "cuda-path",
                               llvm::cl::desc("cuda: the CUDA toolkit (libdevice)"),
                               llvm::cl::init("/usr/local/cuda")};
};

void registerTargetPipeline(llvm::StringRef targetName, llvm::StringRef argument,
                            llvm::StringRef description) {
  std::string name = targetName.str();
  registerPassPipeline(
      argument, description,
      [name](OpPassManager &pm, llvm::StringRef text,
             function_ref<LogicalResult(const Twine &)> errorHandler) -> LogicalResult {
        TargetPipelineOptions pipelineOptions;
        if (failed(pipelineOptions.parseFromString(text)))
          return failure();
        CompileOptions options;
        options.target = name == "cuda" ? "cuda:" + pipelineOptions.chip.getValue() : name;
        options.cpu = pipelineOptions.cpu;
        options.cudaPath = pipelineOptions.cudaPath;
        options.fusedKernels = pipelineOptions.fusedKernels;
        std::optional<EmitStage> stage = parseEmitStage(pipelineOptions.emit);
        if (!stage || *stage > EmitStage::Llvm)
          return errorHandler("emit=" + pipelineOptions.emit + ": the pipeline stops at ube, "
                              "linalg or llvm (later stages are ube-compile's serializer)");
        options.emit = *stage;
        std::string error;
        if (failed(checkTarget(options, error)))
          return errorHandler(error);
        buildCompilePipeline(pm, options);
        return success();
      },
      [](function_ref<void(const detail::PassOptions &)> handler) {
        handler(TargetPipelineOptions());
      });
}

} // namespace

void registerTargetPipelines() {
  registerTargetPipeline("cpu", "ube-cpu-pipeline",
                         "The passes of ube-compile --target=cpu, up to emit=STAGE");
  registerTargetPipeline("cuda", "ube-cuda-pipeline",
                         "The passes of ube-compile --target=cuda:CHIP, up to emit=STAGE");
}

} // namespace ube
