#pragma once
// Turns OpenAI chat messages into the prompt text a model continues.
//
// This is the single seam for chat templates: the Jinja engine (chat::ChatTemplate) plugs in
// here, inside render_chat_prompt(), and nothing else in the server changes.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/tool_calls.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace hearth::server {

struct ChatPrompt {
    std::string text;
    // Whether the text carries control tokens written out ("<|im_start|>") that the tokenizer
    // must turn into single tokens.
    bool parse_special = false;
    // Where the messages' own content landed in `text`: tokenized with special parsing off
    // there, so content cannot inject control tokens.
    std::vector<tokenizer::Tokenizer::ByteRange> content_ranges;
    // False when the template already wrote the BOS token (no second one is added).
    bool add_bos = true;
    // How the model writes tool calls, when tools were given to its template (else None).
    chat::ToolCallSyntax tool_call_syntax = chat::ToolCallSyntax::None;
    // Mistral templates that write calls as [TOOL_CALLS]name[ARGS]{...} (Mistral Small 3.2).
    bool mistral_args_calls = false;
    // The model thinks in <think> tags (its template says so), and whether the prompt already
    // opened one, so the reply starts inside the reasoning.
    bool thinks = false;
    bool starts_thinking = false;
    // The template is harmony's (gpt-oss): the reply is channel messages (chat/harmony.h).
    bool harmony = false;

    std::vector<int32_t> tokenize(const tokenizer::Tokenizer& tokenizer) const;
};

// Validates the messages (400 ApiError on a bad shape) and renders them. `template_override` is
// the model config's template (empty: the GGUF's tokenizer.chat_template, if any).
// - model with a template: the template, run by the Jinja engine (chat::ChatTemplate) as
//   Hugging Face transformers runs it; `extra_vars` (e.g. enable_thinking) are passed to it;
// - model without one whose vocabulary has ChatML's <|im_start|>: the ChatML default;
// - any other model (base models such as stories260K): the message texts joined with "\n",
//   no role names and no control tokens, so the model simply continues the text.
// `ordered_messages`, when given, is the same messages parsed with their keys in the client's
// order; templates then see dicts ordered as transformers' Python does. `tools` (OpenAI's
// function tools, in the client's key order; null: none) go to the template as `tools`.
// A past call's arguments, which OpenAI clients send as JSON text, reach the template as the
// object they spell (templates print them with tojson). Harmony (gpt-oss) templates get the
// history in the shape they expect: reasoning_content as `thinking`, one call per assistant
// message each followed by its result, and reasoning_effort none/minimal as "low".
ChatPrompt render_chat_prompt(const model::Model& model, const tokenizer::Tokenizer& tokenizer,
                              const nlohmann::json& messages,
                              const std::string& template_override = {},
                              const nlohmann::json& extra_vars = nlohmann::json::object(),
                              const nlohmann::ordered_json* ordered_messages = nullptr,
                              const nlohmann::ordered_json& tools = nullptr);

// The text of one message's "content": a string, or an array of {"type":"text","text":...}
// parts (joined). Throws a 400 ApiError for other shapes.
std::string message_text(const nlohmann::json& content, size_t index);

}  // namespace hearth::server
