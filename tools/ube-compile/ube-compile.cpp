//===- ube-compile.cpp - compile a graph to a device executable -----------===//
//
//   ube-compile INPUT.{json,mlir,onnx} [--target=cpu|cuda:sm_NN]
//               [--target-options="key=value ..."] [--cpu=native]
//               [--cuda-path=/usr/local/cuda]
//               [--emit=ube|linalg|llvm|asm|obj|exe] -o OUTPUT
//
// --cpu, --cuda-path and --print-memory-plan are shorthands for the target
// options of that name (lib/Target/<Name>/<Name>TargetOptions.h).
//
// --help lists ube-compile's own options; --help-hidden adds MLIR's and
// LLVM's (--mlir-timing, --mlir-print-ir-after-all, ...).
//
//===----------------------------------------------------------------------===//

#include "ube/Compiler.h"
#include "ube/Diagnostics.h"
#include "ube/Graph.h"
#include "ube/Version.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory ubeCategory("ube-compile options");

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<graph.json | module.mlir>"),
                                      cl::Required, cl::cat(ubeCategory));
static cl::opt<std::string> outputFile("o", cl::desc("Output file ('-' for stdout)"),
                                       cl::value_desc("file"), cl::init("-"), cl::cat(ubeCategory));
static cl::opt<std::string> target("target", cl::desc("Target: cpu, or cuda:sm_NN"), cl::init("cpu"), cl::cat(ubeCategory));
static cl::opt<std::string> targetOptions(
    "target-options",
    cl::desc("The target's options, \"key=value ...\" (ube-opt --help lists them under "
             "--ube-<target>-pipeline)"),
    cl::init(""), cl::cat(ubeCategory));
// Shorthands for target options.
static cl::opt<std::string> cpu("cpu", cl::desc("--target=cpu: the CPU model ('native': this host)"),
                                cl::init("native"), cl::cat(ubeCategory));
static cl::opt<std::string> cudaPath("cuda-path",
                                     cl::desc("--target=cuda: the CUDA toolkit (libdevice, ptxas)"),
                                     cl::init("/usr/local/cuda"), cl::cat(ubeCategory));
static cl::opt<std::string> emit("emit",
                                 cl::desc("Stop at a stage: ube, linalg, llvm, asm, obj, exe"),
                                 cl::init("exe"), cl::cat(ubeCategory));
static cl::opt<bool> fusedKernels(
    "fused-kernels",
    cl::desc("Use the target's fused kernels (=false: the generic composition, to compare)"),
    cl::init(true), cl::cat(ubeCategory));

static cl::opt<bool> printMemoryPlan(
    "print-memory-plan",
    cl::desc("--target=cpu: print each entry point's memory plan (where every temporary "
             "buffer lives in the arena, and when)"),
    cl::init(false), cl::cat(ubeCategory));

static cl::opt<bool> verifyEach(
    "verify-each",
    cl::desc("verify the module after every pass, not once after each pipeline (slower; "
             "names the pass that made an invalid module)"),
    cl::init(false), cl::cat(ubeCategory));

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  registerAsmPrinterCLOptions();
  ube::registerCompilerPasses();
  // --help shows ube-compile's options; LLVM's and MLIR's (hundreds, from
  // every backend) stay usable and are listed by --help-hidden.
  for (auto &[name, option] : cl::getRegisteredOptions())
    if (!llvm::is_contained(option->Categories, &ubeCategory) &&
        !llvm::is_contained({"help", "help-list", "version"}, name.str()) &&
        option->getOptionHiddenFlag() == cl::NotHidden)
      option->setHiddenFlag(cl::Hidden);
  cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << "ube-compile (ube " << ube::kVersion << ", LLVM " << LLVM_VERSION_STRING << ")\n";
  });
  cl::ParseCommandLineOptions(argc, argv,
                              "ube compiler: graph file or MLIR -> executable\n\n"
                              "  --help-hidden also lists MLIR's and LLVM's options "
                              "(--mlir-timing, --mlir-print-ir-after-all, ...)\n");

  auto stage = ube::parseEmitStage(emit);
  if (!stage) {
    llvm::errs() << "ube-compile: unknown --emit=" << emit << " (expected one of "
                 << ube::emitStageNames() << ")\n";
    return 1;
  }
  ube::CompileOptions options;
  options.target = target;
  // Shorthands first: --target-options, later in the text, wins.
  auto addTargetOption = [&](cl::Option &flag, llvm::StringRef value) {
    if (flag.getNumOccurrences())
      options.targetOptions += (flag.ArgStr + "=" + value + " ").str();
  };
  addTargetOption(cpu, cpu);
  addTargetOption(cudaPath, cudaPath);
  addTargetOption(printMemoryPlan, printMemoryPlan ? "true" : "false");
  options.targetOptions += targetOptions;
  options.emit = *stage;
  options.fusedKernels = fusedKernels;
  options.commandLinePassOptions = true;
  options.verifyEachPass = verifyEach;
  std::string error;
  if (failed(ube::checkTarget(options, error))) {
    llvm::errs() << "ube-compile: --target=" << target << ": " << error << "\n";
    return 1;
  }
  DialectRegistry registry;
  ube::registerCompilerDialects(registry);
  MLIRContext context(registry);
  ube::DiagnosticPrinter diagnostics(&context);

  DefaultTimingManager timing;
  applyDefaultTimingManagerCLOptions(timing);
  TimingScope rootTiming = timing.getRootScope();
  TimingScope loadTiming = rootTiming.nest("load");
  OwningOpRef<ModuleOp> module = ube::loadModule(inputFile, &context);
  if (!module)
    return 1;
  loadTiming.stop();
  auto output = openOutputFile(outputFile, &error);
  if (!output) {
    llvm::errs() << "ube-compile: " << error << "\n";
    return 1;
  }
  options.timing = &rootTiming;
  if (failed(ube::compileModule(*module, options, output->os())))
    return 1;
  output->keep();
  return 0;
}
