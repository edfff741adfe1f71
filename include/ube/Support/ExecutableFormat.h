//===- ExecutableFormat.h - the .ube executable container ---------*- C++ -*-===//
//
// One file holding a manifest and the per-device binaries of a compiled
// graph. Layout (little endian):
//
//   offset 0   8 bytes  magic "UBEEXEC\0"
//          8   u32      container format version (kExecutableFormatVersion)
//         12   u32      reserved, 0
//         16   u64      checksum: FNV-1a 64 of every byte after the header
//         24   u64      manifest size in bytes (M)
//         32   M bytes  manifest, JSON
//     32 + M   ...      sections, each at the offset the manifest gives
//                       (relative to the end of the manifest), 64-byte aligned
//
// The manifest (docs/runtime-abi.md) names the target, the sections and the
// entry points with their argument names, dtypes and shapes. The checksum
// catches corruption, not malice. LLVM-free: the runtime parses this too.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_SUPPORT_EXECUTABLEFORMAT_H
#define UBE_SUPPORT_EXECUTABLEFORMAT_H

#include "ube/Support/DType.h"
#include "ube/Support/FileIO.h"
#include "ube/Support/PlanExpr.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ube {

inline constexpr char kExecutableMagic[8] = {'U', 'B', 'E', 'E', 'X', 'E', 'C', '\0'};
/// The newest format this compiler writes. Version 2 added
/// "required_features"; version 3 moved the cpu host code's large constants
/// into their own section (an older runtime would run the code on zeros);
/// version 4 added symbolic dimensions; version 5 arenas sized at each call
/// (an older runtime would pass none, or one too small); version 6 derived
/// symbols (an older one would find no input naming them); version 7
/// inputs naming derived symbols, checked at each call (an older one would
/// refuse them). An executable is written in the oldest version that holds
/// it (formatVersionOf).
inline constexpr uint32_t kExecutableFormatVersion = 7;
/// The oldest format this runtime still reads: every version from here to
/// kExecutableFormatVersion loads (docs/runtime-abi.md, compatibility).
inline constexpr uint32_t kOldestReadableFormatVersion = 1;
inline constexpr size_t kExecutableHeaderSize = 32;

/// The names the targets write and the device plugins read: one definition.
namespace section {
/// cpu: the host code, a shared object loaded from memory.
inline constexpr const char *kHostObject = "host.so";
/// A section of one variant of a multi-build executable ("host.so:x86-64-v4").
inline std::string ofVariant(const std::string &section, const std::string &variant) {
  return section + ":" + variant;
}
/// The large constants (weights, packed weight panels). cuda: uploaded to
/// the device once at load. cpu (format 3): copied once at load into the
/// host object's kHostConstantsSymbol region, which the code addresses.
inline constexpr const char *kConstants = "constants";
/// cuda: a GPU module's PTX (JIT-compiled when no cubin fits the device).
inline std::string ptx(const std::string &module) { return "ptx:" + module; }
/// cuda: a GPU module's cubin for the compiled architecture.
inline std::string cubin(const std::string &module) { return "cubin:" + module; }
} // namespace section

/// cpu host objects with a constants section: the writable, page-aligned
/// region the loader fills with it (uninitialized in the object: the bytes
/// travel once, in the section) ...
inline constexpr const char *kHostConstantsSymbol = "ube_constants";
/// ... and a read-only uint64_t holding the section's size, checked first.
inline constexpr const char *kHostConstantsSizeSymbol = "ube_constants_size";
/// The region's alignment, and the unit its size is rounded up to: whole
/// pages of their own, which the loader makes read-only once filled.
inline constexpr uint64_t kHostConstantsPageBytes = 4096;

/// The host symbol of entry point `function`: void ube_entry_NAME(void **buffers).
inline constexpr const char *kEntrySymbolPrefix = "ube_entry_";
inline std::string entrySymbol(const std::string &function) {
  return kEntrySymbolPrefix + function;
}

/// A size in a TensorSignature's shape that a symbol names (format 4).
inline constexpr int64_t kSymbolicDim = -1;

/// A symbolic dimension of an entry point: a size every dimension naming it
/// shares at run time, within its bounds.
struct DimSymbol {
  std::string name;
  int64_t min = 1;
  int64_t max = 0; ///< 0: no upper bound.
  int64_t multipleOf = 1;
  /// A derived symbol (format 6): its size at a call is the last node of
  /// this list over the symbols bound from the inputs (a convolution's
  /// output length); a negative one refuses the call. Empty: an input's
  /// shape gives the size.
  std::vector<PlanExpr> size = {};
  bool derived() const { return !size.empty(); }
};

struct TensorSignature {
  std::string name;
  DType dtype = DType::F32;
  /// Sizes; kSymbolicDim where `dims` names the symbol (in order).
  std::vector<int64_t> shape;
  std::vector<std::string> dims = {};
  bool symbolic() const { return !dims.empty(); }
};

struct EntryPoint {
  std::string name;   ///< The graph's function name.
  std::string symbol; ///< Host symbol: void symbol(void **buffers).
  std::vector<TensorSignature> inputs;
  std::vector<TensorSignature> outputs;
  /// Device-specific launch plan (a JSON object, serialized) for targets
  /// without host code (cuda); empty otherwise.
  std::string plan;
  /// Bytes of scratch memory (64-byte aligned) the entry point takes after
  /// its outputs: the arena its temporaries are planned into. 0: none.
  /// With `arenaExprs`: the most any conforming call needs (0 when a
  /// symbol is unbounded).
  uint64_t arenaBytes = 0;
  /// An entry point with symbols whose temporaries' sizes depend on them:
  /// the arena's size at a call, the value of the last node evaluated at
  /// the call's symbol sizes (the host code then takes an arena always).
  std::vector<PlanExpr> arenaExprs = {};
  /// (output, input) index pairs: the output may be written into the
  /// input's buffer (an update in place, proven by the compiler); the caller
  /// may pass one buffer for both.
  std::vector<std::pair<uint32_t, uint32_t>> inPlace;
  /// The symbols its shapes name (format 4). The host code then takes one
  /// more buffer after the arena: the symbols' sizes, int64 in this order.
  std::vector<DimSymbol> symbols = {};
};

/// Each symbol's size, in `entry.symbols` order, from the shapes of the
/// inputs given: every dimension naming a symbol must agree, fall within
/// its bounds, and every static size must match; then the derived symbols'
/// sizes from those, none below its `min`, and each input dimension naming
/// one must have that size. `inputShapes` has one shape per input,
/// of its signature's rank. On failure `error` names the function, the
/// inputs and the symbol.
bool bindSymbols(const EntryPoint &entry, const std::vector<std::vector<int64_t>> &inputShapes,
                 std::vector<int64_t> &sizes, std::string &error);

/// `signature`'s shape with each symbol's size from `sizes` (bindSymbols).
std::vector<int64_t> resolvedShape(const EntryPoint &entry, const TensorSignature &signature,
                                   const std::vector<int64_t> &sizes);

/// A shape as people read it: [batch, 16].
std::string signatureShapeString(const TensorSignature &signature);

/// Far beyond any real plan, so a corrupt size fails as it is read, not in
/// malloc.
inline constexpr uint64_t kMaxArenaBytes = uint64_t(1) << 40;

/// The bytes of arena `entry` needs at a call with these symbol sizes (its
/// `arenaBytes` unless `arenaExprs` gives them). False with `error` naming
/// the function when the expressions fail or give a size out of range.
bool arenaBytesAt(const EntryPoint &entry, const std::vector<int64_t> &symbolSizes,
                  uint64_t &bytes, std::string &error);

struct Section {
  std::string name;
  uint64_t offset = 0; ///< Relative to the end of the manifest.
  uint64_t size = 0;
};

/// One of several builds of the same code for different CPUs (a multi-ISA
/// cpu executable): the runtime runs the most capable one the host has.
struct Variant {
  std::string name;       ///< E.g. "x86-64-v4".
  std::string targetInfo; ///< E.g. the CPU model compiled for.
  std::vector<std::string> requiredFeatures;
  std::string section;    ///< Its code: section::ofVariant("host.so", name).
};

struct Manifest;
/// The oldest format that holds `manifest`: 7 with inputs naming derived
/// symbols, 6 with derived symbols, 5 with
/// an arena sized at each call, 4 with symbolic dimensions, else 3. The compiler writes that; writeExecutable writes manifest.formatVersion.
uint32_t formatVersionOf(const Manifest &manifest);

struct Manifest {
  uint32_t formatVersion = kExecutableFormatVersion;
  std::string target;     ///< "cpu", "cuda".
  std::string targetInfo; ///< e.g. the CPU model or SM architecture compiled for.
  std::string producer;   ///< Compiler name and version.
  /// What the host must have to run the code (cpu: the x86 ISA features it
  /// was compiled with, LLVM names; CpuFeatures.h). Format 2 and later.
  /// With variants: what every variant needs.
  std::vector<std::string> requiredFeatures;
  /// Several builds of the code, each with its own requirements and section
  /// (cpu, format 2); empty for one.
  std::vector<Variant> variants;
  std::vector<EntryPoint> entries;
  std::vector<Section> sections;
};

/// FNV-1a, 64-bit.
uint64_t fnv1a64(const uint8_t *data, size_t size, uint64_t seed = 0xcbf29ce484222325ull);

/// The bytes of one section, not owned: pieces at ascending offsets, zeros
/// between them and up to `size` (a section gathered from buffers that
/// exist already, such as the weights, is not copied into one). A piece
/// with `file` is mapped from it, and its pages are handed back to the
/// system as they are written out (FileBytes::release).
struct SectionBytes {
  struct Piece {
    uint64_t offset = 0;
    const uint8_t *data = nullptr;
    size_t size = 0;
    const FileBytes *file = nullptr;
  };
  uint64_t size = 0;
  std::vector<Piece> pieces;

  SectionBytes() = default;
  /// One piece: the whole section.
  SectionBytes(const uint8_t *data, size_t size, const FileBytes *file = nullptr)
      : size(size), pieces{{0, data, size, file}} {}
};

/// Writes the container image of `manifest` (its section offsets are
/// assigned here) and the section contents, in manifest order, to `sink` in
/// pieces, without assembling it in memory (weights are hundreds of MB).
void writeExecutable(Manifest manifest, const std::vector<SectionBytes> &sections,
                     const std::function<void(const uint8_t *, size_t)> &sink);

/// The same image as one buffer.
std::vector<uint8_t> writeExecutable(Manifest manifest,
                                     const std::vector<std::vector<uint8_t>> &sectionData);

/// A validated view of a container image.
struct ExecutableView {
  Manifest manifest;
  const uint8_t *payload = nullptr; ///< Start of the section area.
  uint64_t payloadSize = 0;
  const uint8_t *section(const Section &s) const { return payload + s.offset; }
  const Section *findSection(const std::string &name) const;
};

/// Checks magic, version, checksum, manifest and section bounds, in that
/// order. On failure returns false with `error` naming `displayName`.
bool readExecutable(const uint8_t *data, size_t size, const std::string &displayName,
                    ExecutableView &view, std::string &error);

/// The target a container's manifest names, read without the checksum or
/// the sections (to pick the device before loading, which checks them all);
/// empty when the header or the manifest cannot be read.
std::string executableTarget(const uint8_t *data, size_t size);

std::string manifestToJson(const Manifest &manifest);
bool manifestFromJson(const std::string &text, Manifest &manifest, std::string &error);

} // namespace ube

#endif // UBE_SUPPORT_EXECUTABLEFORMAT_H
