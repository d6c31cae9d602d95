#pragma once
// GGUF writer (version 3, little-endian). Used by quantize and synth. Writes to `path.partial`
// and renames into place, so a crash never leaves a half-written model under the real name.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gguf/reader.h"

namespace hearth::gguf {

class Writer {
  public:
    explicit Writer(uint32_t alignment = kDefaultAlignment);

    // Sets (or replaces) a metadata key; order of first insertion is kept.
    void set(const std::string& key, Value value);
    void remove(const std::string& key);

    // Adds a tensor whose bytes are produced when the file is written (so huge models never sit
    // in memory twice). `produce` must fill exactly bytes_for(type, n_elements) bytes.
    using Producer = std::function<void(uint8_t* out, uint64_t n_bytes)>;
    void add_tensor(const std::string& name, TensorType type, std::vector<int64_t> dims,
                    Producer produce);
    // Convenience: tensor bytes already in memory (copied when written).
    void add_tensor(const std::string& name, TensorType type, std::vector<int64_t> dims,
                    std::vector<uint8_t> bytes);

    // Called after each tensor is written: (tensors done, tensor count).
    using Progress = std::function<void(size_t, size_t)>;
    void write(const std::string& path, const Progress& progress = {}) const;

  private:
    struct PendingTensor {
        std::string name;
        TensorType type;
        std::vector<int64_t> dims;
        uint64_t n_bytes;
        Producer produce;
    };
    uint32_t alignment_;
    std::vector<KeyValue> metadata_;
    std::vector<PendingTensor> tensors_;
};

}  // namespace hearth::gguf
