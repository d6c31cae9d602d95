#include "gguf/split.h"

#include <cstdio>
#include <regex>

namespace hearth::gguf {

bool parse_split_name(const std::string& path, SplitName& out) {
    static const std::regex kSplit(R"((.*)-(\d{5})-of-(\d{5})\.gguf)", std::regex::icase);
    std::smatch match;
    if (!std::regex_match(path, match, kSplit)) return false;
    out.stem = match[1];
    out.index = std::stoi(match[2]);
    out.count = std::stoi(match[3]);
    return out.index >= 1 && out.count >= 1 && out.index <= out.count;
}

std::string split_part_path(const std::string& stem, int index, int count) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, "-%05d-of-%05d.gguf", index, count);
    return stem + suffix;
}

}  // namespace hearth::gguf
