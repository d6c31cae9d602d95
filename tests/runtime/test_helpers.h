#pragma once
// Shared by the runtime and server tests: the tiny model and the single-sequence oracle.
#include <memory>
#include <string>

#include "model/model.h"
#include "runtime/generate.h"
#include "tokenizer/tokenizer.h"

namespace hearth::testing {

inline std::string stories_path() {
    return std::string(HEARTH_TEST_DATA) + "/models/stories260K.gguf";
}

// runtime::generate() on a fresh context: what any batched path must reproduce token for token.
struct Oracle {
    std::shared_ptr<model::Model> model = model::Model::load(stories_path());
    std::unique_ptr<tokenizer::Tokenizer> tok = tokenizer::Tokenizer::from_gguf(model->file());

    runtime::GenerateResult run(const std::vector<int32_t>& prompt, int32_t max_tokens,
                                runtime::SamplingParams sampling = greedy(),
                                std::vector<std::string> stop = {}) {
        runtime::Context ctx(model, {.n_ctx = 512, .max_seqs = 1, .threads = 1});
        runtime::GenerateRequest req;
        req.prompt = prompt;
        req.max_tokens = max_tokens;
        req.sampling = sampling;
        req.stop = std::move(stop);
        return runtime::generate(ctx, *tok, req);
    }
    runtime::GenerateResult run_text(const std::string& prompt, int32_t max_tokens,
                                     runtime::SamplingParams sampling = greedy(),
                                     std::vector<std::string> stop = {}) {
        return run(tok->encode(prompt, true, false), max_tokens, sampling, std::move(stop));
    }
    static runtime::SamplingParams greedy() {
        runtime::SamplingParams s;
        s.temperature = 0;
        return s;
    }
};

}  // namespace hearth::testing
