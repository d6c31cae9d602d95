#pragma once
// GGUF metadata values: scalars, strings and (possibly nested) arrays.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hearth::gguf {

// Value type ids as stored in GGUF files.
enum class ValueType : uint32_t {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
};

std::string_view value_type_name(ValueType type);

class Value;

struct Array {
    ValueType element_type = ValueType::U8;
    std::vector<Value> items;
};

class Value {
  public:
    Value() = default;
    static Value u8(uint8_t v) { return Value(ValueType::U8, uint64_t{v}); }
    static Value i8(int8_t v) { return Value(ValueType::I8, int64_t{v}); }
    static Value u16(uint16_t v) { return Value(ValueType::U16, uint64_t{v}); }
    static Value i16(int16_t v) { return Value(ValueType::I16, int64_t{v}); }
    static Value u32(uint32_t v) { return Value(ValueType::U32, uint64_t{v}); }
    static Value i32(int32_t v) { return Value(ValueType::I32, int64_t{v}); }
    static Value u64(uint64_t v) { return Value(ValueType::U64, v); }
    static Value i64(int64_t v) { return Value(ValueType::I64, v); }
    static Value f32(float v) { return Value(ValueType::F32, double{v}); }
    static Value f64(double v) { return Value(ValueType::F64, v); }
    static Value boolean(bool v) { return Value(ValueType::Bool, v); }
    static Value string(std::string v) { return Value(ValueType::String, std::move(v)); }
    static Value array(ValueType element_type, std::vector<Value> items);

    ValueType type() const { return type_; }
    bool is_integer() const;
    bool is_number() const {
        return is_integer() || type_ == ValueType::F32 || type_ == ValueType::F64;
    }

    // Accessors throw hearth::Error naming the expected and actual types when they do not fit.
    uint64_t as_u64() const;  // any non-negative integer
    int64_t as_i64() const;   // any integer that fits
    double as_f64() const;    // any number
    bool as_bool() const;
    const std::string& as_string() const;
    const Array& as_array() const;

    // A short human-readable rendering ("[512 x string]" for long arrays).
    std::string to_display_string(size_t max_items = 8) const;

    bool operator==(const Value& other) const;

  private:
    using Storage = std::variant<std::monostate, uint64_t, int64_t, double, bool, std::string,
                                 std::shared_ptr<Array>>;
    Value(ValueType type, Storage storage) : type_(type), storage_(std::move(storage)) {}

    ValueType type_ = ValueType::U8;
    Storage storage_;
};

}  // namespace hearth::gguf
