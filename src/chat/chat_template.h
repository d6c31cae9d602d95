#pragma once
// Chat templates: the Jinja program a model ships in `tokenizer.chat_template` that turns a list
// of messages into the exact prompt text the model was trained on. Rendering matches Hugging
// Face transformers (jinja2 with trim_blocks, lstrip_blocks, raise_exception, strftime_now,
// tojson without key sorting) byte for byte.
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "chat/interpreter.h"

namespace hearth::chat {

struct ChatRenderOptions {
    bool add_generation_prompt = true;
    std::string bos_token, eos_token;
    nlohmann::json tools;                                  // null = none
    nlohmann::json extra_vars = nlohmann::json::object();  // enable_thinking, reasoning_effort...
};

class ChatTemplate {
  public:
    // Parses; throws hearth::Error naming the line and column of a syntax error.
    explicit ChatTemplate(std::string source);
    // ChatML, for models that carry no template.
    static ChatTemplate chatml_default();

    // Throws hearth::Error (with line and column) when the template fails or raises.
    std::string render(const nlohmann::json& messages, const ChatRenderOptions& opts) const;
    // The same, for JSON parsed as nlohmann::ordered_json: dict keys keep the caller's order, as
    // they do in Python, so `tools | tojson` prints the schema exactly as the client sent it.
    // (nlohmann::json sorts keys.) `tools` replaces opts.tools; null means none.
    // `extra_vars` are added after opts.extra_vars (and win over them).
    std::string render_ordered(
        const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
        const ChatRenderOptions& opts,
        const nlohmann::ordered_json& extra_vars = nlohmann::ordered_json::object()) const;
    const std::string& source() const { return source_; }

    void set_limits(const SandboxLimits& limits) { limits_ = limits; }

  private:
    std::string render_values(Value messages, Value tools, const ChatRenderOptions& opts,
                              const nlohmann::ordered_json* ordered_extra_vars) const;

    std::string source_;
    std::shared_ptr<const Template> parsed_;  // shared: copies of a ChatTemplate are cheap
    SandboxLimits limits_;
};

}  // namespace hearth::chat
