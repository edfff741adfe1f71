//===- ube-compile.cpp - compile a graph to a device executable -----------===//
//
//   ube-compile INPUT.{json,mlir} [--target=cpu|cuda:sm_NN] [--cpu=native]
//               [--cuda-path=/usr/local/cuda]
//               [--emit=ube|linalg|llvm|asm|obj|exe] -o OUTPUT
//
//===----------------------------------------------------------------------===//

#include "ube/Compiler.h"
#include "ube/Graph.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<graph.json | module.mlir>"),
                                      cl::Required);
static cl::opt<std::string> outputFile("o", cl::desc("Output file ('-' for stdout)"),
                                       cl::value_desc("file"), cl::init("-"));
static cl::opt<std::string> target("target", cl::desc("Target: cpu, or cuda:sm_NN"), cl::init("cpu"));
static cl::opt<std::string> cpu("cpu", cl::desc("CPU model for --target=cpu ('native': this host)"),
                                cl::init("native"));
static cl::opt<std::string> cudaPath("cuda-path",
                                     cl::desc("CUDA toolkit for --target=cuda (ptxas)"),
                                     cl::init("/usr/local/cuda"));
static cl::opt<std::string> emit("emit",
                                 cl::desc("Stop at a stage: ube, linalg, llvm, asm, obj, exe"),
                                 cl::init("exe"));
static cl::opt<bool> fusedKernels(
    "fused-kernels",
    cl::desc("Use the target's fused kernels (=false: the generic composition, to compare)"),
    cl::init(true));

static cl::opt<bool> printMemoryPlan(
    "print-memory-plan",
    cl::desc("Print each entry point's memory plan (cpu): where every temporary buffer "
             "lives in the arena, and when"),
    cl::init(false));

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  registerAsmPrinterCLOptions();
  ube::registerCompilerPasses();
  cl::ParseCommandLineOptions(argc, argv, "ube compiler: graph file or MLIR -> executable\n");

  auto stage = ube::parseEmitStage(emit);
  if (!stage) {
    llvm::errs() << "ube-compile: unknown --emit=" << emit << " (expected one of "
                 << ube::emitStageNames() << ")\n";
    return 1;
  }
  DialectRegistry registry;
  ube::registerCompilerDialects(registry);
  MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  DefaultTimingManager timing;
  applyDefaultTimingManagerCLOptions(timing);
  TimingScope rootTiming = timing.getRootScope();
  TimingScope loadTiming = rootTiming.nest("load");
  OwningOpRef<ModuleOp> module = ube::loadModule(inputFile, &context);
  if (!module)
    return 1;
  loadTiming.stop();
  std::string error;
  auto output = openOutputFile(outputFile, &error);
  if (!output) {
    llvm::errs() << "ube-compile: " << error << "\n";
    return 1;
  }
  ube::CompileOptions options;
  options.target = target;
  options.cpu = cpu;
  options.cudaPath = cudaPath;
  options.emit = *stage;
  options.fusedKernels = fusedKernels;
  options.printMemoryPlan = printMemoryPlan;
  options.commandLinePassOptions = true;
  options.timing = &rootTiming;
  if (failed(ube::compileModule(*module, options, output->os())))
    return 1;
  output->keep();
  return 0;
}
