#pragma once
// A small SentencePiece vocabulary with Gemma 3's special tokens where Gemma 3 has them (<eos> 1,
// <bos> 2, <start_of_turn> 105, <end_of_turn> 106, all control, and "</s>" at 212 stored as a
// user-defined token, as Gemma 3's converted files store it), written as a vocab-only GGUF.
// Text outside its few pieces falls back to the byte tokens.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "gguf/writer.h"
#include "tokenizer/vocab.h"

namespace hearth::tokenizer::testing {

struct VocabEntry {
    std::string text;
    TokenType type;
};

inline constexpr int32_t kGemmaEos = 1, kGemmaBos = 2, kGemmaStartOfTurn = 105,
                         kGemmaEndOfTurn = 106, kGemmaSlashS = 212;

inline std::vector<VocabEntry> gemma3_style_entries() {
    std::vector<VocabEntry> v = {
        {"<pad>", TokenType::Control},  {"<eos>", TokenType::Control},
        {"<bos>", TokenType::Control},  {"<unk>", TokenType::Unknown},
        {"<mask>", TokenType::Control}, {"[multimodal]", TokenType::Control}};
    for (int i = 0; v.size() < kGemmaStartOfTurn; ++i)
        v.push_back({"<unused" + std::to_string(i) + ">", TokenType::Unused});
    v.push_back({"<start_of_turn>", TokenType::Control});
    v.push_back({"<end_of_turn>", TokenType::Control});
    v.push_back({"\n", TokenType::Normal});
    // User-defined words that end no turn (Gemma's vocabularies have HTML tags among them): they
    // are matched in any text, special parsing or not.
    for (const char* tag : {"<h1>", "</h1>", "<table>", "</table>"})
        v.push_back({tag, TokenType::UserDefined});
    for (const char* piece :
         {"\xE2\x96\x81", "</", "<", "/", "s", ">", "user", "model", "Hi", "\xE2\x96\x81world",
          "\xE2\x96\x81"
          "end"})
        v.push_back({piece, TokenType::Normal});
    for (int i = 0; v.size() < kGemmaSlashS; ++i)
        v.push_back({"<filler" + std::to_string(i) + ">", TokenType::Normal});
    v.push_back({"</s>", TokenType::UserDefined});
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        v.push_back({name, TokenType::Byte});
    }
    return v;
}

// Writes `entries` as a SentencePiece ("llama") vocabulary with Gemma 3's metadata (BOS 2,
// EOS 1, no space prefix) unless `extra` replaces keys. Normal pieces score higher the earlier
// they come; the file is removed when the test process exits.
inline std::string write_spm_vocab(const std::string& stem, const std::vector<VocabEntry>& entries,
                                   const std::vector<gguf::KeyValue>& extra = {}) {
    using gguf::Value;
    using gguf::ValueType;
    std::vector<Value> tokens, scores, types;
    for (size_t i = 0; i < entries.size(); ++i) {
        tokens.push_back(Value::string(entries[i].text));
        scores.push_back(
            Value::f32(entries[i].type == TokenType::Normal ? -static_cast<float>(i) : 0.0f));
        types.push_back(Value::i32(static_cast<int32_t>(entries[i].type)));
    }
    gguf::Writer w;
    w.set("general.architecture", Value::string("llama"));
    w.set("tokenizer.ggml.model", Value::string("llama"));
    w.set("tokenizer.ggml.pre", Value::string("default"));
    w.set("tokenizer.ggml.tokens", Value::array(ValueType::String, std::move(tokens)));
    w.set("tokenizer.ggml.scores", Value::array(ValueType::F32, std::move(scores)));
    w.set("tokenizer.ggml.token_type", Value::array(ValueType::I32, std::move(types)));
    w.set("tokenizer.ggml.bos_token_id", Value::u32(kGemmaBos));
    w.set("tokenizer.ggml.eos_token_id", Value::u32(kGemmaEos));
    w.set("tokenizer.ggml.unknown_token_id", Value::u32(3));
    w.set("tokenizer.ggml.padding_token_id", Value::u32(0));
    w.set("tokenizer.ggml.add_bos_token", Value::boolean(true));
    w.set("tokenizer.ggml.add_eos_token", Value::boolean(false));
    w.set("tokenizer.ggml.add_space_prefix", Value::boolean(false));
    for (const gguf::KeyValue& kv : extra) w.set(kv.key, kv.value);
    const std::string path =
        ::testing::TempDir() + "/" + stem + "-" + std::to_string(getpid()) + ".gguf";
    w.write(path);
    struct Files {
        std::vector<std::string> paths;
        ~Files() {
            for (const std::string& p : paths) std::remove(p.c_str());
        }
    };
    static Files files;
    files.paths.push_back(path);
    return path;
}

inline std::string write_gemma3_style_vocab() {
    return write_spm_vocab("gemma3-style-vocab", gemma3_style_entries());
}

}  // namespace hearth::tokenizer::testing
