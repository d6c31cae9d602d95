#pragma once
// The fields of /v1/chat/completions and /v1/completions requests, read and checked. Unknown
// fields are ignored; a known field of the wrong type or out of range is a 400 ApiError naming it.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/sampler.h"
#include "server/api_error.h"

namespace hearth::server {

struct RequestLimits {
    size_t max_messages = 1024;
    int32_t max_tokens = 32768;
    int32_t max_n = 16;
    size_t max_stop = 16;
    size_t max_tools = 128;
};

// OpenAI's tool_choice: "required" and a named function are forced by a grammar in the
// model's own call syntax (server/tool_grammar.h).
enum class ToolChoice { Auto, None, Required, Function };

struct GenerationRequest {
    bool chat = false;
    std::string model;
    nlohmann::json messages;                  // chat
    nlohmann::ordered_json ordered_messages;  // the same, keys in the client's order (templates)
    nlohmann::json chat_template_kwargs = nlohmann::json::object();  // extra template variables
    size_t tool_count = 0;  // functions in `tools`, checked
    // The tools as the client sent them (key order kept), for the template; null: none, or
    // tool_choice "none".
    nlohmann::ordered_json ordered_tools;
    ToolChoice tool_choice = ToolChoice::Auto;
    std::string forced_tool;          // tool_choice {"type": "function", ...}: its name
    bool parallel_tool_calls = true;  // with a forced call: more than one may follow
    // Structured output; at most one of: a GBNF grammar (llama-server's `grammar`), any JSON
    // object (response_format json_object), a JSON schema (response_format json_schema, read
    // in the client's key order so properties come in the order written).
    std::string grammar;
    bool json_object = false;
    bool has_json_schema = false;
    nlohmann::ordered_json json_schema;
    std::string prompt_text;             // completions, when the prompt is text
    std::vector<int32_t> prompt_tokens;  // completions, when the prompt is token ids
    std::optional<int32_t> max_tokens;
    runtime::SamplingOverrides sampling;  // the fields the request set
    std::vector<std::string> stop;
    int32_t n = 1;
    int32_t top_logprobs = -1;  // < 0: no logprobs
    bool stream = false;
    bool include_usage = false;
    bool echo = false;        // completions
    bool ignore_eos = false;  // extension (as llama-server): generate past the end of text
    std::string user;
    // Completions: prompt tokens after the BOS that a context shift keeps (llama-server's
    // n_keep; -1: the whole prompt). Chat requests keep their system messages instead.
    int32_t n_keep = 0;
};

// Throws ApiError(400) for a body that is not an object or has a bad known field.
GenerationRequest parse_generation_request(const nlohmann::json& body, bool chat,
                                           const RequestLimits& limits);

// The raw body parsed (parse_json_body) and checked (parse_generation_request), with messages,
// tools and a JSON schema also kept in the client's key order for templates and grammars.
GenerationRequest read_generation_request(const std::string& body, bool chat,
                                          const RequestLimits& limits);
// The same for an OpenAI-shaped body that another API's request was translated into (the
// Responses, Anthropic and Ollama routes), so every API is checked by one reader.
GenerationRequest read_generation_request(const nlohmann::ordered_json& body, bool chat,
                                          const RequestLimits& limits);

// For the translators of other APIs' bodies: a member that is there and not null (else
// nullptr), and a 400 naming the field at fault ("param: message").
const nlohmann::ordered_json* present_member(const nlohmann::ordered_json& object, const char* name);
ApiError bad_field(const std::string& param, const std::string& message);

// Deeper JSON bodies are refused before parsing.
constexpr size_t kMaxJsonDepth = 64;
// The deepest nesting of arrays and objects in `text` (JSON or not), found without recursion.
size_t json_nesting_depth(std::string_view text);

// Parses the raw body as JSON; a 400 ApiError says where it is malformed, too deep, or not
// UTF-8.
nlohmann::json parse_json_body(const std::string& body);
// A body's boolean field; absent or null: `fallback`; any other type: a 400 naming it.
bool boolean(const nlohmann::json& body, const char* name, bool fallback = false);

// parse_json_body, and a 400 unless the body is a JSON object.
nlohmann::json parse_json_object_body(const std::string& body);
// The same, keeping the client's key order (for bodies translated into another API's shape).
nlohmann::ordered_json parse_ordered_json_object_body(const std::string& body);

}  // namespace hearth::server
