// Drives hearth's forward pass on synthesized models for the Python reference check
// (tests/reference/check_arch.py) and for benchmarks:
//   arch_tool check ARCH DIR [N_CTX [TYPE]]   writes DIR/ARCH.gguf (DIR/ARCH-TYPE.gguf for a
//                                       weight type other than F32) and hearth's outputs next
//                                       to it (N_CTX: the context to load for, see LoadOptions);
//                                       ARCH may be mixtral (preset mixtral-tiny: llama with
//                                       experts); MoE architectures use their ARCH-tiny preset,
//                                       and so does bert-reranker (bert with a classification
//                                       head: scores of the test tokens split into pairs)
//   arch_tool bench ARCH PRESET DIR [THREADS]   prompt and decode tokens/s, as one JSON line
//   arch_tool logits MODEL OUT TOKEN...   every position's logits for TOKENS (one batch), as
//                                       floats, to compare with another engine's by hand
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/model.h"
#include "tools/synthetic.h"

using namespace hearth;

namespace {

constexpr int kTokens = 11;  // 7 in one prompt batch, then 4 decode steps
constexpr int kPromptTokens = 7;

std::vector<int32_t> test_tokens(int64_t n_vocab) {
    std::vector<int32_t> t;
    for (int i = 0; i < kTokens; ++i) t.push_back(static_cast<int32_t>((i * 37 + 5) % n_vocab));
    return t;
}

void write_floats(const std::string& path, const std::vector<float>& v) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(v.data()),
              static_cast<std::streamsize>(v.size() * sizeof(float)));
}

// Runs `tokens` through sequence 0 (and the same through sequence 1 in the same batches, so
// batching is exercised): the prompt in one batch, then one token per step. Returns every
// position's logits of sequence 0.
std::vector<float> decoder_logits(const model::Model& m, const std::vector<int32_t>& tokens,
                                  kernels::ThreadPool& pool) {
    const auto& hp = m.hparams();
    model::KvCache cache(hp.n_layer, hp.kv_dim(), 16, 4, 2);  // small blocks: positions cross them
    model::ForwardScratch scratch;
    std::vector<float> all, logits;
    auto run = [&](int begin, int end) {
        model::Batch batch;
        for (int seq = 0; seq < 2; ++seq) {
            cache.reserve(seq, end);
            for (int i = begin; i < end; ++i) batch.add(tokens[i], seq, i, seq == 0);
        }
        m.forward(batch, cache, pool, scratch, logits);
        all.insert(all.end(), logits.begin(), logits.end());
    };
    run(0, kPromptTokens);
    for (int i = kPromptTokens; i < kTokens; ++i) run(i, i + 1);
    return all;
}

// NAME is an architecture (the tiny preset) or a model with its own tiny preset NAME-tiny
// (the mixture-of-experts ones: qwen3moe, qwen2moe, olmoe, mixtral = llama with experts).
int check(const std::string& name, const std::string& dir, int64_t n_ctx, const std::string& type) {
    const std::string base = dir + "/" + name + (type == "F32" ? "" : "-" + type);
    tools::SyntheticOptions options;
    options.architecture = name;
    options.shape = tools::synthetic_shape("tiny");
    for (const auto& p : tools::synthetic_presets()) {
        if (p.name == name + "-tiny") {
            options.architecture = p.architecture;
            options.shape = p.shape;
        }
    }
    options.type = type;
    tools::write_synthetic_model(options, base + ".gguf");  // seed 42
    auto m = model::Model::load(base + ".gguf", {.n_ctx = n_ctx});
    kernels::ThreadPool pool(2);
    const std::vector<int32_t> tokens = test_tokens(m->hparams().n_vocab);
    std::ofstream(base + ".tokens.txt") << [&] {
        std::string s;
        for (int32_t t : tokens) s += std::to_string(t) + " ";
        return s;
    }();
    if (m->is_reranker()) {
        // Pairs of the test tokens split at several points (the second segment starting there;
        // at the end: no second segment), one score each.
        std::ofstream pairs(base + ".pairs.txt");
        std::vector<float> scores;
        for (size_t second : {size_t{1}, size_t{4}, size_t{7}, tokens.size()}) {
            pairs << second << "\n";
            scores.push_back(m->rank(tokens, second, pool));
        }
        write_floats(base + ".rank.f32", scores);
    } else if (m->is_embedding_model()) {
        write_floats(base + ".mean.f32", m->embed(tokens, model::Pooling::Mean, true, pool));
        write_floats(base + ".cls.f32", m->embed(tokens, model::Pooling::Cls, false, pool));
    } else {
        write_floats(base + ".logits.f32", decoder_logits(*m, tokens, pool));
        write_floats(base + ".last.f32", m->embed(tokens, model::Pooling::Last, true, pool));
    }
    return 0;
}

int logits(const std::string& path, const std::string& out, const std::vector<int32_t>& tokens) {
    auto m = model::Model::load(path);
    kernels::ThreadPool pool(2);
    const auto& hp = m->hparams();
    model::KvCache cache(hp.n_layer, hp.kv_dim(), static_cast<int64_t>(tokens.size()) / 16 + 1,
                         16, 1);
    model::ForwardScratch scratch;
    model::Batch batch;
    cache.reserve(0, static_cast<int>(tokens.size()));
    for (size_t i = 0; i < tokens.size(); ++i) batch.add(tokens[i], 0, static_cast<int>(i), true);
    std::vector<float> result;
    m->forward(batch, cache, pool, scratch, result);
    write_floats(out, result);
    return 0;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int bench(const std::string& arch, const std::string& preset, const std::string& dir, int threads) {
    const std::string path = dir + "/bench-" + arch + "-" + preset + ".gguf";
    if (!std::filesystem::exists(path)) {
        const tools::SyntheticPreset& p = tools::synthetic_preset(preset);
        tools::write_synthetic_model(p.architecture.empty() ? arch : p.architecture, p.shape, path,
                                     1);
    }
    auto m = model::Model::load(path);
    kernels::ThreadPool pool(threads);
    const auto& hp = m->hparams();
    const int n_prompt = 16, n_decode = 8;
    std::vector<int32_t> tokens;
    for (int i = 0; i < n_prompt + n_decode; ++i)
        tokens.push_back(static_cast<int32_t>((i * 7919) % hp.n_vocab));
    if (m->is_embedding_model()) {
        auto t0 = std::chrono::steady_clock::now();
        std::vector<int32_t> input(tokens.begin(), tokens.begin() + n_prompt);
        m->embed(input, model::Pooling::Mean, true, pool);
        std::printf("{\"arch\":\"%s\",\"preset\":\"%s\",\"embed_tokens_per_s\":%.2f}\n",
                    arch.c_str(), preset.c_str(), n_prompt / seconds_since(t0));
        return 0;
    }
    model::KvCache cache(hp.n_layer, hp.kv_dim(), 4, 32, 1);
    model::ForwardScratch scratch;
    std::vector<float> logits;
    model::Batch batch;
    cache.reserve(0, n_prompt);
    for (int i = 0; i < n_prompt; ++i) batch.add(tokens[i], 0, i, i == n_prompt - 1);
    auto t0 = std::chrono::steady_clock::now();
    m->forward(batch, cache, pool, scratch, logits);
    const double prompt_s = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    for (int i = n_prompt; i < n_prompt + n_decode; ++i) {
        batch.clear();
        cache.reserve(0, i + 1);
        batch.add(tokens[i], 0, i, true);
        m->forward(batch, cache, pool, scratch, logits);
    }
    const double decode_s = seconds_since(t0);
    std::printf(
        "{\"arch\":\"%s\",\"preset\":\"%s\",\"threads\":%d,\"weights_gib\":%.2f,\"prompt_tokens_"
        "per_s\":%.2f,"
        "\"decode_tokens_per_s\":%.2f}\n",
        arch.c_str(), preset.c_str(), threads, m->weight_bytes() / 1073741824.0,
        n_prompt / prompt_s, n_decode / decode_s);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    try {
        if (args.size() >= 3 && args.size() <= 5 && args[0] == "check")
            return check(args[1], args[2], args.size() >= 4 ? std::stoll(args[3]) : 0,
                         args.size() == 5 ? args[4] : "F32");
        if (args.size() >= 4 && args[0] == "logits") {
            std::vector<int32_t> tokens;
            for (size_t i = 3; i < args.size(); ++i) tokens.push_back(std::stoi(args[i]));
            return logits(args[1], args[2], tokens);
        }
        if (args.size() >= 4 && args[0] == "bench")
            return bench(args[1], args[2], args[3], args.size() > 4 ? std::stoi(args[4]) : 2);
    } catch (const Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr,
                 "usage: arch_tool check ARCH DIR [N_CTX [TYPE]] | arch_tool bench ARCH PRESET DIR "
                 "[THREADS] | arch_tool logits MODEL OUT TOKEN...\n");
    return 2;
}
