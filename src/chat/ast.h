#pragma once
// Syntax tree of a parsed template. Plain structs: the parser builds them, the interpreter walks
// them; nothing else is done with them.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/errors.h"
#include "chat/value.h"

namespace hearth::chat {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind {
    Literal,  // literal
    Name,     // name
    GetAttr,  // operands[0] . name
    GetItem,  // operands[0] [ operands[1] ]
    Slice,    // operands[0] [ operands[1] : operands[2] : operands[3] ]  (null = omitted)
    Call,     // operands[0] ( operands[1..] , keywords )
    Filter,   // operands[0] | name ( operands[1..], keywords )
    Test,     // operands[0] is [not] name ( operands[1..] )
    Unary,    // op operands[0]            op: "not", "-", "+"
    Binary,   // operands[0] op operands[1]  arithmetic, "~", "in", "not in", comparisons
    Compare,  // chained comparison: operands[0] op0 operands[1] op1 ... (ops in keywords)
    And,
    Or,
    Conditional,  // operands[1] if operands[0] else operands[2] (may be missing)
    List,
    Tuple,
    Dict,  // operands alternate key, value
};

struct Expr {
    ExprKind kind = ExprKind::Literal;
    SourcePos pos;
    Value literal;
    std::string name;  // Name, GetAttr attribute, Filter/Test name, operator spelling
    bool negated = false;
    std::vector<ExprPtr> operands;  // null entries allowed in Slice and Conditional
    std::vector<std::pair<std::string, ExprPtr>> keywords;
};

enum class StmtKind {
    Text,       // text
    Print,      // {{ expr }}
    If,         // branches (cond, body); else in else_body
    For,        // targets in expr [if filter] body [else else_body]
    Set,        // targets = expr, or ns.attr = expr (attribute non-empty)
    SetBlock,   // {% set name %}body{% endset %} with optional filters in `filters`
    Macro,      // name(params) body
    CallBlock,  // {% call(params) expr %}body{% endcall %}
    FilterBlock,
    Break,
    Continue,
    Generation,  // HF's {% generation %}: renders its body
};

struct Branch {
    ExprPtr condition;
    Body body;
};

struct Param {
    std::string name;
    ExprPtr default_value;  // null: required
};

struct Stmt {
    StmtKind kind = StmtKind::Text;
    SourcePos pos;
    std::string text;                  // Text content; Macro name
    ExprPtr expr;                      // Print, For iterable, Set value, CallBlock call
    ExprPtr filter;                    // For's inline `if`; SetBlock/FilterBlock filter chain
    std::vector<std::string> targets;  // For / Set names
    std::string attribute;             // Set ns.attribute
    std::vector<Branch> branches;
    Body body;
    Body else_body;
    std::vector<Param> params;
};

struct Template {
    Body body;
};

}  // namespace hearth::chat
