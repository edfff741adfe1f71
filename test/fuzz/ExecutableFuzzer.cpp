//===- ExecutableFuzzer.cpp - libFuzzer target for the executable loader -----===//
//
// Runs the checks the runtime makes on a .ube before any code is mapped:
// the container (magic, version, checksum, manifest, section bounds), then
// what the cpu device checks of its host object and the cuda device of its
// PTX modules and launch plans. Random bytes rarely carry a valid FNV-1a
// checksum, so each input is tried twice: as it is, and with the checksum
// recomputed, which lets mutations reach the manifest and the plans.
//
//===----------------------------------------------------------------------===//

#include "FuzzCheck.h"
#include "cpu/HostObject.h"
#include "cpu/CpuVariants.h"
#include "cuda/LaunchPlan.h"
#include "ube/Support/CpuFeatures.h"

#include <cstring>

namespace {

void validate(const uint8_t *data, size_t size) {
  ube::ExecutableView view;
  std::string error;
  if (!ube::readExecutable(data, size, "fuzz.ube", view, error)) {
    UBE_FUZZ_CHECK(!error.empty());
    return;
  }
  for (const ube::Section &section : view.manifest.sections) {
    UBE_FUZZ_CHECK(section.offset <= view.payloadSize &&
                   section.size <= view.payloadSize - section.offset);
    ube::fuzz::touch(view.section(section), section.size);
  }
  using namespace ube;
  using namespace ube::runtime;
  static const std::vector<std::string> hostFeatures = hostCpuFeatures();
  CpuBuild build;
  if (MaybeError e = chooseCpuBuild(view.manifest, hostFeatures, "", "fuzz.ube", build)) {
    UBE_FUZZ_CHECK(!e->message.empty());
  } else {
    const ube::Section *host;
    if (MaybeError e = findHostObject(view, "fuzz.ube", build.section, host))
      UBE_FUZZ_CHECK(!e->message.empty());
  }
  std::vector<std::pair<std::string, const ube::Section *>> modules;
  if (MaybeError e = findPtxModules(view, "fuzz.ube", modules))
    UBE_FUZZ_CHECK(!e->message.empty());
  for (const ube::EntryPoint &entry : view.manifest.entries) {
    // Symbolic signatures: bound at each symbol's smallest size, every
    // resolved shape is the signature's rank and has no symbolic size left.
    std::vector<int64_t> sizes;
    bool bound = entry.symbols.empty();
    if (!entry.symbols.empty()) {
      std::vector<std::vector<int64_t>> shapes;
      for (const TensorSignature &input : entry.inputs) {
        std::vector<int64_t> sizes(entry.symbols.size());
        for (size_t k = 0; k < sizes.size(); ++k)
          sizes[k] = entry.symbols[k].min;
        shapes.push_back(resolvedShape(entry, input, sizes));
      }
      std::string bindError;
      bound = bindSymbols(entry, shapes, sizes, bindError);
      if (bound) {
        UBE_FUZZ_CHECK(sizes.size() == entry.symbols.size());
        for (const TensorSignature &output : entry.outputs) {
          std::vector<int64_t> shape = resolvedShape(entry, output, sizes);
          UBE_FUZZ_CHECK(shape.size() == output.shape.size());
          for (int64_t size : shape)
            UBE_FUZZ_CHECK(size >= 0);
        }
      } else {
        UBE_FUZZ_CHECK(!bindError.empty());
      }
    }
    // The arena a call at those sizes takes: evaluated or refused, never
    // past the largest a manifest may ask for.
    if (bound) {
      uint64_t arenaBytes = 0;
      std::string arenaError;
      if (arenaBytesAt(entry, sizes, arenaBytes, arenaError))
        UBE_FUZZ_CHECK(arenaBytes <= kMaxArenaBytes);
      else
        UBE_FUZZ_CHECK(!arenaError.empty());
    }
    LaunchPlan parsed;
    if (MaybeError e = parseLaunchPlan(view, entry, "fuzz.ube", parsed)) {
      UBE_FUZZ_CHECK(!e->message.empty());
      continue;
    }
    // What depends on the symbols is checked per call: at the sizes bound.
    LaunchPlan plan = parsed;
    if (parsed.symbolic() || !entry.symbols.empty()) {
      if (!bound)
        continue;
      if (MaybeError e = instantiateLaunchPlan(parsed, entry, sizes, "fuzz.ube", plan)) {
        UBE_FUZZ_CHECK(!e->message.empty());
        continue;
      }
    }
    for (const LaunchStep &step : plan.steps) {
      if (step.kind == LaunchStep::Copy) {
        UBE_FUZZ_CHECK(step.src < plan.buffers.size() && step.dst < plan.buffers.size());
        UBE_FUZZ_CHECK(step.srcOffset + step.bytes <= plan.buffers[step.src].bytes);
        UBE_FUZZ_CHECK(step.dstOffset + step.bytes <= plan.buffers[step.dst].bytes);
      }
      for (const LaunchArg &arg : step.args)
        UBE_FUZZ_CHECK(arg.kind != LaunchArg::Pointer || arg.buffer < plan.buffers.size());
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  validate(data, size);
  if (size >= ube::kExecutableHeaderSize) {
    std::vector<uint8_t> fixed(data, data + size);
    uint64_t checksum = ube::fnv1a64(fixed.data() + ube::kExecutableHeaderSize,
                                     size - ube::kExecutableHeaderSize);
    std::memcpy(fixed.data() + 16, &checksum, sizeof checksum);
    validate(fixed.data(), fixed.size());
  }
  return 0;
}
