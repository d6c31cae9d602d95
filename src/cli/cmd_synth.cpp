// `hearth synth PRESET OUT`: write a random-weight model with real shapes and a real tokenizer.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "kernels/synth_model.h"
#include "kernels/thread_pool.h"

namespace hearth::cli {

void add_synth_command(CLI::App& app);
void draw_progress_bar(size_t done, size_t total);  // cmd_quantize.cpp

namespace {

struct SynthCliOptions {
    std::string preset, output, vocab, type = "F32";
    uint64_t seed = 42;
    int threads = 0;
};

std::string preset_table() {
    std::string text = "Presets:\n";
    for (const auto& p : kernels::synth_presets()) {
        char line[200];
        std::snprintf(
            line, sizeof line,
            "  %-5s n_embd %lld, %lld layers, %lld/%lld heads, FFN %lld, vocab %s%s  (%s)\n",
            std::string(p.name).c_str(), static_cast<long long>(p.n_embd),
            static_cast<long long>(p.n_layers), static_cast<long long>(p.n_heads),
            static_cast<long long>(p.n_kv_heads), static_cast<long long>(p.n_ff),
            p.n_vocab ? std::to_string(p.n_vocab).c_str() : "of the tokenizer",
            p.tied_embeddings ? ", tied" : "", std::string(p.description).c_str());
        text += line;
    }
    return text;
}

void synth(const SynthCliOptions& o) {
    auto preset = kernels::find_synth_preset(o.preset);
    if (!preset) throw Error("unknown preset '" + o.preset + "'.\n" + preset_table());
    kernels::SynthOptions options{
        *preset, o.vocab, o.type, o.seed,
        o.threads > 0 ? o.threads : kernels::ThreadPool::default_thread_count()};
    auto report = kernels::synthesize_model(options, o.output, draw_progress_bar);
    for (const auto& note : report.notes) std::fprintf(stderr, "note: %s\n", note.c_str());
    std::fprintf(
        stderr,
        "wrote %s: %s, %.1f M parameters, vocab %lld (%lld padding tokens added), type %s\n",
        o.output.c_str(), std::string(preset->name).c_str(), report.n_params / 1e6,
        static_cast<long long>(report.n_vocab), static_cast<long long>(report.padded_tokens),
        o.type.c_str());
}

}  // namespace

void add_synth_command(CLI::App& app) {
    auto opts = std::make_shared<SynthCliOptions>();
    CLI::App* cmd = app.add_subcommand(
        "synth", "Write a random-weight llama model with real shapes, for tests and benchmarks.");
    cmd->add_option("preset", opts->preset, "Model shape (see below)")->required();
    cmd->add_option("output", opts->output, "The .gguf file to write")->required();
    cmd->add_option(
           "--vocab", opts->vocab,
           "A GGUF whose tokenizer is copied (e.g. tests/data/vocab/ggml-vocab-llama-spm.gguf)")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("--type", opts->type,
                    "Weight type or recipe, as for `hearth quantize` (F32, F16, Q8_0, Q4_K_M ...)")
        ->capture_default_str();
    cmd->add_option("-s,--seed", opts->seed, "Random seed: the same seed writes the same weights")
        ->capture_default_str();
    cmd->add_option("-t,--threads", opts->threads, "Threads (0 = all cores)")
        ->capture_default_str();
    cmd->footer(
        preset_table() +
        "Weights are N(0, 0.02), norms 1. The tokenizer's token list is padded with unused tokens "
        "up to the "
        "preset's vocabulary size.\n"
        "Examples:\n"
        "  hearth synth tiny /tmp/tiny.gguf --vocab tests/data/vocab/ggml-vocab-llama-spm.gguf\n"
        "  hearth synth 1b /tmp/1b-q4_k_m.gguf --type Q4_K_M --vocab "
        "tests/data/vocab/ggml-vocab-gpt-2.gguf\n"
        "  hearth bench /tmp/1b-q4_k_m.gguf -t 2");
    cmd->callback([opts] { synth(*opts); });
}

}  // namespace hearth::cli
