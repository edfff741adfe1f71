//===- ExecutableFormat.cpp - the .ube executable container ---------------===//

#include "ube/Support/ExecutableFormat.h"

#include "ube/Version.h"

#include <algorithm>

#include <cstring>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "PlanExprJson.h"

namespace ube {
namespace {
using json = nlohmann::ordered_json;

constexpr uint64_t kSectionAlignment = 64;

void putU32(std::vector<uint8_t> &out, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out[at + i] = uint8_t(v >> (8 * i));
}
void putU64(std::vector<uint8_t> &out, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out[at + i] = uint8_t(v >> (8 * i));
}
uint32_t getU32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}
uint64_t getU64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

/// A shape in the manifest: sizes, and symbol names where symbols give them.
json signatureJson(const TensorSignature &t) {
  json shape = json::array();
  size_t next = 0;
  for (int64_t size : t.shape)
    shape.push_back(size == kSymbolicDim ? json(t.dims[next++]) : json(size));
  return {{"name", t.name}, {"dtype", dtypeName(t.dtype)}, {"shape", shape}};
}

bool parseSignature(const json &j, TensorSignature &t, std::string &error) {
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string() ||
      !j.contains("dtype") || !j["dtype"].is_string() || !j.contains("shape") ||
      !j["shape"].is_array()) {
    error = "malformed tensor signature";
    return false;
  }
  t.name = j["name"].get<std::string>();
  auto dtype = parseDType(j["dtype"].get<std::string>());
  if (!dtype) {
    error = fmt::format("tensor '{}' has unknown dtype", t.name);
    return false;
  }
  t.dtype = *dtype;
  t.shape.clear();
  t.dims.clear();
  for (const json &d : j["shape"]) {
    if (d.is_string() && !d.get<std::string>().empty()) {
      t.shape.push_back(kSymbolicDim);
      t.dims.push_back(d.get<std::string>());
      continue;
    }
    if (!d.is_number_integer() || d.get<int64_t>() < 0) {
      error = fmt::format("tensor '{}' has a malformed shape", t.name);
      return false;
    }
    t.shape.push_back(d.get<int64_t>());
  }
  if (!t.symbolic() && !numBytes(t.shape, t.dtype)) {
    error = fmt::format("tensor '{}' is too large", t.name);
    return false;
  }
  return true;
}
} // namespace

/// An entry's "in_place" pairs: each [output, input] names an output and an
/// input of the same dtype and shape, each at most once.
static bool parseInPlace(const json &pairs, EntryPoint &entry, std::string &error) {
  auto malformed = [&](const std::string &why) {
    error = fmt::format("entry point '{}': malformed in_place ({})", entry.name, why);
    return false;
  };
  if (!pairs.is_array())
    return malformed("not an array");
  std::vector<bool> outputUsed(entry.outputs.size()), inputUsed(entry.inputs.size());
  for (const json &pair : pairs) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_unsigned() ||
        !pair[1].is_number_unsigned())
      return malformed("pairs are [output, input]");
    uint64_t output = pair[0].get<uint64_t>(), input = pair[1].get<uint64_t>();
    if (output >= entry.outputs.size() || input >= entry.inputs.size())
      return malformed("index out of range");
    const TensorSignature &o = entry.outputs[output], &i = entry.inputs[input];
    if (o.dtype != i.dtype || o.shape != i.shape || o.dims != i.dims)
      return malformed(fmt::format("'{}' and '{}' differ in type", o.name, i.name));
    if (outputUsed[output] || inputUsed[input])
      return malformed("an index appears twice");
    outputUsed[output] = inputUsed[input] = true;
    entry.inPlace.emplace_back(uint32_t(output), uint32_t(input));
  }
  return true;
}

/// An entry's "symbols": [{"name", "min", "max", "multiple_of"}, ...].
static bool parseSymbols(const json &list, EntryPoint &entry, std::string &error) {
  constexpr int64_t kLimit = int64_t(1) << 40;
  auto bound = [&](const json &s, const char *key, int64_t low) {
    return s.contains(key) && s[key].is_number_integer() && s[key].get<int64_t>() >= low &&
           s[key].get<int64_t>() <= kLimit;
  };
  if (!list.is_array()) {
    error = fmt::format("entry point '{}': malformed symbols", entry.name);
    return false;
  }
  for (const json &s : list) {
    if (!s.is_object() || !s.contains("name") || !s["name"].is_string() ||
        s["name"].get<std::string>().empty() || !bound(s, "min", 0) || !bound(s, "max", 0) ||
        !bound(s, "multiple_of", 1) ||
        (s["max"].get<int64_t>() && s["max"].get<int64_t>() < s["min"].get<int64_t>())) {
      error = fmt::format("entry point '{}': malformed symbol", entry.name);
      return false;
    }
    DimSymbol symbol{s["name"].get<std::string>(), s["min"].get<int64_t>(),
                     s["max"].get<int64_t>(), s["multiple_of"].get<int64_t>()};
    if (s.contains("size")) {
      // Over the symbols before it, evaluated in order.
      std::string why;
      if (!planExprsFromJson(s["size"], entry.symbols.size(), symbol.size, why) ||
          symbol.size.empty()) {
        error = fmt::format("entry point '{}': malformed size of symbol '{}'{}", entry.name,
                            symbol.name, why.empty() ? "" : ": " + why);
        return false;
      }
    }
    entry.symbols.push_back(std::move(symbol));
  }
  return true;
}

uint32_t formatVersionOf(const Manifest &manifest) {
  uint32_t version = 3;
  for (const EntryPoint &e : manifest.entries) {
    auto derived = [&](const std::string &name) {
      return std::any_of(e.symbols.begin(), e.symbols.end(),
                         [&](const DimSymbol &d) { return d.name == name && d.derived(); });
    };
    for (const TensorSignature &input : e.inputs)
      if (std::any_of(input.dims.begin(), input.dims.end(), derived))
        return 7;
    if (std::any_of(e.symbols.begin(), e.symbols.end(),
                    [](const DimSymbol &d) { return d.derived(); }))
      version = 6;
    if (!e.arenaExprs.empty())
      version = 5;
    if (!e.symbols.empty())
      version = std::max<uint32_t>(version, 4);
  }
  return version;
}

bool arenaBytesAt(const EntryPoint &entry, const std::vector<int64_t> &symbolSizes,
                  uint64_t &bytes, std::string &error) {
  bytes = entry.arenaBytes;
  if (entry.arenaExprs.empty())
    return true;
  std::vector<int64_t> values;
  std::string why;
  if (!evaluatePlanExprs(entry.arenaExprs, symbolSizes, values, why)) {
    error = fmt::format("function '{}': its arena's size fails at these sizes: {}", entry.name,
                        why);
    return false;
  }
  // A bounded entry point's arena never passes its size at the maxima.
  int64_t need = values.back();
  if (need < 0 || uint64_t(need) > kMaxArenaBytes ||
      (entry.arenaBytes && uint64_t(need) > entry.arenaBytes)) {
    error = fmt::format("function '{}': its arena's size at these sizes, {} bytes, is out of "
                        "range{}",
                        entry.name, need,
                        entry.arenaBytes ? fmt::format(" (at most {})", entry.arenaBytes) : "");
    return false;
  }
  bytes = uint64_t(need);
  return true;
}

std::string signatureShapeString(const TensorSignature &t) {
  std::string out = "[";
  size_t next = 0;
  for (size_t d = 0; d < t.shape.size(); ++d)
    out += (d ? ", " : "") +
           (t.shape[d] == kSymbolicDim ? t.dims[next++] : std::to_string(t.shape[d]));
  return out + "]";
}

bool bindSymbols(const EntryPoint &entry, const std::vector<std::vector<int64_t>> &inputShapes,
                 std::vector<int64_t> &sizes, std::string &error) {
  sizes.assign(entry.symbols.size(), -1);
  std::vector<const TensorSignature *> boundBy(entry.symbols.size());
  struct DerivedDim {
    const TensorSignature *input;
    int64_t size;
    size_t symbol;
  };
  std::vector<DerivedDim> derivedDims;
  for (size_t i = 0; i < entry.inputs.size() && i < inputShapes.size(); ++i) {
    const TensorSignature &sig = entry.inputs[i];
    const std::vector<int64_t> &shape = inputShapes[i];
    if (shape.size() != sig.shape.size()) {
      error = fmt::format("function '{}': input '{}' expects {}, got {}", entry.name, sig.name,
                          signatureShapeString(sig), shapeToString(shape));
      return false;
    }
    size_t next = 0;
    for (size_t d = 0; d < shape.size(); ++d) {
      if (sig.shape[d] != kSymbolicDim) {
        if (shape[d] != sig.shape[d]) {
          error = fmt::format("function '{}': input '{}' expects {}, got {}", entry.name,
                              sig.name, signatureShapeString(sig), shapeToString(shape));
          return false;
        }
        continue;
      }
      const std::string &name = sig.dims[next++];
      size_t k = 0;
      while (k < entry.symbols.size() && entry.symbols[k].name != name)
        ++k;
      if (k == entry.symbols.size()) {
        error = fmt::format("function '{}': symbol '{}' is not declared", entry.name, name);
        return false;
      }
      if (entry.symbols[k].derived()) { // checked once the others are bound
        derivedDims.push_back({&sig, shape[d], k});
        continue;
      }
      if (boundBy[k] && sizes[k] != shape[d]) {
        error = fmt::format("function '{}': inputs '{}' and '{}' must agree on {}, got {} and {}",
                            entry.name, boundBy[k]->name, sig.name, name, sizes[k], shape[d]);
        return false;
      }
      const DimSymbol &symbol = entry.symbols[k];
      if (shape[d] < symbol.min || (symbol.max && shape[d] > symbol.max) ||
          shape[d] % symbol.multipleOf != 0) {
        error = fmt::format("function '{}': input '{}' has {} = {}, outside its bounds ({} to {}"
                            "{})",
                            entry.name, sig.name, name, shape[d], symbol.min,
                            symbol.max ? std::to_string(symbol.max) : "any",
                            symbol.multipleOf > 1
                                ? fmt::format(", a multiple of {}", symbol.multipleOf)
                                : "");
        return false;
      }
      sizes[k] = shape[d];
      boundBy[k] = &sig;
    }
  }
  for (size_t k = 0; k < sizes.size(); ++k) {
    const DimSymbol &symbol = entry.symbols[k];
    if (symbol.derived()) {
      // The symbols before it are known: its expression reads only those.
      std::vector<int64_t> values;
      std::string why;
      if (!evaluatePlanExprs(symbol.size, std::vector<int64_t>(sizes.begin(), sizes.begin() + k),
                             values, why)) {
        error = fmt::format("function '{}': the size '{}' fails at these inputs' sizes: {}",
                            entry.name, symbol.name, why);
        return false;
      }
      sizes[k] = values.back();
      if (sizes[k] < symbol.min) {
        std::string bound;
        for (size_t j = 0; j < k; ++j)
          if (!entry.symbols[j].derived())
            bound += fmt::format("{}{} = {}", bound.empty() ? "" : ", ", entry.symbols[j].name,
                                 sizes[j]);
        error = fmt::format("function '{}': at {} the size '{}' is {}: the inputs are too "
                            "small for the graph (a convolution or pooling window wider than "
                            "its padded input)",
                            entry.name, bound, symbol.name, sizes[k]);
        return false;
      }
      continue;
    }
    if (sizes[k] < 0) {
      error = fmt::format("function '{}': no input gives the size of symbol '{}'", entry.name,
                          symbol.name);
      return false;
    }
  }
  for (const DerivedDim &dim : derivedDims) {
    if (dim.size == sizes[dim.symbol])
      continue;
    std::vector<std::string> names;
    for (const DimSymbol &symbol : entry.symbols)
      names.push_back(symbol.name);
    error = fmt::format("function '{}': input '{}' has {} = {}, but the other inputs make it "
                        "{} = {}",
                        entry.name, dim.input->name, entry.symbols[dim.symbol].name, dim.size,
                        planExprString(entry.symbols[dim.symbol].size, names),
                        sizes[dim.symbol]);
    return false;
  }
  return true;
}

std::vector<int64_t> resolvedShape(const EntryPoint &entry, const TensorSignature &signature,
                                   const std::vector<int64_t> &sizes) {
  std::vector<int64_t> shape(signature.shape);
  size_t next = 0;
  for (int64_t &size : shape) {
    if (size != kSymbolicDim)
      continue;
    const std::string &name = signature.dims[next++];
    for (size_t k = 0; k < entry.symbols.size(); ++k)
      if (entry.symbols[k].name == name)
        size = sizes[k];
  }
  return shape;
}

uint64_t fnv1a64(const uint8_t *data, size_t size, uint64_t hash) {
  for (size_t i = 0; i < size; ++i) {
    hash ^= data[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

std::string manifestToJson(const Manifest &m) {
  json entries = json::array();
  for (const EntryPoint &e : m.entries) {
    json inputs = json::array(), outputs = json::array();
    for (const auto &t : e.inputs)
      inputs.push_back(signatureJson(t));
    for (const auto &t : e.outputs)
      outputs.push_back(signatureJson(t));
    json entry = {{"name", e.name}, {"symbol", e.symbol}, {"inputs", inputs},
                  {"outputs", outputs}};
    if (!e.plan.empty())
      entry["plan"] = json::parse(e.plan);
    if (e.arenaBytes)
      entry["arena_bytes"] = e.arenaBytes;
    if (!e.arenaExprs.empty())
      entry["arena_exprs"] = planExprsToJson(e.arenaExprs);
    if (!e.inPlace.empty()) {
      json pairs = json::array();
      for (auto [output, input] : e.inPlace)
        pairs.push_back({output, input});
      entry["in_place"] = std::move(pairs);
    }
    if (!e.symbols.empty()) {
      json symbols = json::array();
      for (const DimSymbol &d : e.symbols) {
        json symbol = {{"name", d.name}, {"min", d.min}, {"max", d.max},
                       {"multiple_of", d.multipleOf}};
        if (d.derived())
          symbol["size"] = planExprsToJson(d.size);
        symbols.push_back(std::move(symbol));
      }
      entry["symbols"] = std::move(symbols);
    }
    entries.push_back(std::move(entry));
  }
  json sections = json::array();
  for (const Section &s : m.sections)
    sections.push_back({{"name", s.name}, {"offset", s.offset}, {"size", s.size}});
  json j = {{"format_version", m.formatVersion}, {"target", m.target},
            {"target_info", m.targetInfo},      {"producer", m.producer}};
  if (!m.requiredFeatures.empty())
    j["required_features"] = m.requiredFeatures;
  if (!m.variants.empty()) {
    json variants = json::array();
    for (const Variant &v : m.variants)
      variants.push_back({{"name", v.name},
                          {"target_info", v.targetInfo},
                          {"required_features", v.requiredFeatures},
                          {"section", v.section}});
    j["variants"] = std::move(variants);
  }
  j["entries"] = std::move(entries);
  j["sections"] = std::move(sections);
  return j.dump(2);
}

bool manifestFromJson(const std::string &text, Manifest &m, std::string &error) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    error = "the manifest is not a JSON object";
    return false;
  }
  auto requireString = [&](const char *key, std::string &out) {
    if (!j.contains(key) || !j[key].is_string()) {
      error = fmt::format("the manifest lacks string field '{}'", key);
      return false;
    }
    out = j[key].get<std::string>();
    return true;
  };
  if (!j.contains("format_version") || !j["format_version"].is_number_unsigned()) {
    error = "the manifest lacks 'format_version'";
    return false;
  }
  m.formatVersion = j["format_version"].get<uint32_t>();
  if (!requireString("target", m.target) || !requireString("target_info", m.targetInfo) ||
      !requireString("producer", m.producer))
    return false;
  auto stringList = [&](const json &list, std::vector<std::string> &out) {
    if (!list.is_array() ||
        !std::all_of(list.begin(), list.end(), [](const json &f) { return f.is_string(); }))
      return false;
    out.clear();
    for (const json &f : list)
      out.push_back(f.get<std::string>());
    return true;
  };
  m.requiredFeatures.clear();
  if (j.contains("required_features") && !stringList(j["required_features"], m.requiredFeatures)) {
    error = "the manifest's 'required_features' is not a list of names";
    return false;
  }
  m.variants.clear();
  if (j.contains("variants")) {
    if (!j["variants"].is_array()) {
      error = "the manifest's 'variants' is not a list";
      return false;
    }
    for (const json &v : j["variants"]) {
      Variant variant;
      if (!v.is_object() || !v.contains("name") || !v["name"].is_string() ||
          !v.contains("target_info") || !v["target_info"].is_string() ||
          !v.contains("section") || !v["section"].is_string() ||
          !v.contains("required_features") ||
          !stringList(v["required_features"], variant.requiredFeatures)) {
        error = "malformed variant in the manifest";
        return false;
      }
      variant.name = v["name"].get<std::string>();
      variant.targetInfo = v["target_info"].get<std::string>();
      variant.section = v["section"].get<std::string>();
      m.variants.push_back(std::move(variant));
    }
  }
  if (!j.contains("entries") || !j["entries"].is_array() || !j.contains("sections") ||
      !j["sections"].is_array()) {
    error = "the manifest lacks 'entries' or 'sections'";
    return false;
  }
  m.entries.clear();
  for (const json &e : j["entries"]) {
    EntryPoint entry;
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string() ||
        !e.contains("symbol") || !e["symbol"].is_string() || !e.contains("inputs") ||
        !e["inputs"].is_array() || !e.contains("outputs") || !e["outputs"].is_array()) {
      error = "malformed entry point in the manifest";
      return false;
    }
    entry.name = e["name"].get<std::string>();
    entry.symbol = e["symbol"].get<std::string>();
    for (const json &t : e["inputs"]) {
      entry.inputs.emplace_back();
      if (!parseSignature(t, entry.inputs.back(), error))
        return false;
    }
    for (const json &t : e["outputs"]) {
      entry.outputs.emplace_back();
      if (!parseSignature(t, entry.outputs.back(), error))
        return false;
    }
    if (e.contains("plan")) {
      if (!e["plan"].is_object()) {
        error = "malformed launch plan in the manifest";
        return false;
      }
      entry.plan = e["plan"].dump();
    }
    if (e.contains("arena_bytes")) {
      if (!e["arena_bytes"].is_number_unsigned() ||
          e["arena_bytes"].get<uint64_t>() > kMaxArenaBytes) {
        error = fmt::format("entry point '{}': malformed arena_bytes", entry.name);
        return false;
      }
      entry.arenaBytes = e["arena_bytes"].get<uint64_t>();
    }
    if (e.contains("in_place") && !parseInPlace(e["in_place"], entry, error))
      return false;
    if (e.contains("symbols") && !parseSymbols(e["symbols"], entry, error))
      return false;
    if (e.contains("arena_exprs")) {
      std::string why;
      if (entry.symbols.empty() ||
          !planExprsFromJson(e["arena_exprs"], entry.symbols.size(), entry.arenaExprs, why) ||
          entry.arenaExprs.empty()) {
        error = fmt::format("entry point '{}': malformed arena_exprs{}", entry.name,
                            why.empty() ? "" : ": " + why);
        return false;
      }
    }
    for (const auto *list : {&entry.inputs, &entry.outputs})
      for (const TensorSignature &t : *list)
        for (const std::string &dim : t.dims) {
          auto symbol = std::find_if(entry.symbols.begin(), entry.symbols.end(),
                                     [&](const DimSymbol &d) { return d.name == dim; });
          if (symbol == entry.symbols.end()) {
            error = fmt::format("entry point '{}': '{}' names symbol '{}', which it does "
                                "not declare",
                                entry.name, t.name, dim);
            return false;
          }
          // The inputs bind the symbols that the derived ones are computed
          // from; one naming a derived symbol is checked against it (7).
          if (list == &entry.inputs && symbol->derived() && m.formatVersion < 7) {
            error = fmt::format("entry point '{}': input '{}' names the derived symbol '{}' "
                                "(format 7 and later)",
                                entry.name, t.name, dim);
            return false;
          }
        }
    m.entries.push_back(std::move(entry));
  }
  m.sections.clear();
  for (const json &s : j["sections"]) {
    if (!s.is_object() || !s.contains("name") || !s["name"].is_string() ||
        !s.contains("offset") || !s["offset"].is_number_unsigned() || !s.contains("size") ||
        !s["size"].is_number_unsigned()) {
      error = "malformed section in the manifest";
      return false;
    }
    m.sections.push_back({s["name"].get<std::string>(), s["offset"].get<uint64_t>(),
                          s["size"].get<uint64_t>()});
  }
  return true;
}

void writeExecutable(Manifest manifest, const std::vector<SectionBytes> &sections,
                     const std::function<void(const uint8_t *, size_t)> &sink) {
  uint64_t offset = 0;
  for (size_t i = 0; i < manifest.sections.size(); ++i) {
    offset = (offset + kSectionAlignment - 1) / kSectionAlignment * kSectionAlignment;
    manifest.sections[i].offset = offset;
    manifest.sections[i].size = sections[i].size;
    offset += sections[i].size;
  }
  std::string text = manifestToJson(manifest);
  // Pad the manifest so the section area starts aligned in the file.
  text.append((kSectionAlignment - (kExecutableHeaderSize + text.size()) % kSectionAlignment) %
                  kSectionAlignment,
              ' ');
  static constexpr uint8_t kZeros[kSectionAlignment] = {};
  auto padding = [&](size_t i) {
    return i == 0 ? 0 : manifest.sections[i].offset - (manifest.sections[i - 1].offset +
                                                       manifest.sections[i - 1].size);
  };
  // A section's pieces and the zeros between them; mapped pieces in parts
  // whose pages go back once read: a model's weights pass through memory a
  // part at a time, twice.
  auto forEachPart = [&](const SectionBytes &section, auto &&use) {
    uint64_t at = 0;
    auto zeros = [&](uint64_t count) {
      for (; count > 0; count -= std::min<uint64_t>(count, sizeof kZeros))
        use(kZeros, std::min<uint64_t>(count, sizeof kZeros));
    };
    for (const SectionBytes::Piece &piece : section.pieces) {
      zeros(piece.offset - at);
      constexpr size_t kPart = size_t(64) << 20;
      for (size_t done = 0; done < piece.size;) {
        size_t n = std::min(kPart, piece.size - done);
        use(piece.data + done, n);
        if (piece.file)
          piece.file->release(piece.data + done, n);
        done += n;
      }
      at = piece.offset + piece.size;
    }
    zeros(section.size - at);
  };
  const auto *manifestBytes = reinterpret_cast<const uint8_t *>(text.data());
  uint64_t checksum = fnv1a64(manifestBytes, text.size());
  for (size_t i = 0; i < sections.size(); ++i) {
    checksum = fnv1a64(kZeros, padding(i), checksum);
    forEachPart(sections[i], [&](const uint8_t *data, size_t size) {
      checksum = fnv1a64(data, size, checksum);
    });
  }

  std::vector<uint8_t> header(kExecutableHeaderSize, 0);
  std::memcpy(header.data(), kExecutableMagic, sizeof kExecutableMagic);
  putU32(header, 8, manifest.formatVersion);
  putU64(header, 16, checksum);
  putU64(header, 24, text.size());
  sink(header.data(), header.size());
  sink(manifestBytes, text.size());
  for (size_t i = 0; i < sections.size(); ++i) {
    sink(kZeros, padding(i));
    forEachPart(sections[i], sink);
  }
}

std::vector<uint8_t> writeExecutable(Manifest manifest,
                                     const std::vector<std::vector<uint8_t>> &sectionData) {
  std::vector<SectionBytes> sections;
  for (const std::vector<uint8_t> &data : sectionData)
    sections.push_back({data.data(), data.size()});
  std::vector<uint8_t> image;
  writeExecutable(std::move(manifest), sections, [&](const uint8_t *data, size_t size) {
    image.insert(image.end(), data, data + size);
  });
  return image;
}

const Section *ExecutableView::findSection(const std::string &name) const {
  for (const Section &s : manifest.sections)
    if (s.name == name)
      return &s;
  return nullptr;
}

std::string executableTarget(const uint8_t *data, size_t size) {
  if (size < kExecutableHeaderSize ||
      std::memcmp(data, kExecutableMagic, sizeof kExecutableMagic) != 0)
    return "";
  uint64_t manifestSize = getU64(data + 24);
  if (manifestSize > size - kExecutableHeaderSize)
    return "";
  Manifest manifest;
  std::string error;
  std::string text(reinterpret_cast<const char *>(data + kExecutableHeaderSize), manifestSize);
  return manifestFromJson(text, manifest, error) ? manifest.target : "";
}

/// Why a container of format `version` does not load here: too new (named
/// with the compiler that wrote it, read from its manifest when possible)
/// or too old.
static std::string formatVersionError(const uint8_t *data, size_t size, const std::string &name,
                                      uint32_t version) {
  std::string readable = fmt::format("this runtime (ube {}) reads format versions {} to {}",
                                     kVersion, kOldestReadableFormatVersion,
                                     kExecutableFormatVersion);
  if (version < kOldestReadableFormatVersion)
    return fmt::format("{}: executable format version {} is too old: {}; recompile it", name,
                       version, readable);
  std::string producer;
  uint64_t manifestSize = getU64(data + 24);
  if (manifestSize <= size - kExecutableHeaderSize) {
    json j = json::parse(data + kExecutableHeaderSize, data + kExecutableHeaderSize + manifestSize,
                         nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("producer") && j["producer"].is_string())
      producer = fmt::format(", written by {}", j["producer"].get<std::string>());
  }
  return fmt::format("{}: this executable needs a newer ube runtime (format version {}{}); {}",
                     name, version, producer, readable);
}

bool readExecutable(const uint8_t *data, size_t size, const std::string &name,
                    ExecutableView &view, std::string &error) {
  if (size < kExecutableHeaderSize ||
      std::memcmp(data, kExecutableMagic, sizeof kExecutableMagic) != 0) {
    error = fmt::format("{}: not a ube executable (bad magic)", name);
    return false;
  }
  uint32_t version = getU32(data + 8);
  if (version < kOldestReadableFormatVersion || version > kExecutableFormatVersion) {
    error = formatVersionError(data, size, name, version);
    return false;
  }
  uint64_t checksum = getU64(data + 16), manifestSize = getU64(data + 24);
  if (manifestSize > size - kExecutableHeaderSize) {
    error = fmt::format("{}: truncated executable (manifest of {} bytes in a {}-byte file)",
                        name, manifestSize, size);
    return false;
  }
  uint64_t actual = fnv1a64(data + kExecutableHeaderSize, size - kExecutableHeaderSize);
  if (actual != checksum) {
    error = fmt::format("{}: checksum mismatch (file is corrupt or truncated)", name);
    return false;
  }
  std::string text(reinterpret_cast<const char *>(data + kExecutableHeaderSize), manifestSize);
  if (!manifestFromJson(text, view.manifest, error)) {
    error = fmt::format("{}: {}", name, error);
    return false;
  }
  if (view.manifest.formatVersion != version) {
    error = fmt::format("{}: the manifest says format version {}, the header {}", name,
                        view.manifest.formatVersion, version);
    return false;
  }
  view.payload = data + kExecutableHeaderSize + manifestSize;
  view.payloadSize = size - kExecutableHeaderSize - manifestSize;
  for (const Section &s : view.manifest.sections)
    if (s.offset > view.payloadSize || s.size > view.payloadSize - s.offset) {
      error = fmt::format("{}: section '{}' lies outside the file", name, s.name);
      return false;
    }
  for (const Variant &v : view.manifest.variants)
    if (!view.findSection(v.section)) {
      error = fmt::format("{}: variant '{}' names section '{}', which the file lacks", name,
                          v.name, v.section);
      return false;
    }
  return true;
}

} // namespace ube
