#include "chat/reasoning.h"

#include <algorithm>

namespace hearth::chat {

namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

bool is_space(char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

// Length of the longest suffix of `s` that is a proper prefix of `tag` (a tag maybe cut off).
size_t partial_tag_suffix(const std::string& s, std::string_view tag) {
    for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n) {
        if (tag.substr(0, n) == std::string_view(s).substr(s.size() - n)) return n;
    }
    return 0;
}

}  // namespace

bool template_thinks(const std::string& template_source) {
    return template_source.find(kOpen) != std::string::npos &&
           template_source.find(kClose) != std::string::npos;
}

bool prompt_opens_thinking(const std::string& prompt_text) {
    const size_t open = prompt_text.rfind(kOpen);
    if (open == std::string::npos) return false;
    const size_t close = prompt_text.rfind(kClose);
    return close == std::string::npos || close < open;
}

SplitReply ReasoningStream::push(const std::string& text) {
    SplitReply out;
    held_ += text;
    for (;;) {
        switch (state_) {
            case State::Start: {
                size_t lead = 0;
                while (lead < held_.size() && is_space(held_[lead])) ++lead;
                const std::string_view rest = std::string_view(held_).substr(lead);
                if (rest.substr(0, kOpen.size()) == kOpen) {
                    held_.erase(0, lead + kOpen.size());
                    state_ = State::Inside;
                    continue;
                }
                if (kOpen.substr(0, rest.size()) == rest) return out;  // maybe a tag: wait
                state_ = State::Content;  // answered without thinking
                continue;
            }
            case State::Inside: {
                const size_t close = held_.find(kClose);
                if (close != std::string::npos) {
                    out.reasoning += held_.substr(0, close);
                    held_.erase(0, close + kClose.size());
                    state_ = State::AfterThinking;
                    continue;
                }
                const size_t keep = partial_tag_suffix(held_, kClose);
                out.reasoning += held_.substr(0, held_.size() - keep);
                held_.erase(0, held_.size() - keep);
                return out;
            }
            case State::AfterThinking: {
                // The blank lines between the reasoning and the answer belong to neither.
                size_t lead = 0;
                while (lead < held_.size() && is_space(held_[lead])) ++lead;
                held_.erase(0, lead);
                if (held_.empty()) return out;
                state_ = State::Content;
                continue;
            }
            case State::Content:
                out.content += held_;
                held_.clear();
                return out;
        }
    }
}

SplitReply ReasoningStream::finish() {
    SplitReply out;
    if (state_ == State::Inside)
        out.reasoning = std::move(held_);
    else if (state_ != State::AfterThinking)
        out.content = std::move(held_);
    held_.clear();
    return out;
}

SplitReply split_reasoning(const std::string& reply, bool starts_inside) {
    ReasoningStream stream(starts_inside);
    SplitReply out = stream.push(reply);
    SplitReply end = stream.finish();
    out.reasoning += end.reasoning;
    out.content += end.content;
    return out;
}

}  // namespace hearth::chat
