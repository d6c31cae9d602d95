#pragma once
// Pieces of OpenAI response bodies that depend on tokens: finish reasons and logprobs.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/generate.h"
#include "runtime/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace hearth::server {

// "length" for max_tokens or a full context; "stop" otherwise.
const char* finish_name(runtime::FinishReason r);

// {"token", "logprob", "bytes"} as chat logprobs show one token.
nlohmann::json token_logprob_json(const tokenizer::Tokenizer& tok, int32_t id, float logprob);
// Chat: {"content": [{token, logprob, bytes, top_logprobs: [...]}], "refusal": null}.
nlohmann::json chat_logprobs_json(const tokenizer::Tokenizer& tok,
                                  const std::vector<runtime::TokenLogprob>& lps);
// Completions: {"tokens", "token_logprobs", "top_logprobs": [{token: logprob}], "text_offset"}.
nlohmann::json completion_logprobs_json(const tokenizer::Tokenizer& tok,
                                        const std::vector<runtime::TokenLogprob>& lps,
                                        size_t text_offset);
// Serializes, replacing invalid UTF-8 (a model can emit half a character) instead of throwing.
std::string safe_dump(const nlohmann::json& j);

}  // namespace hearth::server
