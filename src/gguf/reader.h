#pragma once
// GGUF reader: parses and validates a whole file, then hands out zero-copy views of the
// mmapped tensor data. Every malformed file is refused with an Error naming the problem.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/mapped_file.h"
#include "gguf/types.h"
#include "gguf/value.h"

namespace hearth::gguf {

constexpr int kMaxDims = 4;
constexpr uint32_t kDefaultAlignment = 32;

struct TensorInfo {
    std::string name;
    TensorType type = TensorType::F32;
    int n_dims = 0;
    std::array<int64_t, kMaxDims> ne = {1, 1, 1, 1};  // ne[0] is the innermost (row) length
    uint64_t offset = 0;                              // from the start of the data section
    uint64_t n_bytes = 0;
    const uint8_t* data = nullptr;  // points into the mapped file

    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
    std::string shape_string() const;  // "[64, 512]"
};

struct KeyValue {
    std::string key;
    Value value;
};

// Thrown by File::parse_header when the bytes end inside the header: read more of the file.
class HeaderNeedsMoreBytes : public Error {
  public:
    using Error::Error;
};

class File {
  public:
    // Maps and parses `path`. Throws hearth::Error on any problem. The first part of a split
    // model (STEM-00001-of-0000N.gguf, gguf/split.h) opens the whole model: the other parts
    // are found beside it and their tensors join this File's.
    static File open(const std::string& path);
    // Parses bytes owned by the caller (they must outlive the File). `name` is used in errors.
    static File parse(const uint8_t* data, size_t size, const std::string& name = "<memory>");
    // Parses only the metadata and tensor list from the first `size` bytes of a file (say, a
    // range request): tensors have no data. Throws HeaderNeedsMoreBytes when the header goes
    // on past `size`, and Error as parse() for anything malformed.
    static File parse_header(const uint8_t* data, size_t size, const std::string& name);

    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }
    uint64_t file_size() const { return size_; }  // every part's bytes
    int n_parts() const { return static_cast<int>(mappings_.size()); }
    const std::string& name() const { return name_; }
    // The header's bytes (magic to the tensor list; the first part's for split models); empty
    // for files from parse_header().
    std::span<const uint8_t> header_bytes() const {
        return base_ ? std::span<const uint8_t>(base_, data_offset_) : std::span<const uint8_t>();
    }

    // Metadata in file order.
    const std::vector<KeyValue>& metadata() const { return metadata_; }
    const Value* find(const std::string& key) const;
    bool has(const std::string& key) const { return find(key) != nullptr; }
    // Typed look-ups: throw when the key is missing (no default) or has the wrong type.
    std::string get_string(const std::string& key) const;
    std::string get_string(const std::string& key, const std::string& fallback) const;
    uint64_t get_u64(const std::string& key) const;
    uint64_t get_u64(const std::string& key, uint64_t fallback) const;
    double get_f64(const std::string& key, double fallback) const;
    bool get_bool(const std::string& key, bool fallback) const;

    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const TensorInfo* find_tensor(const std::string& name) const;
    // Like find_tensor, but throws an Error naming the missing tensor.
    const TensorInfo& tensor(const std::string& name) const;

    // For files from open(): unmaps the pages of [p, p + n) inside whichever part holds them
    // (MappedFile).
    void release_pages(const void* p, size_t n) const;

  private:
    std::string name_;
    std::vector<std::shared_ptr<MappedFile>> mappings_;  // one per part; empty for parse()
    const uint8_t* base_ = nullptr;
    uint64_t size_ = 0;
    uint32_t version_ = 0;
    uint32_t alignment_ = kDefaultAlignment;
    uint64_t data_offset_ = 0;
    std::vector<KeyValue> metadata_;
    std::map<std::string, size_t> key_index_;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t> tensor_index_;

    static File open_part(const std::string& path);
    void join_split_parts(const std::string& path, uint64_t count);

    friend class Parser;
};

}  // namespace hearth::gguf
