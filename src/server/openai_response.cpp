#include "server/openai_response.h"

namespace hearth::server {

using nlohmann::json;

const char* finish_name(runtime::FinishReason r) {
    return r == runtime::FinishReason::Length ? "length" : "stop";
}

json token_logprob_json(const tokenizer::Tokenizer& tok, int32_t id, float logprob) {
    std::string piece = tok.token_to_piece(id);
    std::vector<int> bytes(piece.begin(), piece.end());
    for (int& b : bytes) b &= 0xFF;
    // A piece may be half a UTF-8 character; safe_dump() replaces such bytes, "bytes" keeps them.
    return {{"token", piece}, {"logprob", logprob}, {"bytes", bytes}};
}

json chat_logprobs_json(const tokenizer::Tokenizer& tok,
                        const std::vector<runtime::TokenLogprob>& lps) {
    json content = json::array();
    for (const auto& lp : lps) {
        json entry = token_logprob_json(tok, lp.id, lp.logprob);
        entry["top_logprobs"] = json::array();
        for (const auto& [id, p] : lp.top)
            entry["top_logprobs"].push_back(token_logprob_json(tok, id, p));
        content.push_back(entry);
    }
    return {{"content", content}, {"refusal", nullptr}};
}

json completion_logprobs_json(const tokenizer::Tokenizer& tok,
                              const std::vector<runtime::TokenLogprob>& lps, size_t text_offset) {
    json tokens = json::array(), token_logprobs = json::array(), top = json::array(),
         offsets = json::array();
    for (const auto& lp : lps) {
        const std::string piece = tok.token_to_piece(lp.id);
        tokens.push_back(piece);
        token_logprobs.push_back(lp.logprob);
        json alternatives = json::object();
        for (const auto& [id, p] : lp.top) alternatives[tok.token_to_piece(id)] = p;
        top.push_back(alternatives);
        offsets.push_back(text_offset);
        text_offset += piece.size();
    }
    return {{"tokens", tokens},
            {"token_logprobs", token_logprobs},
            {"top_logprobs", top},
            {"text_offset", offsets}};
}

// Text can end in the middle of a UTF-8 character only if the model produced invalid UTF-8;
// replace such bytes rather than fail to serialize.
std::string safe_dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace hearth::server
