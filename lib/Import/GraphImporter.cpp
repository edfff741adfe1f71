//===- GraphImporter.cpp - graph file -> ube dialect ----------------------===//
//
// Reads graph file v1 (docs/graph-format.md). Every problem is reported once,
// as an MLIR error located at the offending JSON value (file:line:col) and,
// for nodes, named after the node. Ops are created generically from the
// registered `ube.<op>` name, so a new ODS op is importable without code here.
//
//===----------------------------------------------------------------------===//

#include "ube/Graph.h"

#include "ube/DTypeConversion.h"
#include "JsonLocator.h"
#include "dialects/ube/UbeOps.h"
#include "ube/Support/Safetensors.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/StringExtras.h"

#include <nlohmann/json.hpp>
#include <queue>

using namespace mlir;
using json = nlohmann::json;

namespace ube {
namespace {

/// What a name in the graph refers to.
struct ValueDef {
  enum Kind { Input, Parameter, Node } kind;
  size_t index; ///< Into the inputs, parameters or nodes array.
};

/// A shape as written: sizes, with ShapedType::kDynamic where a symbol
/// (`"batch"`) names the size.
struct ShapeDecl {
  SmallVector<int64_t> sizes;
  SmallVector<std::string> symbols; ///< One per dynamic size but `inferred`, in order.
  /// A reshape's `-1`: the dimension whose size keeps the element count
  /// (dynamic in `sizes`), or -1 for none.
  int64_t inferred = -1;
};

/// The value of a factor of a symbolic size that is a positive integer
/// below 2^20 (the 4 of "4*batch"); 0 for anything else. (Small, so the
/// builds on trial sizes multiply it with primes without overflowing.)
int64_t constantFactor(StringRef factor) {
  uint64_t value;
  return !factor.getAsInteger(10, value) && value > 0 && value < (1ull << 20) ? int64_t(value)
                                                                              : 0;
}

/// A size given by another value's dimension, `{"size_of": "c", "axis": 2,
/// "add": -1}` in a node's shape or a slice's limit (a size the symbols fix
/// without being one: a convolution's output length). Kept among the
/// symbol names as "=c:2:-1", which no symbol is.
struct SizeReference {
  std::string value;
  int64_t axis = 0, add = 0;
  std::string encoded() const {
    return "=" + value + ":" + std::to_string(axis) + ":" + std::to_string(add);
  }
  static std::optional<SizeReference> decode(StringRef text) {
    if (!text.consume_front("="))
      return std::nullopt;
    auto [rest, add] = text.rsplit(':');
    auto [value, axis] = rest.rsplit(':');
    SizeReference ref{value.str()};
    if (axis.getAsInteger(10, ref.axis) || add.getAsInteger(10, ref.add))
      return std::nullopt;
    return ref;
  }
  /// From JSON; nullopt (with `why`) when malformed.
  static std::optional<SizeReference> parse(const json &v, std::string &why) {
    if (!v.is_object() || !v.contains("size_of") || !v["size_of"].is_string() ||
        !v.contains("axis") || !v["axis"].is_number_integer() ||
        (v.contains("add") && !v["add"].is_number_integer()) ||
        v.size() != (v.contains("add") ? 3u : 2u)) {
      why = "a size reference is {\"size_of\": value, \"axis\": dimension[, \"add\": integer]}";
      return std::nullopt;
    }
    return SizeReference{v["size_of"].get<std::string>(), v["axis"].get<int64_t>(),
                         v.value("add", int64_t(0))};
  }
};

struct TensorDecl {
  std::string name;
  RankedTensorType type; ///< Symbolic sizes are `?`.
  SmallVector<std::string> symbols;
  Location loc;
};

struct NodeDecl {
  std::string name;
  std::string op;
  std::vector<std::string> inputs;
  const json *attrs = nullptr;
  const json *value = nullptr; ///< `constant` only.
  std::optional<Type> dtype;
  std::optional<ShapeDecl> shape;
  Location loc;
  std::string pointer; ///< JSON pointer of the node, for sub-locations.
  /// The values its sizes refer to (SizeReference), built before it.
  std::vector<std::string> sizeSources = {};
};

/// Sizes given to the symbols: none (the symbolic build: `?`), or a probe
/// assignment of distinct large primes, with which the graph is built a
/// second and third time to check that the symbols agree wherever sizes
/// meet and to tell which symbol each result dimension is.
using SymbolSizes = llvm::StringMap<int64_t>;

struct FunctionDecl {
  FunctionDecl(std::string name, std::vector<std::string> outputs, Location loc)
      : name(std::move(name)), outputs(std::move(outputs)), loc(loc) {}
  std::string name;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  Location loc;
  /// "gradient": the output differentiated and the inputs it is taken
  /// with respect to, as indices (empty `wrt`: no gradient).
  int64_t gradientLoss = -1;
  std::vector<int64_t> gradientWrt;
  /// "train": the loss, or the inputs that carry the gradients (an update
  /// step of gradients computed elsewhere), the parameters (input indices)
  /// and the optimizer's settings (`optimizer` is the kind; empty: not a
  /// training step).
  int64_t trainLoss = -1;
  std::vector<int64_t> trainGradients;
  std::vector<int64_t> trainParams;
  std::string optimizer;
  std::vector<std::pair<std::string, double>> optimizerSettings;
  /// The input that carries the learning rate each step (a schedule run by
  /// the caller), or -1 when `lr` is a number among the settings.
  int64_t lrInput = -1;
  bool nesterov = false;
};

class GraphImporter {
public:
  GraphImporter(StringRef text, StringRef path, MLIRContext *context)
      : text_(text), path_(path.str()), context_(context), builder_(context) {}

  OwningOpRef<ModuleOp> run();

private:
  // Locations and diagnostics.
  Location locAt(StringRef pointer) const;
  Location nodeLoc(const NodeDecl &node, StringRef subPointer = "") const;
  InFlightDiagnostic error(StringRef pointer) const {
    return emitError(locAt(pointer));
  }

  // Parsing the JSON into declarations.
  LogicalResult parseTopLevel();
  FailureOr<Type> parseDType(const json &value, StringRef pointer) const;
  /// `allowInferred`: one size may be -1 (a reshape's).
  FailureOr<ShapeDecl> parseShape(const json &value, StringRef pointer,
                                  bool allowInferred = false) const;
  LogicalResult parseSymbols();
  /// `shape` with each symbol's size from `sizes`, or `?` without them.
  SmallVector<int64_t> sizesOf(const ShapeDecl &shape, const SymbolSizes *sizes) const;
  /// The size a SizeReference (encoded) names where the value's dimension
  /// is static (the builds on trial sizes); nullopt for a symbol name.
  std::optional<int64_t> referencedSize(StringRef symbol) const;
  /// The value of a name in the function being built (buildBody's).
  std::function<Value(const std::string &)> lookupValue_;
  FailureOr<TensorDecl> parseTensorDecl(const json &value, StringRef pointer) const;
  LogicalResult parseGradient(const json &value, const std::string &pointer,
                              FunctionDecl &fn) const;
  LogicalResult parseTrain(const json &value, const std::string &pointer,
                           FunctionDecl &fn) const;
  FailureOr<int64_t> outputIndex(const FunctionDecl &fn, const json &value,
                                 const std::string &pointer, StringRef what) const;
  FailureOr<std::vector<int64_t>> inputIndices(const FunctionDecl &fn, const json &value,
                                               const std::string &pointer,
                                               StringRef what) const;
  FailureOr<std::vector<std::string>> parseNameList(const json &value,
                                                    StringRef pointer) const;
  LogicalResult parseNode(const json &value, size_t index);
  LogicalResult declareName(const std::string &name, ValueDef def, StringRef pointer);
  LogicalResult loadParameters();

  // Building IR.
  LogicalResult buildFunction(const FunctionDecl &function);
  FailureOr<func::FuncOp> buildBody(const FunctionDecl &function, const SymbolSizes *sizes);
  LogicalResult nameResultSymbols(const FunctionDecl &function, func::FuncOp funcOp);
  FailureOr<std::vector<size_t>> scheduleNodes(const FunctionDecl &function);
  FailureOr<Value> buildNode(const NodeDecl &node, ArrayRef<Value> operands,
                             const SymbolSizes *sizes);
  /// `runtimeLimits` receives the symbols a slice's `limit` names (-1 in
  /// the attribute; with `sizes`, the symbols' sizes instead) and the
  /// expressions of a pad's amounts (`?`; with `sizes`, their values).
  FailureOr<NamedAttrList> convertAttributes(const NodeDecl &node,
                                             RegisteredOperationName opName,
                                             const SymbolSizes *sizes,
                                             SmallVectorImpl<std::string> &runtimeLimits);
  FailureOr<Value> buildConstant(const NodeDecl &node);
  /// The index value of a size the symbols give ("batch*seq", a pad's
  /// "max(0, 3 - h % 2)"): their inputs' dimensions and arith ops on them.
  FailureOr<Value> sizeFromSymbols(StringRef text, const NodeDecl &node, Location errorLoc);

  StringRef text_;
  std::string path_;
  MLIRContext *context_;
  OpBuilder builder_;
  json root_;
  std::unique_ptr<JsonLocator> locator_;

  int64_t version_ = kGraphFormatVersion;
  /// The graph's symbols in order of declaration (`dims`, then first use).
  SmallVector<DimSymbolAttr> symbols_;
  /// The derived symbols' sizes (`dims`' "size"), as written.
  llvm::StringMap<std::string> derivedSizes_;
  /// The function being built: each symbol's first input dimension.
  llvm::StringMap<std::pair<Value, int64_t>> symbolSources_;
  std::vector<TensorDecl> inputs_;
  std::vector<TensorDecl> parameters_;
  std::vector<NodeDecl> nodes_;
  std::vector<FunctionDecl> functions_;
  llvm::StringMap<ValueDef> names_;
  llvm::StringMap<std::string> namePointers_;
  std::string weightsPath_;
  std::vector<ElementsAttr> parameterValues_;
  OwningOpRef<ModuleOp> module_;
};

constexpr const char *kTopLevelKeys[] = {
    "format", "version",   "name",      "weights",  "dims",  "inputs",  "parameters",
    "nodes",  "outputs",   "functions", "gradient", "train", "metadata"};
constexpr const char *kNodeKeys[] = {"name",  "op",    "inputs", "attrs",
                                     "dtype", "shape", "value"};

Location GraphImporter::locAt(StringRef pointer) const {
  auto [line, column] = locator_ ? locator_->lineColumn(pointer)
                                 : std::pair<unsigned, unsigned>{1, 1};
  return FileLineColLoc::get(context_, path_, line, column);
}

Location GraphImporter::nodeLoc(const NodeDecl &node, StringRef subPointer) const {
  if (subPointer.empty())
    return node.loc;
  return NameLoc::get(StringAttr::get(context_, node.name),
                      locAt(node.pointer + subPointer.str()));
}

FailureOr<Type> GraphImporter::parseDType(const json &value, StringRef pointer) const {
  if (!value.is_string())
    return error(pointer) << "dtype must be a string, one of "
                          << dtypeNameList();
  std::string name = value.get<std::string>();
  std::optional<DType> dtype = ube::parseDType(name);
  if (!dtype)
    return error(pointer) << "unknown dtype '" << name << "' (expected one of "
                          << dtypeNameList() << ")";
  return toElementType(*dtype, context_);
}

FailureOr<ShapeDecl> GraphImporter::parseShape(const json &value, StringRef pointer,
                                               bool allowInferred) const {
  const char *expected = version_ >= 2
                             ? "shape must be an array of non-negative integers and "
                               "symbol names"
                             : "shape must be an array of non-negative integers";
  if (!value.is_array())
    return error(pointer) << expected;
  ShapeDecl shape;
  for (auto [i, dim] : llvm::enumerate(value)) {
    if (dim.is_string()) {
      std::string symbol = dim.get<std::string>();
      if (version_ < 2)
        return error((pointer + "/" + Twine(i)).str())
               << "symbolic dimension '" << symbol << "' needs graph format version 2";
      // A product of symbols ("batch*seq") names their sizes' product; a
      // factor may be a positive integer ("4*batch": the rows of heads).
      SmallVector<StringRef> factors;
      StringRef(symbol).split(factors, '*');
      if (llvm::all_of(factors, constantFactor))
        return error((pointer + "/" + Twine(i)).str())
               << "symbolic dimension '" << symbol << "' names no symbol";
      if (llvm::count_if(factors, constantFactor) > 1 ||
          llvm::any_of(factors, [](StringRef f) {
            return !f.empty() && llvm::isDigit(f.front()) && !constantFactor(f);
          }))
        return error((pointer + "/" + Twine(i)).str())
               << "symbolic dimension '" << symbol
               << "': a product has at most one integer factor, from 1 to 2^20 - 1";
      for (StringRef factor : factors)
        if (constantFactor(factor) == 0 &&
            !llvm::any_of(symbols_, [&](DimSymbolAttr s) { return s.getName() == factor; }))
          return error((pointer + "/" + Twine(i)).str())
                 << "unknown symbol '" << factor << "' (declare it in 'dims')";
      shape.sizes.push_back(ShapedType::kDynamic);
      shape.symbols.push_back(std::move(symbol));
      continue;
    }
    if (dim.is_object() && version_ >= 2) {
      std::string why;
      std::optional<SizeReference> ref = SizeReference::parse(dim, why);
      if (!ref)
        return error((pointer + "/" + Twine(i)).str()) << why;
      shape.sizes.push_back(ShapedType::kDynamic);
      shape.symbols.push_back(ref->encoded());
      continue;
    }
    if (allowInferred && dim.is_number_integer() && dim.get<int64_t>() == -1) {
      if (shape.inferred >= 0)
        return error((pointer + "/" + Twine(i)).str()) << "a shape has at most one -1";
      shape.inferred = int64_t(i);
      shape.sizes.push_back(ShapedType::kDynamic);
      continue;
    }
    if (!dim.is_number_unsigned() || dim.get<uint64_t>() > (1ull << 40))
      return error(pointer) << expected;
    shape.sizes.push_back(dim.get<int64_t>());
  }
  return shape;
}

std::optional<int64_t> GraphImporter::referencedSize(StringRef symbol) const {
  std::optional<SizeReference> ref = SizeReference::decode(symbol);
  if (!ref)
    return std::nullopt;
  auto type = cast<RankedTensorType>(lookupValue_(ref->value).getType());
  return type.isDynamicDim(ref->axis) ? ShapedType::kDynamic
                                      : type.getDimSize(ref->axis) + ref->add;
}

SmallVector<int64_t> GraphImporter::sizesOf(const ShapeDecl &shape,
                                            const SymbolSizes *sizes) const {
  SmallVector<int64_t> result(shape.sizes);
  if (!sizes)
    return result;
  auto symbol = shape.symbols.begin();
  for (auto [d, size] : llvm::enumerate(result))
    if (ShapedType::isDynamic(size) && int64_t(d) != shape.inferred) {
      if (std::optional<int64_t> referenced = referencedSize(*symbol)) {
        ++symbol;
        size = *referenced;
        continue;
      }
      SmallVector<StringRef> factors;
      StringRef(*symbol++).split(factors, '*');
      size = 1;
      for (StringRef factor : factors)
        size *= constantFactor(factor) ? constantFactor(factor) : sizes->lookup(factor);
    }
  return result;
}

LogicalResult GraphImporter::parseSymbols() {
  if (!root_.contains("dims"))
    return success();
  if (version_ < 2)
    return error("/dims") << "'dims' needs graph format version 2";
  const json &dims = root_["dims"];
  if (!dims.is_object())
    return error("/dims") << "'dims' must map symbol names to their bounds "
                             "{\"min\", \"max\", \"multiple_of\"}";
  for (auto it = dims.begin(); it != dims.end(); ++it) {
    std::string pointer = "/dims/" + it.key();
    if (it.key().empty() || !llvm::all_of(it.key(), [](char c) {
          return llvm::isAlnum(c) || c == '_';
        }) || llvm::isDigit(it.key()[0]))
      return error(pointer) << "symbol name '" << it.key()
                            << "' must be an identifier (letters, digits, '_')";
    if (!it.value().is_object())
      return error(pointer) << "symbol '" << it.key()
                            << "' needs an object {\"min\", \"max\", \"multiple_of\"}";
    int64_t bounds[3] = {1, 0, 1};
    const char *keys[3] = {"min", "max", "multiple_of"};
    for (auto field = it.value().begin(); field != it.value().end(); ++field) {
      if (field.key() == "size") {
        // A size the other symbols fix (a strided convolution's output
        // length): checked against them at each call.
        if (!field.value().is_string())
          return error(pointer + "/size")
                 << "symbol '" << it.key()
                 << "': 'size' must be an expression of other symbols, \"(len - 3) // 2 + 1\"";
        derivedSizes_[it.key()] = field.value().get<std::string>();
        continue;
      }
      auto key = llvm::find(keys, field.key());
      if (key == std::end(keys))
        return error(pointer + "/" + field.key())
               << "symbol '" << it.key() << "': unknown field '" << field.key()
               << "' (expected min, max, multiple_of, size)";
      if (!field.value().is_number_unsigned() || field.value().get<uint64_t>() > (1ull << 40))
        return error(pointer + "/" + field.key())
               << "symbol '" << it.key() << "': '" << field.key()
               << "' must be a non-negative integer";
      bounds[key - std::begin(keys)] = field.value().get<int64_t>();
    }
    auto symbol = DimSymbolAttr::getChecked(
        [&] { return error(pointer); }, context_, StringRef(it.key()), bounds[0], bounds[1],
        bounds[2], ArrayAttr());
    if (!symbol)
      return failure();
    symbols_.push_back(symbol);
  }
  // A derived size names symbols that are not derived themselves (their
  // indices come per function: here the syntax and the names are checked).
  auto notDerived = [&](std::string_view name) -> std::optional<int64_t> {
    bool declared =
        llvm::any_of(symbols_, [&](DimSymbolAttr s) { return s.getName() == StringRef(name); });
    if (!declared || derivedSizes_.count(name))
      return std::nullopt;
    return 0;
  };
  for (auto &entry : derivedSizes_) {
    std::vector<PlanExpr> exprs;
    std::string why;
    if (!parsePlanExprString(entry.getValue(), notDerived, exprs, why))
      return error("/dims/" + entry.getKey().str() + "/size")
             << "symbol '" << entry.getKey() << "': " << why
             << " (a size names symbols declared in 'dims' that are not derived)";
  }
  return success();
}

FailureOr<TensorDecl> GraphImporter::parseTensorDecl(const json &value,
                                                     StringRef pointer) const {
  if (!value.is_object())
    return error(pointer) << "expected an object {\"name\", \"dtype\", \"shape\"}";
  for (auto it = value.begin(); it != value.end(); ++it)
    if (it.key() != "name" && it.key() != "dtype" && it.key() != "shape")
      return error((pointer + "/" + it.key()).str())
             << "unknown field '" << it.key() << "' (expected name, dtype, shape)";
  if (!value.contains("name") || !value["name"].is_string() ||
      value["name"].get<std::string>().empty())
    return error(pointer) << "missing non-empty string field 'name'";
  std::string name = value["name"].get<std::string>();
  if (!value.contains("dtype") || !value.contains("shape"))
    return error(pointer) << "'" << name << "' needs both 'dtype' and 'shape'";
  auto dtype = parseDType(value["dtype"], (pointer + "/dtype").str());
  if (failed(dtype))
    return failure();
  auto shape = parseShape(value["shape"], (pointer + "/shape").str());
  if (failed(shape))
    return failure();
  for (auto [i, symbol] : llvm::enumerate(shape->symbols))
    if (StringRef(symbol).contains('*'))
      return error((pointer + "/shape").str())
             << "'" << name << "': a size of an input or parameter is one symbol, not a "
             << "product ('" << symbol << "')";
  Location loc = NameLoc::get(StringAttr::get(context_, name), locAt(pointer));
  return TensorDecl{name, RankedTensorType::get(shape->sizes, *dtype),
                    std::move(shape->symbols), loc};
}

FailureOr<int64_t> GraphImporter::outputIndex(const FunctionDecl &fn, const json &value,
                                              const std::string &pointer, StringRef what) const {
  if (!value.is_string())
    return error(pointer) << "'" << what << "' must be an output name";
  std::string name = value.get<std::string>();
  auto output = llvm::find(fn.outputs, name);
  if (output == fn.outputs.end())
    return error(pointer) << "function '" << fn.name << "': " << what << " '" << name
                          << "' is not one of its outputs";
  return output - fn.outputs.begin();
}

FailureOr<std::vector<int64_t>> GraphImporter::inputIndices(const FunctionDecl &fn,
                                                            const json &value,
                                                            const std::string &pointer,
                                                            StringRef what) const {
  auto names = parseNameList(value, pointer);
  if (failed(names))
    return failure();
  if (names->empty())
    return error(pointer) << "'" << what << "' names no input";
  std::vector<int64_t> indices;
  for (auto [j, name] : llvm::enumerate(*names)) {
    auto input = llvm::find(fn.inputs, name);
    if (input == fn.inputs.end())
      return error(pointer + "/" + std::to_string(j))
             << "function '" << fn.name << "': '" << name << "' is not one of its inputs ("
             << what << " must be inputs)";
    if (llvm::is_contained(indices, input - fn.inputs.begin()))
      return error(pointer + "/" + std::to_string(j)) << "'" << name << "' is listed twice";
    indices.push_back(input - fn.inputs.begin());
  }
  return indices;
}

LogicalResult GraphImporter::parseGradient(const json &value, const std::string &pointer,
                                          FunctionDecl &fn) const {
  if (!value.is_object() || !value.contains("loss") || !value.contains("wrt"))
    return error(pointer) << "'gradient' must be {\"loss\": OUTPUT, \"wrt\": [INPUT, ...]}";
  for (auto it = value.begin(); it != value.end(); ++it)
    if (it.key() != "loss" && it.key() != "wrt")
      return error(pointer + "/" + it.key()) << "unknown key '" << it.key() << "' in 'gradient'";
  auto loss = outputIndex(fn, value["loss"], pointer + "/loss", "gradient loss");
  auto wrt = inputIndices(fn, value["wrt"], pointer + "/wrt", "wrt");
  if (failed(loss) || failed(wrt))
    return failure();
  fn.gradientLoss = *loss;
  fn.gradientWrt = std::move(*wrt);
  return success();
}

LogicalResult GraphImporter::parseTrain(const json &value, const std::string &pointer,
                                       FunctionDecl &fn) const {
  if (!value.is_object() || value.contains("loss") == value.contains("gradients") ||
      !value.contains("params") || !value.contains("optimizer") ||
      !value["optimizer"].is_object())
    return error(pointer) << "'train' must be {\"loss\": OUTPUT (or \"gradients\": [INPUT, "
                             "...]), \"params\": [INPUT, ...], \"optimizer\": {\"kind\": "
                             "\"sgd\" | \"adamw\", \"lr\": ...}}";
  for (auto it = value.begin(); it != value.end(); ++it)
    if (it.key() != "loss" && it.key() != "gradients" && it.key() != "params" &&
        it.key() != "optimizer")
      return error(pointer + "/" + it.key()) << "unknown key '" << it.key() << "' in 'train'";
  auto params = inputIndices(fn, value["params"], pointer + "/params", "params");
  if (failed(params))
    return failure();
  if (value.contains("loss")) {
    auto loss = outputIndex(fn, value["loss"], pointer + "/loss", "training loss");
    if (failed(loss))
      return failure();
    fn.trainLoss = *loss;
  } else {
    auto gradients = inputIndices(fn, value["gradients"], pointer + "/gradients", "gradients");
    if (failed(gradients))
      return failure();
    if (gradients->size() != params->size())
      return error(pointer + "/gradients")
             << "function '" << fn.name << "': " << gradients->size() << " gradients for "
             << params->size() << " params (one each, in the same order)";
    fn.trainGradients = std::move(*gradients);
  }
  fn.trainParams = std::move(*params);
  const json &optimizer = value["optimizer"];
  std::string at = pointer + "/optimizer";
  if (!optimizer.contains("kind") || !optimizer["kind"].is_string())
    return error(at) << "the optimizer needs a 'kind' (\"sgd\" or \"adamw\")";
  fn.optimizer = optimizer["kind"].get<std::string>();
  const std::vector<std::string> known =
      fn.optimizer == "sgd"     ? std::vector<std::string>{"lr", "momentum", "weight_decay"}
      : fn.optimizer == "adamw" ? std::vector<std::string>{"lr", "beta1", "beta2", "epsilon",
                                                           "weight_decay"}
                                : std::vector<std::string>{};
  if (known.empty())
    return error(at + "/kind") << "unknown optimizer '" << fn.optimizer << "' (sgd or adamw)";
  if (!optimizer.contains("lr"))
    return error(at) << "the optimizer needs a learning rate 'lr'";
  for (auto it = optimizer.begin(); it != optimizer.end(); ++it) {
    if (it.key() == "kind")
      continue;
    if (it.key() == "nesterov" && fn.optimizer == "sgd") {
      if (!it.value().is_boolean())
        return error(at + "/nesterov") << "'nesterov' must be true or false";
      fn.nesterov = it.value().get<bool>();
      continue;
    }
    if (!llvm::is_contained(known, it.key()))
      return error(at + "/" + it.key())
             << "unknown " << fn.optimizer << " setting '" << it.key() << "'";
    if (it.key() == "lr" && it.value().is_string()) {
      auto input = llvm::find(fn.inputs, it.value().get<std::string>());
      if (input == fn.inputs.end())
        return error(at + "/lr") << "function '" << fn.name << "': the learning rate '"
                                 << it.value().get<std::string>() << "' is not one of its inputs";
      fn.lrInput = input - fn.inputs.begin();
      continue;
    }
    if (it.key() == "lr" && !it.value().is_number())
      return error(at + "/lr") << "'lr' must be a number or the name of an f32 scalar input";
    if (!it.value().is_number())
      return error(at + "/" + it.key()) << "'" << it.key() << "' must be a number";
    fn.optimizerSettings.emplace_back(it.key(), it.value().get<double>());
  }
  return success();
}

FailureOr<std::vector<std::string>>
GraphImporter::parseNameList(const json &value, StringRef pointer) const {
  if (!value.is_array())
    return error(pointer) << "expected an array of names";
  std::vector<std::string> names;
  for (auto [i, item] : llvm::enumerate(value)) {
    if (!item.is_string())
      return error((pointer + "/" + Twine(i)).str()) << "expected a name (string)";
    names.push_back(item.get<std::string>());
  }
  return names;
}

LogicalResult GraphImporter::declareName(const std::string &name, ValueDef def,
                                         StringRef pointer) {
  auto [it, inserted] = names_.try_emplace(name, def);
  if (inserted) {
    namePointers_[name] = pointer.str();
    return success();
  }
  auto [line, column] = locator_->lineColumn(namePointers_[name]);
  return error(pointer) << "duplicate name '" << name << "' (first defined at line "
                        << line << ", column " << column << ")";
}

LogicalResult GraphImporter::parseNode(const json &value, size_t index) {
  std::string pointer = "/nodes/" + std::to_string(index);
  if (!value.is_object())
    return error(pointer) << "node must be an object";
  if (!value.contains("name") || !value["name"].is_string() ||
      value["name"].get<std::string>().empty())
    return error(pointer) << "node needs a non-empty string 'name'";
  std::string name = value["name"].get<std::string>();
  Location loc = NameLoc::get(StringAttr::get(context_, name), locAt(pointer));
  for (auto it = value.begin(); it != value.end(); ++it)
    if (!llvm::is_contained(kNodeKeys, it.key()))
      return emitError(locAt(pointer + "/" + it.key()))
             << "node '" << name << "': unknown field '" << it.key()
             << "' (expected name, op, inputs, attrs, dtype, shape, value)";
  if (!value.contains("op") || !value["op"].is_string())
    return emitError(loc) << "node '" << name << "' needs a string 'op'";
  NodeDecl node{name, value["op"].get<std::string>(), {}, nullptr, nullptr,
                std::nullopt, std::nullopt, loc, pointer};
  if (value.contains("inputs")) {
    auto inputs = parseNameList(value["inputs"], pointer + "/inputs");
    if (failed(inputs))
      return failure();
    node.inputs = std::move(*inputs);
  }
  if (value.contains("attrs")) {
    if (!value["attrs"].is_object())
      return emitError(locAt(pointer + "/attrs"))
             << "node '" << name << "': 'attrs' must be an object";
    node.attrs = &value["attrs"];
  }
  if (value.contains("value"))
    node.value = &value["value"];
  if (value.contains("dtype")) {
    auto dtype = parseDType(value["dtype"], pointer + "/dtype");
    if (failed(dtype))
      return failure();
    node.dtype = *dtype;
  }
  if (value.contains("shape")) {
    auto shape = parseShape(value["shape"], pointer + "/shape", node.op == "reshape");
    if (failed(shape))
      return failure();
    node.shape = std::move(*shape);
  }
  // The values its sizes name, which the scheduler puts before it.
  auto collect = [&](const json &list) {
    if (list.is_array())
      for (const json &e : list)
        if (e.is_object() && e.contains("size_of") && e["size_of"].is_string())
          node.sizeSources.push_back(e["size_of"].get<std::string>());
  };
  if (value.contains("shape"))
    collect(value["shape"]);
  if (value.contains("attrs"))
    for (const char *key : {"limit", "input_spatial"})
      if (value["attrs"].contains(key))
        collect(value["attrs"][key]);
  if (failed(declareName(name, {ValueDef::Node, nodes_.size()}, pointer)))
    return failure();
  nodes_.push_back(std::move(node));
  return success();
}

LogicalResult GraphImporter::parseTopLevel() {
  if (!root_.is_object())
    return error("") << "a graph file must hold a JSON object";
  for (auto it = root_.begin(); it != root_.end(); ++it)
    if (!llvm::is_contained(kTopLevelKeys, it.key()))
      return error("/" + it.key()) << "unknown top-level field '" << it.key() << "'";
  if (!root_.contains("format") || root_["format"] != "ube.graph")
    return error(root_.contains("format") ? "/format" : "")
           << "not a ube graph file: \"format\" must be \"ube.graph\"";
  if (!root_.contains("version") || !root_["version"].is_number_integer())
    return error("") << "missing integer field 'version'";
  version_ = root_["version"].get<int64_t>();
  if (version_ < kOldestGraphFormatVersion || version_ > kGraphFormatVersion)
    return error("/version") << "unsupported graph format version " << version_
                             << " (this build reads versions " << kOldestGraphFormatVersion
                             << " to " << kGraphFormatVersion << ")";
  if (failed(parseSymbols()))
    return failure();

  for (const char *key : {"inputs", "parameters", "nodes"}) {
    if (root_.contains(key) && !root_[key].is_array())
      return error(std::string("/") + key) << "'" << key << "' must be an array";
  }
  if (root_.contains("inputs")) {
    for (auto [i, value] : llvm::enumerate(root_["inputs"])) {
      std::string pointer = "/inputs/" + std::to_string(i);
      auto decl = parseTensorDecl(value, pointer);
      if (failed(decl) ||
          failed(declareName(decl->name, {ValueDef::Input, inputs_.size()}, pointer)))
        return failure();
      inputs_.push_back(std::move(*decl));
    }
  }
  if (root_.contains("parameters")) {
    for (auto [i, value] : llvm::enumerate(root_["parameters"])) {
      std::string pointer = "/parameters/" + std::to_string(i);
      auto decl = parseTensorDecl(value, pointer);
      if (failed(decl) ||
          failed(declareName(decl->name, {ValueDef::Parameter, parameters_.size()},
                             pointer)))
        return failure();
      if (!decl->symbols.empty())
        return error(pointer + "/shape") << "parameter '" << decl->name
                                         << "' has a symbolic shape: weights have fixed sizes";
      parameters_.push_back(std::move(*decl));
    }
  }
  if (root_.contains("nodes"))
    for (auto [i, value] : llvm::enumerate(root_["nodes"]))
      if (failed(parseNode(value, i)))
        return failure();

  // Entry functions: an explicit list, or one "main" over all inputs.
  if (root_.contains("functions")) {
    if (root_.contains("outputs"))
      return error("/outputs") << "with 'functions', each function lists its own "
                                  "outputs; remove the top-level 'outputs'";
    for (const char *key : {"gradient", "train"})
      if (root_.contains(key))
        return error(std::string("/") + key) << "with 'functions', each function names its own '"
                                             << key << "'";
    if (!root_["functions"].is_array() || root_["functions"].empty())
      return error("/functions") << "'functions' must be a non-empty array";
    llvm::StringSet<> seen;
    for (auto [i, value] : llvm::enumerate(root_["functions"])) {
      std::string pointer = "/functions/" + std::to_string(i);
      if (!value.is_object() || !value.contains("name") || !value["name"].is_string())
        return error(pointer) << "function needs a string 'name'";
      FunctionDecl fn(value["name"].get<std::string>(), {}, locAt(pointer));
      if (!seen.insert(fn.name).second)
        return error(pointer) << "duplicate function name '" << fn.name << "'";
      if (!value.contains("outputs"))
        return error(pointer) << "function '" << fn.name << "' needs 'outputs'";
      auto outputs = parseNameList(value["outputs"], pointer + "/outputs");
      if (failed(outputs))
        return failure();
      fn.outputs = std::move(*outputs);
      if (value.contains("inputs")) {
        auto ins = parseNameList(value["inputs"], pointer + "/inputs");
        if (failed(ins))
          return failure();
        fn.inputs = std::move(*ins);
        for (auto [j, name] : llvm::enumerate(fn.inputs)) {
          auto it = names_.find(name);
          if (it == names_.end() || it->second.kind != ValueDef::Input)
            return error(pointer + "/inputs/" + std::to_string(j))
                   << "function '" << fn.name << "': '" << name
                   << "' is not a graph input";
        }
      } else {
        for (const TensorDecl &in : inputs_)
          fn.inputs.push_back(in.name);
      }
      if (value.contains("gradient") &&
          failed(parseGradient(value["gradient"], pointer + "/gradient", fn)))
        return failure();
      if (value.contains("train") && failed(parseTrain(value["train"], pointer + "/train", fn)))
        return failure();
      functions_.push_back(std::move(fn));
    }
  } else {
    if (!root_.contains("outputs"))
      return error("") << "missing 'outputs' (or 'functions')";
    auto outputs = parseNameList(root_["outputs"], "/outputs");
    if (failed(outputs))
      return failure();
    FunctionDecl fn("main", std::move(*outputs), locAt(""));
    for (const TensorDecl &in : inputs_)
      fn.inputs.push_back(in.name);
    if (root_.contains("gradient") && failed(parseGradient(root_["gradient"], "/gradient", fn)))
      return failure();
    if (root_.contains("train") && failed(parseTrain(root_["train"], "/train", fn)))
      return failure();
    functions_.push_back(std::move(fn));
  }
  // An update step (gradients given) returns only what the optimizer adds.
  for (const FunctionDecl &fn : functions_)
    if (fn.outputs.empty() && fn.trainGradients.empty())
      return emitError(fn.loc) << "function '" << fn.name << "' has no outputs";

  if (root_.contains("weights")) {
    if (!root_["weights"].is_string())
      return error("/weights") << "'weights' must be a path string";
    weightsPath_ = root_["weights"].get<std::string>();
  }
  return success();
}

LogicalResult GraphImporter::loadParameters() {
  if (parameters_.empty())
    return success();
  if (weightsPath_.empty())
    return error("/parameters") << "the graph declares parameters but names no "
                                   "'weights' file";
  SmallString<256> resolved(weightsPath_);
  if (!llvm::sys::path::is_absolute(resolved)) {
    resolved = llvm::sys::path::parent_path(path_);
    llvm::sys::path::append(resolved, weightsPath_);
  }
  std::string message;
  auto file = SafetensorsFile::open(resolved.str().str(), message);
  if (!file)
    return error("/weights") << message;
  for (auto [i, param] : llvm::enumerate(parameters_)) {
    std::string pointer = "/parameters/" + std::to_string(i);
    const SafetensorsEntry *entry = file->find(param.name);
    if (!entry)
      return error(pointer) << "parameter '" << param.name << "' is missing from "
                            << file->path();
    std::vector<int64_t> declared(param.type.getShape().begin(),
                                  param.type.getShape().end());
    if (entry->shape != declared ||
        toElementType(entry->dtype, context_) != param.type.getElementType())
      return error(pointer) << "parameter '" << param.name << "' is declared "
                            << param.type << " but " << file->path() << " holds "
                            << dtypeName(entry->dtype) << " "
                            << shapeToString(entry->shape);
    const char *bytes = reinterpret_cast<const char *>(file->data(*entry));
    if (param.type.getElementType().isInteger(1)) {
      // Booleans (a byte each in the file) stay plain elements: a resource blob
      // of i1 has no memory layout the lowering to LLVM could take.
      SmallVector<bool> values(bytes, bytes + entry->size);
      parameterValues_.push_back(DenseElementsAttr::get(param.type, ArrayRef<bool>(values)));
      continue;
    }
    if (param.type.getRank() == 0) {
      // A scalar too: the memref lowering reads a rank-0 global's initial value
      // element by element, which a resource blob does not offer.
      parameterValues_.push_back(
          DenseElementsAttr::getFromRawBuffer(param.type, ArrayRef<char>(bytes, entry->size)));
      continue;
    }
    // The file's bytes themselves when aligned (mapped: a weight is paged in
    // once and its pages handed back when the blob goes, e.g. once packed or
    // written out); else an aligned copy.
    constexpr size_t kAlignment = alignof(uint64_t);
    AsmResourceBlob blob =
        reinterpret_cast<uintptr_t>(bytes) % kAlignment == 0
            ? AsmResourceBlob(ArrayRef<char>(bytes, entry->size), kAlignment,
                              [backing = file->bytes()](void *data, size_t size, size_t) {
                                backing->release(static_cast<const uint8_t *>(data), size);
                              },
                              /*dataIsMutable=*/false)
            : HeapAsmResourceBlob::allocateAndCopyWithAlign(ArrayRef<char>(bytes, entry->size),
                                                           kAlignment);
    parameterValues_.push_back(
        DenseResourceElementsAttr::get(param.type, param.name, std::move(blob)));
  }
  return success();
}

/// Nodes needed by `function`'s outputs, in file order where the file order
/// respects dependencies. Reports dangling names, cycles and inputs the
/// function does not take.
FailureOr<std::vector<size_t>> GraphImporter::scheduleNodes(const FunctionDecl &function) {
  llvm::StringSet<> fnInputs;
  for (const std::string &name : function.inputs)
    fnInputs.insert(name);

  enum Mark : uint8_t { Unvisited, Active, Done };
  std::vector<Mark> marks(nodes_.size(), Unvisited);
  std::vector<size_t> needed;
  // Iterative DFS (graphs can be deep): stack of (node, next input index).
  std::vector<std::pair<size_t, size_t>> stack;
  auto visitName = [&](const std::string &name, Location useLoc,
                       const std::string &user) -> LogicalResult {
    auto it = names_.find(name);
    if (it == names_.end())
      return emitError(useLoc) << user << "'" << name << "' is not defined";
    ValueDef def = it->second;
    if (def.kind == ValueDef::Input && !fnInputs.contains(name))
      return emitError(useLoc) << user << "graph input '" << name
                               << "' is not an input of function '" << function.name
                               << "'";
    if (def.kind != ValueDef::Node || marks[def.index] == Done)
      return success();
    if (marks[def.index] == Active) {
      std::string cycle = nodes_[def.index].name;
      for (auto rit = stack.rbegin(); rit != stack.rend(); ++rit) {
        cycle = nodes_[rit->first].name + " -> " + cycle;
        if (rit->first == def.index)
          break;
      }
      return emitError(nodes_[def.index].loc)
             << "node '" << nodes_[def.index].name << "' is part of a cycle: " << cycle;
    }
    marks[def.index] = Active;
    stack.push_back({def.index, 0});
    return success();
  };
  for (auto [i, output] : llvm::enumerate(function.outputs)) {
    if (failed(visitName(output, function.loc, "output ")))
      return failure();
    while (!stack.empty()) {
      auto &[index, next] = stack.back();
      const NodeDecl &node = nodes_[index];
      if (next == node.inputs.size() + node.sizeSources.size()) {
        marks[index] = Done;
        needed.push_back(index);
        stack.pop_back();
        continue;
      }
      size_t input = next++;
      if (input >= node.inputs.size()) {
        if (failed(visitName(node.sizeSources[input - node.inputs.size()], node.loc,
                             "node '" + node.name + "': size reference ")))
          return failure();
        continue;
      }
      if (failed(visitName(node.inputs[input],
                           nodeLoc(node, "/inputs/" + std::to_string(input)),
                           "node '" + node.name + "': input ")))
        return failure();
    }
  }
  // Kahn's algorithm over the needed nodes, smallest file index first.
  llvm::DenseMap<size_t, unsigned> pending;
  llvm::DenseMap<size_t, SmallVector<size_t>> users;
  for (size_t index : needed) {
    unsigned count = 0;
    for (const std::string &name :
         llvm::concat<const std::string>(nodes_[index].inputs, nodes_[index].sizeSources)) {
      ValueDef def = names_.find(name)->second;
      if (def.kind == ValueDef::Node) {
        ++count;
        users[def.index].push_back(index);
      }
    }
    pending[index] = count;
  }
  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
  for (size_t index : needed)
    if (pending[index] == 0)
      ready.push(index);
  std::vector<size_t> order;
  while (!ready.empty()) {
    size_t index = ready.top();
    ready.pop();
    order.push_back(index);
    for (size_t user : users[index])
      if (--pending[user] == 0)
        ready.push(user);
  }
  return order;
}

/// Whether attribute `key` of `op` may name sizes known at run time: a
/// slice's `limit`, an input gradient's `input_spatial`.
static bool takesRuntimeSizes(StringRef op, StringRef key) {
  return (op == "slice" && key == "limit") ||
         ((op == "conv_input_grad" || op == "avg_pool_grad") && key == "input_spatial");
}

FailureOr<NamedAttrList>
GraphImporter::convertAttributes(const NodeDecl &node, RegisteredOperationName opName,
                                 const SymbolSizes *sizes,
                                 SmallVectorImpl<std::string> &runtimeLimits) {
  NamedAttrList attrs;
  if (!node.attrs)
    return attrs;
  ArrayRef<StringAttr> known = opName.getAttributeNames();
  for (auto it = node.attrs->begin(); it != node.attrs->end(); ++it) {
    const std::string &key = it.key();
    Location loc = nodeLoc(node, "/attrs/" + key);
    if (!llvm::any_of(known, [&](StringAttr k) { return k.getValue() == key; })) {
      InFlightDiagnostic diag = emitError(loc) << "node '" << node.name << "': op '"
                                               << node.op << "' has no attribute '"
                                               << key << "'";
      if (known.empty())
        diag << " (it takes none)";
      else {
        diag << " (it takes: ";
        llvm::interleaveComma(known, diag, [&](StringAttr k) { diag << k.getValue(); });
        diag << ")";
      }
      return diag;
    }
    const json &v = *it;
    Attribute attr;
    if (v.is_boolean())
      attr = builder_.getBoolAttr(v.get<bool>());
    else if (v.is_number_integer())
      attr = builder_.getI64IntegerAttr(v.get<int64_t>());
    else if (v.is_number_float())
      attr = builder_.getF64FloatAttr(v.get<double>());
    else if (v.is_string())
      attr = builder_.getStringAttr(v.get<std::string>());
    else if (v.is_array() && llvm::all_of(v, [](const json &e) {
               return e.is_number_integer();
             })) {
      SmallVector<int64_t> values;
      for (const json &e : v)
        values.push_back(e.get<int64_t>());
      attr = builder_.getDenseI64ArrayAttr(values);
    } else if (node.op == "pad" && (key == "low" || key == "high") && v.is_array() &&
               llvm::all_of(v, [](const json &e) {
                 return e.is_number_integer() || e.is_string();
               })) {
      // An amount may be an expression of the symbols ("max(0, 3 - h % 2)"):
      // `?`, and its value at run time; in the builds on trial sizes, its
      // value at them.
      SmallVector<int64_t> values;
      SmallVector<std::string> runtime;
      for (const json &e : v) {
        if (e.is_number_integer()) {
          values.push_back(e.get<int64_t>());
          continue;
        }
        std::string text = e.get<std::string>();
        if (!sizes) {
          values.push_back(ShapedType::kDynamic);
          runtime.push_back(text);
          continue;
        }
        std::vector<std::string> names;
        std::vector<PlanExpr> exprs;
        std::vector<int64_t> symbolValues, results;
        std::string why;
        auto indexOf = [&](std::string_view name) -> std::optional<int64_t> {
          auto size = sizes->find(name);
          if (size == sizes->end())
            return std::nullopt;
          symbolValues.push_back(size->getValue());
          return int64_t(symbolValues.size() - 1);
        };
        if (!parsePlanExprString(text, indexOf, exprs, why) ||
            !evaluatePlanExprs(exprs, symbolValues, results, why))
          return emitError(loc) << "node '" << node.name << "': amount '" << text
                                << "': " << why;
        values.push_back(results.back());
      }
      // (The low amounts' operands come first, whichever key is read first.)
      runtimeLimits.insert(key == "low" ? runtimeLimits.begin() : runtimeLimits.end(),
                           runtime.begin(), runtime.end());
      attr = builder_.getDenseI64ArrayAttr(values);
    } else if (takesRuntimeSizes(node.op, key) && v.is_array() &&
               llvm::all_of(v, [](const json &e) {
                 return e.is_number_integer() || e.is_string() || e.is_object();
               })) {
      // A slice up to a symbol's size (or another value's dimension), an
      // input gradient to one: -1, and the size at run time. In the builds
      // with the symbols at distinct primes, an input gradient takes the
      // prime (a slice is cast to it).
      bool fixedInTrials = key == "input_spatial" && sizes;
      SmallVector<int64_t> values;
      for (const json &e : v) {
        if (e.is_number_integer()) {
          values.push_back(e.get<int64_t>());
          continue;
        }
        if (e.is_object()) {
          std::string why;
          std::optional<SizeReference> ref = SizeReference::parse(e, why);
          if (!ref)
            return emitError(loc) << "node '" << node.name << "': " << why;
          std::optional<int64_t> referenced =
              fixedInTrials ? referencedSize(ref->encoded()) : std::nullopt;
          if (referenced && !ShapedType::isDynamic(*referenced)) {
            values.push_back(*referenced);
            continue;
          }
          values.push_back(-1);
          runtimeLimits.push_back(ref->encoded());
          continue;
        }
        std::string symbol = e.get<std::string>();
        auto declared = llvm::find_if(
            symbols_, [&](DimSymbolAttr s) { return s.getName() == symbol; });
        if (declared == symbols_.end())
          return emitError(loc) << "node '" << node.name << "': '" << symbol
                                << "' is not a symbol declared in 'dims'";
        if (fixedInTrials && sizes->count(symbol)) {
          values.push_back(sizes->lookup(symbol));
          continue;
        }
        values.push_back(-1);
        runtimeLimits.push_back(symbol);
      }
      attr = builder_.getDenseI64ArrayAttr(values);
    } else {
      return emitError(loc) << "node '" << node.name << "': attribute '" << key
                            << "' must be a boolean, number, string or array of "
                               "integers";
    }
    attrs.set(key, attr);
  }
  return attrs;
}

/// Parses one constant element; floats accept "nan", "inf" and "-inf" strings.
static FailureOr<Attribute> constantElement(const json &v, Type elementType) {
  if (auto floatType = dyn_cast<FloatType>(elementType)) {
    double d;
    if (v.is_number())
      d = v.get<double>();
    else if (v == "nan")
      d = std::numeric_limits<double>::quiet_NaN();
    else if (v == "inf")
      d = std::numeric_limits<double>::infinity();
    else if (v == "-inf")
      d = -std::numeric_limits<double>::infinity();
    else
      return failure();
    return Attribute(FloatAttr::get(floatType, d));
  }
  auto intType = cast<IntegerType>(elementType);
  if (intType.getWidth() == 1) {
    if (v.is_boolean())
      return Attribute(IntegerAttr::get(intType, v.get<bool>() ? 1 : 0));
    if (v.is_number_integer() && (v == 0 || v == 1))
      return Attribute(IntegerAttr::get(intType, v.get<int64_t>()));
    return failure();
  }
  if (!v.is_number_integer())
    return failure();
  int64_t value = v.get<int64_t>();
  if (intType.getWidth() == 32 && (value < INT32_MIN || value > INT32_MAX))
    return failure();
  return Attribute(IntegerAttr::get(intType, value));
}

FailureOr<Value> GraphImporter::buildConstant(const NodeDecl &node) {
  if (!node.inputs.empty() || node.attrs)
    return emitError(node.loc) << "node '" << node.name
                               << "': a constant takes no inputs or attrs";
  if (!node.value || !node.dtype || !node.shape)
    return emitError(node.loc) << "node '" << node.name
                               << "': a constant needs 'value', 'dtype' and 'shape'";
  if (!node.shape->symbols.empty())
    return emitError(nodeLoc(node, "/shape"))
           << "node '" << node.name << "': a constant's shape cannot be symbolic";
  auto type = RankedTensorType::get(node.shape->sizes, *node.dtype);
  Location valueLoc = nodeLoc(node, "/value");
  auto bad = [&]() {
    InFlightDiagnostic diag = emitError(valueLoc);
    diag << "node '" << node.name << "': 'value' must be a " << *node.dtype
         << " scalar or a flat array of " << type.getNumElements() << " of them";
    return diag;
  };
  if (!node.value->is_array()) {
    auto element = constantElement(*node.value, *node.dtype);
    if (failed(element))
      return bad();
    return ube::ConstantOp::create(builder_, node.loc, type,
                                   SplatElementsAttr::get(type, *element))
        .getResult();
  }
  if (static_cast<int64_t>(node.value->size()) != type.getNumElements())
    return bad();
  SmallVector<Attribute> elements;
  for (const json &v : *node.value) {
    auto element = constantElement(v, *node.dtype);
    if (failed(element))
      return bad();
    elements.push_back(*element);
  }
  return ube::ConstantOp::create(builder_, node.loc, type,
                                 DenseElementsAttr::get(type, elements))
      .getResult();
}

/// The smallest operand count `opName` accepts, from its ODS operand traits
/// (checked before type inference, whose adaptors assume the required ones).
template <size_t... N>
static unsigned minOperandsImpl(RegisteredOperationName name,
                                std::index_sequence<N...>) {
  unsigned result = name.hasTrait<OpTrait::OneOperand>() ? 1 : 0;
  auto consider = [&](bool has, unsigned n) {
    if (has)
      result = std::max(result, n);
  };
  (consider(name.hasTrait<OpTrait::NOperands<N + 1>::template Impl>(), N + 1), ...);
  (consider(name.hasTrait<OpTrait::AtLeastNOperands<N>::template Impl>(), N), ...);
  return result;
}
static unsigned minOperands(RegisteredOperationName name) {
  return minOperandsImpl(name, std::index_sequence<1, 2, 3, 4, 5, 6, 7, 8>());
}

FailureOr<Value> GraphImporter::sizeFromSymbols(StringRef text, const NodeDecl &node,
                                                Location errorLoc) {
  std::vector<std::string> names;
  auto indexOf = [&](std::string_view name) -> std::optional<int64_t> {
    auto known = llvm::find(names, name);
    if (known != names.end())
      return int64_t(known - names.begin());
    names.emplace_back(name);
    return int64_t(names.size() - 1);
  };
  std::vector<PlanExpr> exprs;
  std::string why;
  if (!parsePlanExprString(text, indexOf, exprs, why))
    return emitError(errorLoc) << "node '" << node.name << "': size '" << text << "': " << why;
  Location loc = node.loc;
  SmallVector<Value> symbols;
  for (const std::string &name : names) {
    auto source = symbolSources_.find(name);
    if (source == symbolSources_.end())
      return emitError(errorLoc) << "node '" << node.name << "': symbol '" << name
                                 << "' is not the size of an input of this function";
    symbols.push_back(
        tensor::DimOp::create(builder_, loc, source->second.first, source->second.second));
  }
  SmallVector<Value> values;
  for (const PlanExpr &e : exprs) {
    if (e.op == PlanExpr::Constant) {
      values.push_back(arith::ConstantIndexOp::create(builder_, loc, e.value));
      continue;
    }
    if (e.op == PlanExpr::Symbol) {
      values.push_back(symbols[e.value]);
      continue;
    }
    Value a = values[e.lhs], b = values[e.rhs];
    Value v;
    switch (e.op) {
    case PlanExpr::AddI: v = arith::AddIOp::create(builder_, loc, a, b); break;
    case PlanExpr::SubI: v = arith::SubIOp::create(builder_, loc, a, b); break;
    case PlanExpr::MulI: v = arith::MulIOp::create(builder_, loc, a, b); break;
    case PlanExpr::DivSI: v = arith::DivSIOp::create(builder_, loc, a, b); break;
    case PlanExpr::DivUI: v = arith::DivUIOp::create(builder_, loc, a, b); break;
    case PlanExpr::FloorDivSI: v = arith::FloorDivSIOp::create(builder_, loc, a, b); break;
    case PlanExpr::CeilDivSI: v = arith::CeilDivSIOp::create(builder_, loc, a, b); break;
    case PlanExpr::CeilDivUI: v = arith::CeilDivUIOp::create(builder_, loc, a, b); break;
    case PlanExpr::RemSI: v = arith::RemSIOp::create(builder_, loc, a, b); break;
    case PlanExpr::RemUI: v = arith::RemUIOp::create(builder_, loc, a, b); break;
    case PlanExpr::MaxSI: v = arith::MaxSIOp::create(builder_, loc, a, b); break;
    case PlanExpr::MinSI: v = arith::MinSIOp::create(builder_, loc, a, b); break;
    case PlanExpr::MaxUI: v = arith::MaxUIOp::create(builder_, loc, a, b); break;
    case PlanExpr::MinUI: v = arith::MinUIOp::create(builder_, loc, a, b); break;
    case PlanExpr::Constant:
    case PlanExpr::Symbol:
      break;
    }
    values.push_back(v);
  }
  return values.back();
}

FailureOr<Value> GraphImporter::buildNode(const NodeDecl &node, ArrayRef<Value> operands,
                                          const SymbolSizes *sizes) {
  if (node.op == "constant")
    return buildConstant(node);
  std::string fullName = "ube." + node.op;
  std::optional<RegisteredOperationName> opName =
      RegisteredOperationName::lookup(fullName, context_);
  if (!opName)
    return emitError(nodeLoc(node, "/op"))
           << "node '" << node.name << "': unknown op '" << node.op
           << "' (see docs/ops.md for the op reference)";
  if (node.value)
    return emitError(nodeLoc(node, "/value"))
           << "node '" << node.name << "': only constants take a 'value'";
  unsigned required = minOperands(*opName);
  if (operands.size() < required)
    return emitError(node.loc) << "node '" << node.name << "': op '" << node.op
                               << "' needs at least " << required << " inputs, got "
                               << operands.size();
  SmallVector<std::string> runtimeLimits;
  auto attrs = convertAttributes(node, *opName, sizes, runtimeLimits);
  if (failed(attrs) || failed(opName->verifyInherentAttrs(*attrs, [&] {
        return emitError(node.loc) << "'" << fullName << "' op ";
      })))
    return failure();
  if (opName->hasTrait<OpTrait::AttrSizedOperandSegments>()) {
    // Optional operands in ODS order: the inputs fill the first ones.
    OperationState probe(node.loc, *opName);
    Operation *empty = Operation::create(probe);
    auto groups = dyn_cast_or_null<DenseI32ArrayAttr>(
        empty->getInherentAttr(OpTrait::AttrSizedOperandSegments<void>::getOperandSegmentSizeAttr())
            .value_or(Attribute()));
    empty->destroy();
    if (!groups || operands.size() > size_t(groups.size()))
      return emitError(node.loc) << "node '" << node.name << "': op '" << node.op
                                 << "' takes at most " << (groups ? groups.size() : 0)
                                 << " inputs, got " << operands.size();
    SmallVector<int32_t> segments(groups.size(), 0);
    std::fill_n(segments.begin(), operands.size(), 1);
    if (node.op == "pad" && segments.size() == 3) // then the amounts known at run time
      for (auto [segment, key] : {std::pair(1, "low"), std::pair(2, "high")})
        if (auto amounts = dyn_cast_or_null<DenseI64ArrayAttr>(attrs->get(key)))
          segments[segment] = llvm::count_if(amounts.asArrayRef(), ShapedType::isDynamic);
    attrs->set(OpTrait::AttrSizedOperandSegments<void>::getOperandSegmentSizeAttr(),
               DenseI32ArrayAttr::get(context_, segments));
  }

  // A size named as another value's dimension must name one it has.
  SmallVector<std::string> references(runtimeLimits);
  if (node.shape)
    llvm::append_range(references, node.shape->symbols);
  for (const std::string &symbol : references)
    if (std::optional<SizeReference> ref = SizeReference::decode(symbol)) {
      auto type = cast<RankedTensorType>(lookupValue_(ref->value).getType());
      if (ref->axis < 0 || ref->axis >= type.getRank())
        return emitError(node.loc) << "node '" << node.name << "': a size refers to dimension "
                                   << ref->axis << " of '" << ref->value << "', which has "
                                   << type.getRank();
    }

  // A reshape or broadcast to sizes named by symbols takes their values:
  // the sizes of the inputs' dimensions that name them; so does a slice up
  // to a symbol's size.
  SmallVector<Value> symbolSizes;
  SmallVector<std::string> named(runtimeLimits);
  if ((node.op == "reshape" || node.op == "broadcast_to" || node.op == "arange") &&
      node.shape && !sizes)
    named.append(node.shape->symbols.begin(), node.shape->symbols.end());
  for (const std::string &symbol : named) {
    if (std::optional<SizeReference> ref = SizeReference::decode(symbol)) {
      Value dim = tensor::DimOp::create(builder_, node.loc, lookupValue_(ref->value), ref->axis);
      symbolSizes.push_back(arith::AddIOp::create(
          builder_, node.loc, dim, arith::ConstantIndexOp::create(builder_, node.loc, ref->add)));
      continue;
    }
    FailureOr<Value> size = sizeFromSymbols(
        symbol, node,
        nodeLoc(node, runtimeLimits.empty() ? "/shape"
                      : node.op == "slice"  ? "/attrs/limit"
                      : node.op == "pad"    ? "/attrs"
                                            : "/attrs/input_spatial"));
    if (failed(size))
      return failure();
    symbolSizes.push_back(*size);
  }

  // A reshape's -1: the input's element count over the other sizes, at
  // import where they are all known, else at run time.
  int64_t inferredSize = ShapedType::kDynamic;
  if (node.shape && node.shape->inferred >= 0 && !operands.empty()) {
    auto input = cast<RankedTensorType>(operands[0].getType());
    SmallVector<int64_t> target = sizesOf(*node.shape, sizes);
    target[node.shape->inferred] = 1;
    bool known = input.hasStaticShape() && llvm::none_of(target, ShapedType::isDynamic);
    int64_t rest = known ? ShapedType::getNumElements(target) : 1;
    if (known && (rest == 0 || input.getNumElements() % rest))
      return emitError(nodeLoc(node, "/shape"))
             << "node '" << node.name << "': no size for -1 reshapes " << input
             << " to the other sizes given";
    if (known) {
      inferredSize = input.getNumElements() / rest;
    } else {
      Location loc = node.loc;
      auto index = [&](int64_t v) -> Value {
        return arith::ConstantIndexOp::create(builder_, loc, v);
      };
      Value count = index(1), others = index(1);
      for (int64_t d = 0; d < input.getRank(); ++d)
        count = arith::MulIOp::create(
            builder_, loc, count,
            input.isDynamicDim(d) ? tensor::DimOp::create(builder_, loc, operands[0], d).getResult()
                                  : index(input.getDimSize(d)));
      // The symbols' sizes, in the shape's order, are symbolSizes.
      size_t next = 0, position = 0;
      for (auto [d, size] : llvm::enumerate(target)) {
        if (int64_t(d) == node.shape->inferred) {
          position = next;
          continue;
        }
        others = arith::MulIOp::create(builder_, loc, others,
                                       ShapedType::isDynamic(size) ? symbolSizes[next++]
                                                                   : index(size));
      }
      symbolSizes.insert(symbolSizes.begin() + position,
                         arith::DivUIOp::create(builder_, loc, count, others));
    }
  }

  // Infer result types on a result-less draft of the op, whose attributes are
  // already converted to properties, then create the real op.
  SmallVector<Type> types;
  if (opName->hasInterface<InferTypeOpInterface>()) {
    OperationState draftState(node.loc, *opName);
    draftState.addOperands(operands);
    draftState.addOperands(symbolSizes);
    draftState.addAttributes(*attrs);
    Operation *draft = Operation::create(draftState);
    LogicalResult inferred = cast<InferTypeOpInterface>(draft).inferReturnTypes(
        context_, node.loc, draft->getOperands(), draft->getRawDictionaryAttrs(),
        draft->getPropertiesStorage(), draft->getRegions(), types);
    draft->destroy();
    if (failed(inferred))
      return failure();
    if (types.size() != 1)
      return emitError(node.loc) << "node '" << node.name << "': op '" << node.op
                                 << "' has " << types.size()
                                 << " results; graph files v1 hold single-result ops";
    auto inferredType = cast<RankedTensorType>(types.front());
    SmallVector<int64_t> shape =
        node.shape ? sizesOf(*node.shape, sizes) : SmallVector<int64_t>();
    if ((node.dtype && *node.dtype != inferredType.getElementType()) ||
        (node.shape && ArrayRef<int64_t>(shape) != inferredType.getShape())) {
      RankedTensorType declared = RankedTensorType::get(
          node.shape ? ArrayRef<int64_t>(shape) : inferredType.getShape(),
          node.dtype ? *node.dtype : inferredType.getElementType());
      return emitError(node.loc) << "node '" << node.name << "' declares "
                                 << declared << " but op '" << node.op
                                 << "' produces " << inferredType;
    }
  } else {
    // The node declares its result; missing parts come from the first input.
    auto first = operands.empty() ? RankedTensorType()
                                  : dyn_cast<RankedTensorType>(operands[0].getType());
    if ((!node.dtype || !node.shape) && !first)
      return emitError(node.loc) << "node '" << node.name << "': op '" << node.op
                                 << "' needs the node's 'dtype' and 'shape'";
    bool takesSizes = node.op == "reshape" || node.op == "broadcast_to" || node.op == "arange";
    if (node.shape && !node.shape->symbols.empty() && !takesSizes)
      return emitError(nodeLoc(node, "/shape"))
             << "node '" << node.name << "': op '" << node.op
             << "' to a symbolic shape is not supported yet";
    SmallVector<int64_t> shape(first ? first.getShape() : ArrayRef<int64_t>());
    if (node.shape)
      shape = sizesOf(*node.shape, sizes);
    if (node.shape && node.shape->inferred >= 0)
      shape[node.shape->inferred] = inferredSize;
    types.push_back(
        RankedTensorType::get(shape, node.dtype ? *node.dtype : first.getElementType()));
  }

  OperationState state(node.loc, *opName);
  state.addOperands(operands);
  state.addOperands(symbolSizes);
  state.addTypes(types);
  state.addAttributes(*attrs);
  Operation *op = builder_.create(state);
  if (failed(verify(op, /*verifyRecursively=*/false)))
    return failure();
  Value result = op->getResult(0);
  if (node.op == "slice" && !runtimeLimits.empty()) {
    // Limits past the sliced size would take all of it: the bound must not
    // pass it, and an unbounded symbol is bounded by it (sizes past it
    // are refused at run time, naming the bound).
    auto input = cast<RankedTensorType>(operands[0].getType());
    auto limits = op->getAttrOfType<DenseI64ArrayAttr>("limit").asArrayRef();
    const std::string *symbol = runtimeLimits.begin();
    SmallVector<int64_t> shape(cast<RankedTensorType>(result.getType()).getShape());
    for (auto [d, limit] : llvm::enumerate(limits)) {
      if (limit != -1)
        continue;
      if (std::optional<int64_t> referenced = referencedSize(*symbol)) {
        // Another value's dimension: clamped at run time; its size in the
        // builds on trial sizes.
        if (sizes && !ShapedType::isDynamic(*referenced))
          shape[d] = std::clamp<int64_t>(*referenced, 0, input.getDimSize(d));
        ++symbol;
        continue;
      }
      DimSymbolAttr *declared =
          llvm::find_if(symbols_, [&](DimSymbolAttr s) { return s.getName() == *symbol; });
      if (input.isDynamicDim(d)) { // a symbolic dimension: clamped at run time
        ++symbol;
        continue;
      }
      // (The builds on trial sizes leave the declared bounds alone.)
      if (declared->getMax() == 0 && !sizes)
        *declared = DimSymbolAttr::get(context_, declared->getName(), declared->getMin(),
                                       input.getDimSize(d), declared->getMultipleOf(),
                                       ArrayAttr());
      int64_t max = declared->getMax();
      if (!sizes && max > input.getDimSize(d))
        return emitError(nodeLoc(node, "/attrs/limit"))
               << "node '" << node.name << "': '" << *symbol << "' may be up to " << max
               << ", past the size " << input.getDimSize(d) << " of dimension " << d
               << " it slices (lower the symbol's 'max')";
      if (sizes)
        shape[d] = sizes->lookup(*symbol);
      ++symbol;
    }
    if (sizes)
      result = tensor::CastOp::create(
          builder_, node.loc,
          RankedTensorType::get(shape, cast<RankedTensorType>(result.getType()).getElementType()),
          result);
  }
  return result;
}

FailureOr<func::FuncOp> GraphImporter::buildBody(const FunctionDecl &function,
                                                 const SymbolSizes *sizes) {
  auto order = scheduleNodes(function);
  if (failed(order))
    return failure();

  SmallVector<Type> argTypes;
  SmallVector<Location> argLocs;
  llvm::StringMap<Value> values;
  for (const std::string &name : function.inputs) {
    const TensorDecl &decl = inputs_[names_.find(name)->second.index];
    argTypes.push_back(decl.type.clone(sizesOf({SmallVector<int64_t>(decl.type.getShape()),
                                                 decl.symbols},
                                                sizes)));
    argLocs.push_back(decl.loc);
  }
  builder_.setInsertionPointToEnd(module_->getBody());
  auto funcOp = func::FuncOp::create(builder_, function.loc, function.name,
                                     builder_.getFunctionType(argTypes, {}));
  Block *body = funcOp.addEntryBlock();
  for (auto [i, name] : llvm::enumerate(function.inputs)) {
    body->getArgument(i).setLoc(argLocs[i]);
    funcOp.setArgAttr(i, ube::UbeDialect::NameAttrHelper::getNameStr(), builder_.getStringAttr(name));
    values[name] = body->getArgument(i);
  }
  builder_.setInsertionPointToStart(body);
  // Where each symbol's size can be read: its first input dimension.
  symbolSources_.clear();
  for (auto [i, name] : llvm::enumerate(function.inputs)) {
    const TensorDecl &decl = inputs_[names_.find(name)->second.index];
    auto symbol = decl.symbols.begin();
    for (auto [d, size] : llvm::enumerate(decl.type.getShape()))
      if (ShapedType::isDynamic(size))
        symbolSources_.try_emplace(*symbol++, body->getArgument(i), int64_t(d));
  }

  // Parameters are materialized once per function, where first needed.
  auto lookup = [&](const std::string &name) -> Value {
    if (Value v = values.lookup(name))
      return v;
    ValueDef def = names_.find(name)->second;
    assert(def.kind == ValueDef::Parameter && "scheduled before use");
    const TensorDecl &param = parameters_[def.index];
    Value v = ube::ConstantOp::create(builder_, param.loc, param.type,
                                      parameterValues_[def.index]);
    values[name] = v;
    return v;
  };
  lookupValue_ = lookup;
  for (size_t index : *order) {
    const NodeDecl &node = nodes_[index];
    SmallVector<Value> operands;
    for (const std::string &input : node.inputs)
      operands.push_back(lookup(input));
    auto result = buildNode(node, operands, sizes);
    if (failed(result))
      return failure();
    values[node.name] = *result;
  }
  SmallVector<Value> results;
  for (const std::string &name : function.outputs)
    results.push_back(lookup(name));
  func::ReturnOp::create(builder_, function.loc, results);
  funcOp.setFunctionType(builder_.getFunctionType(argTypes, ValueRange(results).getTypes()));
  for (auto [i, name] : llvm::enumerate(function.outputs))
    funcOp.setResultAttr(i, ube::UbeDialect::NameAttrHelper::getNameStr(), builder_.getStringAttr(name));
  return funcOp;
}

/// The first `count` primes from `from` up: sizes no graph constant is
/// likely to equal, and whose products stay far from overflowing int64.
static SmallVector<int64_t> primesFrom(int64_t from, size_t count) {
  SmallVector<int64_t> primes;
  for (int64_t n = from; primes.size() < count; ++n) {
    bool prime = n > 1;
    for (int64_t d = 2; prime && d * d <= n; ++d)
      prime = n % d != 0;
    if (prime)
      primes.push_back(n);
  }
  return primes;
}

/// `text` with every whole number that is a probe size replaced by its symbol.
static std::string withSymbolNames(StringRef text, const SymbolSizes &sizes) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (!llvm::isDigit(text[i]) || (i > 0 && (llvm::isAlnum(text[i - 1]) || text[i - 1] == '_'))) {
      out += text[i++];
      continue;
    }
    size_t end = i;
    while (end < text.size() && llvm::isDigit(text[end]))
      ++end;
    StringRef number = text.slice(i, end);
    auto symbol = llvm::find_if(sizes, [&](const auto &entry) {
      return std::to_string(entry.getValue()) == number;
    });
    out += symbol == sizes.end() ? number.str() : symbol->getKey().str();
    i = end;
  }
  return out;
}

LogicalResult GraphImporter::nameResultSymbols(const FunctionDecl &function,
                                               func::FuncOp funcOp) {
  // The symbols this function's inputs use, in declaration order.
  llvm::StringSet<> used;
  for (auto [i, name] : llvm::enumerate(function.inputs)) {
    const TensorDecl &decl = inputs_[names_.find(name)->second.index];
    if (decl.symbols.empty())
      continue;
    SmallVector<Attribute> dims;
    for (const std::string &symbol : decl.symbols) {
      used.insert(symbol);
      dims.push_back(builder_.getStringAttr(symbol));
    }
    funcOp.setArgAttr(i, ube::UbeDialect::DimsAttrHelper::getNameStr(),
                      builder_.getArrayAttr(dims));
  }
  if (used.empty())
    return success();
  // The symbols the inputs give, then those computed from them (the
  // runtime evaluates each over the ones before it).
  SmallVector<Attribute> symbols;
  for (DimSymbolAttr symbol : symbols_)
    if (used.contains(symbol.getName()) && !derivedSizes_.count(symbol.getName()))
      symbols.push_back(symbol);
  size_t given = symbols.size();
  for (DimSymbolAttr symbol : symbols_) {
    auto size = derivedSizes_.find(symbol.getName());
    if (!used.contains(symbol.getName()) || size == derivedSizes_.end())
      continue;
    std::vector<PlanExpr> exprs;
    std::string why;
    auto indexOf = [&](std::string_view name) -> std::optional<int64_t> {
      for (size_t k = 0; k < given; ++k)
        if (cast<DimSymbolAttr>(symbols[k]).getName() == StringRef(name))
          return int64_t(k);
      return std::nullopt;
    };
    if (!parsePlanExprString(size->getValue(), indexOf, exprs, why))
      return error("/dims/" + symbol.getName().str() + "/size")
             << "symbol '" << symbol.getName() << "': " << why << " (in function '"
             << function.name << "', a derived size names symbols its inputs give)";
    symbols.push_back(DimSymbolAttr::get(context_, symbol.getName(), symbol.getMin(),
                                         symbol.getMax(), symbol.getMultipleOf(),
                                         ube::sizeExprsToAttr(context_, exprs)));
  }
  funcOp->setAttr(ube::UbeDialect::SymbolsAttrHelper::getNameStr(),
                  builder_.getArrayAttr(symbols));

  // Build the function again with each symbol a distinct prime, twice: where
  // two symbols meet (added, multiplied, contracted) the sizes then differ
  // and the op reports it, and a result dimension that equals a symbol's
  // size in both builds is that symbol. A derived symbol takes its size
  // over those primes.
  SmallVector<Type> probed[2];
  SmallVector<int64_t> primes[2] = {primesFrom(10007, symbols.size()),
                                    primesFrom(20011, symbols.size())};
  for (int probe = 0; probe < 2; ++probe) {
    for (size_t k = given; k < symbols.size(); ++k) {
      std::vector<int64_t> values;
      std::string why;
      auto symbol = cast<DimSymbolAttr>(symbols[k]);
      FailureOr<std::vector<PlanExpr>> exprs = ube::sizeExprsFromAttr(symbol.getSize());
      if (failed(exprs) ||
          !evaluatePlanExprs(*exprs, std::vector<int64_t>(primes[probe].begin(),
                                                          primes[probe].begin() + k),
                             values, why) ||
          values.back() < 1)
        return error("/dims/" + symbol.getName().str() + "/size")
               << "symbol '" << symbol.getName() << "' is not a size at the trial sizes of "
               << "the symbols it names" << (why.empty() ? "" : ": " + why);
      primes[probe][k] = values.back();
    }
    SymbolSizes sizes;
    for (auto [symbol, prime] : llvm::zip(symbols, primes[probe]))
      sizes[cast<DimSymbolAttr>(symbol).getName()] = prime;
    OwningOpRef<ModuleOp> scratch = ModuleOp::create(funcOp.getLoc());
    std::swap(module_, scratch);
    std::optional<Diagnostic> first;
    FailureOr<func::FuncOp> built = failure();
    {
      ScopedDiagnosticHandler capture(context_, [&](Diagnostic &diag) {
        if (!first && diag.getSeverity() == DiagnosticSeverity::Error)
          first.emplace(std::move(diag));
        return success();
      });
      built = buildBody(function, &sizes);
    }
    if (succeeded(built))
      probed[probe] = llvm::to_vector((*built).getResultTypes());
    std::swap(module_, scratch);
    builder_.setInsertionPointToEnd(funcOp->getBlock());
    if (failed(built)) {
      Location loc = first ? first->getLocation() : funcOp.getLoc();
      return emitError(loc) << withSymbolNames(first ? first->str() : "", sizes)
                            << " (sizes named by different symbols may differ at run time: "
                               "name them by one symbol where they must agree)";
    }
  }
  SmallVector<Attribute> derived;
  for (auto [i, type] : llvm::enumerate(funcOp.getResultTypes())) {
    auto shaped = cast<RankedTensorType>(type);
    if (shaped.hasStaticShape())
      continue;
    SmallVector<Attribute> dims;
    for (auto [d, size] : llvm::enumerate(shaped.getShape())) {
      if (!ShapedType::isDynamic(size))
        continue;
      int64_t a = cast<RankedTensorType>(probed[0][i]).getDimSize(d);
      int64_t b = cast<RankedTensorType>(probed[1][i]).getDimSize(d);
      size_t k = 0;
      while (k < symbols.size() && (primes[0][k] != a || primes[1][k] != b))
        ++k;
      if (k < symbols.size()) {
        dims.push_back(builder_.getStringAttr(cast<DimSymbolAttr>(symbols[k]).getName()));
        continue;
      }
      // A size the symbols fix without naming it (a convolution's output
      // length): a derived symbol, whose expression the compiler computes
      // once the function is lowered (--ube-derive-symbol-sizes).
      std::string name = function.outputs[i] + "." + std::to_string(d);
      // (A value returned twice has one symbol.)
      if (llvm::none_of(derived, [&](Attribute a) {
            return cast<DimSymbolAttr>(a).getName() == name;
          }))
        derived.push_back(
            DimSymbolAttr::get(context_, name, 1, 0, 1, builder_.getArrayAttr({})));
      dims.push_back(builder_.getStringAttr(name));
    }
    funcOp.setResultAttr(i, ube::UbeDialect::DimsAttrHelper::getNameStr(),
                         builder_.getArrayAttr(dims));
  }
  if (!derived.empty()) {
    llvm::append_range(symbols, derived);
    funcOp->setAttr(ube::UbeDialect::SymbolsAttrHelper::getNameStr(),
                    builder_.getArrayAttr(symbols));
  }
  return success();
}

LogicalResult GraphImporter::buildFunction(const FunctionDecl &function) {
  auto funcOp = buildBody(function, nullptr);
  if (failed(funcOp))
    return failure();
  if (failed(nameResultSymbols(function, *funcOp)))
    return failure();
  if (!function.gradientWrt.empty())
    (*funcOp)->setAttr(ube::UbeDialect::GradientAttrHelper::getNameStr(),
                    builder_.getDictionaryAttr(
                        {builder_.getNamedAttr("loss",
                                               builder_.getI64IntegerAttr(function.gradientLoss)),
                         builder_.getNamedAttr("wrt", builder_.getDenseI64ArrayAttr(
                                                          function.gradientWrt))}));
  if (!function.optimizer.empty()) {
    SmallVector<NamedAttribute> train = {
        function.trainGradients.empty()
            ? builder_.getNamedAttr("loss", builder_.getI64IntegerAttr(function.trainLoss))
            : builder_.getNamedAttr("gradients",
                                    builder_.getDenseI64ArrayAttr(function.trainGradients)),
        builder_.getNamedAttr("params", builder_.getDenseI64ArrayAttr(function.trainParams)),
        builder_.getNamedAttr("optimizer", builder_.getStringAttr(function.optimizer)),
        builder_.getNamedAttr("nesterov", builder_.getBoolAttr(function.nesterov))};
    for (auto &[key, number] : function.optimizerSettings)
      train.push_back(builder_.getNamedAttr(key, builder_.getF64FloatAttr(number)));
    if (function.lrInput >= 0)
      train.push_back(builder_.getNamedAttr("lr", builder_.getI64IntegerAttr(function.lrInput)));
    (*funcOp)->setAttr(ube::UbeDialect::TrainAttrHelper::getNameStr(),
                       builder_.getDictionaryAttr(train));
  }
  return success();
}

OwningOpRef<ModuleOp> GraphImporter::run() {
  // Line/column of a byte offset, counted directly (the text is invalid).
  auto locationOf = [&](size_t offset) {
    unsigned line = 1, column = 1;
    for (size_t i = 0; i < offset && i < text_.size(); ++i, ++column)
      if (text_[i] == '\n') {
        ++line;
        column = 0;
      }
    return FileLineColLoc::get(context_, path_, line, column);
  };
  try {
    root_ = json::parse(text_.begin(), text_.end());
  } catch (const json::parse_error &e) {
    std::string what = e.what();
    // nlohmann prefixes "[json.exception.parse_error.101] parse error at line..".
    size_t colon = what.find(": ", what.find("parse error"));
    emitError(locationOf(e.byte > 0 ? e.byte - 1 : 0))
        << "malformed JSON: "
        << (colon == std::string::npos ? what : what.substr(colon + 2));
    return nullptr;
  } catch (const json::out_of_range &e) {
    // A number beyond double's range ("number overflow parsing '1e999'"):
    // no byte offset comes with it, so locate the quoted token.
    std::string what = e.what();
    size_t open = what.find("parsing '"), close = what.rfind('\'');
    std::string token = open != std::string::npos && close > open + 9
                            ? what.substr(open + 9, close - open - 9)
                            : std::string();
    size_t at = token.empty() ? std::string::npos : text_.find(token);
    if (token.size() > 24)
      token = token.substr(0, 24) + "...";
    emitError(locationOf(at == std::string::npos ? 0 : at))
        << "malformed JSON: number " << token << " is out of range";
    return nullptr;
  }
  locator_ = std::make_unique<JsonLocator>(text_);
  if (failed(parseTopLevel()) || failed(loadParameters()))
    return nullptr;
  module_ = ModuleOp::create(locAt(""));
  if (root_.contains("name") && root_["name"].is_string())
    module_->setSymName(root_["name"].get<std::string>());
  for (const FunctionDecl &function : functions_)
    if (failed(buildFunction(function)))
      return nullptr;
  return std::move(module_);
}

} // namespace

OwningOpRef<ModuleOp> importGraph(StringRef json, StringRef path, MLIRContext *context) {
  context->loadDialect<ube::UbeDialect, func::FuncDialect, tensor::TensorDialect>();
  return GraphImporter(json, path, context).run();
}

OwningOpRef<ModuleOp> importGraphFile(StringRef path, MLIRContext *context) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer) {
    emitError(FileLineColLoc::get(context, path, 0, 0))
        << "cannot open graph file: " << buffer.getError().message();
    return nullptr;
  }
  return importGraph((*buffer)->getBuffer(), path, context);
}

} // namespace ube
