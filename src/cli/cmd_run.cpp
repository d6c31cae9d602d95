#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "runtime/generate.h"

namespace hearth::cli {

namespace {

struct RunOptions {
    std::string model;
    std::string prompt;
    int32_t n_predict = 128;
    float temperature = 0.8f;
    int32_t top_k = 40;
    float top_p = 0.95f;
    float min_p = 0.05f;
    float repeat_penalty = 1.0f;
    int64_t seed = -1;
    int threads = 0;
    int64_t ctx_size = 2048;
    bool ignore_eos = false;
    bool quiet_stats = false;
};

void run(const RunOptions& o) {
    auto model = model::Model::load(o.model);
    auto tok = tokenizer::Tokenizer::from_gguf(model->file());
    int64_t n_ctx = std::min<int64_t>(o.ctx_size, model->hparams().n_ctx_train);
    runtime::Context ctx(model, {.n_ctx = n_ctx, .max_seqs = 1, .threads = o.threads});

    runtime::GenerateRequest req;
    req.prompt = tok->encode(o.prompt, /*add_special=*/true, /*parse_special=*/false);
    req.max_tokens = o.n_predict;
    req.ignore_eos = o.ignore_eos;
    req.sampling.temperature = o.temperature;
    req.sampling.top_k = o.top_k;
    req.sampling.top_p = o.top_p;
    req.sampling.min_p = o.min_p;
    req.sampling.repeat_penalty = o.repeat_penalty;
    if (o.seed >= 0) req.sampling.seed = static_cast<uint64_t>(o.seed);
    if (static_cast<int64_t>(req.prompt.size()) + 1 > n_ctx) {
        throw Error("the prompt is " + std::to_string(req.prompt.size()) +
                    " tokens; the context holds " + std::to_string(n_ctx) + " (raise --ctx-size)");
    }

    std::fputs(o.prompt.c_str(), stdout);
    std::fflush(stdout);
    auto result = runtime::generate(ctx, *tok, req, [](const std::string& text) {
        std::fputs(text.c_str(), stdout);
        std::fflush(stdout);
        return true;
    });
    std::fputc('\n', stdout);
    if (!o.quiet_stats) {
        double pp = result.prompt_seconds > 0 ? result.prompt_tokens / result.prompt_seconds : 0;
        double tg =
            result.generate_seconds > 0 ? result.tokens.size() / result.generate_seconds : 0;
        std::fprintf(stderr,
                     "\nprompt: %lld tokens, %.1f tokens/s | generated: %zu tokens, %.1f tokens/s "
                     "| threads: %d | finish: %s\n",
                     static_cast<long long>(result.prompt_tokens), pp, result.tokens.size(), tg,
                     ctx.pool().size(), runtime::finish_reason_name(result.finish));
    }
}

}  // namespace

void add_run_command(CLI::App& app) {
    auto opts = std::make_shared<RunOptions>();
    CLI::App* cmd = app.add_subcommand(
        "run", "Generate text from a prompt with a GGUF model, streaming it as it comes.");
    cmd->add_option("model", opts->model, "Path to a .gguf model file")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("-p,--prompt", opts->prompt, "The text to continue")->required();
    cmd->add_option("-n,--n-predict", opts->n_predict, "Maximum tokens to generate")
        ->capture_default_str()
        ->check(CLI::Range(0, 1 << 20));
    cmd->add_option("--temp,--temperature", opts->temperature,
                    "Sampling temperature; 0 = greedy (always the most likely token)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 100.0));
    cmd->add_option("--top-k", opts->top_k, "Keep the K most likely tokens (0 = off)")
        ->capture_default_str();
    cmd->add_option("--top-p", opts->top_p,
                    "Keep the smallest set of tokens whose probability reaches P (1 = off)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1.0));
    cmd->add_option("--min-p", opts->min_p,
                    "Drop tokens less likely than MIN_P times the best one (0 = off)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1.0));
    cmd->add_option("--repeat-penalty", opts->repeat_penalty,
                    "Penalise recently seen tokens (1 = off)")
        ->capture_default_str();
    cmd->add_option("-s,--seed", opts->seed,
                    "Random seed; the same seed gives the same text (-1 = random)")
        ->capture_default_str();
    cmd->add_option("-t,--threads", opts->threads, "Threads to compute with (0 = all cores)")
        ->capture_default_str()
        ->envname("HEARTH_THREADS");
    cmd->add_option("-c,--ctx-size", opts->ctx_size,
                    "Context size in tokens (capped at the model's training context)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{16}, int64_t{1} << 24));
    cmd->add_flag("--ignore-eos", opts->ignore_eos, "Keep generating past the end-of-text token");
    cmd->add_flag("--no-stats", opts->quiet_stats, "Do not print the speed summary on stderr");
    cmd->footer(
        "Example:\n  hearth run tests/data/models/stories260K.gguf -p \"Once upon a time\" -n 64 "
        "--temp 0");
    cmd->callback([opts] { run(*opts); });
}

}  // namespace hearth::cli
