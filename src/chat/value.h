#pragma once
// The dynamic value type of the Jinja interpreter. It mirrors the Python objects jinja2 works
// on (None, bool, int, float, str, list, dict, callables, Undefined) closely enough that
// printing, comparing and serializing give the same bytes as Python would.
//
// Lists and dicts are shared, immutable once built (templates run in an immutable sandbox, as
// in Hugging Face transformers), so copying a Value is cheap whatever its size. The one
// mutable container is namespace(), whose attributes `{% set ns.x = ... %}` may change.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace hearth::chat {

class Value;
class Sandbox;

// json.dumps options, as Hugging Face's tojson filter passes them.
struct JsonStyle {
    int indent = -1;  // < 0: everything on one line
    std::string item_separator = ", ";
    std::string key_separator = ": ";
    bool sort_keys = false;
    bool ensure_ascii = false;
};

using Array = std::vector<Value>;

class Object;
struct Callable;
struct CallArgs;
using NativeFunction = std::function<Value(Sandbox&, CallArgs&)>;

class Value {
  public:
    enum class Kind { Undefined, None, Bool, Int, Float, String, Array, Object, Callable };

    Value() = default;  // Undefined
    static Value undefined(std::string hint = {});
    static Value none();
    Value(bool b);
    Value(int64_t i);
    Value(int i) : Value(static_cast<int64_t>(i)) {}
    Value(double f);
    Value(std::string s);
    Value(const char* s) : Value(std::string(s)) {}
    // A string marked safe (jinja2's Markup, made by the `safe` filter): adding a plain string
    // to it HTML-escapes the plain one, which some templates rely on without meaning to.
    static Value markup(std::string s);
    static Value array(Array items, bool is_generator = false);
    static Value tuple(Array items);  // a list that prints as (a, b), like Python's tuple
    static Value object(Object obj, bool is_namespace = false);
    static Value callable(std::string name, NativeFunction fn);
    // From parsed JSON. With nlohmann::ordered_json, dict keys keep the caller's order (as
    // Python dicts do, which is what tojson then prints); nlohmann::json sorts them.
    static Value from_json(const nlohmann::json& j);
    static Value from_json(const nlohmann::ordered_json& j);

    Kind kind() const { return kind_; }
    bool is_undefined() const { return kind_ == Kind::Undefined; }
    bool is_none() const { return kind_ == Kind::None; }
    bool is_bool() const { return kind_ == Kind::Bool; }
    bool is_int() const { return kind_ == Kind::Int; }
    bool is_float() const { return kind_ == Kind::Float; }
    bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || is_bool(); }
    bool is_string() const { return kind_ == Kind::String; }
    bool is_array() const { return kind_ == Kind::Array; }
    bool is_object() const { return kind_ == Kind::Object; }
    bool is_callable() const { return kind_ == Kind::Callable; }
    // Results of map/select/... are generators in jinja2: iterable once, no len(), no JSON.
    bool is_generator() const { return is_generator_; }
    bool is_namespace() const { return is_namespace_; }
    bool is_markup() const { return is_markup_; }
    bool is_tuple() const { return is_tuple_; }

    bool as_bool() const { return bool_; }
    int64_t as_int() const { return int_; }
    double as_double() const;  // Int, Float or Bool
    const std::string& as_string() const { return *string_; }
    const Array& as_array() const { return *array_; }
    const Object& as_object() const { return *object_; }
    // The one mutable access: namespace() attributes and the interpreter's own loop object.
    Object& mutable_object() const { return *object_; }
    const Callable& as_callable() const { return *callable_; }
    // For Undefined: what was missing ("'x' is undefined"), used in error messages.
    const std::string& undefined_hint() const { return *string_; }

    bool truthy() const;
    // Python's type name, for error messages: "str", "list", "dict", "NoneType"...
    std::string type_name() const;
    // str(value) as Python prints it: None, True, 1.5, ['a', 1], {'k': 'v'}.
    std::string to_str() const;
    // repr(value): strings quoted.
    std::string repr() const;
    // json.dumps(value, ...) with Python's exact spacing and escaping.
    // Throws hearth::Error for values JSON cannot hold (Undefined, callables, generators).
    std::string to_json(const JsonStyle& style = {}) const;
    nlohmann::json to_nlohmann() const;
    // Python ==.
    bool equals(const Value& other) const;
    // Rough size in bytes, for the sandbox's value-size limit.
    size_t approximate_size() const;

  private:
    Kind kind_ = Kind::Undefined;
    bool bool_ = false;
    bool is_generator_ = false;
    bool is_namespace_ = false;
    bool is_markup_ = false;
    bool is_tuple_ = false;
    int64_t int_ = 0;
    double float_ = 0;
    std::shared_ptr<const std::string> string_;
    std::shared_ptr<const Array> array_;
    std::shared_ptr<Object> object_;
    std::shared_ptr<const Callable> callable_;
};

// A dict that keeps insertion order, as Python dicts do. Keys are nearly always strings (chat
// data comes from JSON), so entries store a string; the rare number/bool/None key that a
// template writes in a dict literal is stored under an encoded string that cannot collide
// with real text, and key_value() gives the original back.
class Object {
  public:
    const Value* find(std::string_view key) const;
    const Value* find_key(const Value& key) const;
    void set(const std::string& key, Value value);
    void set_key(const Value& key, Value value);  // throws JinjaFailure for unhashable keys
    // Replaces the value of the entry at `position` (insertion order), keeping its key.
    void set_at(size_t position, Value value);
    const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }
    // The key of an entry as the template sees it (a string, or the original non-string key).
    Value key_value(const std::string& stored_key) const;
    size_t size() const { return entries_.size(); }

  private:
    std::vector<std::pair<std::string, Value>> entries_;
    std::unordered_map<std::string, size_t> index_;
    std::shared_ptr<std::unordered_map<std::string, Value>> special_keys_;
};

// Arguments of a call: positional then keyword, in source order.
struct CallArgs {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> keyword;
};

struct Callable {
    std::string name;
    NativeFunction call;
};

// Python's repr() of a float (shortest round-trip, "1.0" for integral values).
std::string format_python_float(double f);
// Python's repr() of a string (single quotes unless the string holds one and no double quote).
std::string python_string_repr(std::string_view s);

}  // namespace hearth::chat
