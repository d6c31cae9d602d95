#include "server/rerank.h"

#include <algorithm>
#include <cmath>

#include "server/api_error.h"
#include "server/embeddings.h"
#include "server/openai_request.h"

namespace hearth::server {

using json = nlohmann::json;

namespace {

// A document as Jina and Cohere clients send it: a string, or an object with a "text" string.
std::string document_text(const json& doc, size_t index) {
    if (doc.is_string()) return doc.get<std::string>();
    if (doc.is_object()) {
        auto text = doc.find("text");
        if (text != doc.end() && text->is_string()) return text->get<std::string>();
    }
    throw ApiError::bad_request("documents[" + std::to_string(index) +
                                    "] must be a string or an object with a string \"text\"",
                                "documents");
}

std::vector<std::string> read_documents(const json& body) {
    auto docs = body.find("documents");
    if (docs == body.end() || docs->is_null())
        throw ApiError::bad_request("'documents' is required", "documents");
    if (!docs->is_array() || docs->empty())
        throw ApiError::bad_request("'documents' must be a non-empty array", "documents");
    if (docs->size() > kMaxRerankDocuments) {
        throw ApiError::bad_request("at most " + std::to_string(kMaxRerankDocuments) +
                                        " documents per request (got " +
                                        std::to_string(docs->size()) + ")",
                                    "documents");
    }
    std::vector<std::string> texts;
    for (size_t i = 0; i < docs->size(); ++i) texts.push_back(document_text((*docs)[i], i));
    return texts;
}

std::string read_query(const json& body) {
    auto query = body.find("query");
    if (query == body.end() || query->is_null())
        throw ApiError::bad_request("'query' is required", "query");
    if (!query->is_string()) throw ApiError::bad_request("'query' must be a string", "query");
    if (query->get_ref<const std::string&>().empty())
        throw ApiError::bad_request("'query' is empty", "query");
    return query->get<std::string>();
}

// How many results to return: top_n (absent or null: all; more than there are: all).
size_t read_top_n(const json& body, size_t n_documents) {
    auto top = body.find("top_n");
    if (top == body.end() || top->is_null()) return n_documents;
    if (!top->is_number_integer() || top->get<int64_t>() < 1)
        throw ApiError::bad_request("'top_n' must be an integer of at least 1", "top_n");
    return std::min(n_documents, static_cast<size_t>(top->get<int64_t>()));
}

}  // namespace

json create_rerank(const json& body, LoadedModel& m) {
    if (!m.model->is_reranker()) {
        throw ApiError::model_not_supported(
            "the model '" + m.entry.name +
            "' is not a reranker; serve a cross-encoder GGUF (a bert model with "
            "a classification head, such as bge-reranker)");
    }
    const std::string query = read_query(body);
    const std::vector<std::string> documents = read_documents(body);
    const size_t top_n = read_top_n(body, documents.size());
    // Like llama-server, which follows Jina's response: documents only when asked for.
    const bool return_documents = boolean(body, "return_documents", false);

    std::vector<tokenizer::Tokenizer::Pair> pairs;
    int64_t prompt_tokens = 0;
    for (size_t i = 0; i < documents.size(); ++i) {
        pairs.push_back(m.tokenizer->encode_pair(query, documents[i]));
        check_encoder_input_length(pairs.back().tokens.size(), m,
                                   "the query with documents[" + std::to_string(i) + "]",
                                   "documents");
        prompt_tokens += static_cast<int64_t>(pairs.back().tokens.size());
    }

    std::vector<model::EncoderInput> inputs;
    for (const auto& pair : pairs) inputs.push_back({pair.tokens, pair.second});
    std::vector<float> scores;
    m.run_encoder([&](kernels::ThreadPool& threads) { scores = m.model->rank(inputs, threads); });

    // Best first; equal scores keep the documents' order, and a NaN (a broken model) sorts
    // last instead of breaking the ordering.
    auto key = [&](size_t i) { return std::isnan(scores[i]) ? -INFINITY : scores[i]; };
    std::vector<size_t> order(documents.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return key(a) > key(b); });
    json results = json::array();
    for (size_t k = 0; k < top_n; ++k) {
        const size_t i = order[k];
        json item = {{"index", i}, {"relevance_score", scores[i]}};
        if (return_documents) item["document"] = {{"text", documents[i]}};
        results.push_back(std::move(item));
    }
    return {{"object", "list"},
            {"model", m.entry.name},
            {"results", std::move(results)},
            {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
}

}  // namespace hearth::server
