#include "gguf/value.h"

#include <cstdio>
#include <limits>

#include "core/error.h"

namespace hearth::gguf {

std::string_view value_type_name(ValueType type) {
    switch (type) {
        case ValueType::U8:
            return "u8";
        case ValueType::I8:
            return "i8";
        case ValueType::U16:
            return "u16";
        case ValueType::I16:
            return "i16";
        case ValueType::U32:
            return "u32";
        case ValueType::I32:
            return "i32";
        case ValueType::F32:
            return "f32";
        case ValueType::Bool:
            return "bool";
        case ValueType::String:
            return "string";
        case ValueType::Array:
            return "array";
        case ValueType::U64:
            return "u64";
        case ValueType::I64:
            return "i64";
        case ValueType::F64:
            return "f64";
    }
    return "unknown";
}

Value Value::array(ValueType element_type, std::vector<Value> items) {
    auto arr = std::make_shared<Array>();
    arr->element_type = element_type;
    arr->items = std::move(items);
    return Value(ValueType::Array, std::move(arr));
}

bool Value::is_integer() const {
    switch (type_) {
        case ValueType::U8:
        case ValueType::I8:
        case ValueType::U16:
        case ValueType::I16:
        case ValueType::U32:
        case ValueType::I32:
        case ValueType::U64:
        case ValueType::I64:
            return true;
        default:
            return false;
    }
}

namespace {
[[noreturn]] void wrong_type(std::string_view wanted, ValueType actual) {
    throw Error("metadata value is " + std::string(value_type_name(actual)) + ", expected " +
                std::string(wanted));
}
}  // namespace

uint64_t Value::as_u64() const {
    if (auto* u = std::get_if<uint64_t>(&storage_)) return *u;
    if (auto* i = std::get_if<int64_t>(&storage_)) {
        if (*i < 0) throw Error("metadata value " + std::to_string(*i) + " is negative");
        return static_cast<uint64_t>(*i);
    }
    wrong_type("an unsigned integer", type_);
}

int64_t Value::as_i64() const {
    if (auto* i = std::get_if<int64_t>(&storage_)) return *i;
    if (auto* u = std::get_if<uint64_t>(&storage_)) {
        if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            throw Error("metadata value " + std::to_string(*u) + " does not fit in i64");
        return static_cast<int64_t>(*u);
    }
    wrong_type("an integer", type_);
}

double Value::as_f64() const {
    if (auto* d = std::get_if<double>(&storage_)) return *d;
    if (auto* u = std::get_if<uint64_t>(&storage_)) return static_cast<double>(*u);
    if (auto* i = std::get_if<int64_t>(&storage_)) return static_cast<double>(*i);
    wrong_type("a number", type_);
}

bool Value::as_bool() const {
    if (auto* b = std::get_if<bool>(&storage_)) return *b;
    wrong_type("bool", type_);
}

const std::string& Value::as_string() const {
    if (auto* s = std::get_if<std::string>(&storage_)) return *s;
    wrong_type("string", type_);
}

const Array& Value::as_array() const {
    if (auto* a = std::get_if<std::shared_ptr<Array>>(&storage_)) return **a;
    wrong_type("array", type_);
}

std::string Value::to_display_string(size_t max_items) const {
    switch (type_) {
        case ValueType::String: {
            const std::string& s = as_string();
            std::string out = "\"";
            if (s.size() > 80) {
                out.append(s, 0, 77);
                out += "...\" (" + std::to_string(s.size()) + " bytes)";
            } else {
                out += s;
                out += '"';
            }
            return out;
        }
        case ValueType::Bool:
            return as_bool() ? "true" : "false";
        case ValueType::F32:
        case ValueType::F64: {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%g", as_f64());
            return buf;
        }
        case ValueType::Array: {
            const Array& arr = as_array();
            std::string out = "[";
            out += std::to_string(arr.items.size()) + " x " +
                   std::string(value_type_name(arr.element_type));
            if (arr.items.size() <= max_items) {
                out += ":";
                for (size_t i = 0; i < arr.items.size(); ++i) {
                    out += (i ? ", " : " ") + arr.items[i].to_display_string(max_items);
                }
            }
            return out + "]";
        }
        default:
            if (std::holds_alternative<int64_t>(storage_)) return std::to_string(as_i64());
            return std::to_string(as_u64());
    }
}

bool Value::operator==(const Value& other) const {
    if (type_ != other.type_) return false;
    if (type_ == ValueType::Array) {
        const Array& a = as_array();
        const Array& b = other.as_array();
        return a.element_type == b.element_type && a.items == b.items;
    }
    return storage_ == other.storage_;
}

}  // namespace hearth::gguf
