#pragma once
// Anthropic's Messages API: POST /v1/messages and /v1/messages/count_tokens, so Anthropic SDK
// apps and Claude-style agents can point at hearth. A request is translated into the OpenAI
// chat shape (system and content blocks to messages, tool_use / tool_result to tool calls and
// tool messages, tools' input_schema to parameters) and read by the one request reader; the
// reply is written as Anthropic's message object or its named SSE events.
#include <nlohmann/json.hpp>
#include <string>

#include "server/generation.h"

namespace hearth::server {

// The OpenAI chat body an Anthropic Messages body means. `counting`: count_tokens, where
// max_tokens is not required. Throws ApiError(400) naming the Anthropic field at fault.
nlohmann::ordered_json anthropic_to_openai(const nlohmann::ordered_json& body, bool counting);

class AnthropicApi {
  public:
    explicit AnthropicApi(Generations& generations) : generations_(generations) {}

    void messages(Exchange& ex, const std::string& path_model);
    void count_tokens(Exchange& ex, const std::string& path_model);

  private:
    Generations& generations_;
};

}  // namespace hearth::server
