#pragma once
// POST /v1/rerank (also /rerank, /v1/reranking, /reranking): a cross-encoder scores every
// document against the query. The request and response are llama-server's, which follow Jina's
// and Cohere's rerank APIs, so clients of any of them work.
#include <nlohmann/json.hpp>

#include "server/model_pool.h"

namespace hearth::server {

constexpr size_t kMaxRerankDocuments = 1000;  // Cohere's limit per request

// Validates `body` (query: string; documents: strings or {"text": string} objects; top_n;
// return_documents), scores each (query, document) pair with the model and returns
// {"object": "list", "model", "results": [{"index", "relevance_score"[, "document": {"text"}]}]
// best first, "usage"}. Scores are the model's raw logits. Throws ApiError for client
// mistakes, and a 400 when the model is not a reranker.
nlohmann::json create_rerank(const nlohmann::json& body, LoadedModel& model);

}  // namespace hearth::server
