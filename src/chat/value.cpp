#include "chat/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "chat/errors.h"
#include "core/utf8.h"

namespace hearth::chat {

// Small dicts (messages, tool calls, loop objects) are scanned; the hash index is only built
// once a dict grows past kIndexThreshold entries.
constexpr size_t kIndexThreshold = 12;

const Value* Object::find(std::string_view key) const {
    if (index_.empty()) {
        for (const auto& entry : entries_) {
            if (entry.first == key) return &entry.second;
        }
        return nullptr;
    }
    auto it = index_.find(std::string(key));
    return it == index_.end() ? nullptr : &entries_[it->second].second;
}

void Object::set(const std::string& key, Value value) {
    if (index_.empty()) {
        for (auto& entry : entries_) {
            if (entry.first == key) {
                entry.second = std::move(value);
                return;
            }
        }
        entries_.emplace_back(key, std::move(value));
        if (entries_.size() > kIndexThreshold) {
            for (size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].first, i);
        }
        return;
    }
    auto it = index_.find(key);
    if (it != index_.end()) {
        entries_[it->second].second = std::move(value);
        return;
    }
    index_.emplace(key, entries_.size());
    entries_.emplace_back(key, std::move(value));
}

namespace {

constexpr char kSpecialKeyMark = '\x02';

// Python treats 1, 1.0 and True as the same dict key; so do we.
std::string encode_key(const Value& key) {
    if (key.is_string()) return key.as_string();
    if (key.is_none()) return std::string(1, kSpecialKeyMark) + "N";
    if (key.is_number()) {
        double d = key.as_double();
        if (!key.is_float() || (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e18)) {
            int64_t i = key.is_float()  ? static_cast<int64_t>(d)
                        : key.is_bool() ? key.as_bool()
                                        : key.as_int();
            return std::string(1, kSpecialKeyMark) + "n" + std::to_string(i);
        }
        return std::string(1, kSpecialKeyMark) + "f" + format_python_float(d);
    }
    throw JinjaFailure("unhashable type: '" + key.type_name() + "'");
}

}  // namespace

void Object::set_at(size_t position, Value value) {
    entries_[position].second = std::move(value);
}

const Value* Object::find_key(const Value& key) const {
    if (key.is_string()) return find(key.as_string());
    if (!special_keys_) return nullptr;
    if (!key.is_none() && !key.is_number()) return nullptr;
    return find(encode_key(key));
}

void Object::set_key(const Value& key, Value value) {
    if (key.is_string()) {
        set(key.as_string(), std::move(value));
        return;
    }
    std::string encoded = encode_key(key);
    if (!special_keys_) special_keys_ = std::make_shared<std::unordered_map<std::string, Value>>();
    special_keys_->emplace(encoded, key);
    set(encoded, std::move(value));
}

Value Object::key_value(const std::string& stored_key) const {
    if (special_keys_ && !stored_key.empty() && stored_key[0] == kSpecialKeyMark) {
        auto it = special_keys_->find(stored_key);
        if (it != special_keys_->end()) return it->second;
    }
    return Value(stored_key);
}

Value Value::undefined(std::string hint) {
    Value v;
    v.string_ = std::make_shared<const std::string>(std::move(hint));
    return v;
}

Value Value::none() {
    Value v;
    v.kind_ = Kind::None;
    return v;
}

Value::Value(bool b) : kind_(Kind::Bool), bool_(b) {}
Value::Value(int64_t i) : kind_(Kind::Int), int_(i) {}
Value::Value(double f) : kind_(Kind::Float), float_(f) {}
Value::Value(std::string s)
    : kind_(Kind::String), string_(std::make_shared<const std::string>(std::move(s))) {}

Value Value::markup(std::string s) {
    Value v(std::move(s));
    v.is_markup_ = true;
    return v;
}

Value Value::array(Array items, bool is_generator) {
    Value v;
    v.kind_ = Kind::Array;
    v.is_generator_ = is_generator;
    v.array_ = std::make_shared<const Array>(std::move(items));
    return v;
}

Value Value::tuple(Array items) {
    Value v = array(std::move(items));
    v.is_tuple_ = true;
    return v;
}

Value Value::object(Object obj, bool is_namespace) {
    Value v;
    v.kind_ = Kind::Object;
    v.is_namespace_ = is_namespace;
    v.object_ = std::make_shared<Object>(std::move(obj));
    return v;
}

Value Value::callable(std::string name, NativeFunction fn) {
    Value v;
    v.kind_ = Kind::Callable;
    v.callable_ = std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)});
    return v;
}

namespace {

template <typename Json>
Value value_from_json(const Json& j) {
    using value_t = nlohmann::json::value_t;
    switch (j.type()) {
        case value_t::null:
            return Value::none();
        case value_t::boolean:
            return Value(j.template get<bool>());
        case value_t::number_integer:
            return Value(j.template get<int64_t>());
        case value_t::number_unsigned:
            return Value(static_cast<int64_t>(j.template get<uint64_t>()));
        case value_t::number_float:
            return Value(j.template get<double>());
        case value_t::string:
            return Value(j.template get<std::string>());
        case value_t::array: {
            Array items;
            items.reserve(j.size());
            for (const auto& item : j) items.push_back(value_from_json(item));
            return Value::array(std::move(items));
        }
        case value_t::object: {
            Object obj;
            for (const auto& [key, item] : j.items()) obj.set(key, value_from_json(item));
            return Value::object(std::move(obj));
        }
        default:
            return Value::none();
    }
}

}  // namespace

Value Value::from_json(const nlohmann::json& j) {
    return value_from_json(j);
}
Value Value::from_json(const nlohmann::ordered_json& j) {
    return value_from_json(j);
}

double Value::as_double() const {
    if (kind_ == Kind::Float) return float_;
    if (kind_ == Kind::Bool) return bool_ ? 1.0 : 0.0;
    return static_cast<double>(int_);
}

bool Value::truthy() const {
    switch (kind_) {
        case Kind::Undefined:
        case Kind::None:
            return false;
        case Kind::Bool:
            return bool_;
        case Kind::Int:
            return int_ != 0;
        case Kind::Float:
            return float_ != 0.0;
        case Kind::String:
            return !string_->empty();
        case Kind::Array:
            return is_generator_ || !array_->empty();  // a generator object is always true
        case Kind::Object:
            return is_namespace_ || object_->size() > 0;
        case Kind::Callable:
            return true;
    }
    return false;
}

std::string Value::type_name() const {
    switch (kind_) {
        case Kind::Undefined:
            return "Undefined";
        case Kind::None:
            return "NoneType";
        case Kind::Bool:
            return "bool";
        case Kind::Int:
            return "int";
        case Kind::Float:
            return "float";
        case Kind::String:
            return "str";
        case Kind::Array:
            return is_generator_ ? "generator" : "list";
        case Kind::Object:
            return is_namespace_ ? "Namespace" : "dict";
        case Kind::Callable:
            return "function";
    }
    return "object";
}

std::string format_python_float(double f) {
    if (std::isnan(f)) return "nan";
    if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
    char buf[64];
    double magnitude = std::fabs(f);
    // Python's repr switches to exponent notation outside [1e-4, 1e16).
    bool scientific = magnitude != 0.0 && (magnitude < 1e-4 || magnitude >= 1e16);
    auto result =
        std::to_chars(buf, buf + sizeof(buf), f,
                      scientific ? std::chars_format::scientific : std::chars_format::fixed);
    std::string s(buf, result.ptr);
    if (!scientific && s.find('.') == std::string::npos) s += ".0";
    return s;
}

std::string python_string_repr(std::string_view s) {
    bool has_single = s.find('\'') != std::string_view::npos;
    bool has_double = s.find('"') != std::string_view::npos;
    char quote = (has_single && !has_double) ? '"' : '\'';
    std::string out(1, quote);
    for (unsigned char c : s) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == static_cast<unsigned char>(quote)) {
            out += '\\';
            out += quote;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    out += quote;
    return out;
}

std::string Value::to_str() const {
    switch (kind_) {
        case Kind::Undefined:
            return "";
        case Kind::None:
            return "None";
        case Kind::Bool:
            return bool_ ? "True" : "False";
        case Kind::Int:
            return std::to_string(int_);
        case Kind::Float:
            return format_python_float(float_);
        case Kind::String:
            return *string_;
        case Kind::Array: {
            if (is_generator_) return "<generator object>";
            std::string out = is_tuple_ ? "(" : "[";
            for (size_t i = 0; i < array_->size(); ++i) {
                if (i) out += ", ";
                out += (*array_)[i].repr();
            }
            if (is_tuple_ && array_->size() == 1) out += ",";
            return out + (is_tuple_ ? ")" : "]");
        }
        case Kind::Object: {
            std::string out = is_namespace_ ? "<Namespace {" : "{";
            bool first = true;
            for (const auto& [key, value] : object_->entries()) {
                if (!first) out += ", ";
                first = false;
                out += object_->key_value(key).repr() + ": " + value.repr();
            }
            return out + (is_namespace_ ? "}>" : "}");
        }
        case Kind::Callable:
            return "<function " + callable_->name + ">";
    }
    return "";
}

std::string Value::repr() const {
    if (kind_ == Kind::String) return python_string_repr(*string_);
    if (kind_ == Kind::Undefined) return "Undefined";
    return to_str();
}

namespace {

// \uXXXX (with surrogate pairs) for the code point starting at s[i]; advances i past it.
void append_ascii_escape(std::string& out, std::string_view s, size_t& i) {
    unsigned char lead = static_cast<unsigned char>(s[i]);
    size_t len = std::min(utf8::sequence_length(lead), s.size() - i);
    uint32_t cp = len <= 1 ? lead : lead & (0xFF >> (len + 1));
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    i += len > 0 ? len - 1 : 0;
    char buf[16];
    if (cp >= 0x10000) {
        cp -= 0x10000;
        std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xD800 + (cp >> 10),
                      0xDC00 + (cp & 0x3FF));
    } else {
        std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
    }
    out += buf;
}

void append_json_string(std::string& out, std::string_view s, bool ensure_ascii) {
    out += '"';
    for (size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof(buf), "\\u%04x", c);
                    out += buf;
                } else if (c >= 0x80 && ensure_ascii) {
                    append_ascii_escape(out, s, i);
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += '"';
}

// json.dumps turns non-string keys into strings: 1 -> "1", True -> "true", None -> "null".
void append_json_key(std::string& out, const Value& key, const JsonStyle& style) {
    if (key.is_string()) {
        append_json_string(out, key.as_string(), style.ensure_ascii);
    } else if (key.is_none()) {
        out += "\"null\"";
    } else if (key.is_bool()) {
        out += key.as_bool() ? "\"true\"" : "\"false\"";
    } else {
        out += '"' + key.to_str() + '"';
    }
}

void append_newline_indent(std::string& out, int indent, int depth) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent) * depth, ' ');
}

// json.dumps semantics: separators (", ", ": ") without indent, ("," , ": ") with it.
void append_json(std::string& out, const Value& v, const JsonStyle& style, int depth) {
    if (depth > 512) throw JinjaFailure("tojson: value nested too deeply");
    switch (v.kind()) {
        case Value::Kind::None:
            out += "null";
            return;
        case Value::Kind::Bool:
            out += v.as_bool() ? "true" : "false";
            return;
        case Value::Kind::Int:
            out += std::to_string(v.as_int());
            return;
        case Value::Kind::Float: {
            double f = v.as_double();
            if (std::isnan(f))
                out += "NaN";
            else if (std::isinf(f))
                out += f > 0 ? "Infinity" : "-Infinity";
            else
                out += format_python_float(f);
            return;
        }
        case Value::Kind::String:
            append_json_string(out, v.as_string(), style.ensure_ascii);
            return;
        case Value::Kind::Array: {
            if (v.is_generator()) {
                throw JinjaFailure("Object of type generator is not JSON serializable");
            }
            const Array& items = v.as_array();
            if (items.empty()) {
                out += "[]";
                return;
            }
            out += '[';
            for (size_t i = 0; i < items.size(); ++i) {
                if (i) out += style.item_separator;
                append_newline_indent(out, style.indent, depth + 1);
                append_json(out, items[i], style, depth + 1);
            }
            append_newline_indent(out, style.indent, depth);
            out += ']';
            return;
        }
        case Value::Kind::Object: {
            if (v.is_namespace()) {
                throw JinjaFailure("Object of type Namespace is not JSON serializable");
            }
            std::vector<const std::pair<std::string, Value>*> entries;
            for (const auto& entry : v.as_object().entries()) entries.push_back(&entry);
            if (entries.empty()) {
                out += "{}";
                return;
            }
            if (style.sort_keys) {
                std::stable_sort(entries.begin(), entries.end(),
                                 [](auto* a, auto* b) { return a->first < b->first; });
            }
            out += '{';
            for (size_t i = 0; i < entries.size(); ++i) {
                if (i) out += style.item_separator;
                append_newline_indent(out, style.indent, depth + 1);
                append_json_key(out, v.as_object().key_value(entries[i]->first), style);
                out += style.key_separator;
                append_json(out, entries[i]->second, style, depth + 1);
            }
            append_newline_indent(out, style.indent, depth);
            out += '}';
            return;
        }
        case Value::Kind::Undefined:
            throw JinjaFailure("Object of type Undefined is not JSON serializable");
        case Value::Kind::Callable:
            throw JinjaFailure("Object of type function is not JSON serializable");
    }
}

}  // namespace

std::string Value::to_json(const JsonStyle& style) const {
    std::string out;
    append_json(out, *this, style, 0);
    return out;
}

nlohmann::json Value::to_nlohmann() const {
    switch (kind_) {
        case Kind::Bool:
            return bool_;
        case Kind::Int:
            return int_;
        case Kind::Float:
            return float_;
        case Kind::String:
            return *string_;
        case Kind::Array: {
            nlohmann::json j = nlohmann::json::array();
            for (const auto& item : *array_) j.push_back(item.to_nlohmann());
            return j;
        }
        case Kind::Object: {
            nlohmann::json j = nlohmann::json::object();
            for (const auto& [key, item] : object_->entries())
                j[object_->key_value(key).to_str()] = item.to_nlohmann();
            return j;
        }
        default:
            return nullptr;
    }
}

bool Value::equals(const Value& other) const {
    if (is_number() && other.is_number()) {
        if (kind_ != Kind::Float && other.kind_ != Kind::Float) {
            int64_t a = is_bool() ? bool_ : int_;
            int64_t b = other.is_bool() ? other.bool_ : other.int_;
            return a == b;
        }
        return as_double() == other.as_double();
    }
    if (kind_ != other.kind_) return false;
    switch (kind_) {
        case Kind::Undefined:
        case Kind::None:
            return true;
        case Kind::String:
            return *string_ == *other.string_;
        case Kind::Array: {
            if (array_ == other.array_) return true;
            if (is_tuple_ != other.is_tuple_) return false;  // Python: (1,) != [1]
            if (array_->size() != other.array_->size()) return false;
            for (size_t i = 0; i < array_->size(); ++i) {
                if (!(*array_)[i].equals((*other.array_)[i])) return false;
            }
            return true;
        }
        case Kind::Object: {
            if (object_ == other.object_) return true;
            if (object_->size() != other.object_->size()) return false;
            for (const auto& [key, value] : object_->entries()) {
                const Value* theirs = other.object_->find(key);
                if (!theirs || !value.equals(*theirs)) return false;
            }
            return true;
        }
        case Kind::Callable:
            return callable_ == other.callable_;
        default:
            return false;
    }
}

size_t Value::approximate_size() const {
    switch (kind_) {
        case Kind::String:
            return string_->size() + 16;
        case Kind::Array: {
            size_t total = 16;
            for (const auto& item : *array_) total += item.approximate_size();
            return total;
        }
        case Kind::Object: {
            size_t total = 16;
            for (const auto& [key, item] : object_->entries()) {
                total += key.size() + item.approximate_size();
            }
            return total;
        }
        default:
            return 16;
    }
}

}  // namespace hearth::chat
