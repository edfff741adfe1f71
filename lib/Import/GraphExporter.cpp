//===- GraphExporter.cpp - ube dialect -> graph file ----------------------===//
//
// The inverse of the importer: module functions become entry functions,
// `dense_resource` constants become parameters (data to safetensors), other
// constants inline `constant` nodes, and every other ube op a node named
// after its NameLoc. Importing the written file gives back the same IR.
//
//===----------------------------------------------------------------------===//

#include "ube/Graph.h"

#include "ube/DTypeConversion.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "dialects/ube/UbeOps.h"
#include "ube/Support/Safetensors.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <nlohmann/json.hpp>

using namespace mlir;
// Ordered, so fields come out in the order the format documents them.
using json = nlohmann::ordered_json;

namespace ube {
namespace {

/// The node name a location carries (NameLoc, possibly inside a FusedLoc).
std::string nodeNameOf(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().str();
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location inner : fused.getLocations())
      if (std::string name = nodeNameOf(inner); !name.empty())
        return name;
  return "";
}

/// A shape as the file writes it: sizes, and for each dynamic one the next
/// of `symbols` (an argument's `ube.dims`).
json shapeJson(RankedTensorType type, ArrayAttr symbols = {}) {
  json shape = json::array();
  size_t next = 0;
  for (int64_t size : type.getShape()) {
    if (ShapedType::isDynamic(size))
      shape.push_back(cast<StringAttr>(symbols[next++]).str());
    else
      shape.push_back(size);
  }
  return shape;
}

json floatJson(const APFloat &value) {
  double d = value.convertToDouble();
  if (std::isnan(d))
    return "nan";
  if (std::isinf(d))
    return d > 0 ? "inf" : "-inf";
  return d;
}

FailureOr<json> attributeJson(Attribute attr) {
  if (auto b = dyn_cast<BoolAttr>(attr))
    return json(b.getValue());
  if (auto i = dyn_cast<IntegerAttr>(attr))
    return json(i.getValue().getSExtValue());
  if (auto f = dyn_cast<FloatAttr>(attr)) {
    // Keep a float a JSON float (2.0, not 2) so it imports as a float again.
    json value = floatJson(f.getValue());
    return value;
  }
  if (auto s = dyn_cast<StringAttr>(attr))
    return json(s.getValue().str());
  if (auto a = dyn_cast<DenseI64ArrayAttr>(attr))
    return json(a.asArrayRef().vec());
  return failure();
}

json elementsJson(DenseElementsAttr dense) {
  auto toJson = [&](auto range) {
    json values = json::array();
    for (auto v : range)
      values.push_back(v);
    return values;
  };
  Type elementType = dense.getElementType();
  if (isa<FloatType>(elementType)) {
    if (dense.isSplat())
      return floatJson(dense.getSplatValue<APFloat>());
    json values = json::array();
    for (const APFloat &v : dense.getValues<APFloat>())
      values.push_back(floatJson(v));
    return values;
  }
  if (elementType.isInteger(1)) {
    if (dense.isSplat())
      return json(dense.getSplatValue<bool>());
    return toJson(dense.getValues<bool>());
  }
  if (dense.isSplat())
    return json(dense.getSplatValue<APInt>().getSExtValue());
  json values = json::array();
  for (const APInt &v : dense.getValues<APInt>())
    values.push_back(v.getSExtValue());
  return values;
}

/// Top-level fields one per line, arrays of objects (inputs, nodes, ...) one
/// element per line: diffable and still compact.
std::string formatGraph(const json &graph) {
  std::string out = "{\n";
  size_t field = 0;
  for (const auto &item : graph.items()) {
    out += field++ ? ",\n  " : "  ";
    out += json(item.key()).dump() + ": ";
    const json &value = item.value();
    if (!value.is_array() || value.empty() || !value[0].is_object()) {
      out += value.dump();
      continue;
    }
    out += "[\n";
    for (size_t i = 0; i < value.size(); ++i)
      out += "    " + value[i].dump() + (i + 1 < value.size() ? ",\n" : "\n");
    out += "  ]";
  }
  return out + "\n}\n";
}

class GraphExporter {
public:
  GraphExporter(ModuleOp module, StringRef jsonPath)
      : module_(module), jsonPath_(jsonPath.str()) {}
  LogicalResult run();

private:
  LogicalResult exportFunction(func::FuncOp function);
  LogicalResult exportTraining(func::FuncOp function, const json &inputs, const json &outputs,
                               json &fn);
  FailureOr<std::string> exportParameter(ube::ConstantOp op,
                                         DenseResourceElementsAttr resource);
  FailureOr<json> nodeJson(Operation *op, const std::string &name,
                           const llvm::DenseMap<Value, std::string> &names);
  std::string uniqueName(const std::string &preferred, StringRef function);
  DictionaryAttr defaultAttributes(OperationName name);

  ModuleOp module_;
  std::string jsonPath_;
  json inputs_ = json::array();
  json symbols_ = json::object(); ///< The functions' `ube.symbols`, as `dims`.
  json parameters_ = json::array();
  json nodes_ = json::array();
  json functions_ = json::array();
  llvm::StringMap<RankedTensorType> inputTypes_;
  llvm::StringMap<size_t> nodeIndex_; ///< Node name -> index into nodes_.
  llvm::StringSet<llvm::MallocAllocator> usedNames_;
  llvm::DenseMap<OperationName, DictionaryAttr> defaults_;
  SafetensorsWriter weights_;
};

std::string GraphExporter::uniqueName(const std::string &preferred,
                                      StringRef function) {
  std::string name = preferred;
  if (usedNames_.contains(name))
    name = (function + "." + preferred).str();
  for (int suffix = 1; usedNames_.contains(name); ++suffix)
    name = (function + "." + preferred + "_" + Twine(suffix)).str();
  usedNames_.insert(name);
  return name;
}

/// The inherent attributes an op of this kind gets when none are given (ODS
/// defaults), read off an empty instance.
DictionaryAttr GraphExporter::defaultAttributes(OperationName name) {
  auto [it, inserted] = defaults_.try_emplace(name);
  if (inserted) {
    Operation *empty = Operation::create(module_.getLoc(), name, {}, {},
                                         NamedAttrList(), nullptr, {}, 0);
    it->second = dyn_cast_if_present<DictionaryAttr>(empty->getPropertiesAsAttribute());
    empty->destroy();
  }
  return it->second;
}

FailureOr<std::string> GraphExporter::exportParameter(ube::ConstantOp op,
                                                      DenseResourceElementsAttr resource) {
  std::string name = resource.getRawHandle().getKey().str();
  if (usedNames_.contains(name))
    return name; // Shared by several functions.
  usedNames_.insert(name);
  auto type = cast<RankedTensorType>(resource.getType());
  AsmResourceBlob *blob = resource.getRawHandle().getBlob();
  if (!blob)
    return op.emitOpError("parameter '") << name << "' has no data to export";
  std::optional<DType> dtype = toDType(type.getElementType());
  std::string error;
  if (!dtype || !weights_.add(name, *dtype, type.getShape().vec(),
                              blob->getData().data(), blob->getData().size(), error))
    return op.emitOpError("cannot export parameter '") << name << "': " << error;
  parameters_.push_back({{"name", name},
                         {"dtype", dtypeName(*dtype)},
                         {"shape", shapeJson(type)}});
  return name;
}

FailureOr<json> GraphExporter::nodeJson(Operation *op, const std::string &name,
                                        const llvm::DenseMap<Value, std::string> &names) {
  if (op->getNumResults() != 1 || op->getNumRegions() != 0)
    return op->emitOpError("cannot be exported: graph files hold single-result "
                           "ops without regions");
  auto type = dyn_cast<RankedTensorType>(op->getResult(0).getType());
  std::optional<DType> dtype = type ? toDType(type.getElementType()) : std::nullopt;
  if (!dtype)
    return op->emitOpError("result type ")
           << op->getResult(0).getType() << " has no graph-file dtype";
  json node = {{"name", name}, {"op", op->getName().stripDialect().str()}};
  if (auto constant = dyn_cast<ube::ConstantOp>(op)) {
    auto dense = dyn_cast<DenseElementsAttr>(constant.getValue());
    if (!dense)
      return op->emitOpError("constant of this kind cannot be exported");
    node["value"] = elementsJson(dense);
  } else {
    json inputs = json::array();
    for (Value operand : op->getOperands())
      if (!operand.getType().isIndex()) // symbolic sizes go in the node's shape
        inputs.push_back(names.lookup(operand));
    node["inputs"] = std::move(inputs);
    // Inherent attributes that differ from their defaults.
    auto attrs = dyn_cast_if_present<DictionaryAttr>(op->getPropertiesAsAttribute());
    DictionaryAttr defaults = defaultAttributes(op->getName());
    json attrJson = json::object();
    StringRef segmentsName = OpTrait::AttrSizedOperandSegments<void>::getOperandSegmentSizeAttr();
    for (NamedAttribute attr : attrs ? attrs.getValue() : ArrayRef<NamedAttribute>{}) {
      if (defaults && defaults.get(attr.getName()) == attr.getValue())
        continue;
      if (attr.getName() == segmentsName && isa<ube::PadOp>(op))
        continue; // (its amounts go in `low` and `high`)
      if (attr.getName() == segmentsName) {
        // Graph files fill optional operands in order: a present one after
        // an absent one has no spelling.
        ArrayRef<int32_t> segments = cast<DenseI32ArrayAttr>(attr.getValue()).asArrayRef();
        if (llvm::is_contained(
                segments.drop_front(llvm::find(segments, 0) - segments.begin()), 1))
          return op->emitOpError("cannot be exported: an optional operand follows an absent "
                                 "one, and graph files fill optional operands in order");
        continue;
      }
      auto value = attributeJson(attr.getValue());
      if (failed(value))
        return op->emitOpError("attribute '")
               << attr.getName().getValue() << "' cannot be written to a graph file";
      attrJson[attr.getName().str()] = *value;
    }
    // A slice's runtime limits, an input gradient's runtime sizes, a pad's
    // runtime amounts (the entries equal to `marker`): the symbols, or size
    // expressions of them, they are.
    auto runtimeSizes = [&](StringRef key, ArrayRef<int64_t> values, ValueRange runtime,
                            int64_t marker = -1) -> LogicalResult {
      if (runtime.empty())
        return success();
      json sizes = json::array();
      auto next = runtime.begin();
      for (int64_t value : values) {
        if (value != marker) {
          sizes.push_back(value);
          continue;
        }
        std::string symbol = names.lookup(*next++);
        if (symbol.empty())
          return op->emitOpError("cannot be exported: a runtime size that is not computed "
                                 "from the inputs' symbolic sizes");
        sizes.push_back(symbol);
      }
      attrJson[key.str()] = std::move(sizes);
      return success();
    };
    LogicalResult written = success();
    if (auto slice = dyn_cast<ube::SliceOp>(op))
      written = runtimeSizes("limit", slice.getLimit(), slice.getLimits());
    else if (auto grad = dyn_cast<ube::ConvInputGradOp>(op))
      written = runtimeSizes("input_spatial", grad.getInputSpatial(), grad.getInputSizes());
    else if (auto grad = dyn_cast<ube::AvgPoolGradOp>(op))
      written = runtimeSizes("input_spatial", grad.getInputSpatial(), grad.getInputSizes());
    else if (auto pad = dyn_cast<ube::PadOp>(op)) {
      written = runtimeSizes("low", pad.getLow(), pad.getLowAmounts(), ShapedType::kDynamic);
      if (succeeded(written))
        written = runtimeSizes("high", pad.getHigh(), pad.getHighAmounts(), ShapedType::kDynamic);
    }
    if (failed(written))
      return failure();
    if (!attrJson.empty())
      node["attrs"] = std::move(attrJson);
  }
  node["dtype"] = dtypeName(*dtype);
  // A symbolic result's shape is the op's to infer; the file need not say it,
  // except a reshape's or broadcast's, whose symbolic sizes are the symbols
  // it names.
  ValueRange givenSizes;
  if (auto reshape = dyn_cast<ube::ReshapeOp>(op))
    givenSizes = reshape.getSizes();
  else if (auto broadcast = dyn_cast<ube::BroadcastToOp>(op))
    givenSizes = broadcast.getSizes();
  else if (auto arange = dyn_cast<ube::ArangeOp>(op))
    givenSizes = arange.getSizes();
  if (type.hasStaticShape()) {
    node["shape"] = shapeJson(type);
  } else if (!givenSizes.empty()) {
    SmallVector<Attribute> symbols;
    for (Value size : givenSizes) {
      std::string symbol = names.lookup(size);
      if (symbol.empty())
        return op->emitOpError("cannot be exported: a symbolic size that is not an input's");
      symbols.push_back(StringAttr::get(op->getContext(), symbol));
    }
    node["shape"] = shapeJson(type, ArrayAttr::get(op->getContext(), symbols));
  }
  return node;
}

LogicalResult GraphExporter::exportFunction(func::FuncOp function) {
  if (function.isExternal() || !function.getBody().hasOneBlock())
    return function.emitOpError("cannot be exported: graph files hold "
                                "single-block function bodies");
  if (auto symbols = function->getAttrOfType<ArrayAttr>(
          ube::UbeDialect::SymbolsAttrHelper::getNameStr())) {
    // Derived symbols: those inputs name with their sizes ("(len - 1) // 2
    // + 1"); the results' the importer derives again.
    llvm::StringSet<> inputSymbols;
    for (unsigned i = 0; i < function.getNumArguments(); ++i)
      if (auto dims = function.getArgAttrOfType<ArrayAttr>(
              i, ube::UbeDialect::DimsAttrHelper::getNameStr()))
        for (auto name : dims.getAsRange<StringAttr>())
          inputSymbols.insert(name.getValue());
    std::vector<std::string> names;
    for (auto symbol : symbols.getAsRange<ube::DimSymbolAttr>())
      names.push_back(symbol.getName().str());
    for (auto symbol : symbols.getAsRange<ube::DimSymbolAttr>()) {
      if (symbol.isDerived() && !inputSymbols.contains(symbol.getName()))
        continue;
      json bounds = json::object();
      if (symbol.isDerived()) {
        FailureOr<std::vector<PlanExpr>> size = ube::sizeExprsFromAttr(symbol.getSize());
        if (failed(size) || size->empty())
          return function.emitOpError("cannot be exported: symbol '")
                 << symbol.getName() << "' has no size";
        bounds["size"] = planExprString(*size, names);
      }
      if (symbol.getMin() != 1)
        bounds["min"] = symbol.getMin();
      if (symbol.getMax())
        bounds["max"] = symbol.getMax();
      if (symbol.getMultipleOf() != 1)
        bounds["multiple_of"] = symbol.getMultipleOf();
      std::string key = symbol.getName().str();
      if (symbols_.contains(key) && symbols_[key] != bounds)
        return function.emitOpError("symbol '")
               << key << "' has other bounds here than in another function";
      symbols_[key] = std::move(bounds);
    }
  }
  llvm::DenseMap<Value, std::string> names;
  json fnInputs = json::array();
  for (BlockArgument arg : function.getArguments()) {
    auto nameAttr = function.getArgAttrOfType<StringAttr>(arg.getArgNumber(), ube::UbeDialect::NameAttrHelper::getNameStr());
    std::string name = nameAttr ? nameAttr.str() : "input" + std::to_string(arg.getArgNumber());
    auto type = dyn_cast<RankedTensorType>(arg.getType());
    if (!type || !toDType(type.getElementType()))
      return function.emitOpError("argument ") << name << " has type " << arg.getType()
                                               << ", which graph files cannot hold";
    auto dims = function.getArgAttrOfType<ArrayAttr>(
        arg.getArgNumber(), ube::UbeDialect::DimsAttrHelper::getNameStr());
    if (!type.hasStaticShape() &&
        (!dims || dims.size() != static_cast<size_t>(type.getNumDynamicDims())))
      return function.emitOpError("argument ")
             << name << " has dynamic dimensions that no 'ube.dims' symbols name";
    auto [it, inserted] = inputTypes_.try_emplace(name, type);
    if (inserted) {
      usedNames_.insert(name);
      inputs_.push_back({{"name", name},
                         {"dtype", dtypeName(*toDType(type.getElementType()))},
                         {"shape", shapeJson(type, dims)}});
    } else if (it->second != type) {
      return function.emitOpError("input '")
             << name << "' has type " << type << " here but " << it->second
             << " in another function";
    }
    names[arg] = name;
    fnInputs.push_back(name);
  }
  json fnOutputs = json::array();
  for (Operation &op : function.getBody().front()) {
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (Value v : ret.getOperands())
        fnOutputs.push_back(names.lookup(v));
      continue;
    }
    if (auto constant = dyn_cast<ube::ConstantOp>(op)) {
      if (auto resource = dyn_cast<DenseResourceElementsAttr>(constant.getValue())) {
        auto name = exportParameter(constant, resource);
        if (failed(name))
          return failure();
        names[constant.getResult()] = *name;
        continue;
      }
    }
    // The dimension indices of the tensor.dim ops below.
    if (isa<arith::ConstantIndexOp>(op))
      continue;
    // A product of symbols' sizes (a reshape merging them), and of integers:
    // "batch*seq", "4*batch".
    if (auto mul = dyn_cast<arith::MulIOp>(op)) {
      auto factor = [&](Value v) {
        if (auto c = v.getDefiningOp<arith::ConstantIndexOp>(); c && c.value() > 0)
          return std::to_string(c.value());
        return names.lookup(v);
      };
      std::string lhs = factor(mul.getLhs()), rhs = factor(mul.getRhs());
      if (lhs.empty() || rhs.empty())
        return op.emitOpError("cannot be exported: only products of inputs' symbolic sizes "
                              "and integers are");
      names[mul.getResult()] = lhs + "*" + rhs;
      continue;
    }
    // Other arithmetic on sizes (a pad's amounts): a size expression.
    if (isa<arith::AddIOp, arith::SubIOp, arith::FloorDivSIOp, arith::CeilDivSIOp,
            arith::RemSIOp, arith::MaxSIOp, arith::MinSIOp>(op)) {
      // (Parenthesized unless a symbol or a number that is not negative.)
      auto operand = [&](Value v) {
        std::string text = names.lookup(v);
        if (auto c = v.getDefiningOp<arith::ConstantIndexOp>())
          text = std::to_string(c.value());
        bool atom = llvm::all_of(text, [](char ch) { return llvm::isAlnum(ch) || ch == '_'; });
        return text.empty() || atom ? text : "(" + text + ")";
      };
      std::string lhs = operand(op.getOperand(0)), rhs = operand(op.getOperand(1));
      if (lhs.empty() || rhs.empty())
        return op.emitOpError("cannot be exported: a size computed from other than the "
                              "inputs' symbolic sizes");
      std::string text =
          llvm::TypeSwitch<Operation *, std::string>(&op)
              .Case([&](arith::AddIOp) { return lhs + " + " + rhs; })
              .Case([&](arith::SubIOp) { return lhs + " - " + rhs; })
              .Case([&](arith::FloorDivSIOp) { return lhs + " // " + rhs; })
              .Case([&](arith::RemSIOp) { return lhs + " % " + rhs; })
              .Case([&](arith::CeilDivSIOp) { return "ceildiv(" + lhs + ", " + rhs + ")"; })
              .Case([&](arith::MaxSIOp) { return "max(" + lhs + ", " + rhs + ")"; })
              .Default([&](Operation *) { return "min(" + lhs + ", " + rhs + ")"; });
      names[op.getResult(0)] = text;
      continue;
    }
    // A symbol's size, read from the input dimension it names (for a
    // reshape to symbolic sizes): the file writes the symbol's name.
    if (auto dim = dyn_cast<tensor::DimOp>(op)) {
      auto arg = dyn_cast<BlockArgument>(dim.getSource());
      std::optional<int64_t> index = dim.getConstantIndex();
      auto dims = arg ? function.getArgAttrOfType<ArrayAttr>(
                            arg.getArgNumber(), ube::UbeDialect::DimsAttrHelper::getNameStr())
                      : ArrayAttr();
      auto type = arg ? dyn_cast<RankedTensorType>(arg.getType()) : RankedTensorType();
      if (!dims || !index || !type || !type.isDynamicDim(*index))
        return op.emitOpError("cannot be exported: only the symbolic sizes of inputs are");
      names[dim.getResult()] =
          cast<StringAttr>(dims[type.getDynamicDimIndex(*index)]).str();
      continue;
    }
    if (!isa<ube::UbeDialect>(op.getDialect()))
      return op.emitOpError("cannot be exported: graph files hold ube ops only");
    std::string preferred = nodeNameOf(op.getLoc());
    if (preferred.empty())
      preferred = op.getName().stripDialect().str();
    // A node that another function already exported identically is shared.
    if (auto it = nodeIndex_.find(preferred); it != nodeIndex_.end()) {
      auto node = nodeJson(&op, preferred, names);
      if (failed(node))
        return failure();
      if (*node == nodes_[it->second]) {
        names[op.getResult(0)] = preferred;
        continue;
      }
    }
    std::string name = uniqueName(preferred, function.getName());
    auto node = nodeJson(&op, name, names);
    if (failed(node))
      return failure();
    nodeIndex_[name] = nodes_.size();
    nodes_.push_back(std::move(*node));
    names[op.getResult(0)] = name;
  }
  json fn = {{"name", function.getName().str()}, {"inputs", fnInputs}, {"outputs", fnOutputs}};
  if (failed(exportTraining(function, fnInputs, fnOutputs, fn)))
    return failure();
  functions_.push_back(std::move(fn));
  return success();
}

LogicalResult GraphExporter::exportTraining(func::FuncOp function, const json &inputs,
                                            const json &outputs, json &fn) {
  // The importer's ube.gradient / ube.train, back to graph-format names.
  auto loss = [&](DictionaryAttr spec) -> FailureOr<json> {
    auto index = spec.getAs<IntegerAttr>("loss");
    if (!index || index.getInt() < 0 || index.getInt() >= int64_t(outputs.size()))
      return function.emitOpError("has a malformed training attribute ") << spec;
    return outputs[index.getInt()];
  };
  auto names = [&](DictionaryAttr spec, StringRef key) -> FailureOr<json> {
    auto indices = spec.getAs<DenseI64ArrayAttr>(key);
    if (!indices)
      return function.emitOpError("has a malformed training attribute ") << spec;
    json list = json::array();
    for (int64_t i : indices.asArrayRef()) {
      if (i < 0 || i >= int64_t(inputs.size()))
        return function.emitOpError("has a malformed training attribute ") << spec;
      list.push_back(inputs[i]);
    }
    return list;
  };
  if (auto spec = function->getAttrOfType<DictionaryAttr>(ube::UbeDialect::GradientAttrHelper::getNameStr())) {
    auto l = loss(spec);
    auto wrt = names(spec, "wrt");
    if (failed(l) || failed(wrt))
      return failure();
    fn["gradient"] = {{"loss", *l}, {"wrt", *wrt}};
  }
  if (auto spec = function->getAttrOfType<DictionaryAttr>(ube::UbeDialect::TrainAttrHelper::getNameStr())) {
    // The loss, or the gradients given as inputs (an update step).
    bool given = spec.contains("gradients");
    auto l = given ? names(spec, "gradients") : loss(spec);
    auto params = names(spec, "params");
    auto kind = spec.getAs<StringAttr>("optimizer");
    if (failed(l) || failed(params) || !kind)
      return function.emitOpError("has a malformed training attribute ") << spec;
    json optimizer = {{"kind", kind.str()}};
    for (NamedAttribute entry : spec) {
      if (auto input = dyn_cast<IntegerAttr>(entry.getValue()); input && entry.getName() == "lr") {
        if (input.getInt() < 0 || input.getInt() >= int64_t(inputs.size()))
          return function.emitOpError("has a malformed training attribute ") << spec;
        optimizer["lr"] = inputs[input.getInt()];
      } else if (auto number = dyn_cast<FloatAttr>(entry.getValue()))
        optimizer[entry.getName().str()] = number.getValueAsDouble();
      else if (auto flag = dyn_cast<BoolAttr>(entry.getValue()); flag && kind == "sgd")
        optimizer[entry.getName().str()] = flag.getValue();
    }
    fn["train"] = {{given ? "gradients" : "loss", *l},
                   {"params", *params},
                   {"optimizer", std::move(optimizer)}};
  }
  return success();
}

LogicalResult GraphExporter::run() {
  for (Operation &op : module_.getBody()->getOperations()) {
    auto function = dyn_cast<func::FuncOp>(op);
    if (!function)
      return op.emitOpError("cannot be exported: graph files hold functions only");
    if (failed(exportFunction(function)))
      return failure();
  }
  // Version 1 holds every graph without symbols, and older builds read it.
  json graph = {{"format", "ube.graph"}, {"version", symbols_.empty() ? 1 : kGraphFormatVersion}};
  if (!symbols_.empty())
    graph["dims"] = symbols_;
  if (std::optional<StringRef> name = module_.getSymName())
    graph["name"] = name->str();
  SmallString<256> weightsPath(jsonPath_);
  llvm::sys::path::replace_extension(weightsPath, "safetensors");
  if (!weights_.empty())
    graph["weights"] = llvm::sys::path::filename(weightsPath).str();
  graph["inputs"] = inputs_;
  if (!parameters_.empty())
    graph["parameters"] = parameters_;
  graph["nodes"] = nodes_;
  // One "main" over every input in order is the default and needs no list.
  if (functions_.size() == 1 && functions_[0]["name"] == "main" &&
      functions_[0]["inputs"].size() == inputs_.size() && !functions_[0].contains("gradient") &&
      !functions_[0].contains("train")) {
    bool inOrder = true;
    for (size_t i = 0; i < inputs_.size(); ++i)
      inOrder &= functions_[0]["inputs"][i] == inputs_[i]["name"];
    if (inOrder)
      graph["outputs"] = functions_[0]["outputs"];
    else
      graph["functions"] = functions_;
  } else {
    graph["functions"] = functions_;
  }

  std::string error;
  if (!weights_.empty() && !weights_.write(weightsPath.str().str(), error))
    return emitError(module_.getLoc()) << error;
  std::error_code ec;
  llvm::raw_fd_ostream out(jsonPath_, ec);
  if (ec)
    return emitError(module_.getLoc())
           << "cannot write " << jsonPath_ << ": " << ec.message();
  out << formatGraph(graph);
  return success();
}

} // namespace

LogicalResult exportGraph(ModuleOp module, StringRef jsonPath) {
  return GraphExporter(module, jsonPath).run();
}

} // namespace ube
