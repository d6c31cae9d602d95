#include "gguf/writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"

namespace hearth::gguf {

namespace {

class Output {
  public:
    explicit Output(const std::string& path) : path_(path), file_(std::fopen(path.c_str(), "wb")) {
        if (!file_) throw Error("cannot create '" + path + "': " + std::strerror(errno));
    }
    ~Output() {
        if (file_) std::fclose(file_);
    }
    void bytes(const void* p, size_t n) {
        if (n && std::fwrite(p, 1, n, file_) != n)
            throw Error("write to '" + path_ + "' failed: " + std::strerror(errno));
        written_ += n;
    }
    template <typename T>
    void raw(T v) {
        bytes(&v, sizeof v);
    }
    void string(const std::string& s) {
        raw<uint64_t>(s.size());
        bytes(s.data(), s.size());
    }
    void pad_to(uint64_t alignment) {
        static const uint8_t zeros[256] = {};
        uint64_t pad = (alignment - written_ % alignment) % alignment;
        while (pad > 0) {
            uint64_t n = pad < sizeof zeros ? pad : sizeof zeros;
            bytes(zeros, n);
            pad -= n;
        }
    }
    void close() {
        if (std::fflush(file_) != 0 || std::fclose(file_) != 0) {
            file_ = nullptr;
            throw Error("write to '" + path_ + "' failed: " + std::strerror(errno));
        }
        file_ = nullptr;
    }
    uint64_t written() const { return written_; }

  private:
    std::string path_;
    FILE* file_;
    uint64_t written_ = 0;
};

void write_value(Output& out, const Value& v) {
    switch (v.type()) {
        case ValueType::U8:
            out.raw<uint8_t>(static_cast<uint8_t>(v.as_u64()));
            break;
        case ValueType::I8:
            out.raw<int8_t>(static_cast<int8_t>(v.as_i64()));
            break;
        case ValueType::U16:
            out.raw<uint16_t>(static_cast<uint16_t>(v.as_u64()));
            break;
        case ValueType::I16:
            out.raw<int16_t>(static_cast<int16_t>(v.as_i64()));
            break;
        case ValueType::U32:
            out.raw<uint32_t>(static_cast<uint32_t>(v.as_u64()));
            break;
        case ValueType::I32:
            out.raw<int32_t>(static_cast<int32_t>(v.as_i64()));
            break;
        case ValueType::U64:
            out.raw<uint64_t>(v.as_u64());
            break;
        case ValueType::I64:
            out.raw<int64_t>(v.as_i64());
            break;
        case ValueType::F32:
            out.raw<float>(static_cast<float>(v.as_f64()));
            break;
        case ValueType::F64:
            out.raw<double>(v.as_f64());
            break;
        case ValueType::Bool:
            out.raw<uint8_t>(v.as_bool() ? 1 : 0);
            break;
        case ValueType::String:
            out.string(v.as_string());
            break;
        case ValueType::Array: {
            const Array& arr = v.as_array();
            out.raw<uint32_t>(static_cast<uint32_t>(arr.element_type));
            out.raw<uint64_t>(arr.items.size());
            for (const Value& item : arr.items) {
                if (item.type() != arr.element_type)
                    throw Error("array element type mismatch while writing GGUF");
                write_value(out, item);
            }
            break;
        }
    }
}

}  // namespace

Writer::Writer(uint32_t alignment) : alignment_(alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        throw Error("GGUF alignment must be a power of two");
    if (alignment != kDefaultAlignment) set("general.alignment", Value::u32(alignment));
}

void Writer::set(const std::string& key, Value value) {
    for (KeyValue& kv : metadata_) {
        if (kv.key == key) {
            kv.value = std::move(value);
            return;
        }
    }
    metadata_.push_back({key, std::move(value)});
}

void Writer::remove(const std::string& key) {
    std::erase_if(metadata_, [&](const KeyValue& kv) { return kv.key == key; });
}

void Writer::add_tensor(const std::string& name, TensorType type, std::vector<int64_t> dims,
                        Producer produce) {
    if (dims.empty() || dims.size() > kMaxDims)
        throw Error("tensor '" + name + "' needs 1 to 4 dimensions");
    uint64_t n = 1;
    for (int64_t d : dims) {
        if (d <= 0) throw Error("tensor '" + name + "' has a non-positive dimension");
        n *= static_cast<uint64_t>(d);
    }
    const TypeInfo& info = type_info(type);
    if (dims[0] % info.block_size != 0) {
        throw Error("tensor '" + name + "' row length " + std::to_string(dims[0]) +
                    " is not a multiple of the " + std::string(info.name) + " block size " +
                    std::to_string(info.block_size));
    }
    for (const auto& t : tensors_) {
        if (t.name == name) throw Error("duplicate tensor name '" + name + "'");
    }
    tensors_.push_back({name, type, std::move(dims), bytes_for(type, n), std::move(produce)});
}

void Writer::add_tensor(const std::string& name, TensorType type, std::vector<int64_t> dims,
                        std::vector<uint8_t> bytes) {
    auto shared = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
    add_tensor(name, type, std::move(dims), [shared, name](uint8_t* out, uint64_t n) {
        if (shared->size() != n)
            throw Error("tensor '" + name + "' has " + std::to_string(shared->size()) +
                        " bytes, expected " + std::to_string(n));
        std::memcpy(out, shared->data(), n);
    });
}

void Writer::write(const std::string& path, const Progress& progress) const {
    const std::string partial = path + ".partial";
    {
        Output out(partial);
        out.raw<uint32_t>(0x46554747);
        out.raw<uint32_t>(3);
        out.raw<uint64_t>(tensors_.size());
        out.raw<uint64_t>(metadata_.size());
        for (const KeyValue& kv : metadata_) {
            out.string(kv.key);
            out.raw<uint32_t>(static_cast<uint32_t>(kv.value.type()));
            write_value(out, kv.value);
        }
        uint64_t offset = 0;
        for (const auto& t : tensors_) {
            out.string(t.name);
            out.raw<uint32_t>(static_cast<uint32_t>(t.dims.size()));
            for (int64_t d : t.dims) out.raw<uint64_t>(static_cast<uint64_t>(d));
            out.raw<uint32_t>(static_cast<uint32_t>(t.type));
            out.raw<uint64_t>(offset);
            offset += (t.n_bytes + alignment_ - 1) / alignment_ * alignment_;
        }
        out.pad_to(alignment_);
        std::vector<uint8_t> buffer;
        for (size_t i = 0; i < tensors_.size(); ++i) {
            const auto& t = tensors_[i];
            buffer.assign(t.n_bytes, 0);
            t.produce(buffer.data(), t.n_bytes);
            out.bytes(buffer.data(), buffer.size());
            out.pad_to(alignment_);
            if (progress) progress(i + 1, tensors_.size());
        }
        out.close();
    }
    if (std::rename(partial.c_str(), path.c_str()) != 0) {
        throw Error("cannot rename '" + partial + "' to '" + path + "': " + std::strerror(errno));
    }
}

}  // namespace hearth::gguf
