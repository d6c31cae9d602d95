#include "chat/interpreter.h"

#include <cmath>

#include "chat/builtins.h"
#include "chat/errors.h"

namespace hearth::chat {

namespace {
constexpr const char* kBlockValueName = "\x01block";  // see parser.cpp
}

const Value* Scope::find(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent.get()) {
        auto it = s->vars.find(name);
        if (it != s->vars.end()) return &it->second;
    }
    return nullptr;
}

// Enters a new frame (for loops, macro bodies) and restores the previous one on exit.
class ScopeGuard {
  public:
    ScopeGuard(Interpreter& interp, std::shared_ptr<Scope> parent) : interp_(interp) {
        saved_ = interp.scope_;
        auto scope = std::make_shared<Scope>();
        scope->parent = std::move(parent);
        interp.scope_ = std::move(scope);
    }
    ~ScopeGuard() { interp_.scope_ = std::move(saved_); }
    ScopeGuard(const ScopeGuard&) = delete;
    ScopeGuard& operator=(const ScopeGuard&) = delete;

  private:
    Interpreter& interp_;
    std::shared_ptr<Scope> saved_;
};

Interpreter::Interpreter(SandboxLimits limits) : Sandbox(limits) {}

std::string Interpreter::render(const Template& tmpl, const Object& globals) {
    root_ = std::make_shared<Scope>();
    install_globals(root_->vars, limits_);
    for (const auto& [name, value] : globals.entries()) root_->vars[name] = value;
    auto top = std::make_shared<Scope>();
    top->parent = root_;
    scope_ = top;
    steps_ = 0;
    call_depth_ = 0;
    std::string out;
    try {
        exec_body(tmpl.body, out);
    } catch (const JinjaFailure& failure) {
        scope_.reset();
        root_.reset();
        throw JinjaError("error", pos_, failure.what());
    }
    scope_.reset();
    root_.reset();
    return out;
}

void Interpreter::append_output(std::string& out, std::string_view text) {
    if (out.size() + text.size() > limits_.max_output_bytes) {
        throw JinjaFailure("rendered output larger than " +
                           std::to_string(limits_.max_output_bytes) + " bytes (sandbox limit)");
    }
    out.append(text);
}

// ---- statements ------------------------------------------------------------------------------

Interpreter::Flow Interpreter::exec_body(const Body& body, std::string& out) {
    for (const auto& stmt : body) {
        Flow flow = exec(*stmt, out);
        if (flow != Flow::Normal) return flow;
    }
    return Flow::Normal;
}

Interpreter::Flow Interpreter::exec(const Stmt& stmt, std::string& out) {
    count_step();
    pos_ = stmt.pos;
    switch (stmt.kind) {
        case StmtKind::Text:
            append_output(out, stmt.text);
            return Flow::Normal;
        case StmtKind::Print: {
            Value v = eval(*stmt.expr);
            if (v.is_string())
                append_output(out, v.as_string());
            else
                append_output(out, v.to_str());
            return Flow::Normal;
        }
        case StmtKind::If: {
            Flow flow = Flow::Normal;
            exec_if(stmt, out, flow);
            return flow;
        }
        case StmtKind::For:
            return exec_for(stmt, out);
        case StmtKind::Set:
            exec_set(stmt);
            return Flow::Normal;
        case StmtKind::SetBlock:
            exec_set_block(stmt, out);
            return Flow::Normal;
        case StmtKind::Macro:
            exec_macro(stmt);
            return Flow::Normal;
        case StmtKind::CallBlock:
            exec_call_block(stmt, out);
            return Flow::Normal;
        case StmtKind::FilterBlock:
            exec_filter_block(stmt, out);
            return Flow::Normal;
        case StmtKind::Break:
            return Flow::Break;
        case StmtKind::Continue:
            return Flow::Continue;
        case StmtKind::Generation:
            return exec_body(stmt.body, out);
    }
    return Flow::Normal;
}

void Interpreter::exec_if(const Stmt& stmt, std::string& out, Flow& flow) {
    for (const auto& branch : stmt.branches) {
        if (eval(*branch.condition).truthy()) {
            flow = exec_body(branch.body, out);
            return;
        }
    }
    flow = exec_body(stmt.else_body, out);
}

namespace {

// jinja2's `loop` is one object whose fields change as the loop advances (a template that keeps
// a reference sees the current values); so is ours, updated in place for speed.
enum LoopField { kIndex0, kIndex, kRevindex0, kRevindex, kFirst, kLast, kPrevitem, kNextitem };

Value make_loop_object(size_t length, const Value& cycle) {
    Object loop;
    loop.set("index0", Value());
    loop.set("index", Value());
    loop.set("revindex0", Value());
    loop.set("revindex", Value());
    loop.set("first", Value());
    loop.set("last", Value());
    loop.set("previtem", Value());
    loop.set("nextitem", Value());
    loop.set("length", Value(static_cast<int64_t>(length)));
    loop.set("depth", Value(int64_t{1}));
    loop.set("depth0", Value(int64_t{0}));
    loop.set("cycle", cycle);
    return Value::object(std::move(loop));
}

void advance_loop_object(Object& loop, const Array& items, size_t i) {
    int64_t n = static_cast<int64_t>(items.size());
    int64_t index = static_cast<int64_t>(i);
    loop.set_at(kIndex0, Value(index));
    loop.set_at(kIndex, Value(index + 1));
    loop.set_at(kRevindex0, Value(n - index - 1));
    loop.set_at(kRevindex, Value(n - index));
    loop.set_at(kFirst, Value(i == 0));
    loop.set_at(kLast, Value(index == n - 1));
    static const Value no_previous = Value::undefined("there is no previous item");
    static const Value no_next = Value::undefined("there is no next item");
    loop.set_at(kPrevitem, i > 0 ? items[i - 1] : no_previous);
    loop.set_at(kNextitem, index + 1 < n ? items[i + 1] : no_next);
}

}  // namespace

Interpreter::Flow Interpreter::exec_for(const Stmt& stmt, std::string& out) {
    Value iterable = eval(*stmt.expr);
    // Lists are immutable and shared, so a loop over one needs no copy.
    Array copied;
    const Array* all = &copied;
    if (iterable.is_array())
        all = &iterable.as_array();
    else
        copied = iterate(iterable);
    Array filtered;
    ScopeGuard guard(*this, scope_);
    if (stmt.filter) {  // {% for x in xs if cond %}: filtered before loop.* is computed
        for (const auto& item : *all) {
            count_step();
            assign_targets(stmt.targets, item);
            if (eval(*stmt.filter).truthy()) filtered.push_back(item);
        }
        all = &filtered;
    }
    const Array& items = *all;
    if (items.empty()) return exec_body(stmt.else_body, out);
    auto index_holder = std::make_shared<size_t>(0);
    Value cycle = Value::callable("loop.cycle", [index_holder](Sandbox&, CallArgs& args) {
        if (args.positional.empty()) throw JinjaFailure("loop.cycle() needs at least one value");
        return args.positional[*index_holder % args.positional.size()];
    });
    Value loop = make_loop_object(items.size(), cycle);
    scope_->vars["loop"] = loop;
    std::shared_ptr<Scope> loop_scope = scope_;
    for (size_t i = 0; i < items.size(); ++i) {
        count_step();  // an empty body must still count towards the step limit
        *index_holder = i;
        advance_loop_object(loop.mutable_object(), items, i);
        // jinja2 starts every iteration afresh: a `set` in one iteration is gone in the next.
        ScopeGuard iteration(*this, loop_scope);
        assign_targets(stmt.targets, items[i]);
        Flow flow = exec_body(stmt.body, out);
        if (flow == Flow::Break) break;
    }
    return Flow::Normal;
}

void Interpreter::assign(const std::string& name, Value value) {
    scope_->vars[name] = std::move(value);
}

void Interpreter::assign_targets(const std::vector<std::string>& targets, const Value& value) {
    if (targets.size() == 1) {
        assign(targets[0], value);
        return;
    }
    Array parts = iterate(value);
    if (parts.size() != targets.size()) {
        throw JinjaFailure((parts.size() < targets.size() ? "not enough" : "too many") +
                           std::string(" values to unpack (expected ") +
                           std::to_string(targets.size()) + ", got " +
                           std::to_string(parts.size()) + ")");
    }
    for (size_t i = 0; i < targets.size(); ++i) assign(targets[i], parts[i]);
}

void Interpreter::exec_set(const Stmt& stmt) {
    Value value = eval(*stmt.expr);
    if (stmt.attribute.empty()) {
        assign_targets(stmt.targets, value);
        return;
    }
    Value target = lookup(stmt.targets[0]);
    if (!target.is_namespace()) {
        throw JinjaFailure("cannot assign attribute on non-namespace object '" + stmt.targets[0] +
                           "'");
    }
    target.mutable_object().set(stmt.attribute, std::move(value));
}

void Interpreter::exec_set_block(const Stmt& stmt, std::string& out) {
    (void)out;
    std::string text;
    exec_body(stmt.body, text);
    Value value =
        stmt.filter ? apply_block_filters(*stmt.filter, std::move(text)) : Value(std::move(text));
    assign(stmt.targets[0], std::move(value));
}

void Interpreter::exec_filter_block(const Stmt& stmt, std::string& out) {
    std::string text;
    exec_body(stmt.body, text);
    Value value = apply_block_filters(*stmt.filter, std::move(text));
    append_output(out, value.is_string() ? value.as_string() : value.to_str());
}

Value Interpreter::apply_block_filters(const Expr& chain, std::string text) {
    ScopeGuard guard(*this, scope_);
    assign(kBlockValueName, Value(std::move(text)));
    return eval(chain);
}

void Interpreter::exec_macro(const Stmt& stmt) {
    assign(stmt.text, make_macro(stmt, scope_));
}

Value Interpreter::make_macro(const Stmt& stmt, const std::shared_ptr<Scope>& defining_scope) {
    // A weak link: the frame holds the macro, so a strong one would be a cycle. A frame that is
    // gone can only be a loop frame; the macro then sees the template's globals.
    std::weak_ptr<Scope> closure = defining_scope;
    const Stmt* definition = &stmt;
    // The value never leaves this render (render returns text and drops its frames), so `this`
    // is the interpreter that calls it.
    return Value::callable(stmt.text, [this, definition, closure](Sandbox&, CallArgs& args) {
        std::shared_ptr<Scope> scope = closure.lock();
        if (!scope) scope = root_;
        return render_macro(*definition, scope, args, Value::undefined("no caller"));
    });
}

Value Interpreter::render_macro(const Stmt& stmt, const std::shared_ptr<Scope>& closure,
                                CallArgs& args, const Value& caller) {
    if (call_depth_ >= limits_.max_call_depth) {
        throw JinjaFailure("macro calls nested deeper than " +
                           std::to_string(limits_.max_call_depth) + " (sandbox limit)");
    }
    if (args.positional.size() > stmt.params.size()) {
        throw JinjaFailure("macro '" + stmt.text + "' takes not more than " +
                           std::to_string(stmt.params.size()) + " argument(s)");
    }
    SourcePos call_pos = pos_;
    ScopeGuard guard(*this, closure);
    ++call_depth_;
    struct DepthRestore {
        int& depth;
        ~DepthRestore() { --depth; }
    } restore{call_depth_};
    std::vector<bool> bound(stmt.params.size(), false);
    for (size_t i = 0; i < args.positional.size(); ++i) {
        assign(stmt.params[i].name, args.positional[i]);
        bound[i] = true;
    }
    for (auto& [name, value] : args.keyword) {
        if (name == "caller") {  // passed by {% call %}
            assign(name, value);
            continue;
        }
        size_t i = 0;
        while (i < stmt.params.size() && stmt.params[i].name != name) ++i;
        if (i == stmt.params.size()) {
            throw JinjaFailure("macro '" + stmt.text + "' takes no keyword argument '" + name +
                               "'");
        }
        assign(name, value);
        bound[i] = true;
    }
    for (size_t i = 0; i < stmt.params.size(); ++i) {
        if (bound[i]) continue;
        const Param& param = stmt.params[i];
        assign(param.name, param.default_value ? eval(*param.default_value)
                                               : Value::undefined("parameter '" + param.name +
                                                                  "' was not provided"));
    }
    if (!caller.is_undefined()) assign("caller", caller);
    std::string text;
    exec_body(stmt.body, text);
    pos_ = call_pos;
    return Value(std::move(text));
}

void Interpreter::exec_call_block(const Stmt& stmt, std::string& out) {
    const Expr& call_expr = *stmt.expr;
    Value callee = eval(*call_expr.operands[0]);
    CallArgs args = eval_arguments(call_expr, 1);
    std::weak_ptr<Scope> closure = scope_;
    const Stmt* block = &stmt;
    Value caller = Value::callable("caller", [this, block, closure](Sandbox&, CallArgs& cargs) {
        std::shared_ptr<Scope> scope = closure.lock();
        if (!scope) scope = root_;
        return render_macro(*block, scope, cargs, Value::undefined());
    });
    args.keyword.emplace_back("caller", caller);
    Value result = call(callee, args);
    append_output(out, result.to_str());
}

// ---- expressions -----------------------------------------------------------------------------

Value Interpreter::lookup(const std::string& name) const {
    const Value* v = scope_->find(name);
    if (v) return *v;
    return Value::undefined("'" + name + "' is undefined");
}

Value Interpreter::eval(const Expr& expr) {
    count_step();
    pos_ = expr.pos;
    switch (expr.kind) {
        case ExprKind::Literal:
            return expr.literal;
        case ExprKind::Name:
            return lookup(expr.name);
        case ExprKind::GetAttr: {
            Value target = eval(*expr.operands[0]);
            pos_ = expr.pos;
            return attribute_of(*this, target, expr.name);
        }
        case ExprKind::GetItem: {
            Value target = eval(*expr.operands[0]);
            Value key = eval(*expr.operands[1]);
            pos_ = expr.pos;
            return item_of(*this, target, key);
        }
        case ExprKind::Slice:
            return eval_slice(expr);
        case ExprKind::Call:
            return eval_call(expr);
        case ExprKind::Filter: {
            Value target = eval(*expr.operands[0]);
            CallArgs args = eval_arguments(expr, 1);
            pos_ = expr.pos;
            return run_filter(*this, expr.name, target, args);
        }
        case ExprKind::Test: {
            Value target = eval(*expr.operands[0]);
            CallArgs args = eval_arguments(expr, 1);
            pos_ = expr.pos;
            bool result = run_test(*this, expr.name, target, args);
            return Value(expr.negated ? !result : result);
        }
        case ExprKind::Unary: {
            Value v = eval(*expr.operands[0]);
            pos_ = expr.pos;
            if (expr.name == "not") return Value(!v.truthy());
            return unary_arithmetic(expr.name, v);
        }
        case ExprKind::Binary:
            return eval_binary(expr);
        case ExprKind::Compare: {
            Value left = eval(*expr.operands[0]);
            for (size_t i = 1; i < expr.operands.size(); ++i) {
                Value right = eval(*expr.operands[i]);
                pos_ = expr.pos;
                Value result = binary_operation(*this, expr.keywords[i - 1].first, left, right);
                if (!result.truthy()) return result;
                left = std::move(right);
            }
            return Value(true);
        }
        case ExprKind::And: {
            Value left = eval(*expr.operands[0]);
            return left.truthy() ? eval(*expr.operands[1]) : left;
        }
        case ExprKind::Or: {
            Value left = eval(*expr.operands[0]);
            return left.truthy() ? left : eval(*expr.operands[1]);
        }
        case ExprKind::Conditional: {
            if (eval(*expr.operands[0]).truthy()) return eval(*expr.operands[1]);
            if (expr.operands[2]) return eval(*expr.operands[2]);
            return Value::undefined("the inline if-expression had no else branch");
        }
        case ExprKind::List:
        case ExprKind::Tuple: {
            Array items;
            items.reserve(expr.operands.size());
            for (const auto& operand : expr.operands) items.push_back(eval(*operand));
            if (expr.kind == ExprKind::Tuple) return Value::tuple(std::move(items));
            return Value::array(std::move(items));
        }
        case ExprKind::Dict: {
            Object obj;
            for (size_t i = 0; i + 1 < expr.operands.size(); i += 2) {
                Value key = eval(*expr.operands[i]);
                obj.set_key(key, eval(*expr.operands[i + 1]));
            }
            return Value::object(std::move(obj));
        }
    }
    return Value();
}

Value Interpreter::eval_binary(const Expr& expr) {
    Value left = eval(*expr.operands[0]);
    Value right = eval(*expr.operands[1]);
    pos_ = expr.pos;
    return binary_operation(*this, expr.name, left, right);
}

CallArgs Interpreter::eval_arguments(const Expr& expr, size_t first_operand) {
    CallArgs args;
    for (size_t i = first_operand; i < expr.operands.size(); ++i) {
        args.positional.push_back(eval(*expr.operands[i]));
    }
    for (const auto& [name, value] : expr.keywords) args.keyword.emplace_back(name, eval(*value));
    return args;
}

Value Interpreter::eval_call(const Expr& expr) {
    const Expr& callee_expr = *expr.operands[0];
    // obj.method(...) is dispatched directly, without building a bound-method value.
    if (callee_expr.kind == ExprKind::GetAttr) {
        Value receiver = eval(*callee_expr.operands[0]);
        CallArgs args = eval_arguments(expr, 1);
        pos_ = expr.pos;
        Value result;
        if (call_method(*this, receiver, callee_expr.name, args, result)) return result;
        Value callee = attribute_of(*this, receiver, callee_expr.name);
        return call(callee, args);
    }
    Value callee = eval(callee_expr);
    CallArgs args = eval_arguments(expr, 1);
    pos_ = expr.pos;
    return call(callee, args);
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
    if (callee.is_callable()) return callee.as_callable().call(*this, args);
    if (callee.is_undefined()) {
        throw JinjaFailure(callee.undefined_hint().empty() ? "cannot call an undefined value"
                                                           : callee.undefined_hint());
    }
    throw JinjaFailure("'" + callee.type_name() + "' object is not callable");
}

Value Interpreter::eval_slice(const Expr& expr) {
    Value target = eval(*expr.operands[0]);
    Value bounds[3];
    for (int i = 0; i < 3; ++i) {
        if (expr.operands[i + 1])
            bounds[i] = eval(*expr.operands[i + 1]);
        else
            bounds[i] = Value::none();
    }
    pos_ = expr.pos;
    return slice_value(target, bounds[0], bounds[1], bounds[2]);
}

}  // namespace hearth::chat
