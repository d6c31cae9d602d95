#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "cli/commands.h"
#include "core/error.h"
#include "runtime/generate.h"
#include "runtime/grammar.h"
#include "runtime/json_schema.h"
#include "runtime/scheduler.h"

namespace hearth::cli {

namespace {

struct RunOptions {
    std::string model;
    std::string prompt;
    int32_t n_predict = 128;
    runtime::SamplingParams sampling;  // its defaults are the flags' defaults
    int64_t seed = -1;
    int threads = 0;
    int64_t ctx_size = 2048;
    gguf::TensorType kv_type = runtime::SchedulerParams{}.kv_type;
    bool ignore_eos = false;
    bool quiet_stats = false;
    std::string grammar_file;      // GBNF
    std::string json_schema_file;  // JSON Schema
};

std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read '" + path + "'");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// The grammar --grammar or --json-schema names (null: free text).
std::shared_ptr<const runtime::Grammar> grammar_from_files(const RunOptions& o) {
    if (!o.grammar_file.empty() && !o.json_schema_file.empty())
        throw Error("give --grammar or --json-schema, not both");
    if (!o.grammar_file.empty()) return runtime::Grammar::parse_gbnf(read_text_file(o.grammar_file));
    if (o.json_schema_file.empty()) return nullptr;
    const auto schema = nlohmann::ordered_json::parse(read_text_file(o.json_schema_file), nullptr,
                                                      /*allow_exceptions=*/false);
    if (schema.is_discarded()) throw Error("'" + o.json_schema_file + "' is not valid JSON");
    return runtime::grammar_from_json_schema(schema);
}

using Clock = std::chrono::steady_clock;

// Events from the scheduler thread, read on the main thread, with the time each was made.
class EventQueue {
  public:
    void push(runtime::SequenceEvent&& ev) {
        {
            std::lock_guard lock(mutex_);
            events_.emplace_back(Clock::now(), std::move(ev));
        }
        ready_.notify_one();
    }
    std::pair<Clock::time_point, runtime::SequenceEvent> pop() {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [&] { return !events_.empty(); });
        auto ev = std::move(events_.front());
        events_.pop_front();
        return ev;
    }

  private:
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<std::pair<Clock::time_point, runtime::SequenceEvent>> events_;
};

// The same scheduler the server runs, with one slot: sampling, stop handling and (later)
// grammars behave exactly as they do behind the API.
void run(const RunOptions& o) {
    std::shared_ptr<const model::Model> model = model::Model::load(o.model, {.threads = o.threads});
    auto tok = tokenizer::Tokenizer::from_gguf(model->file());
    const int64_t n_ctx = std::min<int64_t>(o.ctx_size, model->hparams().n_ctx_train);
    runtime::Scheduler scheduler(model, *tok,
                                 {.ctx_per_seq = n_ctx,
                                  .parallel = 1,
                                  .threads = o.threads,
                                  .max_queue = 1,
                                  .prefill_chunk = n_ctx,  // the whole prompt in one pass
                                  .kv_type = o.kv_type});

    runtime::SequenceRequest req;
    req.prompt = tok->encode(o.prompt, /*add_special=*/true, /*parse_special=*/false);
    req.max_tokens = o.n_predict;
    req.ignore_eos = o.ignore_eos;
    req.sampling = o.sampling;
    if (o.seed >= 0) req.sampling.seed = static_cast<uint64_t>(o.seed);
    req.sampling.grammar = grammar_from_files(o);
    if (static_cast<int64_t>(req.prompt.size()) + 1 > n_ctx) {
        throw Error("the prompt is " + std::to_string(req.prompt.size()) +
                    " tokens; the context holds " + std::to_string(n_ctx) + " (raise --ctx-size)");
    }
    if (o.n_predict == 0) {
        std::puts(o.prompt.c_str());
        return;
    }
    auto events = std::make_shared<EventQueue>();
    req.on_event = [events](runtime::SequenceEvent&& ev) { events->push(std::move(ev)); };

    std::fputs(o.prompt.c_str(), stdout);
    std::fflush(stdout);
    const Clock::time_point start = Clock::now();
    Clock::time_point first = start, end = start;
    if (scheduler.submit({std::move(req)}).empty()) throw Error("the scheduler refused the prompt");
    runtime::SequenceEvent ev;
    bool seen_first = false;
    do {
        std::tie(end, ev) = events->pop();
        if (!seen_first) {
            seen_first = true;
            first = end;
        }
        std::fputs(ev.text.c_str(), stdout);
        std::fflush(stdout);
    } while (!ev.finished);
    std::fputc('\n', stdout);
    if (!ev.error.empty()) throw Error("generation failed: " + ev.error);
    if (!o.quiet_stats) {
        // The first event comes after the prompt pass and the first sampled token; the rest
        // of the tokens after it are the generation speed.
        const double prompt_s = std::chrono::duration<double>(first - start).count();
        const double gen_s = std::chrono::duration<double>(end - first).count();
        const double pp = prompt_s > 0 ? ev.prompt_tokens / prompt_s : 0;
        const double tg = gen_s > 0 && ev.completion_tokens > 1
                              ? static_cast<double>(ev.completion_tokens - 1) / gen_s
                              : 0;
        std::fprintf(stderr,
                     "\nprompt: %lld tokens, %.1f tokens/s | generated: %lld tokens, %.1f "
                     "tokens/s | threads: %d | finish: %s\n",
                     static_cast<long long>(ev.prompt_tokens), pp,
                     static_cast<long long>(ev.completion_tokens), tg, scheduler.threads(),
                     runtime::finish_reason_name(ev.finish));
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
    cmd->add_option("--temp,--temperature", opts->sampling.temperature,
                    "Sampling temperature; 0 = greedy (always the most likely token)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 100.0));
    cmd->add_option("--top-k", opts->sampling.top_k, "Keep the K most likely tokens (0 = off)")
        ->capture_default_str();
    cmd->add_option("--top-p", opts->sampling.top_p,
                    "Keep the smallest set of tokens whose probability reaches P (1 = off)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1.0));
    cmd->add_option("--min-p", opts->sampling.min_p,
                    "Drop tokens less likely than MIN_P times the best one (0 = off)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1.0));
    cmd->add_option("--repeat-penalty", opts->sampling.repeat_penalty,
                    "Penalise recently seen tokens (1 = off)")
        ->capture_default_str();
    cmd->add_option("-s,--seed", opts->seed,
                    "Random seed; the same seed gives the same text (-1 = random)")
        ->capture_default_str();
    cmd->add_option("-t,--threads", opts->threads, "Threads to compute with (0 = what the CPU affinity mask and cgroup CPU quota allow)")
        ->capture_default_str()
        ->envname("HEARTH_THREADS");
    cmd->add_option("-c,--ctx-size", opts->ctx_size,
                    "Context size in tokens (capped at the model's training context)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{16}, int64_t{1} << 24));
    add_kv_type_option(cmd, opts->kv_type);
    cmd->add_flag("--ignore-eos", opts->ignore_eos, "Keep generating past the end-of-text token");
    cmd->add_flag("--no-stats", opts->quiet_stats, "Do not print the speed summary on stderr");
    cmd->add_option("--grammar", opts->grammar_file,
                    "Only generate text this GBNF grammar accepts (docs/GRAMMARS.md)")
        ->check(CLI::ExistingFile);
    cmd->add_option("--json-schema", opts->json_schema_file,
                    "Only generate JSON that validates against this JSON Schema file")
        ->check(CLI::ExistingFile);
    cmd->footer(
        "Examples:\n  hearth run tests/data/models/stories260K.gguf -p \"Once upon a time\" -n 64 "
        "--temp 0\n"
        "  hearth run MODEL.gguf -p \"A person as JSON:\" --json-schema person.schema.json\n"
        "  hearth run MODEL.gguf -p \"Yes or no?\" --grammar yesno.gbnf   # root ::= \"yes\" | \"no\"");
    cmd->callback([opts] { run(*opts); });
}

}  // namespace hearth::cli
