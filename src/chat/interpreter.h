#pragma once
// Tree-walking evaluator for parsed templates, sandboxed: no file access exists at all, and
// every render is bounded in steps, output size, value size and call depth.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "chat/ast.h"
#include "chat/value.h"

namespace hearth::chat {

struct SandboxLimits {
    uint64_t max_steps = 5'000'000;       // statements, expressions, loop iterations
    size_t max_output_bytes = 64u << 20;  // rendered text
    size_t max_string_bytes = 64u << 20;  // any one string value
    size_t max_array_items = 1'000'000;   // any one list built by the template
    int max_call_depth = 200;             // nested macro calls
    int64_t max_range = 100'000;          // range() length, as jinja2's sandbox
};

// One variable frame. Frames are shared so macros can keep the frame they were defined in.
struct Scope {
    std::unordered_map<std::string, Value> vars;
    std::shared_ptr<Scope> parent;
    const Value* find(const std::string& name) const;
};

class Interpreter {
  public:
    explicit Interpreter(SandboxLimits limits = {});

    // Renders `tmpl` with `globals` as the outermost variables. Throws JinjaError.
    std::string render(const Template& tmpl, const Object& globals);

    // ---- used by the builtins ----
    const SandboxLimits& limits() const { return limits_; }
    void count_step();
    void check_string_size(size_t bytes) const;
    void check_array_size(size_t items) const;
    // Calls any callable value with the given arguments.
    Value call(const Value& callee, CallArgs& args);
    Value apply_filter(const std::string& name, const Value& target, CallArgs& args);
    bool apply_test(const std::string& name, const Value& target, CallArgs& args);
    // Jinja's getattr: attribute first, then item (obj.name).
    Value get_attribute(const Value& target, const std::string& name);
    // Jinja's getitem: item first, then attribute (obj[key]).
    Value get_item(const Value& target, const Value& key);

  private:
    enum class Flow { Normal, Break, Continue };

    SandboxLimits limits_;
    uint64_t steps_ = 0;
    int call_depth_ = 0;
    std::shared_ptr<Scope> scope_;
    std::shared_ptr<Scope> root_;
    SourcePos pos_;  // of the node being evaluated, for error messages

    Flow exec_body(const Body& body, std::string& out);
    Flow exec(const Stmt& stmt, std::string& out);
    void exec_if(const Stmt& stmt, std::string& out, Flow& flow);
    Flow exec_for(const Stmt& stmt, std::string& out);
    void exec_set(const Stmt& stmt);
    void exec_set_block(const Stmt& stmt, std::string& out);
    void exec_macro(const Stmt& stmt);
    void exec_call_block(const Stmt& stmt, std::string& out);
    void exec_filter_block(const Stmt& stmt, std::string& out);
    void append_output(std::string& out, std::string_view text);

    Value eval(const Expr& expr);
    Value eval_binary(const Expr& expr);
    Value eval_call(const Expr& expr);
    Value eval_slice(const Expr& expr);
    Value lookup(const std::string& name) const;
    void assign(const std::string& name, Value value);
    void assign_targets(const std::vector<std::string>& targets, const Value& value);
    CallArgs eval_arguments(const Expr& expr, size_t first_operand);
    Value apply_block_filters(const Expr& chain, std::string text);
    Value make_macro(const Stmt& stmt, const std::shared_ptr<Scope>& defining_scope);
    Value render_macro(const Stmt& stmt, const std::shared_ptr<Scope>& closure, CallArgs& args,
                       const Value& caller);

    friend class ScopeGuard;
};

// Iterates values as Python would: list items, dict keys, string characters (code points).
// Undefined iterates as empty; anything else throws JinjaFailure.
Array iterate(const Value& v);

}  // namespace hearth::chat
