#include "server/openai_api.h"

#include "core/version.h"
#include "server/openai_response.h"

namespace hearth::server {

namespace {

using nlohmann::json;

const std::string kFingerprint = std::string("hearth-") + kVersion;

// OpenAI's chat.completion(.chunk) and text_completion shapes.
class OpenAiWriter : public ReplyWriter {
  public:
    OpenAiWriter(Exchange& ex, bool chat) : ex_(ex), chat_(chat) {
        id_ = random_id(chat ? "chatcmpl-" : "cmpl-");
    }

    void write_whole(const GenerationInfo& info, const std::vector<ChoiceReply>& replies) override {
        const tokenizer::Tokenizer& tok = *info.model.tokenizer;
        const bool want_logprobs = info.request.top_logprobs >= 0;
        json choices = json::array();
        for (size_t i = 0; i < replies.size(); ++i) {
            const ChoiceReply& r = replies[i];
            json choice = {{"index", i}, {"finish_reason", finish_of(r)}};
            if (chat_) {
                choice["message"] = message_json(info, r);
                choice["logprobs"] = want_logprobs ? chat_logprobs_json(tok, r.logprobs) : json();
            } else {
                choice["text"] = info.echo_text + r.content;
                choice["logprobs"] =
                    want_logprobs ? completion_logprobs_json(tok, r.logprobs, info.echo_text.size())
                                  : json();
            }
            choices.push_back(choice);
        }
        ex_.send_json(200, {{"id", id_},
                            {"object", chat_ ? "chat.completion" : "text_completion"},
                            {"created", info.created},
                            {"model", info.model.entry.name},
                            {"system_fingerprint", kFingerprint},
                            {"choices", choices},
                            {"usage", usage_json(info)}});
    }

    bool begin(const GenerationInfo& info) override {
        info_ = &info;
        if (!ex_.begin_event_stream()) return false;
        for (int i = 0; i < info.request.n; ++i) {
            json chunk = chunk_base();
            if (chat_) {
                chunk["choices"] = json::array({choice_chunk(
                    i, {{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}}, {}, nullptr)});
            } else if (!info.echo_text.empty()) {
                chunk["choices"] = json::array({text_choice(i, info.echo_text, {}, nullptr)});
            } else {
                continue;
            }
            if (!ex_.send_event(chunk)) return false;
        }
        return true;
    }

    bool reasoning(int choice, const std::string& text) override {
        return send_choice(choice_chunk(choice, {{"reasoning_content", text}}, {}, nullptr));
    }

    bool text(int choice, const std::string& text,
              const std::vector<runtime::TokenLogprob>& logprobs) override {
        if (!chat_) return send_choice(text_choice(choice, text, logprobs, nullptr));
        return send_choice(choice_chunk(choice, {{"content", text}}, logprobs, nullptr));
    }

    // As OpenAI streams a call: id, type and name first, then the arguments.
    bool tool_call(int choice, size_t index, const chat::ToolCall& call) override {
        json head = {{"index", index},
                     {"id", random_id("call_")},
                     {"type", "function"},
                     {"function", {{"name", call.name}, {"arguments", ""}}}};
        json args = {{"index", index}, {"function", {{"arguments", call.arguments}}}};
        return send_choice(choice_chunk(choice, {{"tool_calls", json::array({head})}}, {}, nullptr)) &&
               send_choice(choice_chunk(choice, {{"tool_calls", json::array({args})}}, {}, nullptr));
    }

    bool choice_end(int choice, const ChoiceReply& reply) override {
        const char* finish = finish_of(reply);
        if (!chat_) return send_choice(text_choice(choice, "", {}, finish));
        return send_choice(choice_chunk(choice, json::object(), {}, finish));
    }

    bool error(const ApiError& error) override { return ex_.send_event(error.to_json()); }

    bool done(const GenerationInfo& info, bool complete) override {
        if (complete && info.request.include_usage) {
            json usage = chunk_base();
            usage["choices"] = json::array();
            usage["usage"] = usage_json(info);
            if (!ex_.send_event(usage)) return false;
        }
        return ex_.send_event_text("[DONE]");
    }

  private:
    static const char* finish_of(const ChoiceReply& r) {
        return r.calls.empty() ? finish_name(r.finish) : "tool_calls";
    }

    static json usage_json(const GenerationInfo& info) {
        return {{"prompt_tokens", info.prompt_tokens},
                {"completion_tokens", info.completion_tokens},
                {"total_tokens", info.prompt_tokens + info.completion_tokens},
                {"prompt_tokens_details", {{"cached_tokens", info.cached_prompt_tokens}}}};
    }

    // The assistant message of a finished choice; a reply holding tool calls has them as
    // `tool_calls` (with the rest as content, null when empty). Models that reason always
    // carry `reasoning_content` (null when they said none).
    static json message_json(const GenerationInfo& info, const ChoiceReply& r) {
        json message = {{"role", "assistant"}, {"content", r.content}, {"refusal", nullptr}};
        if (info.splits_reasoning)
            message["reasoning_content"] = r.reasoning.empty() ? json() : json(r.reasoning);
        if (r.calls.empty()) return message;
        if (r.content.empty()) message["content"] = nullptr;
        message["tool_calls"] = json::array();
        for (const chat::ToolCall& call : r.calls) {
            message["tool_calls"].push_back(
                {{"id", random_id("call_")},
                 {"type", "function"},
                 {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
        }
        return message;
    }

    json chunk_base() const {
        json chunk = {{"id", id_},
                      {"object", chat_ ? "chat.completion.chunk" : "text_completion"},
                      {"created", info_->created},
                      {"model", info_->model.entry.name},
                      {"system_fingerprint", kFingerprint}};
        if (info_->request.include_usage) chunk["usage"] = nullptr;
        return chunk;
    }

    json choice_chunk(int index, json delta, const std::vector<runtime::TokenLogprob>& lps,
                      const char* finish) const {
        const bool want_logprobs = info_->request.top_logprobs >= 0 && !lps.empty();
        return {{"index", index},
                {"delta", std::move(delta)},
                {"logprobs", want_logprobs ? chat_logprobs_json(*info_->model.tokenizer, lps) : json()},
                {"finish_reason", finish ? json(finish) : json()}};
    }

    json text_choice(int index, const std::string& text,
                     const std::vector<runtime::TokenLogprob>& lps, const char* finish) const {
        const bool want_logprobs = info_->request.top_logprobs >= 0 && !lps.empty();
        return {{"index", index},
                {"text", text},
                {"logprobs",
                 want_logprobs ? completion_logprobs_json(*info_->model.tokenizer, lps, 0) : json()},
                {"finish_reason", finish ? json(finish) : json()}};
    }

    bool send_choice(json choice) {
        json chunk = chunk_base();
        chunk["choices"] = json::array({std::move(choice)});
        return ex_.send_event(chunk);
    }

    Exchange& ex_;
    bool chat_;
    std::string id_;
    const GenerationInfo* info_ = nullptr;
};

}  // namespace

void CompletionsApi::handle(Exchange& ex, bool chat, const std::string& path_model) {
    GenerationRequest request = read_generation_request(ex.request.body, chat, generations_.limits());
    OpenAiWriter writer(ex, chat);
    generations_.run(ex, request, path_model, writer);
}

}  // namespace hearth::server
