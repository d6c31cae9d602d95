#include "server/anthropic_api.h"

#include "server/openai_response.h"

namespace hearth::server {

namespace {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

std::string block_param(size_t message, size_t block) {
    return "messages." + std::to_string(message) + ".content." + std::to_string(block);
}

// A string, or text blocks joined by newlines (system prompts, tool results).
std::string text_of(const ojson& content, const std::string& param) {
    if (content.is_string()) return content.get<std::string>();
    if (!content.is_array()) throw bad_field(param, "must be a string or an array of text blocks");
    std::string text;
    for (size_t i = 0; i < content.size(); ++i) {
        const ojson& block = content[i];
        const ojson* type = block.is_object() ? present_member(block, "type") : nullptr;
        if (!type || *type != "text" || !present_member(block, "text") || !block["text"].is_string())
            throw bad_field(param + "." + std::to_string(i), "only text blocks are supported here");
        if (!text.empty()) text += "\n";
        text += block["text"].get<std::string>();
    }
    return text;
}

// A content block's "type"; a 400 naming the block when it has none.
std::string block_type(const ojson& block, const std::string& param) {
    const ojson* type = block.is_object() ? present_member(block, "type") : nullptr;
    if (!type || !type->is_string()) throw bad_field(param, "a content block needs a string 'type'");
    return type->get<std::string>();
}

// A user turn: text blocks become one user message; tool_result blocks become tool messages,
// placed first since they answer the previous assistant turn's calls.
void add_user_turn(const ojson& content, size_t index, ojson& messages) {
    std::string text;
    for (size_t b = 0; b < content.size(); ++b) {
        const ojson& block = content[b];
        const std::string param = block_param(index, b);
        const std::string type = block_type(block, param);
        if (type == "text") {
            if (!text.empty()) text += "\n";
            text += text_of(ojson::array({block}), param);
        } else if (type == "tool_result") {
            const ojson* id = present_member(block, "tool_use_id");
            if (!id || !id->is_string()) throw bad_field(param + ".tool_use_id", "Field required");
            const ojson* result = present_member(block, "content");
            std::string output = result ? text_of(*result, param + ".content") : "";
            if (block.value("is_error", false)) output = "Error: " + output;
            messages.push_back({{"role", "tool"}, {"tool_call_id", *id}, {"content", output}});
        } else if (type == "image" || type == "document") {
            throw bad_field(param, "'" + type +
                                 "' blocks are not supported: hearth's models read text only");
        } else {
            throw bad_field(param + ".type",
                            "unknown or unsupported block type '" + type + "' in a user message");
        }
    }
    if (!text.empty()) messages.push_back({{"role", "user"}, {"content", text}});
}

// An assistant turn: text, thinking (as reasoning_content) and tool_use blocks (as calls).
void add_assistant_turn(const ojson& content, size_t index, ojson& messages) {
    ojson message = {{"role", "assistant"}, {"content", ""}};
    std::string text, thinking;
    ojson calls = ojson::array();
    for (size_t b = 0; b < content.size(); ++b) {
        const ojson& block = content[b];
        const std::string param = block_param(index, b);
        const std::string type = block_type(block, param);
        if (type == "text") {
            text += text_of(ojson::array({block}), param);
        } else if (type == "thinking") {
            const ojson* t = present_member(block, "thinking");
            if (t && t->is_string()) thinking += t->get<std::string>();
        } else if (type == "redacted_thinking") {
            // Encrypted by Anthropic: nothing a local model can read.
        } else if (type == "tool_use") {
            const ojson* id = present_member(block, "id");
            const ojson* name = present_member(block, "name");
            const ojson* input = present_member(block, "input");
            if (!id || !id->is_string()) throw bad_field(param + ".id", "Field required");
            if (!name || !name->is_string()) throw bad_field(param + ".name", "Field required");
            if (input && !input->is_object()) throw bad_field(param + ".input", "must be an object");
            calls.push_back({{"id", *id},
                             {"type", "function"},
                             {"function",
                              {{"name", *name},
                               {"arguments", input ? input->dump() : std::string("{}")}}}});
        } else {
            throw bad_field(param + ".type", "unknown or unsupported block type '" + type +
                                                "' in an assistant message");
        }
    }
    message["content"] = text;
    if (!thinking.empty()) message["reasoning_content"] = thinking;
    if (!calls.empty()) message["tool_calls"] = std::move(calls);
    messages.push_back(std::move(message));
}

ojson openai_messages(const ojson& body) {
    ojson messages = ojson::array();
    if (const ojson* system = present_member(body, "system"))
        messages.push_back({{"role", "system"}, {"content", text_of(*system, "system")}});
    const ojson* list = present_member(body, "messages");
    if (!list) throw bad_field("messages", "Field required");
    if (!list->is_array()) throw bad_field("messages", "must be an array of messages");
    for (size_t i = 0; i < list->size(); ++i) {
        const ojson& m = (*list)[i];
        const std::string param = "messages." + std::to_string(i);
        if (!m.is_object()) throw bad_field(param, "must be an object with 'role' and 'content'");
        const ojson* role = present_member(m, "role");
        if (!role || (*role != "user" && *role != "assistant"))
            throw bad_field(param + ".role", "must be 'user' or 'assistant'");
        const ojson* content = present_member(m, "content");
        if (!content) throw bad_field(param + ".content", "Field required");
        if (content->is_string()) {
            messages.push_back({{"role", *role}, {"content", *content}});
        } else if (!content->is_array()) {
            throw bad_field(param + ".content", "must be a string or an array of content blocks");
        } else if (*role == "user") {
            add_user_turn(*content, i, messages);
        } else {
            add_assistant_turn(*content, i, messages);
        }
    }
    return messages;
}

// Anthropic tools ({name, description, input_schema}) as OpenAI function tools.
ojson openai_tools(const ojson& tools) {
    if (!tools.is_array()) throw bad_field("tools", "must be an array of tools");
    ojson out = ojson::array();
    for (size_t i = 0; i < tools.size(); ++i) {
        const ojson& t = tools[i];
        const std::string param = "tools." + std::to_string(i);
        if (!t.is_object()) throw bad_field(param, "must be an object");
        const ojson* type = present_member(t, "type");
        if (type && *type != "custom") {
            throw bad_field(param + ".type", "server tools such as '" + type->dump() +
                                           "' are not available here; define the tool with "
                                           "name and input_schema");
        }
        const ojson* name = present_member(t, "name");
        if (!name || !name->is_string()) throw bad_field(param + ".name", "Field required");
        const ojson* schema = present_member(t, "input_schema");
        if (!schema) throw bad_field(param + ".input_schema", "Field required");
        if (!schema->is_object()) throw bad_field(param + ".input_schema", "must be a JSON schema object");
        ojson function = {{"name", *name}};
        if (const ojson* d = present_member(t, "description")) function["description"] = *d;
        function["parameters"] = *schema;
        out.push_back({{"type", "function"}, {"function", std::move(function)}});
    }
    return out;
}

// {"type": "auto" | "any" | "tool" | "none", "name"?, "disable_parallel_tool_use"?}.
void read_tool_choice(const ojson& choice, ojson& out) {
    const ojson* type = choice.is_object() ? present_member(choice, "type") : nullptr;
    if (!type || !type->is_string())
        throw bad_field("tool_choice", "must be an object with 'type' auto, any, tool or none");
    if (*type == "auto") {
        out["tool_choice"] = "auto";
    } else if (*type == "any") {
        out["tool_choice"] = "required";
    } else if (*type == "none") {
        out["tool_choice"] = "none";
    } else if (*type == "tool") {
        const ojson* name = present_member(choice, "name");
        if (!name || !name->is_string()) throw bad_field("tool_choice.name", "Field required");
        out["tool_choice"] = {{"type", "function"}, {"function", {{"name", *name}}}};
    } else {
        throw bad_field("tool_choice.type", "must be auto, any, tool or none");
    }
    if (const ojson* p = present_member(choice, "disable_parallel_tool_use")) {
        if (!p->is_boolean()) throw bad_field("tool_choice.disable_parallel_tool_use", "must be a boolean");
        out["parallel_tool_calls"] = !p->get<bool>();
    }
}

// "end_turn", "max_tokens", "stop_sequence" or "tool_use".
const char* stop_reason(const ChoiceReply& r) {
    if (!r.calls.empty()) return "tool_use";
    if (r.finish == runtime::FinishReason::Length) return "max_tokens";
    if (!r.stop_sequence.empty()) return "stop_sequence";
    return "end_turn";
}

// A call's arguments as the object Anthropic's `input` is (a call whose arguments are not an
// object is not a tool_use: the parser only reports calls it could read, so this is rare).
json call_input(const chat::ToolCall& call) {
    json input = json::parse(call.arguments, nullptr, /*allow_exceptions=*/false);
    return input.is_object() ? input : json::object();
}

// Anthropic's message object, whole or as named SSE events.
class AnthropicWriter : public ReplyWriter {
  public:
    explicit AnthropicWriter(Exchange& ex) : ex_(ex), id_(random_id("msg_")) {}

    void write_whole(const GenerationInfo& info, const std::vector<ChoiceReply>& replies) override {
        const ChoiceReply& r = replies.front();
        json content = json::array();
        if (!r.reasoning.empty())
            content.push_back({{"type", "thinking"}, {"thinking", r.reasoning}, {"signature", ""}});
        if (!r.content.empty()) content.push_back({{"type", "text"}, {"text", r.content}});
        for (const chat::ToolCall& call : r.calls) {
            content.push_back({{"type", "tool_use"},
                               {"id", random_id("toolu_")},
                               {"name", call.name},
                               {"input", call_input(call)}});
        }
        json message = message_head(info);
        message["content"] = std::move(content);
        message["stop_reason"] = stop_reason(r);
        message["stop_sequence"] = r.stop_sequence.empty() ? json() : json(r.stop_sequence);
        message["usage"] = usage(info, info.completion_tokens);
        ex_.send_json(200, message);
    }

    bool begin(const GenerationInfo& info) override {
        if (!ex_.begin_event_stream()) return false;
        json message = message_head(info);
        message["content"] = json::array();
        message["stop_reason"] = nullptr;
        message["stop_sequence"] = nullptr;
        message["usage"] = usage(info, 0);
        return ex_.send_named_event("message_start", {{"type", "message_start"}, {"message", message}}) &&
               ex_.send_named_event("ping", {{"type", "ping"}});
    }

    bool reasoning(int, const std::string& text) override {
        if (!open_block("thinking", {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}))
            return false;
        return delta({{"type", "thinking_delta"}, {"thinking", text}});
    }

    bool text(int, const std::string& text, const std::vector<runtime::TokenLogprob>&) override {
        if (text.empty()) return true;
        if (!open_block("text", {{"type", "text"}, {"text", ""}})) return false;
        return delta({{"type", "text_delta"}, {"text", text}});
    }

    bool tool_call(int, size_t, const chat::ToolCall& call) override {
        if (!close_block()) return false;
        json block = {{"type", "tool_use"},
                      {"id", random_id("toolu_")},
                      {"name", call.name},
                      {"input", json::object()}};
        if (!open_block("tool_use", block)) return false;
        if (!delta({{"type", "input_json_delta"}, {"partial_json", call_input(call).dump()}}))
            return false;
        return close_block();
    }

    bool choice_end(int, const ChoiceReply& reply) override {
        if (!close_block()) return false;
        return ex_.send_named_event(
            "message_delta",
            {{"type", "message_delta"},
             {"delta",
              {{"stop_reason", stop_reason(reply)},
               {"stop_sequence", reply.stop_sequence.empty() ? json() : json(reply.stop_sequence)}}},
             {"usage", {{"output_tokens", reply.completion_tokens}}}});
    }

    bool error(const ApiError& error) override {
        return ex_.send_named_event("error", error.to_json(ErrorShape::Anthropic));
    }

    bool done(const GenerationInfo&, bool complete) override {
        if (!complete) return true;
        return ex_.send_named_event("message_stop", {{"type", "message_stop"}});
    }

  private:
    json message_head(const GenerationInfo& info) const {
        return {{"id", id_}, {"type", "message"}, {"role", "assistant"},
                {"model", info.model.entry.name}};
    }

    static json usage(const GenerationInfo& info, int64_t output_tokens) {
        return {{"input_tokens", info.prompt_tokens - info.cached_prompt_tokens},
                {"cache_creation_input_tokens", 0},
                {"cache_read_input_tokens", info.cached_prompt_tokens},
                {"output_tokens", output_tokens}};
    }

    // Opens a content block of `kind` unless one is open already.
    bool open_block(const std::string& kind, const json& block) {
        if (open_ == kind && kind != "tool_use") return true;
        if (!close_block()) return false;
        open_ = kind;
        return ex_.send_named_event("content_block_start", {{"type", "content_block_start"},
                                                            {"index", index_},
                                                            {"content_block", block}});
    }

    bool close_block() {
        if (open_.empty()) return true;
        open_.clear();
        return ex_.send_named_event("content_block_stop",
                                    {{"type", "content_block_stop"}, {"index", index_++}});
    }

    bool delta(const json& d) {
        return ex_.send_named_event("content_block_delta",
                                    {{"type", "content_block_delta"}, {"index", index_}, {"delta", d}});
    }

    Exchange& ex_;
    std::string id_;
    std::string open_;  // the open content block's type ("": none)
    int index_ = 0;     // the open (or next) content block's index
};

GenerationRequest read_anthropic_request(const Exchange& ex, const RequestLimits& limits,
                                         bool counting) {
    ojson body = parse_ordered_json_object_body(ex.request.body);
    return read_generation_request(anthropic_to_openai(body, counting), /*chat=*/true, limits);
}

}  // namespace

ojson anthropic_to_openai(const ojson& body, bool counting) {
    ojson out = ojson::object();
    if (const ojson* model = present_member(body, "model")) out["model"] = *model;
    out["messages"] = openai_messages(body);
    const ojson* max_tokens = present_member(body, "max_tokens");
    if (!max_tokens && !counting) throw bad_field("max_tokens", "Field required");
    if (max_tokens && !counting) out["max_tokens"] = *max_tokens;
    if (const ojson* stops = present_member(body, "stop_sequences")) out["stop"] = *stops;
    for (const char* name : {"temperature", "top_p", "top_k", "stream"}) {
        if (const ojson* v = present_member(body, name)) out[name] = *v;
    }
    if (const ojson* tools = present_member(body, "tools")) {
        ojson converted = openai_tools(*tools);
        if (!converted.empty()) out["tools"] = std::move(converted);
    }
    if (const ojson* choice = present_member(body, "tool_choice")) read_tool_choice(*choice, out);
    if (const ojson* thinking = present_member(body, "thinking")) {
        const ojson* type = thinking->is_object() ? present_member(*thinking, "type") : nullptr;
        if (!type || !type->is_string()) throw bad_field("thinking", "must be an object with a 'type'");
        out["chat_template_kwargs"] = {{"enable_thinking", *type != "disabled"}};
    }
    return out;
}

void AnthropicApi::messages(Exchange& ex, const std::string& path_model) {
    GenerationRequest request = read_anthropic_request(ex, generations_.limits(), false);
    AnthropicWriter writer(ex);
    generations_.run(ex, request, path_model, writer);
}

void AnthropicApi::count_tokens(Exchange& ex, const std::string& path_model) {
    GenerationRequest request = read_anthropic_request(ex, generations_.limits(), true);
    auto model = generations_.pool().acquire(resolve_model(generations_.pool(), ex.identity, path_model, request.model));
    PreparedPrompt prompt = Generations::prepare_prompt(request, *model);
    ex.send_json(200, {{"input_tokens", prompt.tokens.size()}});
}

}  // namespace hearth::server
