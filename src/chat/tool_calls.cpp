#include "chat/tool_calls.h"

#include "chat/harmony.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

namespace hearth::chat {

namespace {

using ordered_json = nlohmann::ordered_json;

constexpr const char* kWhitespace = " \t\r\n";
constexpr const char* kHermesOpen = "<tool_call>";
constexpr const char* kHermesClose = "</tool_call>";
constexpr const char* kMistralCalls = "[TOOL_CALLS]";
constexpr const char* kMistralArgs = "[ARGS]";
constexpr const char* kMistralCallId = "[CALL_ID]";

bool is_space(char c) {
    return std::strchr(kWhitespace, c) != nullptr && c != '\0';
}

// Where the whitespace ending s[0, end) starts.
size_t before_whitespace(const std::string& s, size_t end) {
    while (end > 0 && is_space(s[end - 1])) --end;
    return end;
}

bool contains(const std::string& s, const char* needle) {
    return s.find(needle) != std::string::npos;
}

std::string trim(const std::string& s) {
    const size_t b = s.find_first_not_of(kWhitespace);
    if (b == std::string::npos) return {};
    return s.substr(b, s.find_last_not_of(kWhitespace) - b + 1);
}

size_t skip(const std::string& s, size_t pos, const char* chars) {
    const size_t at = s.find_first_not_of(chars, pos);
    return at == std::string::npos ? s.size() : at;
}

// One past the bracket closing the JSON object or array that opens at `start`, or npos. Brackets
// inside strings do not count.
size_t json_end(const std::string& s, size_t start) {
    int depth = 0;
    bool in_string = false;
    for (size_t i = start; i < s.size(); ++i) {
        const char c = s[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            return i + 1;
        }
    }
    return std::string::npos;
}

// The arguments as a compact JSON object; models write them as an object or as its text.
std::optional<std::string> arguments_text(const ordered_json& args) {
    if (args.is_null()) return "{}";
    if (args.is_object()) return args.dump();
    if (!args.is_string()) return std::nullopt;
    ordered_json parsed = ordered_json::parse(args.get<std::string>(), nullptr, false);
    if (!parsed.is_object()) return std::nullopt;
    return parsed.dump();
}

// {"name": "f", "arguments" (or Llama's "parameters"): {...}}.
std::optional<ToolCall> call_from(const ordered_json& v) {
    if (!v.is_object()) return std::nullopt;
    auto name = v.find("name");
    if (name == v.end() || !name->is_string() || name->get<std::string>().empty())
        return std::nullopt;
    auto args = v.find("arguments");
    if (args == v.end()) args = v.find("parameters");
    auto text = arguments_text(args == v.end() ? ordered_json() : *args);
    if (!text) return std::nullopt;
    return ToolCall{name->get<std::string>(), *text};
}

std::optional<ToolCall> call_from_text(const std::string& text) {
    return call_from(ordered_json::parse(text, nullptr, /*allow_exceptions=*/false));
}

ParsedReply unchanged(const std::string& reply) {
    return ParsedReply{reply, {}};
}

ParsedReply with_content(ParsedReply r) {
    r.content = trim(r.content);
    return r;
}

ParsedReply parse_hermes(const std::string& reply) {
    ParsedReply r;
    size_t pos = 0;
    while (true) {
        const size_t open = reply.find(kHermesOpen, pos);
        if (open == std::string::npos) {
            r.content += reply.substr(pos);
            break;
        }
        r.content += reply.substr(pos, open - pos);
        const size_t body = open + std::strlen(kHermesOpen);
        // A reply may end inside its last call when the closing tag is an end-of-turn token.
        const size_t close = reply.find(kHermesClose, body);
        auto call = call_from_text(
            reply.substr(body, close == std::string::npos ? std::string::npos : close - body));
        if (!call) return unchanged(reply);
        r.calls.push_back(*call);
        if (close == std::string::npos) break;
        pos = close + std::strlen(kHermesClose);
    }
    return r.calls.empty() ? unchanged(reply) : with_content(std::move(r));
}

// One or more JSON calls and nothing else, separated by whitespace or ';'.
ParsedReply parse_llama3(const std::string& reply) {
    ParsedReply r;
    size_t pos = skip(reply, 0, kWhitespace);
    while (pos < reply.size()) {
        const size_t end = reply[pos] == '{' ? json_end(reply, pos) : std::string::npos;
        if (end == std::string::npos) return unchanged(reply);
        auto call = call_from_text(reply.substr(pos, end - pos));
        if (!call) return unchanged(reply);
        r.calls.push_back(*call);
        pos = skip(reply, end, " \t\r\n;");
    }
    return r.calls.empty() ? unchanged(reply) : r;
}

// `name[ARGS]{...}` or `name[CALL_ID]id[ARGS]{...}` at `pos`; advances pos past it.
std::optional<ToolCall> mistral_named_call(const std::string& reply, size_t& pos) {
    const size_t args = reply.find(kMistralArgs, pos);
    if (args == std::string::npos) return std::nullopt;
    std::string name = reply.substr(pos, args - pos);
    const size_t id = name.find(kMistralCallId);
    if (id != std::string::npos) name.resize(id);
    name = trim(name);
    const size_t open = skip(reply, args + std::strlen(kMistralArgs), kWhitespace);
    const size_t end = open < reply.size() ? json_end(reply, open) : std::string::npos;
    if (name.empty() || name.find_first_of(kWhitespace) != std::string::npos ||
        end == std::string::npos)
        return std::nullopt;
    ordered_json object = ordered_json::parse(reply.substr(open, end - open), nullptr, false);
    auto text = arguments_text(object);
    if (!object.is_object() || !text) return std::nullopt;
    pos = end;
    return ToolCall{name, *text};
}

// The calls after a [TOOL_CALLS] marker (or at a reply opening with '[' whose marker, a control
// token, was not rendered). Returns false when they are malformed.
bool mistral_calls(const std::string& reply, size_t pos, ParsedReply& r) {
    while (true) {
        pos = skip(reply, pos, kWhitespace);
        if (pos < reply.size() && reply[pos] == '[') {
            const size_t end = json_end(reply, pos);
            if (end == std::string::npos) return false;
            ordered_json list = ordered_json::parse(reply.substr(pos, end - pos), nullptr, false);
            if (!list.is_array() || list.empty()) return false;
            for (const auto& item : list) {
                auto call = call_from(item);
                if (!call) return false;
                r.calls.push_back(*call);
            }
            pos = end;
        } else {
            auto call = mistral_named_call(reply, pos);
            if (!call) return false;
            r.calls.push_back(*call);
        }
        pos = skip(reply, pos, kWhitespace);
        if (reply.compare(pos, std::strlen(kMistralCalls), kMistralCalls) == 0) {
            pos += std::strlen(kMistralCalls);
            continue;
        }
        r.content += reply.substr(pos);
        return true;
    }
}

ParsedReply parse_mistral(const std::string& reply) {
    ParsedReply r;
    size_t pos = reply.find(kMistralCalls);
    if (pos != std::string::npos) {
        r.content = reply.substr(0, pos);
        pos += std::strlen(kMistralCalls);
    } else {
        pos = skip(reply, 0, kWhitespace);
        if (pos == reply.size() || reply[pos] != '[') return unchanged(reply);
    }
    if (!mistral_calls(reply, pos, r)) return unchanged(reply);
    return with_content(std::move(r));
}

const char* start_marker(ToolCallSyntax syntax) {
    switch (syntax) {
        case ToolCallSyntax::Hermes:
            return kHermesOpen;
        case ToolCallSyntax::Mistral:
            return kMistralCalls;
        default:
            return nullptr;
    }
}

// Replies that are calls from their first character on: Llama 3's bare JSON, and Mistral's list
// when its [TOOL_CALLS] control token was not rendered as text.
char bare_opening(ToolCallSyntax syntax) {
    if (syntax == ToolCallSyntax::Llama3Json) return '{';
    if (syntax == ToolCallSyntax::Mistral) return '[';
    return 0;
}

// How many trailing bytes of `s` to hold back: a partial marker, and whitespace before it.
size_t held_tail(const std::string& s, const char* marker) {
    size_t keep = 0;
    if (marker) {
        const size_t n = std::strlen(marker);
        for (size_t len = std::min(n - 1, s.size()); len > 0; --len) {
            if (s.compare(s.size() - len, len, marker, len) == 0) {
                keep = len;
                break;
            }
        }
    }
    return s.size() - before_whitespace(s, s.size() - keep);
}

}  // namespace

ToolCallSyntax detect_tool_call_syntax(const std::string& source) {
    if (template_is_harmony(source)) return ToolCallSyntax::Harmony;
    // Hermes first: the Hermes fine-tunes of Llama 3 keep Llama's other markers.
    if (contains(source, kHermesOpen)) return ToolCallSyntax::Hermes;
    if (contains(source, kMistralCalls)) return ToolCallSyntax::Mistral;
    if (contains(source, "<|start_header_id|>") && contains(source, "\"parameters\": "))
        return ToolCallSyntax::Llama3Json;
    return ToolCallSyntax::None;
}

ParsedReply parse_tool_calls(ToolCallSyntax syntax, const std::string& reply) {
    switch (syntax) {
        case ToolCallSyntax::Hermes:
            return parse_hermes(reply);
        case ToolCallSyntax::Llama3Json:
            return parse_llama3(reply);
        case ToolCallSyntax::Mistral:
            return parse_mistral(reply);
        case ToolCallSyntax::Harmony: {
            HarmonyReply h = parse_harmony(reply);
            if (h.calls.empty()) return unchanged(reply);
            return ParsedReply{std::move(h.content), std::move(h.calls)};
        }
        default:
            return unchanged(reply);
    }
}

std::string ToolCallStream::push(const std::string& text) {
    pending_ += text;
    if (syntax_ == ToolCallSyntax::None) return std::exchange(pending_, {});
    // Harmony: calls can come after any text; whole-reply parsing at finish().
    if (in_calls_ || syntax_ == ToolCallSyntax::Harmony) return {};
    if (!seen_text_) {
        const size_t first = pending_.find_first_not_of(kWhitespace);
        if (first == std::string::npos) return {};
        if (pending_[first] == bare_opening(syntax_)) {
            in_calls_ = true;
            return {};
        }
        seen_text_ = true;
    }
    const char* marker = start_marker(syntax_);
    const size_t at = marker ? pending_.find(marker) : std::string::npos;
    if (at != std::string::npos) {
        in_calls_ = true;
        // The whitespace before the marker goes with the calls: parsing drops it, or gives it
        // back as content if the calls turn out malformed.
        const size_t cut = before_whitespace(pending_, at);
        std::string out = pending_.substr(0, cut);
        pending_.erase(0, cut);
        return out;
    }
    const size_t keep = held_tail(pending_, marker);
    std::string out = pending_.substr(0, pending_.size() - keep);
    pending_.erase(0, pending_.size() - keep);
    return out;
}

ParsedReply ToolCallStream::finish() {
    std::string rest = std::exchange(pending_, {});
    if (!in_calls_ && syntax_ != ToolCallSyntax::Harmony) return unchanged(rest);
    return parse_tool_calls(syntax_, rest);
}

}  // namespace hearth::chat
