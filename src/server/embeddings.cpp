#include "server/embeddings.h"

#include <cmath>

#include "server/api_error.h"

namespace hearth::server {

using json = nlohmann::json;

std::string base64_encode(const void* data, size_t n) {
    static const char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const auto* b = static_cast<const unsigned char*>(data);
    std::string out;
    out.reserve((n + 2) / 3 * 4);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = static_cast<uint32_t>(b[i]) << 16;
        if (i + 1 < n) v |= static_cast<uint32_t>(b[i + 1]) << 8;
        if (i + 2 < n) v |= b[i + 2];
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
        out += i + 2 < n ? kAlphabet[v & 63] : '=';
    }
    return out;
}

namespace {

bool is_token_list(const json& v) {
    if (!v.is_array() || v.empty()) return false;
    for (const json& t : v) {
        if (!t.is_number_integer()) return false;
    }
    return true;
}

std::vector<int32_t> token_ids(const json& list, const LoadedModel& m) {
    std::vector<int32_t> ids;
    const int64_t n_vocab = m.model->hparams().n_vocab;
    for (const json& t : list) {
        int64_t id = t.get<int64_t>();
        if (id < 0 || id >= n_vocab) {
            throw ApiError::bad_request("token id " + std::to_string(id) +
                                            " is outside the vocabulary (0.." +
                                            std::to_string(n_vocab - 1) + ")",
                                        "input");
        }
        ids.push_back(static_cast<int32_t>(id));
    }
    return ids;
}

// Every input as token ids, in request order.
std::vector<std::vector<int32_t>> tokenize_inputs(const json& input, const LoadedModel& m) {
    std::vector<std::vector<int32_t>> out;
    auto text = [&](const std::string& s) {
        if (s.empty()) throw ApiError::bad_request("an input string is empty", "input");
        // Input is user text: control tokens written in it stay text.
        out.push_back(m.tokenizer->encode(s, /*add_special=*/true, /*parse_special=*/false));
    };
    if (input.is_string()) {
        text(input.get<std::string>());
    } else if (is_token_list(input)) {
        out.push_back(token_ids(input, m));
    } else if (input.is_array() && !input.empty()) {
        if (input.size() > kMaxEmbeddingInputs) {
            throw ApiError::bad_request(
                "at most " + std::to_string(kMaxEmbeddingInputs) + " inputs per request", "input");
        }
        for (const json& item : input) {
            if (item.is_string())
                text(item.get<std::string>());
            else if (is_token_list(item))
                out.push_back(token_ids(item, m));
            else
                throw ApiError::bad_request("each input must be a string or an array of token ids",
                                            "input");
        }
    } else {
        throw ApiError::bad_request("'input' must be a string, an array of strings, or token ids",
                                    "input");
    }
    return out;
}

void truncate_and_renormalize(std::vector<float>& v, size_t dims) {
    v.resize(dims);
    double sum = 0;
    for (float x : v) sum += static_cast<double>(x) * x;
    if (sum <= 0) return;
    const float scale = static_cast<float>(1.0 / std::sqrt(sum));
    for (float& x : v) x *= scale;
}

}  // namespace

void check_encoder_input_length(size_t n_tokens, const LoadedModel& m, const std::string& what,
                                const std::string& param) {
    const int64_t limit = m.model->hparams().n_ctx_train;
    if (static_cast<int64_t>(n_tokens) > limit) {
        throw ApiError(400,
                       what + " is " + std::to_string(n_tokens) +
                           " tokens; this model reads at most " + std::to_string(limit),
                       "invalid_request_error", param, "context_length_exceeded");
    }
}

json create_embeddings(const json& body, LoadedModel& m) {
    if (m.model->is_reranker()) {
        throw ApiError::model_not_supported(
            "the model '" + m.entry.name +
            "' is a reranker: it scores documents against a query (POST "
            "/v1/rerank) and makes no embeddings");
    }
    if (!m.model->is_embedding_model()) {
        throw ApiError::model_not_supported(
            "the model '" + m.entry.name +
            "' is a text generation model and cannot produce embeddings; serve an "
            "embedding model (bert, nomic-bert, or a GGUF with pooling_type)");
    }
    auto input = body.find("input");
    if (input == body.end()) throw ApiError::bad_request("'input' is required", "input");
    std::string format = "float";
    if (auto f = body.find("encoding_format"); f != body.end() && !f->is_null()) {
        if (!f->is_string() || (*f != "float" && *f != "base64")) {
            throw ApiError::bad_request("'encoding_format' must be \"float\" or \"base64\"",
                                        "encoding_format");
        }
        format = f->get<std::string>();
    }
    const size_t n_embd = static_cast<size_t>(m.model->hparams().n_embd);
    size_t dims = n_embd;
    if (auto d = body.find("dimensions"); d != body.end() && !d->is_null()) {
        if (!d->is_number_integer() || d->get<int64_t>() < 1 ||
            d->get<int64_t>() > static_cast<int64_t>(n_embd)) {
            throw ApiError::bad_request(
                "'dimensions' must be an integer from 1 to " + std::to_string(n_embd),
                "dimensions");
        }
        dims = d->get<size_t>();
    }

    std::vector<std::vector<int32_t>> inputs = tokenize_inputs(*input, m);
    int64_t prompt_tokens = 0;
    for (const auto& ids : inputs) {
        check_encoder_input_length(ids.size(), m, "an input", "input");
        prompt_tokens += static_cast<int64_t>(ids.size());
    }

    json data = json::array();
    m.run_encoder([&](kernels::ThreadPool& threads) {
        for (size_t i = 0; i < inputs.size(); ++i) {
            std::vector<float> v = m.model->embed(inputs[i], model::Pooling::Default,
                                                  /*normalize=*/true, threads);
            if (dims < v.size()) truncate_and_renormalize(v, dims);
            json item = {{"object", "embedding"}, {"index", i}};
            if (format == "base64")
                item["embedding"] = base64_encode(v.data(), v.size() * sizeof(float));
            else
                item["embedding"] = v;
            data.push_back(std::move(item));
        }
    });
    return {{"object", "list"},
            {"data", std::move(data)},
            {"model", m.entry.name},
            {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
}

}  // namespace hearth::server
