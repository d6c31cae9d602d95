#include "cli/chat_session.h"

#include "core/error.h"

namespace hearth::cli {

using nlohmann::json;

void SseReader::feed(std::string_view bytes, const std::function<void(const json&)>& on_event) {
    pending_.append(bytes);
    // Events end with a blank line; a line is "field: value". Only data lines matter here.
    size_t start = 0;
    for (size_t end; (end = pending_.find('\n', start)) != std::string::npos; start = end + 1) {
        std::string_view line(pending_.data() + start, end - start);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.rfind("data:", 0) != 0) continue;
        line.remove_prefix(5);
        if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
        if (line == "[DONE]") {
            done_ = true;
            continue;
        }
        const json event = json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (event.is_discarded()) throw Error("the server sent an event that is not JSON");
        on_event(event);
    }
    pending_.erase(0, start);
}

json ChatSession::request_body() const {
    json messages = json::array();
    if (!settings_.system.empty())
        messages.push_back({{"role", "system"}, {"content", settings_.system}});
    for (const json& m : history_) messages.push_back(m);
    json body = settings_.extra.is_object() ? settings_.extra : json::object();
    body["model"] = settings_.model;
    body["messages"] = std::move(messages);
    body["stream"] = true;
    if (settings_.temperature) body["temperature"] = *settings_.temperature;
    if (settings_.seed) body["seed"] = *settings_.seed;
    if (settings_.max_tokens >= 0) body["max_tokens"] = settings_.max_tokens;
    if (settings_.ignore_eos) body["ignore_eos"] = true;
    return body;
}

ChatReply ChatSession::ask(const std::string& text,
                           const std::function<void(const std::string&)>& on_reasoning,
                           const std::function<void(const std::string&)>& on_content,
                           const std::function<bool()>& interrupted) {
    history_.push_back({{"role", "user"}, {"content", text}});
    ChatReply reply;
    SseReader sse;
    std::string stream_error;
    const BodySink sink = [&](std::string_view piece) {
        sse.feed(piece, [&](const json& event) {
            if (event.contains("error")) {
                const json& e = event["error"];
                stream_error = e.is_object() ? e.value("message", e.dump()) : e.dump();
                return;
            }
            if (!event.contains("choices") || event["choices"].empty()) return;
            const json& choice = event["choices"][0];
            if (const json& fr = choice.value("finish_reason", json()); fr.is_string())
                reply.finish_reason = fr.get<std::string>();
            const json delta = choice.value("delta", json::object());
            if (const json& r = delta.value("reasoning_content", json()); r.is_string() && !r.empty()) {
                reply.reasoning += r.get<std::string>();
                on_reasoning(r.get<std::string>());
            }
            if (const json& c = delta.value("content", json()); c.is_string() && !c.empty()) {
                reply.content += c.get<std::string>();
                on_content(c.get<std::string>());
            }
        });
        return true;
    };
    ApiReply answer;
    try {
        answer = api_.post_stream("/v1/chat/completions", request_body(), sink, interrupted);
    } catch (...) {
        history_.erase(history_.end() - 1);
        throw;
    }
    if (!answer.ok()) {
        history_.erase(history_.end() - 1);
        throw_api_error("the model refused the message", answer);
    }
    reply.interrupted = interrupted();
    if (!stream_error.empty() && !reply.interrupted) {
        history_.erase(history_.end() - 1);
        throw Error("the reply failed: " + stream_error);
    }
    // What was shown stays: the next message follows it, as the user saw the conversation.
    history_.push_back({{"role", "assistant"}, {"content", reply.content}});
    return reply;
}

ChatCommand parse_chat_command(const std::string& line) {
    using Kind = ChatCommand::Kind;
    if (line.empty() || line[0] != '/') return {Kind::Message, line};
    auto rest_after = [&](size_t n) {
        size_t b = line.find_first_not_of(' ', n);
        return b == std::string::npos ? std::string() : line.substr(b);
    };
    auto is = [&](const char* word) {
        const size_t n = std::char_traits<char>::length(word);
        return line.compare(0, n, word) == 0 && (line.size() == n || line[n] == ' ');
    };
    if (is("/bye") || is("/exit")) return {Kind::Bye, ""};
    if (is("/clear")) return {Kind::Clear, ""};
    if (is("/show")) return {Kind::Show, rest_after(5)};
    if (is("/help") || is("/?")) return {Kind::Help, ""};
    if (is("/set")) {
        const std::string args = rest_after(4);
        auto word_is = [&](const char* w) {
            const size_t n = std::char_traits<char>::length(w);
            return args.compare(0, n, w) == 0 && (args.size() == n || args[n] == ' ');
        };
        auto value = [&](size_t n) {
            size_t b = args.find_first_not_of(' ', n);
            return b == std::string::npos ? std::string() : args.substr(b);
        };
        if (word_is("temperature")) return {Kind::SetTemperature, value(11)};
        if (word_is("system")) return {Kind::SetSystem, value(6)};
    }
    // A message may start with a slash that is not a command ("/etc/hosts is ...").
    return {Kind::Unknown, line};
}

std::optional<std::string> MultilineInput::feed(const std::string& line) {
    static const std::string kQuotes = "\"\"\"";
    auto ends_block = [&](const std::string& s, size_t from) {
        return s.size() >= from + kQuotes.size() && s.compare(s.size() - 3, 3, kQuotes) == 0;
    };
    if (!in_block_) {
        if (line.rfind(kQuotes, 0) != 0) return line;
        // """one line""" is a whole message.
        if (ends_block(line, 3)) return line.substr(3, line.size() - 6);
        in_block_ = true;
        text_ = line.substr(3);
        return std::nullopt;
    }
    if (ends_block(line, 0)) {
        std::string message = text_;
        const std::string last = line.substr(0, line.size() - 3);
        if (!last.empty()) message += (message.empty() ? "" : "\n") + last;
        reset();
        return message;
    }
    text_ += (text_.empty() ? "" : "\n") + line;
    return std::nullopt;
}

}  // namespace hearth::cli
