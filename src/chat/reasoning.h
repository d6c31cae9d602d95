#pragma once
// Models that think before they answer (Qwen3, QwQ, DeepSeek-R1 and its distills) write the
// reasoning between <think> and </think>, then the answer. OpenAI-style clients get the
// reasoning apart, as `reasoning_content`, and only the answer as `content`.
#include <string>

namespace hearth::chat {

// Whether a chat template's model thinks in <think> tags (the template mentions them).
bool template_thinks(const std::string& template_source);
// Whether a rendered prompt leaves a <think> open, so the reply starts inside the reasoning
// (DeepSeek-R1's template ends the generation prompt with "<think>\n").
bool prompt_opens_thinking(const std::string& prompt_text);

struct SplitReply {
    std::string reasoning;
    std::string content;
};

// Splits a reply arriving in pieces. Before the reasoning, only whitespace and an opening
// <think> may come; anything else means the model answered without thinking. A closing tag
// split across pieces is held back until it is whole. A reply cut off while still thinking
// is all reasoning.
class ReasoningStream {
  public:
    explicit ReasoningStream(bool starts_inside = false)
        : state_(starts_inside ? State::Inside : State::Start) {}
    // The reasoning and the content that can be shown now.
    SplitReply push(const std::string& text);
    // The end of the reply: what was held back.
    SplitReply finish();

  private:
    enum class State { Start, Inside, AfterThinking, Content };
    State state_;
    std::string held_;
};

// The same for a complete reply.
SplitReply split_reasoning(const std::string& reply, bool starts_inside = false);

}  // namespace hearth::chat
