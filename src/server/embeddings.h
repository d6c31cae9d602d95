#pragma once
// POST /v1/embeddings: OpenAI's request and response shapes over Model::embed.
#include <nlohmann/json.hpp>
#include <string>

#include "server/model_pool.h"

namespace hearth::server {

constexpr size_t kMaxEmbeddingInputs = 2048;

// Validates `body` (input: string, [string], [token ids] or [[token ids]]; encoding_format
// "float" or "base64"; dimensions), embeds every input and returns the response object.
// Throws ApiError for client mistakes.
nlohmann::json create_embeddings(const nlohmann::json& body, LoadedModel& model);

// A 400 (context_length_exceeded) when an encoder input of n_tokens is longer than the model's
// training context (its learned positions end there). `what` starts the message ("an input").
void check_encoder_input_length(size_t n_tokens, const LoadedModel& m, const std::string& what,
                                const std::string& param);

// Standard base64 (RFC 4648) of raw bytes; the OpenAI SDKs ask for float32 vectors this way.
std::string base64_encode(const void* data, size_t n);

}  // namespace hearth::server
