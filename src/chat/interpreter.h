#pragma once
// Tree-walking evaluator for parsed templates, sandboxed: no file access exists at all, and
// every render is bounded in steps, output size, value size and call depth.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "chat/ast.h"
#include "chat/sandbox.h"
#include "chat/value.h"

namespace hearth::chat {

// One variable frame. Frames are shared so macros can keep the frame they were defined in.
struct Scope {
    std::unordered_map<std::string, Value> vars;
    std::shared_ptr<Scope> parent;
    const Value* find(const std::string& name) const;
};

class Interpreter : public Sandbox {
  public:
    explicit Interpreter(SandboxLimits limits = {});

    // Renders `tmpl` with `globals` as the outermost variables. Throws JinjaError.
    std::string render(const Template& tmpl, const Object& globals);

  private:
    enum class Flow { Normal, Break, Continue };

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
    // Calls any callable value with the given arguments.
    Value call(const Value& callee, CallArgs& args);
    Value apply_block_filters(const Expr& chain, std::string text);
    Value make_macro(const Stmt& stmt, const std::shared_ptr<Scope>& defining_scope);
    Value render_macro(const Stmt& stmt, const std::shared_ptr<Scope>& closure, CallArgs& args,
                       const Value& caller);

    friend class ScopeGuard;
};

}  // namespace hearth::chat
