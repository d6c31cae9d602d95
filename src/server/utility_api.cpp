#include "server/utility_api.h"

#include "core/utf8.h"
#include "server/chat_prompt.h"
#include "server/generation.h"

namespace hearth::server {

namespace {

using nlohmann::json;

// A piece is sent as text when it is whole UTF-8 (JSON strings must be), else as its bytes:
// byte-fallback tokens and pieces of a split character.
json piece_json(const std::string& piece) {
    if (utf8::is_valid(piece)) return piece;
    json bytes = json::array();
    for (unsigned char c : piece) bytes.push_back(c);
    return bytes;
}

}  // namespace

void UtilityApi::tokenize(Exchange& ex, const std::string& path_model) {
    const json body = parse_json_object_body(ex.request.body);
    auto content = body.find("content");
    if (content == body.end() || !content->is_string())
        throw ApiError::bad_request("'content' (the text to tokenize) must be a string", "content");
    const bool add_special = boolean(body, "add_special", false);
    const bool parse_special = boolean(body, "parse_special", true);
    const bool with_pieces = boolean(body, "with_pieces", false);
    const std::shared_ptr<LoadedModel> m = acquire_model(pool_, ex.identity, body, path_model);
    const std::vector<int32_t> ids =
        m->tokenizer->encode(content->get<std::string>(), add_special, parse_special);
    json tokens = json::array();
    for (int32_t id : ids) {
        if (with_pieces) {
            tokens.push_back({{"id", id}, {"piece", piece_json(m->tokenizer->token_to_piece(id, true))}});
        } else {
            tokens.push_back(id);
        }
    }
    ex.prompt_tokens = static_cast<int64_t>(ids.size());
    ex.send_json(200, {{"tokens", tokens}});
}

void UtilityApi::detokenize(Exchange& ex, const std::string& path_model) {
    const json body = parse_json_object_body(ex.request.body);
    auto tokens = body.find("tokens");
    if (tokens == body.end() || !tokens->is_array())
        throw ApiError::bad_request("'tokens' must be an array of token ids", "tokens");
    const std::shared_ptr<LoadedModel> m = acquire_model(pool_, ex.identity, body, path_model);
    const int64_t n_vocab = m->tokenizer->vocab().size();
    std::vector<int32_t> ids;
    ids.reserve(tokens->size());
    for (const json& t : *tokens) {
        if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= n_vocab)
            throw ApiError::bad_request("'tokens' holds " + t.dump() +
                                            ", which is not a token id of this model (0 to " +
                                            std::to_string(n_vocab - 1) + ")",
                                        "tokens");
        ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
    }
    // Control tokens are written out, as llama-server does, so the text shows what the ids hold;
    // bytes that are not UTF-8 become U+FFFD when the answer is written.
    std::string text = m->tokenizer->decode(ids, /*special=*/true);
    ex.send_json(200, {{"content", text}});
}

void UtilityApi::apply_template(Exchange& ex, const std::string& path_model) {
    const GenerationRequest r = read_generation_request(ex.request.body, /*chat=*/true, limits_);
    const std::shared_ptr<LoadedModel> m = pool_.acquire(resolve_model(pool_, ex.identity, path_model, r.model));
    const ChatPrompt p = render_chat_prompt(*m->model, *m->tokenizer, r.messages,
                                            m->entry.chat_template, r.chat_template_kwargs,
                                            &r.ordered_messages, r.ordered_tools);
    ex.send_json(200, {{"prompt", p.text}});
}

}  // namespace hearth::server
