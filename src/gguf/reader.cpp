#include "gguf/reader.h"

#include <cstring>
#include <limits>

#include "core/error.h"
#include "gguf/split.h"

namespace hearth::gguf {

namespace {
constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr int kMaxArrayDepth = 8;        // real files nest at most 2 deep
}  // namespace

std::string TensorInfo::shape_string() const {
    std::string out = "[";
    for (int i = 0; i < n_dims; ++i) out += (i ? ", " : "") + std::to_string(ne[i]);
    return out + "]";
}

// Reads the header with a bounds-checked cursor; every failure says where and what.
class Parser {
  public:
    Parser(File& file, bool header_only = false) : f_(file), header_only_(header_only) {}

    void run() {
        read_header();
        uint64_t n_tensors = read_u64("tensor count");
        uint64_t n_kv = read_u64("metadata count");
        // Each key/value takes at least 8 (key length) + 4 (type) + 1 bytes, each tensor info
        // at least 8 + 4 + 4 + 8 bytes: counts beyond what the file can hold are lies.
        if (n_kv > remaining() / 13)
            past_end("metadata count " + std::to_string(n_kv) + " is larger than the file can hold");
        if (n_tensors > remaining() / 24)
            past_end("tensor count " + std::to_string(n_tensors) +
                     " is larger than the file can hold");
        read_metadata(n_kv);
        read_alignment();
        read_tensor_infos(n_tensors);
        if (!header_only_) place_tensor_data();
    }

  private:
    File& f_;
    bool header_only_;
    uint64_t pos_ = 0;

    // Running out of bytes: a truncated file, or for a header read from the start of a file,
    // a sign that more of the file is needed.
    [[noreturn]] void past_end(const std::string& what) const {
        if (header_only_) throw HeaderNeedsMoreBytes("'" + f_.name_ + "': " + what);
        fail(what);
    }

    uint64_t remaining() const { return f_.size_ - pos_; }

    [[noreturn]] void fail(const std::string& what) const {
        throw Error("invalid GGUF file '" + f_.name_ + "': " + what + " (at byte " +
                    std::to_string(pos_) + ")");
    }

    void need(uint64_t n, const char* what) {
        if (n > remaining()) {
            past_end(std::string("file is truncated: ") + what + " needs " + std::to_string(n) +
                 " bytes but only " + std::to_string(remaining()) + " remain");
        }
    }

    template <typename T>
    T read_raw(const char* what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, f_.base_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    uint32_t read_u32(const char* what) { return read_raw<uint32_t>(what); }
    uint64_t read_u64(const char* what) { return read_raw<uint64_t>(what); }

    std::string read_string(const char* what) {
        uint64_t len = read_u64(what);
        if (len > remaining()) {
            past_end(std::string(what) + " length " + std::to_string(len) +
                 " runs past the end of the file (" + std::to_string(remaining()) +
                 " bytes remain)");
        }
        std::string s(reinterpret_cast<const char*>(f_.base_ + pos_), len);
        pos_ += len;
        return s;
    }

    void read_header() {
        if (f_.size_ < 4)
            past_end("file is too small to be GGUF (" + std::to_string(f_.size_) + " bytes)");
        uint32_t magic = read_u32("magic");
        if (magic != kMagic) {
            char shown[5] = {};
            std::memcpy(shown, &magic, 4);
            for (char& c : shown)
                if (c && (c < 32 || c > 126)) c = '?';
            fail(std::string("bad magic '") + shown + "': not a GGUF file (expected 'GGUF')");
        }
        uint32_t version = read_u32("version");
        if (version == 0x02000000 || version == 0x03000000) {
            fail(
                "this is a big-endian GGUF file; hearth reads little-endian files only "
                "(convert it with a little-endian export)");
        }
        if (version == 1)
            fail(
                "GGUF version 1 is obsolete and not supported; re-convert the model (versions 2 "
                "and 3 are read)");
        if (version != 2 && version != 3)
            fail("unsupported GGUF version " + std::to_string(version) +
                 " (versions 2 and 3 are read)");
        f_.version_ = version;
    }

    ValueType read_value_type(const char* what) {
        uint32_t t = read_u32(what);
        if (t > static_cast<uint32_t>(ValueType::F64))
            fail("unknown metadata value type " + std::to_string(t));
        return static_cast<ValueType>(t);
    }

    static uint64_t min_size(ValueType t) {
        switch (t) {
            case ValueType::U8:
            case ValueType::I8:
            case ValueType::Bool:
                return 1;
            case ValueType::U16:
            case ValueType::I16:
                return 2;
            case ValueType::U32:
            case ValueType::I32:
            case ValueType::F32:
                return 4;
            case ValueType::String:
                return 8;
            case ValueType::Array:
                return 12;
            default:
                return 8;
        }
    }

    Value read_value(ValueType type, int depth) {
        switch (type) {
            case ValueType::U8:
                return Value::u8(read_raw<uint8_t>("u8 value"));
            case ValueType::I8:
                return Value::i8(read_raw<int8_t>("i8 value"));
            case ValueType::U16:
                return Value::u16(read_raw<uint16_t>("u16 value"));
            case ValueType::I16:
                return Value::i16(read_raw<int16_t>("i16 value"));
            case ValueType::U32:
                return Value::u32(read_raw<uint32_t>("u32 value"));
            case ValueType::I32:
                return Value::i32(read_raw<int32_t>("i32 value"));
            case ValueType::U64:
                return Value::u64(read_raw<uint64_t>("u64 value"));
            case ValueType::I64:
                return Value::i64(read_raw<int64_t>("i64 value"));
            case ValueType::F32:
                return Value::f32(read_raw<float>("f32 value"));
            case ValueType::F64:
                return Value::f64(read_raw<double>("f64 value"));
            case ValueType::Bool: {
                uint8_t b = read_raw<uint8_t>("bool value");
                if (b > 1) fail("bool value " + std::to_string(b) + " is neither 0 nor 1");
                return Value::boolean(b != 0);
            }
            case ValueType::String:
                return Value::string(read_string("string value"));
            case ValueType::Array: {
                if (depth >= kMaxArrayDepth)
                    fail("arrays nested deeper than " + std::to_string(kMaxArrayDepth));
                ValueType elem = read_value_type("array element type");
                uint64_t count = read_u64("array length");
                if (count > remaining() / min_size(elem)) {
                    past_end("array of " + std::to_string(count) + " " +
                         std::string(value_type_name(elem)) +
                         " values runs past the end of the file");
                }
                std::vector<Value> items;
                items.reserve(count);
                for (uint64_t i = 0; i < count; ++i) items.push_back(read_value(elem, depth + 1));
                return Value::array(elem, std::move(items));
            }
        }
        fail("unknown metadata value type");
    }

    void read_metadata(uint64_t n_kv) {
        f_.metadata_.reserve(n_kv);
        for (uint64_t i = 0; i < n_kv; ++i) {
            std::string key = read_string("metadata key");
            if (key.empty()) fail("metadata key #" + std::to_string(i) + " is empty");
            if (f_.key_index_.count(key)) fail("duplicate metadata key '" + key + "'");
            ValueType type = read_value_type("metadata value type");
            Value value = read_value(type, 0);
            f_.key_index_[key] = f_.metadata_.size();
            f_.metadata_.push_back({std::move(key), std::move(value)});
        }
    }

    void read_alignment() {
        const Value* v = f_.find("general.alignment");
        if (!v) return;
        if (v->type() != ValueType::U32)
            fail("general.alignment must be a u32, found " +
                 std::string(value_type_name(v->type())));
        uint64_t a = v->as_u64();
        if (a == 0 || (a & (a - 1)) != 0)
            fail("general.alignment " + std::to_string(a) + " is not a power of two");
        f_.alignment_ = static_cast<uint32_t>(a);
    }

    void read_tensor_infos(uint64_t n_tensors) {
        f_.tensors_.reserve(n_tensors);
        for (uint64_t i = 0; i < n_tensors; ++i) {
            TensorInfo t;
            t.name = read_string("tensor name");
            if (f_.tensor_index_.count(t.name)) fail("duplicate tensor name '" + t.name + "'");
            uint32_t n_dims = read_u32("tensor dimension count");
            if (n_dims == 0 || n_dims > kMaxDims) {
                fail("tensor '" + t.name + "' has " + std::to_string(n_dims) +
                     " dimensions (1 to 4 allowed)");
            }
            t.n_dims = static_cast<int>(n_dims);
            uint64_t n_elements = 1;
            for (uint32_t d = 0; d < n_dims; ++d) {
                uint64_t ne = read_u64("tensor dimension");
                if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                    fail("tensor '" + t.name + "' has invalid dimension " + std::to_string(ne));
                }
                if (n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / ne) {
                    fail("tensor '" + t.name + "' has dimensions whose product overflows");
                }
                n_elements *= ne;
                t.ne[d] = static_cast<int64_t>(ne);
            }
            uint32_t type_id = read_u32("tensor type");
            auto info = type_info(type_id);
            if (!info)
                fail("tensor '" + t.name + "' has unknown type id " + std::to_string(type_id));
            t.type = info->type;
            if (t.ne[0] % info->block_size != 0) {
                fail("tensor '" + t.name + "' row length " + std::to_string(t.ne[0]) +
                     " is not a multiple of the " + std::string(info->name) + " block size " +
                     std::to_string(info->block_size));
            }
            // n_elements <= 2^63 and bytes_per_block/block_size <= 8, so this cannot overflow u64
            // after dividing first.
            uint64_t n_blocks = n_elements / info->block_size;
            if (n_blocks > std::numeric_limits<uint64_t>::max() / info->bytes_per_block) {
                fail("tensor '" + t.name + "' byte size overflows");
            }
            t.n_bytes = n_blocks * info->bytes_per_block;
            t.offset = read_u64("tensor data offset");
            if (t.offset % f_.alignment_ != 0) {
                fail("tensor '" + t.name + "' data offset " + std::to_string(t.offset) +
                     " is not aligned to " + std::to_string(f_.alignment_) + " bytes");
            }
            f_.tensor_index_[t.name] = f_.tensors_.size();
            f_.tensors_.push_back(std::move(t));
        }
    }

    void place_tensor_data() {
        uint64_t a = f_.alignment_;
        uint64_t data_offset = (pos_ + a - 1) / a * a;
        if (data_offset > f_.size_) {
            if (!f_.tensors_.empty()) fail("file is truncated before its tensor data section");
            data_offset = f_.size_;
        }
        f_.data_offset_ = data_offset;
        uint64_t data_size = f_.size_ - data_offset;
        for (TensorInfo& t : f_.tensors_) {
            if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
                fail("tensor '" + t.name + "' data (offset " + std::to_string(t.offset) + ", " +
                     std::to_string(t.n_bytes) +
                     " bytes) runs past the end of the file; the file is truncated or corrupt");
            }
            t.data = f_.base_ + data_offset + t.offset;
        }
    }
};

File File::open_part(const std::string& path) {
    auto mapping = std::make_shared<MappedFile>(path);
    File f = parse(mapping->data(), mapping->size(), path);
    f.mappings_.push_back(std::move(mapping));
    return f;
}

File File::open(const std::string& path) {
    File f = open_part(path);
    const uint64_t count = f.get_u64(kSplitCount, 1);
    if (count > 1) f.join_split_parts(path, count);
    return f;
}

// Opens parts 2..count beside the first and adopts their tensors, checking that they are this
// model's parts, in order, and that together they hold the tensor count the first part states.
void File::join_split_parts(const std::string& path, uint64_t count) {
    const std::string count_text = std::to_string(count);
    SplitName name;
    if (!parse_split_name(path, name) || static_cast<uint64_t>(name.count) != count)
        throw Error("'" + path + "' is part of a model split in " + count_text +
                    " files, but its name is not of the form " +
                    split_part_path("NAME", 1, static_cast<int>(count)) +
                    " that finds the other parts: keep the names gguf-split gave them");
    const uint64_t no = get_u64(kSplitNo, 0);
    if (no != 0 || name.index != 1)
        throw Error("'" + path + "' is part " + std::to_string(no + 1) + " of " + count_text +
                    " of a split model: open the first part, '" +
                    split_part_path(name.stem, 1, name.count) + "'");
    for (int index = 2; index <= name.count; ++index) {
        const std::string part_path = split_part_path(name.stem, index, name.count);
        File part;
        try {
            part = open_part(part_path);
        } catch (const Error& e) {
            throw Error("part " + std::to_string(index) + " of " + count_text + " of '" + path +
                        "' cannot be read (" + e.what() +
                        "); every part must sit beside the first: pull the model again");
        }
        if (part.get_u64(kSplitCount, 1) != count || part.get_u64(kSplitNo, 0) != uint64_t(index - 1))
            throw Error("'" + part_path + "' is not part " + std::to_string(index) + " of " +
                        count_text + " of this model (its split.no / split.count say otherwise)");
        for (TensorInfo& t : part.tensors_) {
            if (tensor_index_.count(t.name))
                throw Error("tensor '" + t.name + "' is in two parts of '" + path + "' (again in '" +
                            part_path + "')");
            tensor_index_[t.name] = tensors_.size();
            tensors_.push_back(std::move(t));
        }
        size_ += part.size_;
        mappings_.push_back(std::move(part.mappings_.front()));
    }
    const uint64_t expected = get_u64(kSplitTensorsCount, tensors_.size());
    if (expected != tensors_.size())
        throw Error("the parts of '" + path + "' hold " + std::to_string(tensors_.size()) +
                    " tensors but the first part says " + std::to_string(expected) +
                    " (split.tensors.count): a part is damaged or from another model");
}

void File::release_pages(const void* p, size_t n) const {
    const auto* byte = static_cast<const uint8_t*>(p);
    for (const auto& m : mappings_) {
        if (byte >= m->data() && byte + n <= m->data() + m->size()) return m->release_pages(p, n);
    }
}

File File::parse(const uint8_t* data, size_t size, const std::string& name) {
    File f;
    f.name_ = name;
    f.base_ = data;
    f.size_ = size;
    Parser(f).run();
    return f;
}

File File::parse_header(const uint8_t* data, size_t size, const std::string& name) {
    File f;
    f.name_ = name;
    f.base_ = data;
    f.size_ = size;
    Parser(f, true).run();
    f.base_ = nullptr;  // the caller's bytes may go now: nothing points into them
    return f;
}

const Value* File::find(const std::string& key) const {
    auto it = key_index_.find(key);
    return it == key_index_.end() ? nullptr : &metadata_[it->second].value;
}

namespace {
const Value& require(const File& f, const std::string& key) {
    const Value* v = f.find(key);
    if (!v) throw Error("'" + f.name() + "' has no metadata key '" + key + "'");
    return *v;
}
template <typename Fn>
auto with_key(const File& f, const std::string& key, Fn fn) {
    try {
        return fn(require(f, key));
    } catch (const Error& e) {
        if (std::string(e.what()).find(key) != std::string::npos) throw;
        throw Error("'" + f.name() + "' key '" + key + "': " + e.what());
    }
}
}  // namespace

std::string File::get_string(const std::string& key) const {
    return with_key(*this, key, [](const Value& v) { return v.as_string(); });
}
std::string File::get_string(const std::string& key, const std::string& fallback) const {
    return has(key) ? get_string(key) : fallback;
}
uint64_t File::get_u64(const std::string& key) const {
    return with_key(*this, key, [](const Value& v) { return v.as_u64(); });
}
uint64_t File::get_u64(const std::string& key, uint64_t fallback) const {
    return has(key) ? get_u64(key) : fallback;
}
double File::get_f64(const std::string& key, double fallback) const {
    return has(key) ? with_key(*this, key, [](const Value& v) { return v.as_f64(); }) : fallback;
}
bool File::get_bool(const std::string& key, bool fallback) const {
    return has(key) ? with_key(*this, key, [](const Value& v) { return v.as_bool(); }) : fallback;
}

const TensorInfo* File::find_tensor(const std::string& name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& File::tensor(const std::string& name) const {
    const TensorInfo* t = find_tensor(name);
    if (!t)
        throw Error("'" + name_ + "' has no tensor '" + name +
                    "'; the file is incomplete or not this architecture");
    return *t;
}

}  // namespace hearth::gguf
