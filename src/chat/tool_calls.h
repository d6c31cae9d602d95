#pragma once
// Tool calls in a model's reply. Each model family writes them in its own syntax, which its chat
// template shows (the template renders past calls the way the model writes new ones):
//   Hermes / Qwen   <tool_call>{"name": "f", "arguments": {...}}</tool_call>   (one or several)
//   Llama 3.1+      {"name": "f", "parameters": {...}}   the whole reply; several split by ';'
//   Mistral         [TOOL_CALLS][{"name": "f", "arguments": {...}}, ...]
//                   or [TOOL_CALLS]f[ARGS]{...} (newer templates)
//   Harmony (gpt-oss) <|channel|>commentary to=functions.f <|constrain|>json<|message|>{...}
//                   among channel messages that also carry reasoning (chat/harmony.h)
// A reply whose calls are not all well-formed stays plain content, unchanged.
#include <string>
#include <vector>

#include "chat/tool_call.h"

namespace hearth::chat {

enum class ToolCallSyntax { None, Hermes, Llama3Json, Mistral, Harmony };

// The syntax a template's model writes, from markers in the template's text.
ToolCallSyntax detect_tool_call_syntax(const std::string& template_source);

struct ParsedReply {
    std::string content;          // the text outside the calls
    std::vector<ToolCall> calls;  // empty: `content` is the reply, unchanged
};

// Splits a complete reply into content and calls (Harmony: its reasoning is dropped; the server
// reads harmony replies with chat::HarmonyStream, which keeps it).
ParsedReply parse_tool_calls(ToolCallSyntax syntax, const std::string& reply);

// The same for a reply arriving in pieces: text that cannot be part of a call is released at
// once; from the first call marker on, text is held until finish() parses it. Whitespace right
// before a possible marker is held too, so content is not streamed with a dangling newline.
class ToolCallStream {
  public:
    explicit ToolCallStream(ToolCallSyntax syntax) : syntax_(syntax) {}
    // Returns the content that can be shown now.
    std::string push(const std::string& text);
    // The end of the reply: the calls, and the content not yet returned by push().
    ParsedReply finish();

  private:
    ToolCallSyntax syntax_;
    std::string pending_;  // not yet released: a possible marker start, or everything after one
    bool in_calls_ = false;
    bool seen_text_ = false;  // released any non-whitespace yet (Llama 3 calls start the reply)
};

}  // namespace hearth::chat
