#pragma once
// OpenAI's "harmony" chat format (gpt-oss). A reply is a run of messages, each a header, then
// <|message|>, the text, and a terminator:
//   <|channel|>analysis<|message|>thinking...<|end|>
//   <|start|>assistant<|channel|>final<|message|>the answer<|return|>
//   <|start|>assistant<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{...}<|call|>
// The first header has no "<|start|>assistant": the prompt ends with it. The recipient
// (" to=functions.NAME") may also sit right after the role, before <|channel|>. Channels map to
// OpenAI's fields: analysis -> reasoning_content, final and commentary without a recipient (a
// preamble) -> content, a message to functions.NAME -> a tool call whose text is the arguments.
// The markers are control tokens; the server shows them in the reply text (see
// harmony_marker_texts) so this parser can read them, and they never reach content.
#include <string>
#include <vector>

#include "chat/tool_call.h"

namespace hearth::chat {

// Whether a chat template is harmony's (it writes <|channel|> headers).
bool template_is_harmony(const std::string& template_source);

// The markers harmony replies are built of, as the vocabulary spells its control tokens.
const std::vector<std::string>& harmony_marker_texts();

struct HarmonyReply {
    std::string reasoning;        // analysis messages, joined by a blank line
    std::string content;          // final messages and preambles, joined by a blank line
    std::vector<ToolCall> calls;  // messages to functions.NAME whose text is a JSON object
};

// Splits a reply arriving in pieces. Reasoning and content are released as they come; a
// marker split across pieces is held until it is whole; a call is held until its message
// ends. A reply that does not open with a harmony header is plain content (markers dropped).
// A call whose arguments are not a JSON object is given back as content. Text after a message
// the model addresses to another role (a turn it should not write) is dropped.
class HarmonyStream {
  public:
    // The reasoning and content that can be shown now (calls stay empty until finish()).
    HarmonyReply push(const std::string& text);
    // The end of the reply: what was held back, and the calls.
    HarmonyReply finish();

  private:
    enum class State { Opening, Header, Body, Plain, Ignored };
    enum class Kind { Reasoning, Content, Call };

    void open_message(const std::string& header);
    void emit(HarmonyReply& out, const std::string& text);
    void end_body(HarmonyReply& out);

    State state_ = State::Opening;
    Kind kind_ = Kind::Content;
    std::string held_;       // text not yet consumed
    std::string call_name_;  // the open call's function
    std::string call_body_;  // its arguments so far
    bool reasoning_started_ = false, content_started_ = false;
    bool message_started_ = false;  // the open message has released text already
    std::vector<ToolCall> calls_;
};

// The same for a complete reply.
HarmonyReply parse_harmony(const std::string& reply);

}  // namespace hearth::chat
