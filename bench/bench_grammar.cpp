// Constrained vs free decoding. Usage:
//   bench_grammar MODEL.gguf [TOKENS=128] [THREADS=0] [SCHEMA.json]
// Runs runtime::generate on the model with no grammar, then under a grammar (the JSON schema
// given, else any JSON object), same prompt and seed, end of generation ignored where allowed,
// and reports decode tokens/s of both and their ratio. Then replays the constrained output
// token by token on a fresh matcher and reports the time of each mask computed (cold: first
// time a state is seen) and of cache hits, and the vocabulary size.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "model/model.h"
#include "runtime/generate.h"
#include "runtime/json_schema.h"
#include "tokenizer/tokenizer.h"

using namespace hearth;
using namespace hearth::runtime;

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s MODEL.gguf [TOKENS=128] [THREADS=0] [SCHEMA.json]\n",
                     argv[0]);
        return 2;
    }
    const int32_t n_tokens = argc > 2 ? std::atoi(argv[2]) : 128;
    const int threads = argc > 3 ? std::atoi(argv[3]) : 0;
    // Each call parses a new Grammar object (its shared mask cache starts empty).
    std::string gbnf = std::string("root ::= object\n") + Grammar::json_gbnf_rules();
    std::string grammar_name = "any JSON object";
    if (argc > 4) {
        std::ifstream in(argv[4]);
        std::stringstream s;
        s << in.rdbuf();
        gbnf = json_schema_to_gbnf(nlohmann::ordered_json::parse(s.str()));
        grammar_name = argv[4];
    }
    auto fresh_grammar = [&] { return Grammar::parse_gbnf(gbnf); };
    auto model = model::Model::load(argv[1]);
    auto tok = tokenizer::Tokenizer::from_gguf(model->file());
    const auto t_table = std::chrono::steady_clock::now();
    auto table = TokenTable::from_tokenizer(*tok);
    const double table_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_table)
            .count();
    std::printf("vocab %d tokens, trie %zu nodes, token table built in %.1f ms\n",
                table->n_vocab(), table->nodes().size(), table_ms);

    GenerateRequest req;
    req.prompt = tok->encode("Here is the answer as JSON:", true, false);
    req.max_tokens = n_tokens;
    req.ignore_eos = true;
    req.sampling.temperature = 1.0f;
    req.sampling.seed = 42;
    req.sampling.token_table = table;

    auto run_once = [&](std::shared_ptr<const Grammar> g) {
        GenerateRequest r = req;
        r.sampling.grammar = std::move(g);
        Context ctx(model,
                    {.n_ctx = std::max<int64_t>(512, n_tokens + 64), .max_seqs = 1, .threads = threads});
        return generate(ctx, *tok, r);
    };
    auto tps = [](const GenerateResult& r) {
        return static_cast<double>(r.tokens.size()) / r.generate_seconds;
    };
    // Free and constrained runs interleaved, best of 3 each (the machine may be shared).
    GenerateResult free_res, json_res;
    double free_tps = 0, json_tps = 0;
    for (int rep = 0; rep < 3; ++rep) {
        GenerateResult a = run_once(nullptr);
        if (tps(a) > free_tps) free_tps = tps(a), free_res = std::move(a);
        GenerateResult b = run_once(fresh_grammar());
        if (tps(b) > json_tps) json_tps = tps(b), json_res = std::move(b);
    }
    std::printf("free:        %zu tokens, %.2f tokens/s\n", free_res.tokens.size(), free_tps);
    std::printf("constrained: %zu tokens, %.2f tokens/s (%s)\n", json_res.tokens.size(), json_tps,
                grammar_name.c_str());
    std::printf("ratio constrained/free: %.3f\n", json_tps / free_tps);

    // The sampler alone (no forward pass): one real logits row, the constrained output's
    // tokens accepted in order, free vs constrained (new matcher, so masks are computed).
    {
        Context ctx(model, {.n_ctx = 512, .max_seqs = 1, .threads = threads});
        const float* logits = ctx.append(0, req.prompt);
        const int32_t n_vocab = static_cast<int32_t>(model->hparams().n_vocab);
        std::vector<float> row(logits, logits + n_vocab);
        auto time_sampler = [&](std::shared_ptr<const Grammar> g) {
            SamplingParams p = req.sampling;
            p.grammar = std::move(g);
            Sampler sampler(p, n_vocab);
            const auto t0 = std::chrono::steady_clock::now();
            for (int32_t id : json_res.tokens) {
                (void)sampler.sample(row.data());
                sampler.accept(id);
            }
            return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                       .count() /
                   static_cast<double>(std::max<size_t>(1, json_res.tokens.size()));
        };
        const double free_ms = time_sampler(nullptr);
        const double json_ms = time_sampler(fresh_grammar());
        std::printf("sampler per token: free %.3f ms, constrained %.3f ms (masks included)\n",
                    free_ms, json_ms);
    }

    // Mask timing on the constrained output: a fresh grammar (every mask computed), then a
    // second matcher of the same grammar (masks from the grammar's shared cache).
    auto grammar = fresh_grammar();
    for (const char* pass : {"cold", "second request"}) {
        GrammarMatcher m(grammar);
        double computed_ms = 0, max_ms = 0, other_ms = 0;
        int computed = 0, other = 0;
        const size_t states_before = m.n_states();
        for (int32_t id : json_res.tokens) {
            const size_t before = m.masks_computed();
            const auto t0 = std::chrono::steady_clock::now();
            (void)m.allowed_tokens(*table);
            const double ms =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count();
            if (m.masks_computed() > before) {
                computed_ms += ms, ++computed;
                max_ms = std::max(max_ms, ms);
            } else {
                other_ms += ms, ++other;
            }
            if (!m.accept_bytes(table->bytes(id))) break;
        }
        std::printf("masks (%s): %d computed, mean %.3f ms, max %.3f ms; %d from a cache, "
                    "mean %.4f ms; %zu states interned\n",
                    pass, computed, computed ? computed_ms / computed : 0.0, max_ms, other,
                    other ? other_ms / other : 0.0, m.n_states() - states_before);
    }
    std::printf("output: %.200s\n", json_res.text.c_str());
    return 0;
}
