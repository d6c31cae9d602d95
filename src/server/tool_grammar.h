#pragma once
// The grammar behind structured output: a request's `grammar` (GBNF), response_format
// json_object / json_schema, or a forced tool call (tool_choice "required" or a named
// function) written in the model's own call syntax, with arguments that follow each tool's
// parameters schema.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/tool_calls.h"
#include "runtime/grammar.h"
#include "server/openai_request.h"

namespace hearth::server {

// GBNF for one or more calls (one unless `parallel`) of the tools in `tools` (OpenAI function
// tools, in the client's key order), or of `only` when named, in `syntax`. ToolCallSyntax::None
// (a template with no call syntax) gets the generic form {"name": ..., "arguments": {...}},
// which replies parse as Llama3Json. Throws runtime::GrammarError for a parameters schema the
// compiler refuses.
// `mistral_args`: the newer Mistral form, [TOOL_CALLS]name[ARGS]{...} for each call.
// Harmony: analysis messages first, then one call (<|call|> ends the reply), as
// <|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{...}.
std::string forced_tool_call_gbnf(chat::ToolCallSyntax syntax, const nlohmann::ordered_json& tools,
                                  const std::string& only, bool parallel,
                                  bool mistral_args = false);

// GBNF text with every rule name given `prefix`, so grammars compiled apart can share one text.
std::string prefix_rule_names(const std::string& gbnf, const std::string& prefix);

// `answer_gbnf` (whose first rule is root) after a model's reasoning: an optional
// <think>...</think> block first, or, when the prompt already opened it (`opened`), the rest of
// the reasoning and </think>. The reasoning is free text that cannot contain "</think>" (nor a
// '<' right before it); a few spaces or newlines may follow it.
std::string after_thinking(const std::string& answer_gbnf, bool opened);

// `answer_gbnf` as a harmony reply's final message (<|channel|>final, optionally
// " <|constrain|>json", <|message|>), after analysis messages whose text cannot contain "<|".
std::string harmony_final(const std::string& answer_gbnf);

// The grammar a request asks for (null: none); for a model that thinks in <think> tags
// (`thinks`, `opened` as in after_thinking) a JSON format or forced call applies to the answer
// after the reasoning, and for a harmony model (`harmony`) on the final channel after its
// analysis (a raw `grammar` applies to the whole reply). A grammar or schema that
// does not compile is a 400 naming the field and the place.
std::shared_ptr<const runtime::Grammar> grammar_for(const GenerationRequest& r,
                                                    chat::ToolCallSyntax syntax,
                                                    bool thinks = false, bool opened = false,
                                                    bool mistral_args = false,
                                                    bool harmony = false);

}  // namespace hearth::server
