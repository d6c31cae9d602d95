#pragma once
// One function call a model made, in OpenAI's terms: shared by every call syntax's parser
// (chat/tool_calls.h, chat/harmony.h).
#include <string>

namespace hearth::chat {

struct ToolCall {
    std::string name;
    std::string arguments;  // a JSON object as compact text, as OpenAI returns it
};

}  // namespace hearth::chat
