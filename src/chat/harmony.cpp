#include "chat/harmony.h"

#include <algorithm>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

namespace hearth::chat {

namespace {

constexpr std::string_view kStart = "<|start|>";
constexpr std::string_view kEnd = "<|end|>";
constexpr std::string_view kMessage = "<|message|>";
constexpr std::string_view kChannel = "<|channel|>";
constexpr std::string_view kConstrain = "<|constrain|>";
constexpr std::string_view kReturn = "<|return|>";
constexpr std::string_view kCall = "<|call|>";
constexpr std::string_view kFunctions = "functions.";

// What ends a message's text: its terminators, or a new message begun without one.
constexpr std::string_view kTerminators[] = {kEnd, kReturn, kCall, kStart};
// How a reply may open: the rest of the header the prompt began ("<|start|>assistant").
constexpr std::string_view kOpeners[] = {kChannel, kStart, kMessage, kConstrain, " to="};
constexpr std::string_view kMarkers[] = {kStart, kEnd, kMessage, kChannel, kConstrain, kReturn, kCall};
// A header longer than this without <|message|> is not a header.
constexpr size_t kMaxHeader = 512;

bool is_space(char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

// The word at `pos`: up to whitespace or the next marker.
std::string_view word_at(std::string_view s, size_t pos) {
    size_t end = pos;
    while (end < s.size() && !is_space(s[end]) && s[end] != '<') ++end;
    return s.substr(pos, end - pos);
}

// Length of the longest suffix of `s` that is a proper prefix of one of `tags`.
template <size_t N>
size_t partial_suffix(std::string_view s, const std::string_view (&tags)[N]) {
    size_t best = 0;
    for (std::string_view tag : tags) {
        for (size_t n = std::min(s.size(), tag.size() - 1); n > best; --n) {
            if (tag.substr(0, n) == s.substr(s.size() - n)) {
                best = n;
                break;
            }
        }
    }
    return best;
}

std::string without_markers(std::string_view s) {
    std::string out;
    size_t pos = 0;
    while (pos < s.size()) {
        bool marker = false;
        for (std::string_view m : kMarkers) {
            if (s.substr(pos, m.size()) == m) {
                pos += m.size();
                marker = true;
                break;
            }
        }
        if (!marker) out += s[pos++];
    }
    return out;
}

bool starts_with_opener(std::string_view s) {
    for (std::string_view o : kOpeners)
        if (s.substr(0, o.size()) == o) return true;
    return false;
}

bool could_open(std::string_view s) {
    for (std::string_view o : kOpeners)
        if (o.substr(0, s.size()) == s) return true;
    return false;
}

}  // namespace

bool template_is_harmony(const std::string& template_source) {
    return template_source.find(kChannel) != std::string::npos &&
           template_source.find(kMessage) != std::string::npos;
}

const std::vector<std::string>& harmony_marker_texts() {
    static const std::vector<std::string> texts(std::begin(kMarkers), std::end(kMarkers));
    return texts;
}

void HarmonyStream::open_message(const std::string& header_text) {
    std::string_view header = trim(header_text);
    if (header.substr(0, kStart.size()) == kStart) header.remove_prefix(kStart.size());
    message_started_ = false;
    // The first header's role was written by the prompt; a later one must be the assistant's.
    // A header may start with its recipient (" to=functions.f<|channel|>..."): no role then.
    const std::string_view role = word_at(header, 0);
    const bool recipient_first = role.substr(0, 3) == "to=";
    if (!role.empty() && !recipient_first && role != "assistant") {
        state_ = State::Ignored;
        return;
    }
    std::string_view recipient;
    for (size_t at = header.find("to="); at != std::string_view::npos; at = header.find("to=", at + 1)) {
        if (at == 0 || is_space(header[at - 1]) || header[at - 1] == '>') {
            recipient = word_at(header, at + 3);
            break;
        }
    }
    std::string_view channel;
    if (const size_t at = header.rfind(kChannel); at != std::string_view::npos)
        channel = word_at(header, at + kChannel.size());
    if (recipient.substr(0, kFunctions.size()) == kFunctions) {
        kind_ = Kind::Call;
        call_name_ = std::string(recipient.substr(kFunctions.size()));
    } else if (!recipient.empty() && recipient != "assistant") {
        kind_ = Kind::Content;  // a built-in tool we do not run: shown, not lost
    } else if (channel == "analysis") {
        kind_ = Kind::Reasoning;
    } else {
        kind_ = Kind::Content;
    }
    state_ = State::Body;
}

void HarmonyStream::emit(HarmonyReply& out, const std::string& raw) {
    if (kind_ == Kind::Call) {
        call_body_ += raw;
        return;
    }
    // Markers out of place (a header's inside a message) are never shown.
    const std::string text = without_markers(raw);
    if (text.empty()) return;
    std::string* field = nullptr;
    bool* started = nullptr;
    switch (kind_) {
        case Kind::Reasoning:
            field = &out.reasoning;
            started = &reasoning_started_;
            break;
        case Kind::Content:
            field = &out.content;
            started = &content_started_;
            break;
        case Kind::Call:
            return;
    }
    if (!message_started_ && *started) *field += "\n\n";
    *field += text;
    *started = message_started_ = true;
}

void HarmonyStream::end_body(HarmonyReply& out) {
    if (kind_ == Kind::Call) {
        std::string body = std::exchange(call_body_, {});
        auto args = nlohmann::ordered_json::parse(trim(body), nullptr, /*allow_exceptions=*/false);
        bool valid_name = !call_name_.empty();
        for (char c : call_name_) valid_name &= !is_space(c);
        if (args.is_object() && valid_name) {
            calls_.push_back(ToolCall{call_name_, args.dump()});
        } else {
            kind_ = Kind::Content;  // malformed: the client sees what the model wrote
            emit(out, body);
        }
    }
    message_started_ = false;
    state_ = State::Header;
}

HarmonyReply HarmonyStream::push(const std::string& text) {
    HarmonyReply out;
    held_ += text;
    for (;;) {
        switch (state_) {
            case State::Opening:
                if (starts_with_opener(held_)) {
                    state_ = State::Header;
                    continue;
                }
                if (could_open(held_)) return out;  // too short to tell yet
                state_ = State::Plain;
                continue;
            case State::Header: {
                const size_t at = held_.find(kMessage);
                if (at == std::string::npos) {
                    if (held_.size() <= kMaxHeader) return out;
                    state_ = State::Plain;  // not harmony after all
                    continue;
                }
                const std::string header = held_.substr(0, at);
                held_.erase(0, at + kMessage.size());
                open_message(header);
                continue;
            }
            case State::Body: {
                size_t at = std::string::npos, len = 0;
                for (std::string_view t : kTerminators) {
                    const size_t found = held_.find(t);
                    if (found < at) {
                        at = found;
                        len = t == kStart ? 0 : t.size();  // <|start|> opens the next header
                    }
                }
                if (at != std::string::npos) {
                    emit(out, held_.substr(0, at));
                    held_.erase(0, at + len);
                    end_body(out);
                    continue;
                }
                if (kind_ == Kind::Call) return out;  // the arguments are parsed whole
                const size_t keep = partial_suffix(held_, kMarkers);
                emit(out, held_.substr(0, held_.size() - keep));
                held_.erase(0, held_.size() - keep);
                return out;
            }
            case State::Plain: {
                const size_t keep = partial_suffix(held_, kMarkers);
                out.content += without_markers(std::string_view(held_).substr(0, held_.size() - keep));
                held_.erase(0, held_.size() - keep);
                return out;
            }
            case State::Ignored:
                held_.clear();
                return out;
        }
    }
}

HarmonyReply HarmonyStream::finish() {
    HarmonyReply out;
    std::string rest = std::exchange(held_, {});
    switch (state_) {
        case State::Opening:
        case State::Plain:
            out.content = without_markers(rest);
            break;
        case State::Header: {
            // A header cut off says nothing; text that is no header at all is content.
            const std::string_view tail = trim(rest);
            if (!tail.empty() && !starts_with_opener(tail)) {
                kind_ = Kind::Content;
                message_started_ = false;
                emit(out, without_markers(tail));
            }
            break;
        }
        case State::Body:
            emit(out, rest);
            end_body(out);
            break;
        case State::Ignored:
            break;
    }
    state_ = State::Ignored;
    out.calls = std::move(calls_);
    calls_.clear();
    return out;
}

HarmonyReply parse_harmony(const std::string& reply) {
    HarmonyStream stream;
    HarmonyReply out = stream.push(reply);
    HarmonyReply end = stream.finish();
    out.reasoning += end.reasoning;
    out.content += end.content;
    out.calls = std::move(end.calls);
    return out;
}

}  // namespace hearth::chat
