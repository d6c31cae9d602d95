#include "server/chat_prompt.h"

#include "chat/harmony.h"
#include "chat/reasoning.h"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>

#include "chat/chat_template.h"
#include "core/error.h"
#include "server/api_error.h"

namespace hearth::server {

namespace {

const char* kRoles[] = {"system", "developer", "user", "assistant", "tool"};

std::string trim_copy(const std::string& s) {
    const char* ws = " \t\r\n";
    size_t b = s.find_first_not_of(ws);
    if (b == std::string::npos) return {};
    size_t e = s.find_last_not_of(ws);
    return s.substr(b, e - b + 1);
}

std::string param_of(size_t index, const char* field) {
    return "messages[" + std::to_string(index) + "]." + field;
}

// An assistant message's past calls: [{"id", "type": "function", "function": {"name",
// "arguments"}}], arguments as JSON text (OpenAI) or an object.
void validate_tool_calls(const nlohmann::json& calls, size_t index) {
    if (calls.is_null()) return;
    const std::string param = param_of(index, "tool_calls");
    if (!calls.is_array()) throw ApiError::bad_request("'tool_calls' must be an array", param);
    for (size_t i = 0; i < calls.size(); ++i) {
        const std::string at = param + "[" + std::to_string(i) + "].function";
        auto function = calls[i].is_object() ? calls[i].find("function") : calls[i].end();
        if (!calls[i].is_object() || function == calls[i].end() || !function->is_object())
            throw ApiError::bad_request("each tool call needs a 'function' object", at);
        auto name = function->find("name");
        if (name == function->end() || !name->is_string())
            throw ApiError::bad_request("a tool call's function needs a string 'name'",
                                        at + ".name");
        auto args = function->find("arguments");
        if (args != function->end() && !args->is_string() && !args->is_object() && !args->is_null())
            throw ApiError::bad_request("'arguments' must be a JSON string", at + ".arguments");
    }
}

void validate_message(const nlohmann::json& message, size_t index) {
    if (!message.is_object()) {
        throw ApiError::bad_request("each message must be an object",
                                    "messages[" + std::to_string(index) + "]");
    }
    auto role = message.find("role");
    if (role == message.end() || !role->is_string()) {
        throw ApiError::bad_request("each message needs a string 'role'", param_of(index, "role"));
    }
    bool known = false;
    for (const char* r : kRoles) known |= *role == r;
    if (!known) {
        throw ApiError::bad_request("unknown role '" + role->get<std::string>() +
                                        "' (expected system, developer, user, assistant or tool)",
                                    param_of(index, "role"));
    }
    if (auto calls = message.find("tool_calls"); calls != message.end())
        validate_tool_calls(*calls, index);
    auto id = message.find("tool_call_id");
    if (id != message.end() && !id->is_string() && !id->is_null())
        throw ApiError::bad_request("'tool_call_id' must be a string",
                                    param_of(index, "tool_call_id"));
}

// Templates expect a past call's arguments as an object (transformers documents a dict); OpenAI
// clients send them as JSON text. Text that is not a JSON object is passed on as sent.
nlohmann::ordered_json with_parsed_arguments(nlohmann::ordered_json messages) {
    for (auto& message : messages) {
        auto calls = message.find("tool_calls");
        if (calls == message.end() || !calls->is_array()) continue;
        for (auto& call : *calls) {
            auto args = call["function"].find("arguments");
            if (args == call["function"].end() || !args->is_string()) continue;
            auto parsed = nlohmann::ordered_json::parse(args->get<std::string>(), nullptr, false);
            if (parsed.is_object()) *args = std::move(parsed);
        }
    }
    return messages;
}

using ordered_json = nlohmann::ordered_json;

bool is_tool_result(const ordered_json& m) {
    return m.is_object() && m.value("role", "") == "tool";
}

// The tool results that follow an assistant's calls, each right after its own call: harmony
// names a result by the call before it (gpt-oss's template takes the most recent call's name).
// Results are matched by tool_call_id, else taken in order.
void append_interleaved(const ordered_json& assistant, std::vector<ordered_json> results,
                        ordered_json& out) {
    const ordered_json& calls = assistant["tool_calls"];
    for (size_t i = 0; i < calls.size(); ++i) {
        ordered_json one = assistant;
        one["tool_calls"] = ordered_json::array({calls[i]});
        if (i > 0) {  // the reasoning and preamble went with the first call
            one.erase("thinking");
            one.erase("content");
        }
        out.push_back(std::move(one));
        const ordered_json id = calls[i].is_object() ? calls[i].value("id", ordered_json()) : ordered_json();
        auto match = std::find_if(results.begin(), results.end(), [&](const ordered_json& r) {
            return !id.is_null() && r.value("tool_call_id", ordered_json()) == id;
        });
        if (match == results.end() && !results.empty()) match = results.begin();
        if (match != results.end()) {
            out.push_back(std::move(*match));
            results.erase(match);
        }
    }
    for (ordered_json& rest : results) out.push_back(std::move(rest));
}

// OpenAI's message shapes as gpt-oss's template expects them (as the reference engine passes
// them): the reasoning an assistant message carries back (reasoning_content) in `thinking`,
// without its content when it made calls (the template takes one or the other for the
// analysis it renders before a call); a null content left out (the template looks inside
// it); one call per assistant message, each followed by its result.
ordered_json harmony_history(const ordered_json& messages) {
    ordered_json out = ordered_json::array();
    for (size_t i = 0; i < messages.size(); ++i) {
        ordered_json m = messages[i];
        if (!m.is_object() || m.value("role", "") != "assistant") {
            out.push_back(std::move(m));
            continue;
        }
        auto content = m.find("content");
        if (content != m.end() && content->is_null()) m.erase(content);
        const bool calls = m.contains("tool_calls") && m["tool_calls"].is_array() &&
                           !m["tool_calls"].empty();
        if (!calls) m.erase("tool_calls");
        auto reasoning = m.find("reasoning_content");
        if (reasoning != m.end() && reasoning->is_string() && !reasoning->get_ref<const std::string&>().empty() &&
            !m.contains("thinking")) {
            m["thinking"] = *reasoning;
            if (calls) m.erase("content");
        }
        if (!calls || m["tool_calls"].size() == 1) {
            out.push_back(std::move(m));
            continue;
        }
        std::vector<ordered_json> results;
        while (i + 1 < messages.size() && is_tool_result(messages[i + 1])) results.push_back(messages[++i]);
        append_interleaved(m, std::move(results), out);
    }
    return out;
}

// gpt-oss knows three efforts; the lighter OpenAI ones become its lightest.
nlohmann::json harmony_vars(nlohmann::json vars) {
    auto effort = vars.find("reasoning_effort");
    if (effort != vars.end() && (*effort == "none" || *effort == "minimal")) *effort = "low";
    return vars;
}

}  // namespace

std::string message_text(const nlohmann::json& content, size_t index) {
    if (content.is_null()) return {};
    if (content.is_string()) return content.get<std::string>();
    if (!content.is_array()) {
        throw ApiError::bad_request("'content' must be a string or an array of text parts",
                                    param_of(index, "content"));
    }
    std::string text;
    for (const auto& part : content) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
            !part["text"].is_string()) {
            throw ApiError::bad_request("only text content parts are supported",
                                        param_of(index, "content"));
        }
        text += part["text"].get<std::string>();
    }
    return text;
}

namespace {

// Parsed templates, by source: a model's template is parsed once, not per request.
std::shared_ptr<const chat::ChatTemplate> template_for(const std::string& source) {
    static std::mutex mutex;
    static std::map<std::string, std::shared_ptr<const chat::ChatTemplate>> cache;
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(source);
    if (it != cache.end()) return it->second;
    std::shared_ptr<const chat::ChatTemplate> parsed;
    try {
        parsed = std::make_shared<const chat::ChatTemplate>(
            source.empty() ? chat::ChatTemplate::chatml_default() : chat::ChatTemplate(source));
    } catch (const Error& e) {
        throw ApiError(400,
                       std::string("the model's chat template cannot be parsed: ") + e.what() +
                           " (override it with `template:` in the model's YAML config)",
                       "invalid_request_error", "model");
    }
    cache.emplace(source, parsed);
    return parsed;
}

std::string token_text(const tokenizer::Vocab& vocab, int32_t id) {
    return id == tokenizer::kNoToken ? std::string() : vocab.tokens[id];
}

// Every content string the client sent, in message order.
std::vector<std::string> content_strings(const nlohmann::json& messages) {
    std::vector<std::string> out;
    for (const auto& m : messages) {
        auto content = m.find("content");
        if (content == m.end()) continue;
        if (content->is_string()) {
            out.push_back(content->get<std::string>());
        } else if (content->is_array()) {
            for (const auto& part : *content) {
                if (part.is_object() && part.contains("text") && part["text"].is_string())
                    out.push_back(part["text"].get<std::string>());
            }
        }
    }
    return out;
}

// Finds each content string in the rendered prompt, in order (templates may trim it).
std::vector<tokenizer::Tokenizer::ByteRange> locate(const std::string& text,
                                                    const std::vector<std::string>& contents) {
    std::vector<tokenizer::Tokenizer::ByteRange> ranges;
    size_t from = 0;
    for (const std::string& c : contents) {
        for (const std::string& needle : {c, trim_copy(c)}) {
            if (needle.empty()) continue;
            size_t at = text.find(needle, from);
            if (at == std::string::npos) continue;
            ranges.push_back({at, at + needle.size()});
            from = at + needle.size();
            break;
        }
    }
    return ranges;
}

}  // namespace

std::vector<int32_t> ChatPrompt::tokenize(const tokenizer::Tokenizer& tokenizer) const {
    if (!parse_special) return tokenizer.encode(text, add_bos, /*parse_special=*/false);
    return tokenizer.encode(text, add_bos, content_ranges);
}

ChatPrompt render_chat_prompt(const model::Model& model, const tokenizer::Tokenizer& tokenizer,
                              const nlohmann::json& messages, const std::string& template_override,
                              const nlohmann::json& extra_vars,
                              const nlohmann::ordered_json* ordered_messages,
                              const nlohmann::ordered_json& tools) {
    if (!messages.is_array() || messages.empty()) {
        throw ApiError::bad_request("'messages' must be a non-empty array", "messages");
    }
    for (size_t i = 0; i < messages.size(); ++i) validate_message(messages[i], i);

    const tokenizer::Vocab& vocab = tokenizer.vocab();
    // A model trained for chat names its template; a base model has none and only continues text.
    const std::string template_source = template_override.empty()
                                            ? model.file().get_string("tokenizer.chat_template", "")
                                            : template_override;
    const bool chatml_vocab = vocab.find("<|im_start|>") != tokenizer::kNoToken;
    ChatPrompt prompt;
    if (template_source.empty() && !chatml_vocab) {
        for (size_t i = 0; i < messages.size(); ++i) {
            std::string text = message_text(messages[i].value("content", nlohmann::json()), i);
            if (text.empty()) continue;
            if (!prompt.text.empty()) prompt.text += "\n";
            prompt.text += text;
        }
        return prompt;
    }
    chat::ChatRenderOptions options;
    options.add_generation_prompt = true;
    options.bos_token = token_text(vocab, vocab.bos);
    options.eos_token = token_text(vocab, vocab.eos);
    if (extra_vars.is_object()) options.extra_vars = extra_vars;
    const bool has_tools = tools.is_array() && !tools.empty();
    try {
        auto tmpl = template_for(template_source);
        prompt.harmony = chat::template_is_harmony(tmpl->source());
        ordered_json history = with_parsed_arguments(ordered_messages ? *ordered_messages
                                                                      : ordered_json(messages));
        if (prompt.harmony) {
            history = harmony_history(history);
            options.extra_vars = harmony_vars(std::move(options.extra_vars));
        }
        prompt.text = tmpl->render_ordered(history, has_tools ? tools : nullptr, options,
                                           ordered_json(options.extra_vars));
        if (has_tools) prompt.tool_call_syntax = chat::detect_tool_call_syntax(tmpl->source());
        prompt.mistral_args_calls = prompt.tool_call_syntax == chat::ToolCallSyntax::Mistral &&
                                    tmpl->source().find("[ARGS]") != std::string::npos;
        prompt.thinks = chat::template_thinks(tmpl->source());
        prompt.starts_thinking = prompt.thinks && chat::prompt_opens_thinking(prompt.text);
    } catch (const Error& e) {
        // raise_exception() in a template reports a conversation the model does not accept.
        throw ApiError::bad_request(
            std::string("the model's chat template refused these messages: ") + e.what(),
            "messages");
    }
    prompt.parse_special = true;
    prompt.content_ranges = locate(prompt.text, content_strings(messages));
    if (!options.bos_token.empty() && prompt.text.rfind(options.bos_token, 0) == 0)
        prompt.add_bos = false;
    return prompt;
}

}  // namespace hearth::server
