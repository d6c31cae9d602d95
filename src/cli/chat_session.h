#pragma once
// One chat with a model through the OpenAI chat API (streamed): the history, the settings
// `/set` changes, and the Server-Sent Events of each reply read back into content and
// reasoning pieces. No terminal here: `hearth run` draws, this keeps the conversation.
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "cli/api_client.h"

namespace hearth::cli {

struct ChatSettings {
    std::string model;
    std::string system;                 // empty: no system message
    std::optional<double> temperature;  // none: the model's default
    std::optional<int64_t> seed;
    int32_t max_tokens = -1;  // < 0: until the model ends (or the context is full)
    bool ignore_eos = false;
    // More request fields (top_k, grammar, response_format, ...), sent as they are.
    nlohmann::json extra = nlohmann::json::object();
};

// Reads a text/event-stream body fed in arbitrary pieces: each `data:` event's JSON.
class SseReader {
  public:
    // Calls `on_event` for each complete event; "[DONE]" ends the stream (done() is true).
    void feed(std::string_view bytes, const std::function<void(const nlohmann::json&)>& on_event);
    bool done() const { return done_; }

  private:
    std::string pending_;
    bool done_ = false;
};

struct ChatReply {
    std::string content;
    std::string reasoning;
    std::string finish_reason;  // "" when the stream was stopped
    bool interrupted = false;
};

class ChatSession {
  public:
    ChatSession(ApiClient& api, ChatSettings settings)
        : api_(api), settings_(std::move(settings)) {}

    // Sends `text` as the user's next message with the history before it. `on_reasoning` and
    // `on_content` get the reply's pieces as they arrive; `interrupted` is polled and stops the
    // reply (what came so far stays in the history as the assistant's message). Throws
    // hearth::Error when the server refuses the request or the stream carries an error.
    ChatReply ask(const std::string& text, const std::function<void(const std::string&)>& on_reasoning,
                  const std::function<void(const std::string&)>& on_content,
                  const std::function<bool()>& interrupted);

    void clear() { history_ = nlohmann::json::array(); }
    ChatSettings& settings() { return settings_; }
    const ChatSettings& settings() const { return settings_; }
    const nlohmann::json& history() const { return history_; }
    // The request body for the history plus the settings (streamed).
    nlohmann::json request_body() const;

  private:
    ApiClient& api_;
    ChatSettings settings_;
    nlohmann::json history_ = nlohmann::json::array();
};

// What one line the user typed asks for.
struct ChatCommand {
    enum class Kind { Message, Bye, Clear, SetTemperature, SetSystem, Show, Help, Unknown };
    Kind kind = Kind::Message;
    std::string argument;  // the message, the system prompt, the temperature, or the bad command
};
ChatCommand parse_chat_command(const std::string& line);

// Multi-line input: a line starting with """ opens a block that runs until a line ending with
// """ (the quotes are not part of the message). Feed lines; a complete message comes back.
class MultilineInput {
  public:
    // The message when `line` completes one (a plain line, or a block's last line); none while
    // a block is open.
    std::optional<std::string> feed(const std::string& line);
    bool in_block() const { return in_block_; }
    void reset() {
        in_block_ = false;
        text_.clear();
    }

  private:
    bool in_block_ = false;
    std::string text_;
};

}  // namespace hearth::cli
