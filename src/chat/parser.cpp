#include "chat/parser.h"

#include <initializer_list>

#include "chat/builtins.h"
#include "chat/lexer.h"

namespace hearth::chat {
namespace {

// Deeper nesting than this is refused, so hostile input cannot overflow the stack.
constexpr int kMaxNesting = 200;

// Placeholder the interpreter binds to a block's rendered text before applying its filters.
constexpr const char* kBlockValueName = "\x01block";

class Parser {
  public:
    explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

    Template run() {
        Template tmpl;
        std::string end_tag = parse_body(tmpl.body, {});
        (void)end_tag;
        return tmpl;
    }

  private:
    std::vector<Token> tokens_;
    size_t pos_ = 0;
    int depth_ = 0;

    struct DepthGuard {
        Parser& parser;
        explicit DepthGuard(Parser& p, const Token& at) : parser(p) {
            if (++parser.depth_ > kMaxNesting) parser.fail(at, "template nested too deeply");
        }
        ~DepthGuard() { --parser.depth_; }
    };

    const Token& peek(size_t ahead = 0) const {
        size_t i = std::min(pos_ + ahead, tokens_.size() - 1);
        return tokens_[i];
    }
    const Token& next() {
        const Token& t = tokens_[pos_];
        if (pos_ + 1 < tokens_.size()) ++pos_;
        return t;
    }
    [[noreturn]] void fail(const Token& at, const std::string& message) const {
        throw JinjaError("syntax error", at.pos, message);
    }
    static std::string describe(const Token& t) {
        switch (t.type) {
            case TokenType::End:
                return "end of template";
            case TokenType::BlockEnd:
                return "end of statement block";
            case TokenType::VarEnd:
                return "end of print statement";
            case TokenType::Data:
                return "template data";
            default:
                return "'" + t.text + "'";
        }
    }
    bool is_op(const char* op, size_t ahead = 0) const {
        const Token& t = peek(ahead);
        return t.type == TokenType::Operator && t.text == op;
    }
    bool is_name(const char* name, size_t ahead = 0) const {
        const Token& t = peek(ahead);
        return t.type == TokenType::Name && t.text == name;
    }
    bool skip_op(const char* op) {
        if (!is_op(op)) return false;
        next();
        return true;
    }
    bool skip_name(const char* name) {
        if (!is_name(name)) return false;
        next();
        return true;
    }
    void expect_op(const char* op) {
        if (!skip_op(op))
            fail(peek(), std::string("expected '") + op + "', got " + describe(peek()));
    }
    std::string expect_name() {
        if (peek().type != TokenType::Name)
            fail(peek(), "expected a name, got " + describe(peek()));
        return next().text;
    }
    void expect_block_end() {
        if (peek().type != TokenType::BlockEnd) {
            fail(peek(), "expected end of statement block, got " + describe(peek()));
        }
        next();
    }

    // ---- statements ----------------------------------------------------------------------

    // Parses until one of `end_tags` opens a block ({% end_tag ... ) and returns that tag's name,
    // leaving the tokens after the name unread. With no end tags, parses to the end.
    std::string parse_body(Body& body, std::initializer_list<const char*> end_tags) {
        while (true) {
            const Token& t = peek();
            switch (t.type) {
                case TokenType::End:
                    if (end_tags.size() != 0) {
                        std::string expected;
                        for (const char* tag : end_tags) {
                            expected += expected.empty() ? "'" : " or '";
                            expected += std::string(tag) + "'";
                        }
                        fail(t, "unexpected end of template, expected " + expected);
                    }
                    return "";
                case TokenType::Data: {
                    auto stmt = std::make_unique<Stmt>();
                    stmt->kind = StmtKind::Text;
                    stmt->pos = t.pos;
                    stmt->text = next().text;
                    body.push_back(std::move(stmt));
                    break;
                }
                case TokenType::VarBegin: {
                    auto stmt = std::make_unique<Stmt>();
                    stmt->kind = StmtKind::Print;
                    stmt->pos = next().pos;
                    stmt->expr = parse_tuple_or_expression();
                    if (peek().type != TokenType::VarEnd) {
                        fail(peek(), "expected end of print statement, got " + describe(peek()));
                    }
                    next();
                    body.push_back(std::move(stmt));
                    break;
                }
                case TokenType::BlockBegin: {
                    next();
                    const Token& tag = peek();
                    if (tag.type != TokenType::Name)
                        fail(tag, "expected a tag name, got " + describe(tag));
                    for (const char* end : end_tags) {
                        if (tag.text == end) {
                            next();
                            return tag.text;
                        }
                    }
                    body.push_back(parse_statement());
                    break;
                }
                default:
                    fail(t, "unexpected " + describe(t));
            }
        }
    }

    StmtPtr parse_statement() {
        const Token& tag = next();
        DepthGuard guard(*this, tag);
        auto stmt = std::make_unique<Stmt>();
        stmt->pos = tag.pos;
        const std::string& name = tag.text;
        if (name == "if") {
            parse_if(*stmt);
        } else if (name == "for") {
            parse_for(*stmt);
        } else if (name == "set") {
            parse_set(*stmt);
        } else if (name == "macro") {
            parse_macro(*stmt);
        } else if (name == "call") {
            parse_call_block(*stmt);
        } else if (name == "filter") {
            stmt->kind = StmtKind::FilterBlock;
            stmt->filter = parse_filter_chain(tag);
            expect_block_end();
            parse_body(stmt->body, {"endfilter"});
            expect_block_end();
        } else if (name == "break" || name == "continue") {
            stmt->kind = name == "break" ? StmtKind::Break : StmtKind::Continue;
            expect_block_end();
        } else if (name == "generation") {
            stmt->kind = StmtKind::Generation;
            expect_block_end();
            parse_body(stmt->body, {"endgeneration"});
            expect_block_end();
        } else if (name == "include" || name == "import" || name == "from" || name == "extends") {
            fail(tag, "'" + name + "' is not allowed: chat templates cannot read other files");
        } else if (name.rfind("end", 0) == 0 || name == "else" || name == "elif") {
            fail(tag, "unexpected '" + name + "' (no open block to close)");
        } else {
            fail(tag, "unknown tag '" + name + "'");
        }
        return stmt;
    }

    void parse_if(Stmt& stmt) {
        stmt.kind = StmtKind::If;
        while (true) {
            Branch branch;
            branch.condition = parse_tuple_or_expression();
            expect_block_end();
            std::string end = parse_body(branch.body, {"elif", "else", "endif"});
            stmt.branches.push_back(std::move(branch));
            if (end == "elif") continue;
            if (end == "else") {
                expect_block_end();
                parse_body(stmt.else_body, {"endif"});
            }
            expect_block_end();
            return;
        }
    }

    void parse_targets(std::vector<std::string>& targets) {
        bool parenthesized = skip_op("(");
        do {
            targets.push_back(expect_name());
        } while (skip_op(","));
        if (parenthesized) expect_op(")");
    }

    void parse_for(Stmt& stmt) {
        stmt.kind = StmtKind::For;
        parse_targets(stmt.targets);
        if (!skip_name("in")) fail(peek(), "expected 'in' in for loop, got " + describe(peek()));
        stmt.expr = parse_tuple_or_expression(/*allow_conditional=*/false);
        if (skip_name("if")) stmt.filter = parse_tuple_or_expression();
        if (is_name("recursive")) fail(peek(), "recursive for loops are not supported");
        expect_block_end();
        std::string end = parse_body(stmt.body, {"else", "endfor"});
        if (end == "else") {
            expect_block_end();
            parse_body(stmt.else_body, {"endfor"});
        }
        expect_block_end();
    }

    void parse_set(Stmt& stmt) {
        const Token& first = peek();
        if (first.type == TokenType::Name && is_op(".", 1)) {
            stmt.kind = StmtKind::Set;
            stmt.targets.push_back(next().text);
            next();
            stmt.attribute = expect_name();
            expect_op("=");
            stmt.expr = parse_tuple_or_expression();
            expect_block_end();
            return;
        }
        parse_targets(stmt.targets);
        if (skip_op("=")) {
            stmt.kind = StmtKind::Set;
            stmt.expr = parse_tuple_or_expression();
            expect_block_end();
            return;
        }
        if (stmt.targets.size() != 1) fail(peek(), "expected '=' after set targets");
        stmt.kind = StmtKind::SetBlock;
        if (is_op("|")) stmt.filter = parse_filter_chain(first);
        expect_block_end();
        parse_body(stmt.body, {"endset"});
        expect_block_end();
    }

    void parse_params(std::vector<Param>& params) {
        expect_op("(");
        while (!is_op(")")) {
            if (!params.empty()) expect_op(",");
            if (is_op(")")) break;  // trailing comma
            Param param;
            param.name = expect_name();
            if (skip_op("=")) param.default_value = parse_expression();
            params.push_back(std::move(param));
        }
        expect_op(")");
    }

    void parse_macro(Stmt& stmt) {
        stmt.kind = StmtKind::Macro;
        stmt.text = expect_name();
        parse_params(stmt.params);
        expect_block_end();
        parse_body(stmt.body, {"endmacro"});
        if (peek().type == TokenType::Name && peek().text == stmt.text) next();
        expect_block_end();
    }

    void parse_call_block(Stmt& stmt) {
        stmt.kind = StmtKind::CallBlock;
        if (is_op("(")) parse_params(stmt.params);
        stmt.expr = parse_expression();
        if (stmt.expr->kind != ExprKind::Call) fail(peek(), "expected a call after 'call'");
        expect_block_end();
        parse_body(stmt.body, {"endcall"});
        expect_block_end();
    }

    // `| f(args) | g` applied to the placeholder the interpreter binds to a block's text.
    ExprPtr parse_filter_chain(const Token& at) {
        auto placeholder = std::make_unique<Expr>();
        placeholder->kind = ExprKind::Name;
        placeholder->pos = at.pos;
        placeholder->name = kBlockValueName;
        ExprPtr chain = std::move(placeholder);
        bool first = true;
        while (first || is_op("|")) {
            if (!first || is_op("|")) expect_op("|");
            first = false;
            chain = parse_filter(std::move(chain));
        }
        return chain;
    }

    // ---- expressions ---------------------------------------------------------------------

    ExprPtr make(ExprKind kind, SourcePos pos) {
        auto e = std::make_unique<Expr>();
        e->kind = kind;
        e->pos = pos;
        return e;
    }

    // `a, b` without brackets is a tuple (as in {% set x = 1, 2 %}).
    ExprPtr parse_tuple_or_expression(bool allow_conditional = true) {
        SourcePos pos = peek().pos;
        ExprPtr first = parse_expression(allow_conditional);
        if (!is_op(",")) return first;
        auto tuple = make(ExprKind::Tuple, pos);
        tuple->operands.push_back(std::move(first));
        while (skip_op(",")) {
            if (peek().type == TokenType::BlockEnd || peek().type == TokenType::VarEnd) break;
            tuple->operands.push_back(parse_expression(allow_conditional));
        }
        return tuple;
    }

    ExprPtr parse_expression(bool allow_conditional = true) {
        DepthGuard guard(*this, peek());
        ExprPtr expr = parse_or();
        while (allow_conditional && is_name("if")) {
            SourcePos pos = next().pos;
            auto cond = make(ExprKind::Conditional, pos);
            cond->operands.push_back(parse_or());
            cond->operands.push_back(std::move(expr));
            cond->operands.push_back(skip_name("else") ? parse_expression() : nullptr);
            expr = std::move(cond);
        }
        return expr;
    }

    ExprPtr parse_or() {
        ExprPtr left = parse_and();
        while (is_name("or")) {
            auto node = make(ExprKind::Or, next().pos);
            node->operands.push_back(std::move(left));
            node->operands.push_back(parse_and());
            left = std::move(node);
        }
        return left;
    }

    ExprPtr parse_and() {
        ExprPtr left = parse_not();
        while (is_name("and")) {
            auto node = make(ExprKind::And, next().pos);
            node->operands.push_back(std::move(left));
            node->operands.push_back(parse_not());
            left = std::move(node);
        }
        return left;
    }

    ExprPtr parse_not() {
        if (is_name("not")) {
            DepthGuard guard(*this, peek());
            auto node = make(ExprKind::Unary, next().pos);
            node->name = "not";
            node->operands.push_back(parse_not());
            return node;
        }
        return parse_compare();
    }

    // `a < b` is a Binary node; a chain `a < b <= c` is one Compare node (operands a, b, c;
    // operators in `keywords`), evaluated like Python: pairwise, stopping at the first false.
    ExprPtr parse_compare() {
        ExprPtr first = parse_math1();
        ExprPtr chain;
        while (true) {
            std::string op;
            const Token& t = peek();
            if (t.type == TokenType::Operator &&
                (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == ">" ||
                 t.text == "<=" || t.text == ">=")) {
                op = t.text;
                next();
            } else if (is_name("in")) {
                op = "in";
                next();
            } else if (is_name("not") && is_name("in", 1)) {
                op = "not in";
                next();
                next();
            } else {
                break;
            }
            if (!chain) {
                chain = make(ExprKind::Compare, t.pos);
                chain->operands.push_back(std::move(first));
            }
            chain->keywords.emplace_back(op, nullptr);
            chain->operands.push_back(parse_math1());
        }
        if (!chain) return first;
        if (chain->operands.size() == 2) {  // the usual case: a plain binary node
            chain->kind = ExprKind::Binary;
            chain->name = chain->keywords[0].first;
            chain->keywords.clear();
        }
        return chain;
    }

    ExprPtr parse_binary_level(const std::vector<const char*>& ops,
                               ExprPtr (Parser::*next_level)()) {
        ExprPtr left = (this->*next_level)();
        while (true) {
            const Token& t = peek();
            const char* matched = nullptr;
            if (t.type == TokenType::Operator) {
                for (const char* op : ops) {
                    if (t.text == op) matched = op;
                }
            }
            if (!matched) return left;
            next();
            auto node = make(ExprKind::Binary, t.pos);
            node->name = matched;
            node->operands.push_back(std::move(left));
            node->operands.push_back((this->*next_level)());
            left = std::move(node);
        }
    }

    ExprPtr parse_math1() { return parse_binary_level({"+", "-"}, &Parser::parse_concat); }
    ExprPtr parse_concat() { return parse_binary_level({"~"}, &Parser::parse_math2); }
    ExprPtr parse_math2() { return parse_binary_level({"*", "/", "//", "%"}, &Parser::parse_pow); }
    ExprPtr parse_pow() { return parse_binary_level({"**"}, &Parser::parse_unary_with_filters); }

    ExprPtr parse_unary_with_filters() { return parse_unary(true); }

    ExprPtr parse_unary(bool with_filters) {
        DepthGuard guard(*this, peek());
        ExprPtr node;
        if (is_op("-") || is_op("+")) {
            const Token& t = next();
            node = make(ExprKind::Unary, t.pos);
            node->name = t.text;
            node->operands.push_back(parse_unary(false));
        } else {
            node = parse_postfix(parse_primary());
        }
        if (with_filters) node = parse_filters_and_tests(std::move(node));
        return node;
    }

    ExprPtr parse_primary() {
        const Token& t = peek();
        switch (t.type) {
            case TokenType::Name: {
                next();
                if (t.text == "true" || t.text == "True") return literal(Value(true), t.pos);
                if (t.text == "false" || t.text == "False") return literal(Value(false), t.pos);
                if (t.text == "none" || t.text == "None") return literal(Value::none(), t.pos);
                auto node = make(ExprKind::Name, t.pos);
                node->name = t.text;
                return node;
            }
            case TokenType::String: {
                std::string text = next().text;
                while (peek().type == TokenType::String) text += next().text;  // "a" "b"
                return literal(Value(std::move(text)), t.pos);
            }
            case TokenType::Integer:
                next();
                return literal(Value(t.int_value), t.pos);
            case TokenType::Float:
                next();
                return literal(Value(t.float_value), t.pos);
            case TokenType::Operator:
                if (t.text == "(") return parse_parenthesized();
                if (t.text == "[") return parse_list();
                if (t.text == "{") return parse_dict();
                break;
            default:
                break;
        }
        fail(t, "unexpected " + describe(t));
    }

    ExprPtr literal(Value v, SourcePos pos) {
        auto node = make(ExprKind::Literal, pos);
        node->literal = std::move(v);
        return node;
    }

    ExprPtr parse_parenthesized() {
        SourcePos pos = next().pos;
        if (skip_op(")")) return make(ExprKind::Tuple, pos);
        ExprPtr first = parse_expression();
        if (skip_op(")")) return first;
        auto tuple = make(ExprKind::Tuple, pos);
        tuple->operands.push_back(std::move(first));
        while (skip_op(",")) {
            if (is_op(")")) break;
            tuple->operands.push_back(parse_expression());
        }
        expect_op(")");
        return tuple;
    }

    ExprPtr parse_list() {
        auto node = make(ExprKind::List, next().pos);
        while (!is_op("]")) {
            if (!node->operands.empty()) expect_op(",");
            if (is_op("]")) break;
            node->operands.push_back(parse_expression());
        }
        expect_op("]");
        return node;
    }

    ExprPtr parse_dict() {
        auto node = make(ExprKind::Dict, next().pos);
        while (!is_op("}")) {
            if (!node->operands.empty()) expect_op(",");
            if (is_op("}")) break;
            node->operands.push_back(parse_expression());
            expect_op(":");
            node->operands.push_back(parse_expression());
        }
        expect_op("}");
        return node;
    }

    ExprPtr parse_postfix(ExprPtr node) {
        while (true) {
            const Token& t = peek();
            if (is_op(".")) {
                next();
                auto attr = make(ExprKind::GetAttr, t.pos);
                const Token& name = peek();
                if (name.type == TokenType::Name) {
                    attr->name = next().text;
                } else if (name.type == TokenType::Integer) {  // x.0 is x[0] in Jinja
                    attr->kind = ExprKind::GetItem;
                    attr->operands.push_back(std::move(node));
                    attr->operands.push_back(literal(Value(next().int_value), name.pos));
                    node = std::move(attr);
                    continue;
                } else {
                    fail(name, "expected an attribute name after '.', got " + describe(name));
                }
                attr->operands.push_back(std::move(node));
                node = std::move(attr);
            } else if (is_op("[")) {
                node = parse_subscript(std::move(node));
            } else if (is_op("(")) {
                node = parse_call(std::move(node));
            } else {
                return node;
            }
        }
    }

    ExprPtr parse_subscript(ExprPtr target) {
        SourcePos pos = next().pos;
        ExprPtr parts[3];
        int colons = 0;
        while (!is_op("]")) {
            if (skip_op(":")) {
                if (++colons > 2) fail(peek(), "too many ':' in slice");
                continue;
            }
            if (parts[colons]) fail(peek(), "expected ']' or ':', got " + describe(peek()));
            parts[colons] = parse_expression();
        }
        expect_op("]");
        if (colons == 0) {
            if (!parts[0]) fail(peek(), "empty subscript");
            auto node = make(ExprKind::GetItem, pos);
            node->operands.push_back(std::move(target));
            node->operands.push_back(std::move(parts[0]));
            return node;
        }
        auto node = make(ExprKind::Slice, pos);
        node->operands.push_back(std::move(target));
        for (auto& part : parts) node->operands.push_back(std::move(part));
        return node;
    }

    void parse_arguments(Expr& node) {
        expect_op("(");
        bool first = true;
        while (!is_op(")")) {
            if (!first) expect_op(",");
            first = false;
            if (is_op(")")) break;
            if (peek().type == TokenType::Name && is_op("=", 1)) {
                std::string name = next().text;
                next();
                node.keywords.emplace_back(std::move(name), parse_expression());
            } else {
                if (!node.keywords.empty())
                    fail(peek(), "positional argument after keyword argument");
                node.operands.push_back(parse_expression());
            }
        }
        expect_op(")");
    }

    ExprPtr parse_call(ExprPtr callee) {
        auto node = make(ExprKind::Call, peek().pos);
        node->operands.push_back(std::move(callee));
        parse_arguments(*node);
        return node;
    }

    ExprPtr parse_filter(ExprPtr target) {
        const Token& name = peek();
        auto node = make(ExprKind::Filter, name.pos);
        node->name = expect_name();
        while (skip_op(".")) node->name += "." + expect_name();
        node->operands.push_back(std::move(target));
        if (is_op("(")) parse_arguments(*node);
        return node;
    }

    ExprPtr parse_filters_and_tests(ExprPtr node) {
        while (true) {
            if (skip_op("|")) {
                node = parse_filter(std::move(node));
            } else if (is_name("is")) {
                node = parse_test(std::move(node));
            } else if (is_op("(")) {
                node = parse_call(std::move(node));
            } else {
                return node;
            }
        }
    }

    ExprPtr parse_test(ExprPtr target) {
        next();  // "is"
        bool negated = skip_name("not");
        const Token& name = peek();
        auto node = make(ExprKind::Test, name.pos);
        node->negated = negated;
        node->name = expect_name();
        node->operands.push_back(std::move(target));
        const Token& t = peek();
        if (is_op("(")) {
            parse_arguments(*node);
        } else if ((t.type == TokenType::Name && t.text != "else" && t.text != "or" &&
                    t.text != "and" && t.text != "if" && t.text != "in" && t.text != "not" &&
                    t.text != "is") ||
                   t.type == TokenType::String || t.type == TokenType::Integer ||
                   t.type == TokenType::Float || is_op("[") || is_op("{")) {
            // `x is divisibleby 3`, `x is sameas false`: one argument without parentheses.
            node->operands.push_back(parse_postfix(parse_primary()));
        }
        return node;
    }
};

// jinja2 refuses unknown filters and tests when it compiles a template, except where the
// innermost enclosing construct is an `if` (statement or inline expression): there the error
// waits until the branch runs. This pass reproduces that rule over the finished tree.
class NameChecker {
  public:
    void check_body(const Body& body, bool soft) {
        for (const auto& stmt : body) check_stmt(*stmt, soft);
    }

  private:
    void check_stmt(const Stmt& stmt, bool soft) {
        switch (stmt.kind) {
            case StmtKind::If:
                for (const auto& branch : stmt.branches) {
                    check_expr(branch.condition.get(), true);
                    check_body(branch.body, true);
                }
                check_body(stmt.else_body, true);
                return;
            case StmtKind::For:
                check_expr(stmt.expr.get(), soft);
                check_expr(stmt.filter.get(), false);
                check_body(stmt.body, false);
                check_body(stmt.else_body, false);
                return;
            case StmtKind::Macro:
            case StmtKind::CallBlock:
                for (const auto& param : stmt.params) check_expr(param.default_value.get(), false);
                check_expr(stmt.expr.get(), soft);
                check_body(stmt.body, false);
                return;
            default:
                check_expr(stmt.expr.get(), soft);
                check_expr(stmt.filter.get(), soft);
                check_body(stmt.body, stmt.kind == StmtKind::Generation ? soft : false);
                return;
        }
    }

    void check_expr(const Expr* expr, bool soft) {
        if (!expr) return;
        if (expr->kind == ExprKind::Conditional) soft = true;
        if (!soft && expr->kind == ExprKind::Filter && !is_known_filter(expr->name)) {
            throw JinjaError("syntax error", expr->pos, "no filter named '" + expr->name + "'");
        }
        if (!soft && expr->kind == ExprKind::Test && !is_known_test(expr->name)) {
            throw JinjaError("syntax error", expr->pos, "no test named '" + expr->name + "'");
        }
        for (const auto& operand : expr->operands) check_expr(operand.get(), soft);
        for (const auto& keyword : expr->keywords) check_expr(keyword.second.get(), soft);
    }
};

}  // namespace

Template parse_template(std::string_view source) {
    Template tmpl = Parser(tokenize(source)).run();
    NameChecker().check_body(tmpl.body, false);
    return tmpl;
}

bool is_known_filter(std::string_view name) {
    return is_known_filter_name(name);
}
bool is_known_test(std::string_view name) {
    return is_known_test_name(name);
}

}  // namespace hearth::chat
