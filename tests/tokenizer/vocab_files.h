#pragma once
// Reading llama.cpp's tokenizer test vectors (tests/data/vocab/ggml-vocab-NAME.gguf.inp/.out).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace hearth::tokenizer::testing {

inline std::filesystem::path vocab_dir() {
    return std::filesystem::path(HEARTH_TEST_DATA) / "vocab";
}
inline std::filesystem::path vocab_gguf(const std::string& name) {
    return vocab_dir() / ("ggml-vocab-" + name + ".gguf");
}

inline std::string read_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Each test string is followed by the separator; text after the last separator (if any) is a
// final test as well.
inline std::vector<std::string> read_inputs(const std::string& name) {
    const std::string separator = "\n__ggml_vocab_test__\n";
    std::string all = read_bytes(vocab_gguf(name).string() + ".inp");
    std::vector<std::string> tests;
    size_t at = 0;
    for (size_t next; (next = all.find(separator, at)) != std::string::npos;) {
        tests.push_back(all.substr(at, next - at));
        at = next + separator.size();
    }
    if (at < all.size()) tests.push_back(all.substr(at));
    return tests;
}

// One line of space-separated ids per test.
inline std::vector<std::vector<int32_t>> read_expected(const std::string& name) {
    std::istringstream in(read_bytes(vocab_gguf(name).string() + ".out"));
    std::vector<std::vector<int32_t>> all;
    for (std::string line; std::getline(in, line);) {
        std::istringstream ids(line);
        std::vector<int32_t> row;
        for (int32_t id; ids >> id;) row.push_back(id);
        all.push_back(row);
    }
    return all;
}

}  // namespace hearth::tokenizer::testing
