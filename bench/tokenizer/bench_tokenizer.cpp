// Usage: bench_tokenizer [MB] [vocab-name]
// Tokenizer throughput per family on mixed text (English prose, code, numbers, other scripts,
// emoji), generated deterministically so runs compare.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace {

using hearth::tokenizer::Tokenizer;

const char* const kWords[] = {
    "the",
    "model",
    "tokenizer",
    "server",
    "Hello",
    "world",
    "is",
    "of",
    "running",
    "CPU",
    "quickly",
    "don't",
    "we'll",
    "I'm",
    "(x)",
    "{",
    "}",
    "return",
    "x + y;",
    "if",
    "==",
    "1314151",
    "3.14159",
    "2024",
    "Äpfel",
    "Việt",
    "résumé",
    "naïve",
    "Москва",
    "привет",
    "我想在",
    "工作",
    "こんにちは",
    "안녕하세요",
    "ភាសាខ្មែរ",
    "🦙",
    "😁",
    "🏃‍♀️",
    "→",
    "½",
    "!!!",
    "...",
    "#include",
    "std::vector<int>",
    "for (int i = 0; i < n; ++i)",
    "    ",
    "\t",
    "\n",
    "\n\n",
    "  ",
    "'s",
    "user@example.com",
};

std::string mixed_text(size_t bytes) {
    std::string text;
    text.reserve(bytes + 64);
    uint32_t state = 12345;
    const size_t n_words = sizeof kWords / sizeof kWords[0];
    while (text.size() < bytes) {
        state = state * 1664525u + 1013904223u;  // LCG: same text every run
        text += kWords[(state >> 8) % n_words];
        text += (state >> 24) % 7 == 0 ? "" : " ";
    }
    return text;
}

}  // namespace

int main(int argc, char** argv) {
    const double megabytes = argc > 1 ? std::atof(argv[1]) : 10.0;
    const std::string text = mixed_text(static_cast<size_t>(megabytes * 1e6));
    const char* const vocabs[][2] = {
        {"SentencePiece", "llama-spm"},
        {"WordPiece", "bert-bge"},
        {"BPE gpt-2", "gpt-2"},
        {"BPE falcon", "falcon"},
        {"BPE starcoder", "starcoder"},
        {"BPE deepseek-coder", "deepseek-coder"},
        {"BPE deepseek-llm", "deepseek-llm"},
        {"BPE mpt", "mpt"},
    };
    std::printf("%-20s %10s %12s %10s\n", "family", "MB", "tokens", "MB/s");
    const std::string only = argc > 2 ? argv[2] : "";  // optional: one vocabulary name
    for (const auto& [family, name] : vocabs) {
        if (!only.empty() && only != name) continue;
        std::string path = std::string(HEARTH_TEST_DATA) + "/vocab/ggml-vocab-" + name + ".gguf";
        auto file = hearth::gguf::File::open(path);
        auto tokenizer = Tokenizer::from_gguf(file);
        auto start = std::chrono::steady_clock::now();
        std::vector<int32_t> ids = tokenizer->encode(text, false, false);
        double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("%-20s %10.1f %12zu %10.2f\n", family, text.size() / 1e6, ids.size(),
                    text.size() / 1e6 / seconds);
    }
    return 0;
}
