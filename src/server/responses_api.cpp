#include "server/responses_api.h"

#include <algorithm>

#include "core/error.h"
#include "core/log.h"

namespace hearth::server {

namespace {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

const ojson& required_string(const ojson& item, const char* name, const std::string& param) {
    const ojson* v = present_member(item, name);
    if (!v || !v->is_string()) throw bad_field(param + "." + name, "a string is required");
    return *v;
}

ApiError not_found(const std::string& id, const std::string& param = {}) {
    if (!param.empty())
        return ApiError(404, "Previous response with id '" + id + "' not found.",
                        "invalid_request_error", param, "previous_response_not_found");
    return ApiError(404, "Response with id '" + id + "' not found.", "invalid_request_error");
}

// A message's content as the chat shape takes it: a string stays one; text parts (input_text,
// output_text, refusal) become chat text parts.
ojson chat_content(const ojson& content, const std::string& param) {
    if (content.is_string()) return content;
    if (!content.is_array()) throw bad_field(param, "must be a string or an array of content parts");
    ojson parts = ojson::array();
    for (size_t i = 0; i < content.size(); ++i) {
        const std::string p = param + "[" + std::to_string(i) + "]";
        const ojson* type = present_member(content[i], "type");
        if (!type || !type->is_string()) throw bad_field(p, "a content part needs a string 'type'");
        const std::string t = type->get<std::string>();
        if (t == "input_text" || t == "output_text") {
            parts.push_back({{"type", "text"}, {"text", required_string(content[i], "text", p)}});
        } else if (t == "refusal") {
            parts.push_back({{"type", "text"}, {"text", required_string(content[i], "refusal", p)}});
        } else if (t == "input_image" || t == "input_file" || t == "input_audio") {
            throw bad_field(p + ".type", "'" + t + "' parts are not supported: hearth's models read text only");
        } else {
            throw bad_field(p + ".type", "unknown content part type '" + t + "'");
        }
    }
    return parts;
}

// The text of a reasoning item: its content (reasoning_text parts), else its summary.
std::string reasoning_text(const ojson& item) {
    std::string text;
    for (const char* field : {"content", "summary"}) {
        const ojson* parts = present_member(item, field);
        if (!parts || !parts->is_array()) continue;
        for (const ojson& part : *parts) {
            const ojson* t = present_member(part, "text");
            if (t && t->is_string()) text += t->get<std::string>();
        }
        if (!text.empty()) break;
    }
    return text;
}

// Items become chat messages in order. An assistant turn is its message and the function
// calls after it; a reasoning item's text rides on the assistant message that follows.
class ChatConversation {
  public:
    ojson messages = ojson::array();

    void add(const ojson& item, const std::string& param) {
        if (!item.is_object()) throw bad_field(param, "must be an object (an input item)");
        const ojson* type = present_member(item, "type");
        if (type && !type->is_string()) throw bad_field(param + ".type", "must be a string");
        const std::string t = type ? type->get<std::string>() : "message";
        if (t == "message") {
            add_message(item, param);
        } else if (t == "function_call") {
            ojson call = {{"id", required_string(item, "call_id", param)},
                          {"type", "function"},
                          {"function",
                           {{"name", required_string(item, "name", param)},
                            {"arguments", required_string(item, "arguments", param)}}}};
            ojson& turn = assistant_turn();
            if (!turn.contains("tool_calls")) turn["tool_calls"] = ojson::array();
            turn["tool_calls"].push_back(std::move(call));
        } else if (t == "function_call_output") {
            const ojson* output = present_member(item, "output");
            if (!output) throw bad_field(param + ".output", "Field required");
            messages.push_back({{"role", "tool"},
                                {"tool_call_id", required_string(item, "call_id", param)},
                                {"content", chat_content(*output, param + ".output")}});
            open_turn_ = false;
        } else if (t == "reasoning") {
            reasoning_ += reasoning_text(item);
        } else {
            throw bad_field(param + ".type",
                      "unsupported item type '" + t +
                          "'; hearth reads message, function_call, function_call_output and "
                          "reasoning items");
        }
    }

  private:
    void add_message(const ojson& item, const std::string& param) {
        const ojson* role = present_member(item, "role");
        static const char* roles[] = {"user", "assistant", "system", "developer"};
        if (!role || !role->is_string() ||
            std::none_of(std::begin(roles), std::end(roles), [&](const char* r) { return *role == r; }))
            throw bad_field(param + ".role", "must be one of user, assistant, system, developer");
        const ojson* content = present_member(item, "content");
        if (!content) throw bad_field(param + ".content", "Field required");
        ojson message = {{"role", *role}, {"content", chat_content(*content, param + ".content")}};
        if (*role == "assistant") {
            take_reasoning(message);
            messages.push_back(std::move(message));
            open_turn_ = true;
        } else {
            messages.push_back(std::move(message));
            open_turn_ = false;
        }
    }

    // The assistant message calls join: the one just added, or a new one.
    ojson& assistant_turn() {
        if (!open_turn_) {
            ojson message = {{"role", "assistant"}, {"content", ""}};
            take_reasoning(message);
            messages.push_back(std::move(message));
            open_turn_ = true;
        }
        return messages.back();
    }

    void take_reasoning(ojson& message) {
        if (!reasoning_.empty()) message["reasoning_content"] = std::move(reasoning_);
        reasoning_.clear();
    }

    std::string reasoning_;
    bool open_turn_ = false;
};

// `input` as a list of items: a string is one user message.
ojson input_items(const ojson& body) {
    const ojson* input = present_member(body, "input");
    if (!input) throw bad_field("input", "Field required");
    if (input->is_string())
        return ojson::array({{{"type", "message"}, {"role", "user"}, {"content", *input}}});
    if (!input->is_array()) throw bad_field("input", "must be a string or an array of input items");
    return *input;
}

// Flat function tools ({type, name, description, parameters, strict}) as chat tools.
ojson chat_tools(const ojson& tools) {
    if (!tools.is_array()) throw bad_field("tools", "must be an array of tools");
    ojson out = ojson::array();
    for (size_t i = 0; i < tools.size(); ++i) {
        const std::string param = "tools[" + std::to_string(i) + "]";
        const ojson& t = tools[i];
        if (!t.is_object()) throw bad_field(param, "must be an object");
        const ojson* type = present_member(t, "type");
        if (!type || *type != "function") {
            throw bad_field(param + ".type",
                      "only function tools are supported (" +
                          (type ? type->dump() : std::string("no type")) +
                          " given): hosted tools such as web_search, file_search, "
                          "code_interpreter or mcp run on OpenAI's side, not here");
        }
        ojson function = {{"name", required_string(t, "name", param)}};
        for (const char* key : {"description", "parameters", "strict"}) {
            if (const ojson* v = present_member(t, key)) function[key] = *v;
        }
        out.push_back({{"type", "function"}, {"function", std::move(function)}});
    }
    return out;
}

// "auto" / "none" / "required" pass as they are; {type: "function", name} is named.
ojson chat_tool_choice(const ojson& choice) {
    if (choice.is_string()) return choice;
    const ojson* type = present_member(choice, "type");
    if (!type || *type != "function")
        throw bad_field("tool_choice", "must be auto, none, required or {\"type\": \"function\", \"name\": ...}");
    return {{"type", "function"},
            {"function", {{"name", required_string(choice, "name", "tool_choice")}}}};
}

// text.format: text, json_object or json_schema {name, schema, strict}, as response_format.
void read_text_format(const ojson& text, ojson& out) {
    if (!text.is_object()) throw bad_field("text", "must be an object");
    const ojson* format = present_member(text, "format");
    if (!format) return;
    const ojson* type = present_member(*format, "type");
    if (!type || !type->is_string()) throw bad_field("text.format", "must be an object with a string 'type'");
    if (*type == "text") return;
    if (*type == "json_object") {
        out["response_format"] = {{"type", "json_object"}};
    } else if (*type == "json_schema") {
        const ojson* schema = present_member(*format, "schema");
        if (!schema || !schema->is_object()) throw bad_field("text.format.schema", "a JSON schema object is required");
        ojson js = {{"name", format->value("name", "response")}, {"schema", *schema}};
        if (const ojson* strict = present_member(*format, "strict")) js["strict"] = *strict;
        out["response_format"] = {{"type", "json_schema"}, {"json_schema", std::move(js)}};
    } else {
        throw bad_field("text.format.type", "must be text, json_object or json_schema");
    }
}

}  // namespace

ResponsesTranslation responses_to_openai(const ojson& body, const ojson& history) {
    for (const char* refused : {"conversation", "prompt"}) {
        if (present_member(body, refused))
            throw bad_field(refused, "is not supported by hearth; send the input (and previous_response_id)");
    }
    if (const ojson* background = present_member(body, "background"); background && *background == true)
        throw bad_field("background", "background responses are not supported by hearth");
    ResponsesTranslation t;
    t.items = history;
    for (const ojson& item : input_items(body)) t.items.push_back(item);

    ojson& out = t.chat_body;
    if (const ojson* model = present_member(body, "model")) out["model"] = *model;
    ChatConversation conversation;
    if (const ojson* instructions = present_member(body, "instructions")) {
        if (!instructions->is_string()) throw bad_field("instructions", "must be a string");
        conversation.messages.push_back({{"role", "system"}, {"content", *instructions}});
    }
    for (size_t i = 0; i < history.size(); ++i)
        conversation.add(history[i], "previous_response_id");
    const size_t first_input = history.size();
    for (size_t i = first_input; i < t.items.size(); ++i)
        conversation.add(t.items[i], "input[" + std::to_string(i - first_input) + "]");
    out["messages"] = std::move(conversation.messages);

    if (const ojson* max = present_member(body, "max_output_tokens")) {
        if (!max->is_number_integer() || max->get<int64_t>() < 1)
            throw bad_field("max_output_tokens", "must be an integer of at least 1");
        out["max_tokens"] = *max;
    }
    for (const char* name : {"temperature", "top_p", "stream", "parallel_tool_calls", "reasoning", "user"}) {
        if (const ojson* v = present_member(body, name)) out[name] = *v;
    }
    if (const ojson* tools = present_member(body, "tools")) {
        ojson converted = chat_tools(*tools);
        if (!converted.empty()) out["tools"] = std::move(converted);
    }
    if (const ojson* choice = present_member(body, "tool_choice")) out["tool_choice"] = chat_tool_choice(*choice);
    if (const ojson* text = present_member(body, "text")) read_text_format(*text, out);
    return t;
}

namespace {

// OpenAI's response object, whole or as its named SSE events, and stored when asked.
class ResponsesWriter : public ReplyWriter {
  public:
    ResponsesWriter(Exchange& ex, ResponseStore* store, json echo, ojson items)
        : ex_(ex), store_(store), echo_(std::move(echo)), items_(std::move(items)),
          id_(random_id("resp_")) {}

    void write_whole(const GenerationInfo& info, const std::vector<ChoiceReply>& replies) override {
        const ChoiceReply& r = replies.front();
        if (!r.reasoning.empty()) output_.push_back(reasoning_item(random_id("rs_"), r.reasoning));
        // As streamed: a message for the text, or an empty one when nothing else was said.
        if (!r.content.empty() || (r.calls.empty() && r.reasoning.empty()))
            output_.push_back(message_item(random_id("msg_"), r.content, item_status(r)));
        for (const chat::ToolCall& call : r.calls)
            output_.push_back(call_item(random_id("fc_"), random_id("call_"), call, call.arguments));
        finish_ = r.finish;
        json response = response_json(info, status());
        keep(info, response);
        ex_.send_json(200, response);
    }

    bool begin(const GenerationInfo& info) override {
        if (!ex_.begin_event_stream()) return false;
        json response = response_json(info, "in_progress");
        return send("response.created", {{"response", response}}) &&
               send("response.in_progress", {{"response", response}});
    }

    bool reasoning(int, const std::string& text) override {
        return open(Open::Reasoning) && delta("response.reasoning_text.delta", text);
    }

    bool text(int, const std::string& text, const std::vector<runtime::TokenLogprob>&) override {
        if (text.empty()) return true;
        return open(Open::Message) && delta("response.output_text.delta", text);
    }

    // As OpenAI streams a call: the item, its arguments in one delta, then done.
    bool tool_call(int, size_t, const chat::ToolCall& call) override {
        if (!close_item(true)) return false;
        const std::string item_id = random_id("fc_"), call_id = random_id("call_");
        json added = call_item(item_id, call_id, call, "");
        added["status"] = "in_progress";
        const size_t index = output_.size();
        json ids = {{"item_id", item_id}, {"output_index", index}};
        json args_delta = ids, args_done = ids;
        args_delta["delta"] = call.arguments;
        args_done["name"] = call.name;
        args_done["arguments"] = call.arguments;
        output_.push_back(call_item(item_id, call_id, call, call.arguments));
        return send("response.output_item.added", {{"output_index", index}, {"item", added}}) &&
               send("response.function_call_arguments.delta", args_delta) &&
               send("response.function_call_arguments.done", args_done) &&
               send("response.output_item.done", {{"output_index", index}, {"item", output_.back()}});
    }

    bool choice_end(int, const ChoiceReply& reply) override {
        finish_ = reply.finish;
        const bool complete = item_status(reply) == std::string("completed");
        if (!close_item(complete)) return false;
        // An answer of nothing but an empty text still has its (empty) message, as OpenAI's.
        if (output_.empty()) return open(Open::Message) && close_item(complete);
        return true;
    }

    bool error(const ApiError& e) override {
        json error = e.to_json()["error"];
        return send("error", {{"code", error["code"].is_null() ? json(error["type"]) : error["code"]},
                              {"message", error["message"]},
                              {"param", error["param"]}});
    }

    bool done(const GenerationInfo& info, bool complete) override {
        if (!complete) return true;
        const std::string s = status();
        json response = response_json(info, s);
        keep(info, response);
        return send(s == "completed" ? "response.completed" : "response.incomplete",
                    {{"response", response}});
    }

  private:
    enum class Open { None, Reasoning, Message };

    static const char* item_status(const ChoiceReply& r) {
        return r.finish == runtime::FinishReason::Length ? "incomplete" : "completed";
    }
    std::string status() const {
        return finish_ == runtime::FinishReason::Length ? "incomplete" : "completed";
    }

    static json text_part(const std::string& text) {
        return {{"type", "output_text"}, {"text", text}, {"annotations", json::array()},
                {"logprobs", json::array()}};
    }
    static json reasoning_part(const std::string& text) {
        return {{"type", "reasoning_text"}, {"text", text}};
    }
    static json reasoning_item(const std::string& id, const std::string& text) {
        return {{"id", id}, {"type", "reasoning"}, {"summary", json::array()},
                {"content", json::array({reasoning_part(text)})}};
    }
    static json message_item(const std::string& id, const std::string& text, const char* status) {
        return {{"id", id}, {"type", "message"}, {"status", status}, {"role", "assistant"},
                {"content", json::array({text_part(text)})}};
    }
    static json call_item(const std::string& id, const std::string& call_id,
                          const chat::ToolCall& call, const std::string& arguments) {
        return {{"id", id}, {"type", "function_call"}, {"status", "completed"},
                {"call_id", call_id}, {"name", call.name}, {"arguments", arguments}};
    }

    // The fields of a content-part event of the open item.
    json part_event(json part) const {
        return {{"item_id", item_id_}, {"output_index", output_.size()}, {"content_index", 0},
                {"part", std::move(part)}};
    }

    // Opens a reasoning or message item with its one content part, unless it is open already.
    bool open(Open kind) {
        if (open_ == kind) return true;
        if (!close_item(true)) return false;
        open_ = kind;
        const bool message = kind == Open::Message;
        item_id_ = random_id(message ? "msg_" : "rs_");
        json item = message ? message_item(item_id_, "", "in_progress") : reasoning_item(item_id_, "");
        item["content"] = json::array();
        return send("response.output_item.added", {{"output_index", output_.size()}, {"item", item}}) &&
               send("response.content_part.added", part_event(message ? text_part("") : reasoning_part("")));
    }

    bool delta(const char* type, const std::string& text) {
        text_ += text;
        json event = part_event(nullptr);
        event.erase("part");
        event["delta"] = text;
        if (open_ == Open::Message) event["logprobs"] = json::array();
        return send(type, event);
    }

    // Ends the open reasoning or message item: its text done, its part done, the item done.
    bool close_item(bool complete) {
        if (open_ == Open::None) return true;
        const bool message = open_ == Open::Message;
        open_ = Open::None;
        json item = message ? message_item(item_id_, text_, complete ? "completed" : "incomplete")
                            : reasoning_item(item_id_, text_);
        json text_done = part_event(nullptr);
        text_done.erase("part");
        text_done["text"] = text_;
        if (message) text_done["logprobs"] = json::array();
        const json part = message ? text_part(text_) : reasoning_part(text_);
        const size_t index = output_.size();
        output_.push_back(item);
        text_.clear();
        json part_done = {{"item_id", item_id_}, {"output_index", index}, {"content_index", 0},
                          {"part", part}};
        return send(message ? "response.output_text.done" : "response.reasoning_text.done", text_done) &&
               send("response.content_part.done", part_done) &&
               send("response.output_item.done", {{"output_index", index}, {"item", item}});
    }

    bool send(const std::string& type, json event) {
        event["type"] = type;
        event["sequence_number"] = sequence_++;
        return ex_.send_named_event(type, event);
    }

    json response_json(const GenerationInfo& info, const std::string& status) const {
        json r = {{"id", id_}, {"object", "response"}, {"created_at", info.created},
                  {"status", status}, {"background", false}, {"error", nullptr}};
        r["incomplete_details"] = status == "incomplete" ? json{{"reason", "max_output_tokens"}} : json();
        r["model"] = info.model.entry.name;
        r["output"] = status == "in_progress" ? json::array() : output_;
        r.update(echo_);
        r["usage"] = status == "in_progress" ? json() : usage(info);
        return r;
    }

    static json usage(const GenerationInfo& info) {
        return {{"input_tokens", info.prompt_tokens},
                {"input_tokens_details", {{"cached_tokens", info.cached_prompt_tokens}}},
                {"output_tokens", info.completion_tokens},
                {"output_tokens_details", {{"reasoning_tokens", 0}}},
                {"total_tokens", info.prompt_tokens + info.completion_tokens}};
    }

    // Stores the finished response; a store that fails costs the client nothing but the log line.
    void keep(const GenerationInfo& info, const json& response) {
        if (!store_) return;
        try {
            store_->put({id_, ex_.key_id, info.created, items_.dump(), output_.dump(), response.dump()});
        } catch (const Error& e) {
            log::error("response {} not stored: {}", id_, e.what());
        }
    }

    Exchange& ex_;
    ResponseStore* store_;
    json echo_;   // the request's fields a response object repeats
    ojson items_; // the conversation answered, to store
    std::string id_;
    json output_ = json::array();  // finished output items
    Open open_ = Open::None;
    std::string item_id_, text_;  // the open item's id and text so far
    runtime::FinishReason finish_ = runtime::FinishReason::Stop;
    int64_t sequence_ = 0;
};

// The request's fields a response object repeats, with OpenAI's defaults.
json echoed_fields(const ojson& body, bool store) {
    auto get = [&](const char* name, json fallback) {
        const ojson* v = present_member(body, name);
        return v ? json::parse(v->dump()) : fallback;
    };
    json tools = json::array();
    if (const ojson* t = present_member(body, "tools")) tools = json::parse(t->dump());
    json reasoning = {{"effort", nullptr}, {"summary", nullptr}};
    if (const ojson* r = present_member(body, "reasoning"); r && present_member(*r, "effort"))
        reasoning["effort"] = json::parse((*r)["effort"].dump());
    json text = {{"format", {{"type", "text"}}}};
    if (const ojson* t = present_member(body, "text"); t && present_member(*t, "format"))
        text["format"] = json::parse((*t)["format"].dump());
    return {{"instructions", get("instructions", nullptr)},
            {"max_output_tokens", get("max_output_tokens", nullptr)},
            {"metadata", get("metadata", json::object())},
            {"parallel_tool_calls", get("parallel_tool_calls", true)},
            {"previous_response_id", get("previous_response_id", nullptr)},
            {"reasoning", reasoning},
            {"store", store},
            {"temperature", get("temperature", 1.0)},
            {"text", text},
            {"tool_choice", get("tool_choice", "auto")},
            {"tools", tools},
            {"top_p", get("top_p", 1.0)},
            {"truncation", "disabled"},
            {"user", get("user", nullptr)}};
}

}  // namespace

void ResponsesApi::create(Exchange& ex, const std::string& path_model) {
    const ojson body = parse_ordered_json_object_body(ex.request.body);
    const ojson* store_field = present_member(body, "store");
    if (store_field && !store_field->is_boolean()) throw bad_field("store", "must be a boolean");
    const bool store = store_field ? store_field->get<bool>() : true;

    ojson history = ojson::array();
    if (const ojson* previous = present_member(body, "previous_response_id")) {
        if (!previous->is_string()) throw bad_field("previous_response_id", "must be a string");
        const std::string id = previous->get<std::string>();
        std::optional<StoredResponse> stored = store_.get(id, ex.key_id);
        if (!stored) throw not_found(id, "previous_response_id");
        history = ojson::parse(stored->input_items);
        for (ojson& item : ojson::parse(stored->output_items)) history.push_back(std::move(item));
    }
    ResponsesTranslation t = responses_to_openai(body, history);
    GenerationRequest request = read_generation_request(t.chat_body, /*chat=*/true, generations_.limits());
    ResponsesWriter writer(ex, store ? &store_ : nullptr, echoed_fields(body, store), std::move(t.items));
    generations_.run(ex, request, path_model, writer);
}

void ResponsesApi::retrieve(Exchange& ex, const std::string& id) {
    std::optional<StoredResponse> stored = store_.get(id, ex.key_id);
    if (!stored) throw not_found(id);
    ex.send(http::Response(200, stored->response, "application/json"));
}

void ResponsesApi::remove(Exchange& ex, const std::string& id) {
    if (!store_.remove(id, ex.key_id)) throw not_found(id);
    ex.send_json(200, {{"id", id}, {"object", "response"}, {"deleted", true}});
}

}  // namespace hearth::server
