#include "tokenizer/vocab.h"

#include "core/error.h"

namespace hearth::tokenizer {

namespace {

int32_t optional_id(const gguf::File& f, const std::string& key, int32_t n_vocab) {
    const gguf::Value* v = f.find(key);
    if (!v) return kNoToken;
    uint64_t id = v->as_u64();
    if (id == 0xFFFFFFFFull) return kNoToken;  // "none" as the reference writes it
    if (id >= static_cast<uint64_t>(n_vocab)) {
        throw Error("'" + f.name() + "': " + key + " = " + std::to_string(id) +
                    " is outside the vocabulary of " + std::to_string(n_vocab) + " tokens");
    }
    return static_cast<int32_t>(id);
}

// Token texts the reference engine (llama.cpp, src/llama-vocab.cpp) treats as ending generation
// whatever the metadata says, and retypes as control tokens when the file stores them otherwise.
constexpr const char* kEndOfGenerationTexts[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",  // DeepSeek
    "[e~[",
};

}  // namespace

Vocab Vocab::from_gguf(const gguf::File& f) {
    Vocab v;
    v.model = f.get_string("tokenizer.ggml.model");
    v.pre = f.get_string("tokenizer.ggml.pre", "");
    const gguf::Value* tokens = f.find("tokenizer.ggml.tokens");
    if (!tokens)
        throw Error("'" + f.name() + "' has no tokenizer.ggml.tokens; it carries no vocabulary");
    for (const gguf::Value& t : tokens->as_array().items) v.tokens.push_back(t.as_string());
    const int32_t n = v.size();
    if (n == 0) throw Error("'" + f.name() + "' has an empty vocabulary");

    v.scores.assign(n, 0.0f);
    if (const gguf::Value* s = f.find("tokenizer.ggml.scores")) {
        const auto& items = s->as_array().items;
        if (static_cast<int32_t>(items.size()) != n)
            throw Error("'" + f.name() + "': tokenizer.ggml.scores has " +
                        std::to_string(items.size()) + " entries for " + std::to_string(n) +
                        " tokens");
        for (int32_t i = 0; i < n; ++i) v.scores[i] = static_cast<float>(items[i].as_f64());
    }
    v.types.assign(n, TokenType::Normal);
    if (const gguf::Value* t = f.find("tokenizer.ggml.token_type")) {
        const auto& items = t->as_array().items;
        if (static_cast<int32_t>(items.size()) != n)
            throw Error("'" + f.name() + "': tokenizer.ggml.token_type has " +
                        std::to_string(items.size()) + " entries for " + std::to_string(n) +
                        " tokens");
        for (int32_t i = 0; i < n; ++i) {
            int64_t type = items[i].as_i64();
            v.types[i] =
                (type >= 0 && type <= 6) ? static_cast<TokenType>(type) : TokenType::Normal;
        }
    }
    if (const gguf::Value* m = f.find("tokenizer.ggml.merges")) {
        for (const gguf::Value& item : m->as_array().items) v.merges.push_back(item.as_string());
    }
    // Later duplicates win, as in the reference engine.
    v.token_to_id.reserve(n);
    for (int32_t i = 0; i < n; ++i) v.token_to_id[v.tokens[i]] = i;

    v.bos = optional_id(f, "tokenizer.ggml.bos_token_id", n);
    v.eos = optional_id(f, "tokenizer.ggml.eos_token_id", n);
    v.unk = optional_id(f, "tokenizer.ggml.unknown_token_id", n);
    v.pad = optional_id(f, "tokenizer.ggml.padding_token_id", n);
    v.sep = optional_id(f, "tokenizer.ggml.seperator_token_id", n);
    v.cls = optional_id(f, "tokenizer.ggml.cls_token_id", n);
    v.mask = optional_id(f, "tokenizer.ggml.mask_token_id", n);
    v.eot = optional_id(f, "tokenizer.ggml.eot_token_id", n);
    v.eom = optional_id(f, "tokenizer.ggml.eom_token_id", n);

    const bool spm = v.model == "llama";
    v.add_bos = f.get_bool("tokenizer.ggml.add_bos_token", spm);
    v.add_eos = f.get_bool("tokenizer.ggml.add_eos_token", false);
    v.add_sep = f.get_bool("tokenizer.ggml.add_sep_token", false);
    v.add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix", spm);

    v.set_end_of_generation();
    return v;
}

void Vocab::set_end_of_generation() {
    end_of_generation_ids.clear();
    auto add = [&](int32_t id) {
        if (id != kNoToken && !is_end_of_generation(id)) end_of_generation_ids.push_back(id);
    };
    add(eos);
    add(eot);
    add(eom);
    // As the reference engine: every token spelled like an end of turn ends generation...
    for (const char* text : kEndOfGenerationTexts) add(find(text));
    // ...except "</s>" in Gemma 4's vocabulary (the one with "<|tool_response>"), which the
    // reference makes a normal text token.
    const int32_t slash_s = find("</s>");
    if (slash_s != kNoToken && find("<|tool_response>") != kNoToken) {
        std::erase(end_of_generation_ids, slash_s);
        types[slash_s] = TokenType::Normal;
    }
    // Harmony (gpt-oss): a reply is several messages, each closed by <|end|>; only <|return|>
    // (the answer) and <|call|> (a tool call) end it. As the reference engine: <|end|> does not
    // end generation in a vocabulary with both. The markers a reply is built of are shown in the
    // output text, so the chat layer can read the channels (chat/harmony.h).
    const int32_t harmony_end = find("<|end|>");
    if (harmony_end != kNoToken && find("<|return|>") != kNoToken && find("<|call|>") != kNoToken) {
        std::erase(end_of_generation_ids, harmony_end);
        shown_controls.clear();
        for (const char* text : {"<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>"})
            if (const int32_t id = find(text); id != kNoToken) shown_controls.push_back(id);
    }
    // Ending a turn (or starting a sequence) is the template's business, never the user's: these
    // tokens are control tokens, matched only where special parsing is asked for, whatever type
    // the file gives them. Converters store some as user-defined or normal (phi-3 and Gemma 3's
    // "</s>"), which would let "</s>" typed in a message end or forge a turn.
    auto make_control = [&](int32_t id) {
        if (id == kNoToken) return;
        if (types[id] == TokenType::UserDefined || types[id] == TokenType::Normal)
            types[id] = TokenType::Control;
    };
    for (int32_t id : end_of_generation_ids) make_control(id);
    make_control(bos);
}

bool Vocab::is_shown_control(int32_t id) const {
    for (int32_t s : shown_controls) {
        if (s == id) return true;
    }
    return false;
}

bool Vocab::is_end_of_generation(int32_t id) const {
    for (int32_t e : end_of_generation_ids) {
        if (e == id) return true;
    }
    return false;
}

}  // namespace hearth::tokenizer
