#pragma once
// Split GGUF models: one model stored as N files named STEM-0000i-of-0000N.gguf (the reference
// engine's gguf-split). The first part holds every metadata key; each part holds some of the
// tensors and the keys split.no (0-based), split.count and, in the first, split.tensors.count.
#include <string>

namespace hearth::gguf {

constexpr const char* kSplitNo = "split.no";
constexpr const char* kSplitCount = "split.count";
constexpr const char* kSplitTensorsCount = "split.tensors.count";

// "x-00002-of-00005.gguf" -> index 2 (1-based, as in the name), count 5, stem "x".
struct SplitName {
    std::string stem;
    int index = 0;
    int count = 0;
};
// False when `path` does not follow the naming (or index is not within 1..count).
bool parse_split_name(const std::string& path, SplitName& out);
// The path of part `index` (1-based) of `count`: "STEM-00002-of-00005.gguf".
std::string split_part_path(const std::string& stem, int index, int count);

}  // namespace hearth::gguf
