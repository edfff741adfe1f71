//===- PlanExpr.cpp - sizes computed from an entry point's symbols ---------===//

#include "PlanExprJson.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <iterator>

namespace ube {
namespace {

/// The operations by their names in JSON (the arith ops').
constexpr std::pair<PlanExpr::Op, const char *> kExprNames[] = {
    {PlanExpr::Constant, "const"},   {PlanExpr::Symbol, "symbol"},
    {PlanExpr::AddI, "addi"},        {PlanExpr::SubI, "subi"},
    {PlanExpr::MulI, "muli"},        {PlanExpr::DivSI, "divsi"},
    {PlanExpr::DivUI, "divui"},      {PlanExpr::FloorDivSI, "floordivsi"},
    {PlanExpr::CeilDivSI, "ceildivsi"}, {PlanExpr::CeilDivUI, "ceildivui"},
    {PlanExpr::RemSI, "remsi"},      {PlanExpr::RemUI, "remui"},
    {PlanExpr::MaxSI, "maxsi"},      {PlanExpr::MinSI, "minsi"},
    {PlanExpr::MaxUI, "maxui"},      {PlanExpr::MinUI, "minui"},
};

bool isLeaf(PlanExpr::Op op) { return op == PlanExpr::Constant || op == PlanExpr::Symbol; }

} // namespace

const char *planExprName(PlanExpr::Op op) {
  for (auto [known, name] : kExprNames)
    if (known == op)
      return name;
  return "?";
}

std::optional<PlanExpr::Op> planExprOp(std::string_view name) {
  for (auto [op, known] : kExprNames)
    if (name == known)
      return op;
  return std::nullopt;
}

std::optional<int64_t> evaluatePlanOp(PlanExpr::Op op, int64_t a, int64_t b) {
  uint64_t ua = uint64_t(a), ub = uint64_t(b);
  int64_t out = 0;
  switch (op) {
  case PlanExpr::Constant:
  case PlanExpr::Symbol:
    return std::nullopt; // leaves, not operations
  case PlanExpr::AddI:
    return __builtin_add_overflow(a, b, &out) ? std::nullopt : std::optional(out);
  case PlanExpr::SubI:
    return __builtin_sub_overflow(a, b, &out) ? std::nullopt : std::optional(out);
  case PlanExpr::MulI:
    return __builtin_mul_overflow(a, b, &out) ? std::nullopt : std::optional(out);
  case PlanExpr::MaxSI:
    return std::max(a, b);
  case PlanExpr::MinSI:
    return std::min(a, b);
  case PlanExpr::MaxUI:
    return int64_t(std::max(ua, ub));
  case PlanExpr::MinUI:
    return int64_t(std::min(ua, ub));
  case PlanExpr::DivUI:
    return b ? std::optional(int64_t(ua / ub)) : std::nullopt;
  case PlanExpr::RemUI:
    return b ? std::optional(int64_t(ua % ub)) : std::nullopt;
  case PlanExpr::CeilDivUI:
    return b ? std::optional(int64_t(ua / ub + (ua % ub != 0))) : std::nullopt;
  default:
    break;
  }
  // Signed divisions: by zero, or INT64_MIN by -1, have no value.
  if (b == 0 || (a == INT64_MIN && b == -1))
    return std::nullopt;
  int64_t q = a / b, r = a % b;
  switch (op) {
  case PlanExpr::DivSI:
    return q;
  case PlanExpr::RemSI:
    return r;
  case PlanExpr::FloorDivSI:
    return q - (r != 0 && (r < 0) != (b < 0));
  default: // CeilDivSI
    return q + (r != 0 && (r < 0) == (b < 0));
  }
}

bool evaluatePlanExprs(const std::vector<PlanExpr> &exprs, const std::vector<int64_t> &symbols,
                       std::vector<int64_t> &values, std::string &error) {
  values.assign(exprs.size(), 0);
  for (size_t i = 0; i < exprs.size(); ++i) {
    const PlanExpr &e = exprs[i];
    if (e.op == PlanExpr::Constant) {
      values[i] = e.value;
    } else if (e.op == PlanExpr::Symbol) {
      if (e.value < 0 || size_t(e.value) >= symbols.size()) {
        error = "expression " + std::to_string(i) + " names symbol " +
                std::to_string(e.value) + " of " + std::to_string(symbols.size());
        return false;
      }
      values[i] = symbols[size_t(e.value)];
    } else if (e.lhs >= i || e.rhs >= i) {
      error = "expression " + std::to_string(i) + " reads no earlier expression";
      return false;
    } else if (std::optional<int64_t> v = evaluatePlanOp(e.op, values[e.lhs], values[e.rhs])) {
      values[i] = *v;
    } else {
      error = "overflow or division by zero in expression " + std::to_string(i);
      return false;
    }
  }
  return true;
}

std::string planExprString(const std::vector<PlanExpr> &exprs,
                           const std::vector<std::string> &symbols) {
  // Each node's text and its precedence: 1 a sum, 2 a product, 3 an atom
  // (a leaf or a call); an operand is parenthesized only where Python
  // would need it.
  std::vector<std::string> text;
  std::vector<int> precedence;
  for (const PlanExpr &e : exprs) {
    if (e.op == PlanExpr::Constant) {
      text.push_back(std::to_string(e.value));
      precedence.push_back(e.value < 0 ? 1 : 3);
      continue;
    }
    if (e.op == PlanExpr::Symbol) {
      text.push_back(e.value >= 0 && size_t(e.value) < symbols.size() ? symbols[e.value]
                                                                      : "?");
      precedence.push_back(3);
      continue;
    }
    bool known = e.lhs < text.size() && e.rhs < text.size();
    const std::string &a = known ? text[e.lhs] : "?";
    const std::string &b = known ? text[e.rhs] : "?";
    int pa = known ? precedence[e.lhs] : 3, pb = known ? precedence[e.rhs] : 3;
    // Shared operands repeat in the text: past a line, a deep expression
    // (a CNN's layers of windows) is given by its size instead.
    if (a.size() + b.size() > 240) {
      text.push_back(std::string(241, ' '));
      precedence.push_back(3);
      continue;
    }
    auto wrap = [](const std::string &t, bool needed) { return needed ? "(" + t + ")" : t; };
    auto infix = [&](const char *op, int level, bool leftAssociative) {
      text.push_back(wrap(a, pa < level) + " " + op + " " +
                     wrap(b, leftAssociative ? pb <= level : pb < level));
      precedence.push_back(level);
    };
    bool negative = known && exprs[e.rhs].op == PlanExpr::Constant && exprs[e.rhs].value < 0;
    switch (e.op) {
    case PlanExpr::AddI:
      if (negative) {
        text.push_back(a + " - " + std::to_string(-exprs[e.rhs].value));
        precedence.push_back(1);
      } else {
        infix("+", 1, false);
      }
      break;
    case PlanExpr::SubI: infix("-", 1, true); break;
    case PlanExpr::MulI: infix("*", 2, true); break; // (a * (b // c) is not a * b // c)
    case PlanExpr::FloorDivSI: infix("//", 2, true); break;
    case PlanExpr::DivSI: case PlanExpr::DivUI: infix("/", 2, true); break;
    case PlanExpr::RemSI: case PlanExpr::RemUI: infix("%", 2, true); break;
    default: // ceildiv, min, max as calls
      text.push_back(std::string(e.op == PlanExpr::MinSI || e.op == PlanExpr::MinUI   ? "min"
                                 : e.op == PlanExpr::MaxSI || e.op == PlanExpr::MaxUI ? "max"
                                                                                    : "ceildiv") +
                     "(" + a + ", " + b + ")");
      precedence.push_back(3);
    }
  }
  if (text.empty())
    return "";
  if (text.back().size() > 240)
    return "an expression of " + std::to_string(exprs.size()) + " operations";
  return text.back();
}

namespace {
/// Recursive descent over planExprString's grammar:
///   sum     := product (("+" | "-") product)*
///   product := unary (("*" | "//" | "%") unary)*
///   unary   := "-" unary | atom
///   atom    := integer | name | name "(" sum "," sum ")" | "(" sum ")"
class PlanExprParser {
public:
  PlanExprParser(std::string_view text,
                 const std::function<std::optional<int64_t>(std::string_view)> &symbolIndex,
                 std::vector<PlanExpr> &exprs)
      : text_(text), symbolIndex_(symbolIndex), exprs_(exprs) {}

  bool parse(std::string &error) {
    std::optional<uint32_t> root = sum();
    skipSpace();
    if (root && at_ != text_.size())
      fail("unexpected '" + std::string(1, text_[at_]) + "'");
    if (!error_.empty()) {
      error = error_ + " at column " + std::to_string(errorAt_ + 1) + " of '" +
              std::string(text_) + "'";
      return false;
    }
    return true; // (every node follows its operands: the root is last)
  }

private:
  std::optional<uint32_t> fail(std::string what) {
    if (error_.empty()) {
      error_ = std::move(what);
      errorAt_ = at_;
    }
    return std::nullopt;
  }
  void skipSpace() {
    while (at_ < text_.size() && text_[at_] == ' ')
      ++at_;
  }
  /// Whether `token` is next (then past it, with `consume`).
  bool take(std::string_view token, bool consume = true) {
    skipSpace();
    if (text_.substr(at_, token.size()) != token)
      return false;
    if (consume)
      at_ += token.size();
    return true;
  }
  uint32_t push(PlanExpr e) {
    exprs_.push_back(e);
    return uint32_t(exprs_.size() - 1);
  }
  uint32_t constant(int64_t v) { return push({PlanExpr::Constant, v}); }
  uint32_t binary(PlanExpr::Op op, uint32_t a, uint32_t b) { return push({op, 0, a, b}); }

  std::optional<uint32_t> sum() {
    std::optional<uint32_t> lhs = product();
    while (lhs) {
      PlanExpr::Op op;
      if (take("+"))
        op = PlanExpr::AddI;
      else if (take("-"))
        op = PlanExpr::SubI;
      else
        break;
      std::optional<uint32_t> rhs = product();
      if (!rhs)
        return std::nullopt;
      lhs = binary(op, *lhs, *rhs);
    }
    return lhs;
  }
  std::optional<uint32_t> product() {
    std::optional<uint32_t> lhs = unary();
    while (lhs) {
      PlanExpr::Op op;
      if (take("//"))
        op = PlanExpr::FloorDivSI;
      else if (take("*"))
        op = PlanExpr::MulI;
      else if (take("%"))
        op = PlanExpr::RemSI;
      else if (take("/", /*consume=*/false))
        return fail("'/' is ambiguous for sizes: write '//' (floor) or ceildiv(a, b)");
      else
        break;
      std::optional<uint32_t> rhs = unary();
      if (!rhs)
        return std::nullopt;
      lhs = binary(op, *lhs, *rhs);
    }
    return lhs;
  }
  std::optional<uint32_t> unary() {
    if (take("-")) {
      std::optional<uint32_t> operand = unary();
      if (!operand)
        return std::nullopt;
      return binary(PlanExpr::SubI, constant(0), *operand);
    }
    return atom();
  }
  std::optional<uint32_t> atom() {
    skipSpace();
    if (take("(")) {
      std::optional<uint32_t> inner = sum();
      if (inner && !take(")"))
        return fail("expected ')'");
      return inner;
    }
    if (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_]))) {
      int64_t value = 0;
      while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_]))) {
        if (value > (INT64_MAX - 9) / 10)
          return fail("integer too large");
        value = value * 10 + (text_[at_++] - '0');
      }
      return constant(value);
    }
    size_t begin = at_;
    while (at_ < text_.size() &&
           (std::isalnum(static_cast<unsigned char>(text_[at_])) || text_[at_] == '_'))
      ++at_;
    if (begin == at_)
      return fail(at_ < text_.size() ? "unexpected '" + std::string(1, text_[at_]) + "'"
                                     : "unexpected end");
    std::string_view name = text_.substr(begin, at_ - begin);
    if (take("(")) {
      std::optional<PlanExpr::Op> op = name == "min"       ? PlanExpr::MinSI
                                       : name == "max"     ? PlanExpr::MaxSI
                                       : name == "ceildiv" ? PlanExpr::CeilDivSI
                                                           : std::optional<PlanExpr::Op>();
      if (!op) {
        at_ = begin;
        return fail("unknown function '" + std::string(name) + "' (min, max, ceildiv)");
      }
      std::optional<uint32_t> a = sum();
      if (a && !take(","))
        return fail("expected ','");
      std::optional<uint32_t> b = a ? sum() : std::nullopt;
      if (b && !take(")"))
        return fail("expected ')'");
      return b ? std::optional<uint32_t>(binary(*op, *a, *b)) : std::nullopt;
    }
    std::optional<int64_t> index = symbolIndex_(name);
    if (!index) {
      at_ = begin;
      return fail("'" + std::string(name) + "' is not a symbol it may name");
    }
    return push({PlanExpr::Symbol, *index});
  }

  std::string_view text_;
  const std::function<std::optional<int64_t>(std::string_view)> &symbolIndex_;
  std::vector<PlanExpr> &exprs_;
  size_t at_ = 0;
  std::string error_;
  size_t errorAt_ = 0;
};
} // namespace

bool parsePlanExprString(std::string_view text,
                         const std::function<std::optional<int64_t>(std::string_view)> &symbolIndex,
                         std::vector<PlanExpr> &exprs, std::string &error) {
  std::vector<PlanExpr> parsed;
  if (!PlanExprParser(text, symbolIndex, parsed).parse(error))
    return false;
  appendPlanExprs(exprs, parsed);
  return true;
}

uint32_t appendPlanExprs(std::vector<PlanExpr> &exprs, const std::vector<PlanExpr> &other) {
  uint32_t base = uint32_t(exprs.size());
  for (PlanExpr e : other) {
    if (!isLeaf(e.op)) {
      e.lhs += base;
      e.rhs += base;
    }
    exprs.push_back(e);
  }
  return uint32_t(exprs.size()) - 1;
}

nlohmann::ordered_json planExprsToJson(const std::vector<PlanExpr> &exprs) {
  auto list = nlohmann::ordered_json::array();
  for (const PlanExpr &e : exprs) {
    if (isLeaf(e.op))
      list.push_back({planExprName(e.op), e.value});
    else
      list.push_back({planExprName(e.op), e.lhs, e.rhs});
  }
  return list;
}

bool planExprsFromJson(const nlohmann::ordered_json &list, size_t symbolCount,
                       std::vector<PlanExpr> &exprs, std::string &error) {
  if (!list.is_array()) {
    error = "expressions that are not a list";
    return false;
  }
  exprs.clear();
  for (const auto &e : list) {
    std::string index = std::to_string(exprs.size());
    if (!e.is_array() || e.empty() || !e[0].is_string()) {
      error = "bad expression " + index;
      return false;
    }
    std::optional<PlanExpr::Op> op = planExprOp(e[0].get_ref<const std::string &>());
    if (!op) {
      error = "unknown expression '" + e[0].get<std::string>() + "'";
      return false;
    }
    PlanExpr expr;
    expr.op = *op;
    if (isLeaf(*op)) {
      // A constant takes any integer, a symbol the index of one.
      if (e.size() != 2 || !e[1].is_number_integer() ||
          (*op == PlanExpr::Symbol &&
           (!e[1].is_number_unsigned() || e[1].get<uint64_t>() >= symbolCount))) {
        error = "bad expression " + index;
        return false;
      }
      expr.value = e[1].get<int64_t>();
    } else {
      for (size_t k : {1, 2})
        if (e.size() != 3 || !e[k].is_number_unsigned() || e[k].get<uint64_t>() >= exprs.size()) {
          error = "expression " + index + " reads no earlier expression";
          return false;
        }
      expr.lhs = e[1].get<uint32_t>();
      expr.rhs = e[2].get<uint32_t>();
    }
    exprs.push_back(expr);
  }
  return true;
}

} // namespace ube
