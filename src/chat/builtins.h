#pragma once
// The Python/jinja2 behaviour behind the syntax: operators, attribute and item access, methods
// of str/dict/list, filters, tests and global functions. Each follows what jinja2 (in
// Hugging Face's ImmutableSandboxedEnvironment) does, including which misuse raises.
#include <string>
#include <string_view>
#include <unordered_map>

#include "chat/sandbox.h"
#include "chat/value.h"

namespace hearth::chat {

// The global functions (range, namespace, dict, raise_exception, strftime_now).
void install_globals(std::unordered_map<std::string, Value>& vars, const SandboxLimits& limits);

bool is_known_filter_name(std::string_view name);
bool is_known_test_name(std::string_view name);

Value unary_arithmetic(const std::string& op, const Value& v);
Value binary_operation(Sandbox& sandbox, const std::string& op, const Value& left,
                       const Value& right);
Value slice_value(const Value& target, const Value& start, const Value& stop, const Value& step);
Value attribute_of(Sandbox& sandbox, const Value& target, const std::string& name);
Value item_of(Sandbox& sandbox, const Value& target, const Value& key);

// Calls `receiver.name(args)` when `name` is a method of the receiver's type; returns false
// when it is not (the caller then falls back to attribute lookup).
bool call_method(Sandbox& sandbox, const Value& receiver, const std::string& name, CallArgs& args,
                 Value& result);

Value run_filter(Sandbox& sandbox, const std::string& name, const Value& target, CallArgs& args);
bool run_test(Sandbox& sandbox, const std::string& name, const Value& target, CallArgs& args);

// Iterates values as Python would: list items, dict keys, string characters (code points).
// Undefined iterates as empty; anything else throws JinjaFailure.
Array iterate(const Value& v);

// Python's str.strip()/lstrip()/rstrip(): `chars` null means whitespace.
std::string python_strip(const std::string& s, const std::string* chars, bool left, bool right);

}  // namespace hearth::chat
