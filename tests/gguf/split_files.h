#pragma once
// Writes a GGUF file again as a split model, the layout gguf-split writes (gguf/split.h): part 1
// carries every metadata key, each part a contiguous run of the tensors and its split keys.
#include <algorithm>
#include <string>
#include <vector>

#include "gguf/reader.h"
#include "gguf/split.h"
#include "gguf/writer.h"

namespace hearth::split_files {

// Returns the parts' paths, STEM-0000i-of-0000N.gguf.
inline std::vector<std::string> write_split(const std::string& whole_path, const std::string& stem,
                                            int n_parts) {
    const gguf::File whole = gguf::File::open(whole_path);
    const auto& tensors = whole.tensors();
    const size_t per_part = (tensors.size() + n_parts - 1) / n_parts;
    std::vector<std::string> paths;
    for (int part = 0; part < n_parts; ++part) {
        gguf::Writer writer(whole.alignment());
        if (part == 0) {
            for (const auto& kv : whole.metadata()) writer.set(kv.key, kv.value);
        }
        writer.set(gguf::kSplitNo, gguf::Value::u16(static_cast<uint16_t>(part)));
        writer.set(gguf::kSplitCount, gguf::Value::u16(static_cast<uint16_t>(n_parts)));
        writer.set(gguf::kSplitTensorsCount, gguf::Value::i32(static_cast<int32_t>(tensors.size())));
        const size_t begin = std::min(tensors.size(), part * per_part);
        const size_t end = std::min(tensors.size(), begin + per_part);
        for (size_t i = begin; i < end; ++i) {
            const gguf::TensorInfo& t = tensors[i];
            writer.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims),
                              std::vector<uint8_t>(t.data, t.data + t.n_bytes));
        }
        paths.push_back(gguf::split_part_path(stem, part + 1, n_parts));
        writer.write(paths.back());
    }
    return paths;
}

}  // namespace hearth::split_files
