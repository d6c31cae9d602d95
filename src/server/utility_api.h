#pragma once
// llama-server's utility routes, for clients that count tokens or check a template before they
// send a prompt: POST /tokenize, /detokenize and /apply-template. Each uses the model's own
// tokenizer and the same prompt rendering as /v1/chat/completions, so what they say is what a
// generation would see.
#include "server/exchange.h"
#include "server/model_pool.h"
#include "server/openai_request.h"

namespace hearth::server {

class UtilityApi {
  public:
    UtilityApi(ModelPool& pool, RequestLimits limits) : pool_(pool), limits_(limits) {}

    // {"content": TEXT, "add_special": false, "parse_special": true, "with_pieces": false}
    // -> {"tokens": [ID...]} or, with pieces, {"tokens": [{"id": ID, "piece": TEXT}...]} (a
    // piece that is not whole UTF-8 is given as its byte values).
    void tokenize(Exchange& ex, const std::string& path_model);
    // {"tokens": [ID...]} -> {"content": TEXT}; an id outside the vocabulary is a 400.
    void detokenize(Exchange& ex, const std::string& path_model);
    // A chat request's body -> {"prompt": TEXT}: the template's rendering of its messages and
    // tools, generation prompt included.
    void apply_template(Exchange& ex, const std::string& path_model);

  private:
    ModelPool& pool_;
    RequestLimits limits_;
};

}  // namespace hearth::server
