#pragma once
// The Python/jinja2 behaviour behind the syntax: operators, attribute and item access, methods
// of str/dict/list, filters, tests and global functions. Each follows what jinja2 (in
// Hugging Face's ImmutableSandboxedEnvironment) does, including which misuse raises.
#include <string>
#include <string_view>

#include "chat/interpreter.h"
#include "chat/value.h"

namespace hearth::chat {

void install_globals(Scope& scope);

bool is_known_filter_name(std::string_view name);
bool is_known_test_name(std::string_view name);

Value unary_arithmetic(const std::string& op, const Value& v);
Value binary_operation(Interpreter& interp, const std::string& op, const Value& left,
                       const Value& right);
Value slice_value(const Value& target, const Value& start, const Value& stop, const Value& step);
Value attribute_of(Interpreter& interp, const Value& target, const std::string& name);
Value item_of(Interpreter& interp, const Value& target, const Value& key);

// Calls `receiver.name(args)` when `name` is a method of the receiver's type; returns false
// when it is not (the caller then falls back to attribute lookup).
bool call_method(Interpreter& interp, const Value& receiver, const std::string& name,
                 CallArgs& args, Value& result);

Value run_filter(Interpreter& interp, const std::string& name, const Value& target, CallArgs& args);
bool run_test(Interpreter& interp, const std::string& name, const Value& target, CallArgs& args);

// Python's str.strip()/lstrip()/rstrip(): `chars` null means whitespace.
std::string python_strip(const std::string& s, const std::string* chars, bool left, bool right);

}  // namespace hearth::chat
