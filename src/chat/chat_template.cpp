#include "chat/chat_template.h"

#include "chat/parser.h"

namespace hearth::chat {

namespace {

// The widely used ChatML layout (<|im_start|>role ... <|im_end|>). Non-string content (null on
// tool-call turns) renders as nothing rather than "None".
constexpr const char* kChatMlTemplate =
    "{%- for message in messages -%}\n"
    "{{- '<|im_start|>' + message.role + '\\n' -}}\n"
    "{{- message.content if message.content is string else '' -}}\n"
    "{{- '<|im_end|>\\n' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "{{- '<|im_start|>assistant\\n' -}}\n"
    "{%- endif -%}\n";

}  // namespace

ChatTemplate::ChatTemplate(std::string source)
    : source_(std::move(source)),
      parsed_(std::make_shared<const Template>(parse_template(source_))) {}

ChatTemplate ChatTemplate::chatml_default() {
    return ChatTemplate(kChatMlTemplate);
}

std::string ChatTemplate::render(const nlohmann::json& messages,
                                 const ChatRenderOptions& opts) const {
    return render_values(Value::from_json(messages),
                         opts.tools.is_null() ? Value() : Value::from_json(opts.tools), opts,
                         nullptr);
}

std::string ChatTemplate::render_ordered(const nlohmann::ordered_json& messages,
                                         const nlohmann::ordered_json& tools,
                                         const ChatRenderOptions& opts,
                                         const nlohmann::ordered_json& extra_vars) const {
    return render_values(Value::from_json(messages),
                         tools.is_null() ? Value() : Value::from_json(tools), opts, &extra_vars);
}

// Variables as transformers passes them: messages, tools and documents (None when absent),
// add_generation_prompt, the special tokens, then the caller's extras (which win).
std::string ChatTemplate::render_values(Value messages, Value tools, const ChatRenderOptions& opts,
                                        const nlohmann::ordered_json* ordered_extra_vars) const {
    Object globals;
    globals.set("messages", std::move(messages));
    globals.set("add_generation_prompt", Value(opts.add_generation_prompt));
    globals.set("bos_token", Value(opts.bos_token));
    globals.set("eos_token", Value(opts.eos_token));
    // transformers always passes these two, as None when the request has none.
    globals.set("tools", tools.is_undefined() ? Value::none() : std::move(tools));
    globals.set("documents", Value::none());
    if (opts.extra_vars.is_object()) {
        for (const auto& [name, value] : opts.extra_vars.items()) {
            globals.set(name, Value::from_json(value));
        }
    }
    if (ordered_extra_vars && ordered_extra_vars->is_object()) {
        for (const auto& [name, value] : ordered_extra_vars->items()) {
            globals.set(name, Value::from_json(value));
        }
    }
    Interpreter interpreter(limits_);
    return interpreter.render(*parsed_, globals);
}

}  // namespace hearth::chat
