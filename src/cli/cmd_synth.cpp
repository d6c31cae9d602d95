// `hearth synth PRESET OUT`: write a random-weight model of any architecture with real shapes,
// in any weight type, optionally with a real tokenizer (the writer is tools/synthetic.h).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "kernels/thread_pool.h"
#include "model/arch.h"
#include "tools/synthetic.h"

namespace hearth::cli {

void add_synth_command(CLI::App& app);
void draw_progress_bar(size_t done, size_t total);  // cmd_quantize.cpp

namespace {

struct SynthCliOptions {
    std::string preset, output, arch, vocab, type;  // type empty: F32, experts the preset's
    uint64_t seed = 42;
    int threads = 0;
    int64_t layers = 0, n_vocab = 0;  // 0: the preset's
};

std::string preset_table() {
    std::string text =
        "Presets (the shapes of real models; other architectures keep them and add "
        "their own tensors and keys):\n";
    for (const auto& p : tools::synthetic_presets()) {
        const tools::SyntheticShape& s = p.shape;
        char line[240];
        std::snprintf(line, sizeof line,
                      "  %-5s n_embd %lld, %lld layers, %lld/%lld heads, FFN %lld, vocab %lld%s  "
                      "(%s)\n",
                      p.name.c_str(), static_cast<long long>(s.n_embd),
                      static_cast<long long>(s.n_layer), static_cast<long long>(s.n_head),
                      static_cast<long long>(s.n_head_kv), static_cast<long long>(s.n_ff),
                      static_cast<long long>(s.n_vocab),
                      s.tied_embeddings.value_or(false) ? ", tied" : "", p.description.c_str());
        text += line;
        if (s.n_expert > 0) {
            std::snprintf(line, sizeof line,
                          "        %s: %lld experts of FFN %lld, %lld per token%s\n",
                          p.architecture.c_str(), static_cast<long long>(s.n_expert),
                          static_cast<long long>(s.n_ff_exp),
                          static_cast<long long>(s.n_expert_used),
                          s.n_ff_shexp > 0 ? ", shared expert" : "");
            text += line;
        }
        if (s.classifier_head) {
            std::snprintf(line, sizeof line,
                          "        %s reranker: classification head, rank pooling (/v1/rerank)\n",
                          p.architecture.c_str());
            text += line;
        }
    }
    return text;
}

void synth(SynthCliOptions o) {
    // The preset's own architecture (the mixture-of-experts shapes have one), else llama.
    if (o.arch.empty()) {
        o.arch = tools::synthetic_preset(o.preset).architecture;
        if (o.arch.empty()) o.arch = "llama";
    }
    // Without --type: F32, but the experts in the type real files ship them in (gpt-oss:
    // MXFP4). An explicit --type applies to every tensor.
    std::string expert_type;
    if (o.type.empty()) {
        o.type = "F32";
        expert_type = tools::synthetic_preset(o.preset).expert_type;
    }
    tools::SyntheticShape shape = tools::synthetic_shape(o.preset);
    if (o.layers > 0) shape.n_layer = o.layers;
    if (o.n_vocab > 0) shape.n_vocab = o.n_vocab;
    tools::SyntheticOptions options{
        .architecture = o.arch,
        .shape = shape,
        .type = o.type,
        .expert_type = expert_type,
        .vocab_path = o.vocab,
        .name = "synthetic " + o.arch + " " + o.preset,
        .seed = o.seed,
        .n_threads = o.threads > 0 ? o.threads : kernels::ThreadPool::default_thread_count()};
    const std::string types = expert_type.empty() ? o.type : o.type + " (experts " + expert_type + ")";
    std::fprintf(stderr, "writing %s: %s %s, %s weights, %d threads\n", o.output.c_str(),
                 o.arch.c_str(), o.preset.c_str(), types.c_str(), options.n_threads);
    auto report = tools::write_synthetic_model(options, o.output, draw_progress_bar);
    // Shapes like 135m's (rows of 576) give one note per matrix: show a few and count the rest.
    const size_t shown = std::min<size_t>(report.notes.size(), 3);
    for (size_t i = 0; i < shown; ++i) std::fprintf(stderr, "note: %s\n", report.notes[i].c_str());
    if (report.notes.size() > shown)
        std::fprintf(stderr, "note: ... and %zu more tensors stored in a fallback type\n",
                     report.notes.size() - shown);
    std::fprintf(stderr, "wrote %s: %.1f M parameters, %.1f MiB of tensors, vocab %lld%s\n",
                 o.output.c_str(), report.n_params / 1e6, report.tensor_bytes / 1048576.0,
                 static_cast<long long>(report.n_vocab),
                 o.vocab.empty() ? " (no tokenizer: pass --vocab for `hearth run`)" : "");
}

}  // namespace

void add_synth_command(CLI::App& app) {
    auto opts = std::make_shared<SynthCliOptions>();
    CLI::App* cmd = app.add_subcommand(
        "synth",
        "Write a random-weight model with real shapes (any architecture and weight type), for "
        "tests and benchmarks.");
    cmd->add_option("preset", opts->preset, "Model shape (see below)")->required();
    cmd->add_option("output", opts->output,
                    "The .gguf file to write (written to OUTPUT.partial, then renamed)")
        ->required();
    cmd->add_option("-a,--arch", opts->arch,
                    "Architecture: " + model::supported_architectures() +
                        " (default: the preset's, else llama)");
    cmd->add_option("--type", opts->type,
                    "Weight type or recipe, as for `hearth quantize` (F32, F16, Q8_0, Q4_K_M, "
                    "MXFP4_MOE ...) for every tensor. Default: F32, and the experts of the "
                    "gpt-oss presets MXFP4 as real gpt-oss files have them");
    cmd->add_option("--vocab", opts->vocab,
                    "A GGUF whose tokenizer is copied; the vocabulary size follows it (e.g. "
                    "tests/data/vocab/ggml-vocab-llama-spm.gguf)")
        ->check(CLI::ExistingFile);
    cmd->add_option("--layers", opts->layers,
                    "Override the preset's layer count (a real model's layers, fewer of them: "
                    "quicker to write and bench)");
    cmd->add_option("--n-vocab", opts->n_vocab,
                    "Override the preset's vocabulary size (without --vocab)");
    cmd->add_option("-s,--seed", opts->seed, "Random seed: the same seed writes the same bytes")
        ->capture_default_str();
    cmd->add_option("-t,--threads", opts->threads, "Threads (0 = what the CPU affinity mask and cgroup CPU quota allow)")
        ->capture_default_str();
    cmd->footer(
        preset_table() +
        "Weights are uniform with variance 1/row length (activations keep their size), norms "
        "1 +- 0.2. The vocabulary is the preset's, or the --vocab file's. tiny ties the output to "
        "the embeddings where the architecture does (qwen2); gemma always does. qwen3 and gemma "
        "use wider heads in tiny only; gemma3 has at least 6 layers.\n"
        "Examples:\n"
        "  hearth synth tiny /tmp/tiny.gguf --vocab tests/data/vocab/ggml-vocab-llama-spm.gguf\n"
        "  hearth synth 1b /tmp/1b-q4_k_m.gguf --type Q4_K_M\n"
        "  hearth synth 1b /tmp/gemma2-1b.gguf --arch gemma2 --type Q8_0\n"
        "  hearth synth qwen3moe-30b-a3b /tmp/moe.gguf --type Q4_K_M\n"
        "  hearth synth gpt-oss-tiny /tmp/gpt-oss.gguf   (experts MXFP4, the rest F32)\n"
        "  hearth synth tiny /tmp/bert.gguf --arch bert --vocab "
        "tests/data/vocab/ggml-vocab-bert-bge.gguf\n"
        "  hearth synth bert-reranker-tiny /tmp/rerank.gguf --vocab "
        "tests/data/vocab/ggml-vocab-bert-bge.gguf\n"
        "  hearth bench /tmp/1b-q4_k_m.gguf -t 2");
    cmd->callback([opts] { synth(*opts); });
}

}  // namespace hearth::cli
