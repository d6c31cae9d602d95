#include "server/openai_request.h"

#include <algorithm>
#include <cctype>

#include "core/utf8.h"
#include "server/api_error.h"

namespace hearth::server {

namespace {

using nlohmann::json;

// A present, non-null field, or nullptr. OpenAI clients send null for "not set".
const json* field(const json& body, const char* name) {
    auto it = body.find(name);
    return it == body.end() || it->is_null() ? nullptr : &*it;
}

std::optional<float> number_in(const json& body, const char* name, double lo, double hi) {
    const json* v = field(body, name);
    if (!v) return std::nullopt;
    if (!v->is_number())
        throw ApiError::bad_request(std::string("'") + name + "' must be a number", name);
    double x = v->get<double>();
    if (x < lo || x > hi) {
        throw ApiError::bad_request(std::string("'") + name + "' must be between " +
                                        json(lo).dump() + " and " + json(hi).dump(),
                                    name);
    }
    return static_cast<float>(x);
}

std::optional<int64_t> integer_in(const json& body, const char* name, int64_t lo, int64_t hi) {
    const json* v = field(body, name);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) {
        throw ApiError::bad_request(std::string("'") + name + "' must be an integer", name);
    }
    int64_t x =
        v->is_number_unsigned() && v->get<uint64_t>() > INT64_MAX ? INT64_MAX : v->get<int64_t>();
    if (x < lo || x > hi) {
        throw ApiError::bad_request(std::string("'") + name + "' must be between " +
                                        std::to_string(lo) + " and " + std::to_string(hi),
                                    name);
    }
    return x;
}

std::vector<std::string> read_stop(const json& body, size_t max_stop) {
    const json* v = field(body, "stop");
    if (!v) return {};
    if (v->is_string()) return {v->get<std::string>()};
    if (!v->is_array())
        throw ApiError::bad_request("'stop' must be a string or an array of strings", "stop");
    if (v->size() > max_stop) {
        throw ApiError::bad_request(
            "'stop' may hold at most " + std::to_string(max_stop) + " strings", "stop");
    }
    std::vector<std::string> stops;
    for (const json& s : *v) {
        if (!s.is_string())
            throw ApiError::bad_request("'stop' must be a string or an array of strings", "stop");
        if (!s.get<std::string>().empty()) stops.push_back(s.get<std::string>());
    }
    return stops;
}

void read_prompt(const json& body, GenerationRequest& r) {
    const json* v = field(body, "prompt");
    if (!v) throw ApiError::bad_request("'prompt' is required", "prompt");
    if (v->is_string()) {
        r.prompt_text = v->get<std::string>();
        return;
    }
    // [ "text" ] or [ token ids ]; several prompts in one request are not supported.
    if (v->is_array() && v->size() == 1 && (*v)[0].is_string()) {
        r.prompt_text = (*v)[0].get<std::string>();
        return;
    }
    if (v->is_array() && !v->empty() && (*v)[0].is_number_integer()) {
        for (const json& t : *v) {
            if (!t.is_number_integer())
                throw ApiError::bad_request("'prompt' token ids must be integers", "prompt");
            r.prompt_tokens.push_back(t.get<int32_t>());
        }
        return;
    }
    throw ApiError::bad_request(
        "'prompt' must be a string, a one-string array or an array of token ids", "prompt");
}

void read_logprobs(const json& body, bool chat, GenerationRequest& r) {
    if (chat) {
        if (boolean(body, "logprobs")) r.top_logprobs = 0;
        auto top = integer_in(body, "top_logprobs", 0, 20);
        if (top) {
            if (r.top_logprobs < 0) {
                throw ApiError::bad_request("'top_logprobs' needs 'logprobs': true",
                                            "top_logprobs");
            }
            r.top_logprobs = static_cast<int32_t>(*top);
        }
        return;
    }
    // Completions: "logprobs" is the number of alternatives (0-5).
    auto n = integer_in(body, "logprobs", 0, 5);
    if (n) r.top_logprobs = static_cast<int32_t>(*n);
}

// A string field of an object, or nullptr when absent or null; 400 when it is not a string.
const json* string_field(const json& object, const char* name, const std::string& param) {
    const json* v = field(object, name);
    if (v && !v->is_string())
        throw ApiError::bad_request("'" + param + "' must be a string", param);
    return v;
}

// OpenAI's rule for function names: 1-64 of a-z, A-Z, 0-9, '_' and '-'.
bool valid_function_name(const std::string& name) {
    if (name.empty() || name.size() > 64) return false;
    for (char c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
    }
    return true;
}

// {"type": "function", "function": {"name": ..., "description"?: ..., "parameters"?: {...}}}
void check_tool(const json& tool, const std::string& param) {
    if (!tool.is_object()) throw ApiError::bad_request("each tool must be an object", param);
    const json* type = string_field(tool, "type", param + ".type");
    if (!type || *type != "function") {
        throw ApiError::bad_request("only tools of \"type\": \"function\" are supported",
                                    param + ".type");
    }
    const json* function = field(tool, "function");
    if (!function || !function->is_object())
        throw ApiError::bad_request("'function' must be an object", param + ".function");
    const json* name = string_field(*function, "name", param + ".function.name");
    if (!name || !valid_function_name(name->get<std::string>())) {
        throw ApiError::bad_request(
            "a function needs a 'name' of 1 to 64 letters, digits, '_' or '-'",
            param + ".function.name");
    }
    string_field(*function, "description", param + ".function.description");
    const json* parameters = field(*function, "parameters");
    if (parameters && !parameters->is_object()) {
        throw ApiError::bad_request("'parameters' must be a JSON Schema object",
                                    param + ".function.parameters");
    }
}

bool names_a_tool(const json& tools, const std::string& name) {
    for (const json& tool : tools) {
        if (tool["function"]["name"] == name) return true;
    }
    return false;
}

// "none", "auto", "required" or {"type": "function", "function": {"name": ...}}.
ToolChoice read_tool_choice(const json& body, const json* tools, std::string& forced) {
    const json* v = field(body, "tool_choice");
    if (!v) return ToolChoice::Auto;
    if (v->is_string()) {
        if (*v == "auto") return ToolChoice::Auto;
        if (*v == "none") return ToolChoice::None;
        if (*v == "required") {
            if (!tools || tools->empty())
                throw ApiError::bad_request("tool_choice \"required\" needs 'tools'",
                                            "tool_choice");
            return ToolChoice::Required;
        }
    } else if (v->is_object()) {
        const json* function = field(*v, "function");
        const json* name = function && function->is_object()
                               ? string_field(*function, "name", "tool_choice.function.name")
                               : nullptr;
        if (name) {
            if (!tools || !names_a_tool(*tools, name->get<std::string>())) {
                throw ApiError::bad_request("tool_choice names a function that is not in 'tools'",
                                            "tool_choice");
            }
            forced = name->get<std::string>();
            return ToolChoice::Function;
        }
    }
    throw ApiError::bad_request(
        "'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", "
        "\"function\": {\"name\": ...}}",
        "tool_choice");
}

void read_tools(const json& body, size_t max_tools, GenerationRequest& r) {
    const json* tools = field(body, "tools");
    if (tools) {
        if (!tools->is_array())
            throw ApiError::bad_request("'tools' must be an array of function tools", "tools");
        if (tools->size() > max_tools) {
            throw ApiError::bad_request(
                "'tools' may hold at most " + std::to_string(max_tools) + " functions", "tools");
        }
        for (size_t i = 0; i < tools->size(); ++i)
            check_tool((*tools)[i], "tools[" + std::to_string(i) + "]");
        r.tool_count = tools->size();
    }
    r.tool_choice = read_tool_choice(body, tools, r.forced_tool);
    if (const json* parallel = field(body, "parallel_tool_calls")) {
        if (!parallel->is_boolean())
            throw ApiError::bad_request("'parallel_tool_calls' must be a boolean",
                                        "parallel_tool_calls");
        r.parallel_tool_calls = parallel->get<bool>();
    }
}

}  // namespace

// `response_format` text (free), json_object or json_schema, and llama-server's `grammar`
// (GBNF text). The schema itself is taken later in the client's key order.
void read_structured_output(const json& body, GenerationRequest& r) {
    if (const json* g = field(body, "grammar"); g && !g->is_null()) {
        if (!g->is_string()) throw ApiError::bad_request("'grammar' must be GBNF text", "grammar");
        r.grammar = g->get<std::string>();
    }
    const json* f = field(body, "response_format");
    if (!f || f->is_null()) return;
    const json* type = f->is_object() ? field(*f, "type") : nullptr;
    if (!type || !type->is_string())
        throw ApiError::bad_request("'response_format' must be an object with a string 'type'",
                                    "response_format");
    const std::string t = type->get<std::string>();
    if (t == "text") return;
    if (t == "json_object") {
        r.json_object = true;
    } else if (t == "json_schema") {
        const json* js = field(*f, "json_schema");
        const json* schema = js && js->is_object() ? field(*js, "schema") : nullptr;
        if (!schema || !(schema->is_object() || schema->is_boolean()))
            throw ApiError::bad_request(
                "response_format json_schema needs {\"json_schema\": {\"name\": ..., "
                "\"schema\": {...}}}",
                "response_format");
        r.has_json_schema = true;
    } else {
        throw ApiError::bad_request("unknown response_format type '" + t + "'",
                                    "response_format");
    }
    if (!r.grammar.empty())
        throw ApiError::bad_request("give 'grammar' or a JSON response_format, not both",
                                    "response_format");
}

const nlohmann::ordered_json* present_member(const nlohmann::ordered_json& object, const char* name) {
    if (!object.is_object()) return nullptr;
    auto it = object.find(name);
    return it == object.end() || it->is_null() ? nullptr : &*it;
}

ApiError bad_field(const std::string& param, const std::string& message) {
    return ApiError::bad_request(param + ": " + message, param);
}

size_t json_nesting_depth(std::string_view text) {
    size_t depth = 0, deepest = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i;  // the escaped character cannot end the string
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

namespace {

// Parses a body into either JSON type, after the checks that protect the parser.
template <typename Json>
Json parse_checked(const std::string& body) {
    // The parser recurses once per level: a few hundred kilobytes of brackets would overflow
    // the stack, so depth is counted first, without recursion.
    if (json_nesting_depth(body) > kMaxJsonDepth) {
        throw ApiError::bad_request("the request body nests JSON deeper than " +
                                    std::to_string(kMaxJsonDepth) + " levels");
    }
    if (!utf8::is_valid(body)) {
        throw ApiError::bad_request(
            "the request body is not valid UTF-8; send JSON text encoded as UTF-8");
    }
    try {
        return Json::parse(body);
    } catch (const typename Json::parse_error& e) {
        throw ApiError::bad_request(std::string("the request body is not valid JSON: ") + e.what());
    }
}

}  // namespace

json parse_json_body(const std::string& body) { return parse_checked<json>(body); }

nlohmann::ordered_json parse_ordered_json_object_body(const std::string& body) {
    auto parsed = parse_checked<nlohmann::ordered_json>(body);
    if (!parsed.is_object()) throw ApiError::bad_request("the request body must be a JSON object");
    return parsed;
}

bool boolean(const json& body, const char* name, bool fallback) {
    const json* v = field(body, name);
    if (!v) return fallback;
    if (!v->is_boolean())
        throw ApiError::bad_request(std::string("'") + name + "' must be a boolean", name);
    return v->get<bool>();
}

json parse_json_object_body(const std::string& body) {
    json parsed = parse_json_body(body);
    if (!parsed.is_object()) throw ApiError::bad_request("the request body must be a JSON object");
    return parsed;
}

GenerationRequest parse_generation_request(const json& body, bool chat,
                                           const RequestLimits& limits) {
    if (!body.is_object()) throw ApiError::bad_request("the request body must be a JSON object");
    GenerationRequest r;
    r.chat = chat;
    if (const json* m = field(body, "model")) {
        if (!m->is_string()) throw ApiError::bad_request("'model' must be a string", "model");
        r.model = m->get<std::string>();
    }
    if (chat) {
        const json* messages = field(body, "messages");
        if (!messages) throw ApiError::bad_request("'messages' is required", "messages");
        if (!messages->is_array() || messages->empty()) {
            throw ApiError::bad_request("'messages' must be a non-empty array", "messages");
        }
        if (messages->size() > limits.max_messages) {
            throw ApiError::bad_request(
                "too many messages: at most " + std::to_string(limits.max_messages), "messages");
        }
        r.messages = *messages;
        // llama-server's extension: extra variables for the chat template (enable_thinking...).
        if (const json* kwargs = field(body, "chat_template_kwargs")) {
            if (!kwargs->is_object()) {
                throw ApiError::bad_request("'chat_template_kwargs' must be an object",
                                            "chat_template_kwargs");
            }
            r.chat_template_kwargs = *kwargs;
        }
        // OpenAI's reasoning_effort (or the Responses API's reasoning: {effort}) reaches
        // templates that read it (gpt-oss); "none" also turns Qwen3's thinking off.
        // chat_template_kwargs, when they say otherwise, win.
        const json* effort = field(body, "reasoning_effort");
        const char* effort_param = "reasoning_effort";
        if (const json* reasoning = field(body, "reasoning"); reasoning && !effort) {
            if (!reasoning->is_object())
                throw ApiError::bad_request("'reasoning' must be an object", "reasoning");
            effort = field(*reasoning, "effort");
            effort_param = "reasoning.effort";
        }
        if (effort) {
            static const char* known[] = {"none", "minimal", "low", "medium", "high"};
            if (!effort->is_string() ||
                std::none_of(std::begin(known), std::end(known),
                             [&](const char* k) { return *effort == k; })) {
                throw ApiError::bad_request(std::string("'") + effort_param +
                                                "' must be one of none, minimal, low, medium, high",
                                            effort_param);
            }
            if (!r.chat_template_kwargs.contains("reasoning_effort"))
                r.chat_template_kwargs["reasoning_effort"] = *effort;
            if (*effort == "none" && !r.chat_template_kwargs.contains("enable_thinking"))
                r.chat_template_kwargs["enable_thinking"] = false;
        }
        read_tools(body, limits.max_tools, r);
    } else {
        read_prompt(body, r);
        r.echo = boolean(body, "echo");
    }
    // max_completion_tokens is the newer name; it wins when both are given.
    auto max_tokens = integer_in(body, "max_tokens", 1, limits.max_tokens);
    auto max_completion = integer_in(body, "max_completion_tokens", 1, limits.max_tokens);
    if (max_completion) max_tokens = max_completion;
    if (max_tokens) r.max_tokens = static_cast<int32_t>(*max_tokens);
    runtime::SamplingOverrides& s = r.sampling;
    s.temperature = number_in(body, "temperature", 0, 2);
    s.top_p = number_in(body, "top_p", 0, 1);
    s.min_p = number_in(body, "min_p", 0, 1);
    s.presence_penalty = number_in(body, "presence_penalty", -2, 2);
    s.frequency_penalty = number_in(body, "frequency_penalty", -2, 2);
    s.repeat_penalty = number_in(body, "repeat_penalty", 0, 10);  // llama-server's extension
    if (auto k = integer_in(body, "top_k", 0, 1 << 20)) s.top_k = static_cast<int32_t>(*k);
    // Any 64-bit seed; its bits are the seed (-1 is the "random" value, as in llama-server).
    if (auto seed = integer_in(body, "seed", INT64_MIN, INT64_MAX))
        s.seed = static_cast<uint64_t>(*seed);
    r.stop = read_stop(body, limits.max_stop);
    if (auto n = integer_in(body, "n", 1, limits.max_n)) r.n = static_cast<int32_t>(*n);
    read_logprobs(body, chat, r);
    read_structured_output(body, r);
    r.stream = boolean(body, "stream");
    r.ignore_eos = boolean(body, "ignore_eos");
    if (!chat) {
        if (auto keep = integer_in(body, "n_keep", -1, INT32_MAX)) r.n_keep = static_cast<int32_t>(*keep);
    }
    if (const json* so = field(body, "stream_options")) {
        if (!so->is_object())
            throw ApiError::bad_request("'stream_options' must be an object", "stream_options");
        r.include_usage = boolean(*so, "include_usage");
    }
    if (const json* u = field(body, "user")) {
        if (!u->is_string()) throw ApiError::bad_request("'user' must be a string", "user");
        r.user = u->get<std::string>();
    }
    return r;
}

namespace {

// Templates see dicts in the client's key order, as transformers does (nlohmann::json sorts
// keys), and a JSON schema's properties come out in the order written, so the body is read
// once more, keeping order, for messages, tools and the schema.
void read_in_client_order(nlohmann::ordered_json ordered, GenerationRequest& r) {
    if (!r.chat && !r.has_json_schema) return;
    if (r.chat) r.ordered_messages = std::move(ordered["messages"]);
    // tool_choice "none": the model is not told about the tools at all.
    if (r.chat && r.tool_count > 0 && r.tool_choice != ToolChoice::None)
        r.ordered_tools = std::move(ordered["tools"]);
    if (r.has_json_schema) r.json_schema = std::move(ordered["response_format"]["json_schema"]["schema"]);
}

}  // namespace

GenerationRequest read_generation_request(const std::string& body, bool chat,
                                          const RequestLimits& limits) {
    GenerationRequest r = parse_generation_request(parse_json_body(body), chat, limits);
    if (r.chat || r.has_json_schema) read_in_client_order(nlohmann::ordered_json::parse(body), r);
    return r;
}

GenerationRequest read_generation_request(const nlohmann::ordered_json& body, bool chat,
                                          const RequestLimits& limits) {
    GenerationRequest r = parse_generation_request(json::parse(body.dump()), chat, limits);
    read_in_client_order(body, r);
    return r;
}

}  // namespace hearth::server
