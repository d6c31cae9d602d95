#pragma once
// The vocabulary a GGUF file carries in its tokenizer.* keys.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gguf/reader.h"

namespace hearth::tokenizer {

// Token types as stored in tokenizer.ggml.token_type.
enum class TokenType : int32_t {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
};

constexpr int32_t kNoToken = -1;

struct Vocab {
    std::string model;  // tokenizer.ggml.model: llama, gpt2, bert, ...
    std::string pre;    // tokenizer.ggml.pre
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<TokenType> types;
    std::vector<std::string> merges;
    // Transparent hashing, so hot loops look up string_views without building strings.
    struct TextHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, int32_t, TextHash, std::equal_to<>> token_to_id;

    int32_t bos = kNoToken, eos = kNoToken, unk = kNoToken, pad = kNoToken, sep = kNoToken;
    int32_t cls = kNoToken, mask = kNoToken, eot = kNoToken, eom = kNoToken;
    bool add_bos = false;
    bool add_eos = false;
    bool add_sep = false;  // a pair's texts get SEP (else EOS) between them (XLM-RoBERTa)
    bool add_space_prefix = true;

    static Vocab from_gguf(const gguf::File& file);

    int32_t size() const { return static_cast<int32_t>(tokens.size()); }
    int32_t find(std::string_view text) const {
        auto it = token_to_id.find(text);
        return it == token_to_id.end() ? kNoToken : it->second;
    }
    bool is_control(int32_t id) const { return types[id] == TokenType::Control; }
    // End of generation: EOS, EOT, EOM, or a token spelled as the reference engine's end-of-turn
    // texts ("<|im_end|>", "<end_of_turn>", "</s>", ...).
    bool is_end_of_generation(int32_t id) const;
    std::vector<int32_t> end_of_generation_ids;
    // Control tokens whose text a decoded reply still shows (harmony's message markers, which
    // structure the reply as text does); the others decode to nothing.
    bool is_shown_control(int32_t id) const;
    std::vector<int32_t> shown_controls;

    // Fills end_of_generation_ids (and shown_controls) from the ids and texts above and types
    // those tokens, and BOS,
    // as control tokens where the file says user-defined or normal (as the reference engine
    // does), so they are only matched in text with special parsing on. from_gguf calls it.
    void set_end_of_generation();
};

}  // namespace hearth::tokenizer
