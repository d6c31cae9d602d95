#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "cli/api_client.h"
#include "cli/chat_session.h"
#include "cli/commands.h"
#include "cli/in_process_api.h"
#include "cli/pull.h"
#include "cli/terminal.h"
#include "core/error.h"
#include "core/format.h"
#include "core/log.h"
#include "hub/download.h"
#include "registry/models_dir.h"
#include "server/installed_models.h"
#include "runtime/generate.h"
#include "runtime/grammar.h"
#include "runtime/json_schema.h"
#include "runtime/scheduler.h"

namespace hearth::cli {

namespace {

struct RunOptions {
    std::string model;               // NAME: installed model, alias, catalog name, hub reference
    std::vector<std::string> words;  // a prompt after NAME, as `ollama run NAME PROMPT`
    std::string prompt;
    int32_t n_predict = -1;
    runtime::SamplingParams sampling;  // its defaults are the flags' defaults
    int64_t seed = -1;
    int threads = 0;
    int64_t ctx_size = 4096;
    gguf::TensorType kv_type = runtime::SchedulerParams{}.kv_type;
    bool ignore_eos = false;
    bool quiet_stats = false;
    std::string grammar_file;      // GBNF
    std::string json_schema_file;  // JSON Schema
    // Chat
    bool raw = false;    // today's plain completion of the prompt
    bool yes = false;    // pull a missing model without asking
    bool local = false;  // load the model here even when a server runs
    bool context_shift = false;
    std::string system;
    std::string models_dir;
    ServerAddress server;
    // The sampling flags given on the command line (chat sends only these; the model's YAML
    // defaults stand for the others).
    nlohmann::json given_sampling = nlohmann::json::object();
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

// --raw: the same scheduler the server runs, with one slot: sampling, stop handling and
// grammars behave exactly as they do behind the API.
void run_raw(RunOptions o, const std::string& path) {
    if (o.prompt.empty()) throw Error("--raw continues a text: give it with -p TEXT");
    if (o.n_predict < 0) o.n_predict = 128;
    std::shared_ptr<const model::Model> model = model::Model::load(path, {.threads = o.threads});
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


// ---------------------------------------------------------------- finding the model

bool is_model_file(const std::string& name) {
    std::error_code error;
    return std::filesystem::is_regular_file(name, error);
}

std::filesystem::path models_dir_path(const RunOptions& o) {
    return o.models_dir.empty() ? registry::ModelsDir::default_path()
                                : std::filesystem::path(o.models_dir);
}

// What `hearth serve` would offer: the installed models, or the one file NAME names.
std::vector<server::ModelEntry> local_entries(const RunOptions& o) {
    std::vector<server::ModelEntry> entries;
    if (is_model_file(o.model)) {
        server::ModelEntry e;
        e.name = std::filesystem::path(o.model).stem().string();
        e.path = o.model;
        entries.push_back(std::move(e));
        return entries;
    }
    const std::filesystem::path dir_path = models_dir_path(o);
    std::error_code error;
    if (!std::filesystem::is_directory(dir_path, error)) return entries;
    registry::ModelsDir dir(dir_path);
    for (const registry::ModelConfig& config : dir.list())
        entries.push_back(server::entry_for_config(dir, config));
    return entries;
}

// Asks on the terminal; with --yes, or no terminal to ask on, the answer is given.
bool confirm(const std::string& question, const RunOptions& o) {
    if (o.yes) return true;
    if (!stdin_is_terminal()) {
        throw Error(question + " Not asked without a terminal: pass --yes, or pull it first with "
                               "`hearth pull " + o.model + "`.");
    }
    std::fprintf(stderr, "%s [y/N] ", question.c_str());
    std::fflush(stderr);
    std::string answer;
    if (!std::getline(std::cin, answer)) return false;
    return !answer.empty() && (answer[0] == 'y' || answer[0] == 'Y');
}

// Loads NAME (Ollama's empty /api/generate); false when the server does not know it.
bool load_model(ApiClient& api, const std::string& name) {
    const ApiReply reply = api.post("/api/generate", {{"model", name}});
    if (reply.status == 404) return false;
    if (!reply.ok()) throw_api_error("cannot load '" + name + "'", reply);
    return true;
}

// A model this process serves is pulled as `hearth pull` pulls it, into the models directory.
std::string pull_locally(InProcessApi& api, const RunOptions& o) {
    registry::ModelsDir dir(models_dir_path(o));
    registry::Installer installer = make_installer(dir);
    registry::PullPlan plan;
    try {
        plan = installer.plan(o.model);
    } catch (const Error& e) {
        throw Error("'" + o.model + "' is not an installed model (`hearth models list`) and not one "
                    "to pull: " + e.what());
    }
    const std::string question = "'" + o.model + "' is not installed. Download " + plan.repo +
                                 " (" + format_bytes(plan.total_bytes()) + ") into " +
                                 dir.root().string() + "?";
    if (!confirm(question, o)) throw Error("not pulled; nothing to run");
    registry::PullResult result = pull_with_progress(installer, plan, {});
    return api.pool().add(server::entry_for_config(dir, result.config)).name;
}

// A running server pulls through its own /api/pull (where it serves models from).
void pull_on_server(ApiClient& api, const RunOptions& o) {
    const std::string question = "The server at " + api.where() + " has no model '" + o.model +
                                 "'. Pull it there from Hugging Face?";
    if (!confirm(question, o)) throw Error("not pulled; nothing to run");
    auto progress = hub::console_progress();
    const auto start = std::chrono::steady_clock::now();
    std::string pending, failure;
    const BodySink sink = [&](std::string_view piece) {
        pending.append(piece);
        for (size_t end; (end = pending.find('\n')) != std::string::npos; pending.erase(0, end + 1)) {
            const nlohmann::json line = nlohmann::json::parse(pending.substr(0, end), nullptr, false);
            if (!line.is_object()) continue;
            if (line.contains("error")) failure = line["error"].is_string() ? line["error"].get<std::string>() : line["error"].dump();
            if (!line.contains("total")) continue;
            hub::DownloadProgress p;
            p.label = line.value("status", "");
            p.total = line.value("total", uint64_t{0});
            p.done = line.value("completed", uint64_t{0});
            p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            p.finished = p.total > 0 && p.done >= p.total;
            progress(p);
        }
        return true;
    };
    InterruptWatch interrupts;
    const ApiReply reply = api.post_stream("/api/pull", {{"model", o.model}, {"stream", true}},
                                           sink, [&] { return interrupts.raised(); });
    if (interrupts.raised()) throw Error("pull cancelled");
    if (!reply.ok()) throw_api_error("the server could not pull '" + o.model + "'", reply);
    if (!failure.empty()) throw Error("the server could not pull '" + o.model + "': " + failure);
}

// ---------------------------------------------------------------- the chat

const char* kDim = "\x1b[2m";
const char* kReset = "\x1b[0m";

void print_help() {
    std::printf(
        "Available commands:\n"
        "  /set temperature X   Sampling temperature (0: always the most likely token)\n"
        "  /set system TEXT     The system prompt (empty: none); clears nothing else\n"
        "  /show                The model's details and these settings\n"
        "  /clear               Forget the conversation so far\n"
        "  /bye                 Exit (also Ctrl-D)\n"
        "  /?, /help            This help\n\n"
        "Use \"\"\" to begin and end a message of several lines.\n"
        "Ctrl-C stops an answer; Up and Down recall earlier lines.\n\n");
}

void show_model(ApiClient& api, const ChatSession& chat) {
    const ChatSettings& s = chat.settings();
    const ApiReply reply = api.post("/api/show", {{"model", s.model}});
    if (!reply.ok()) throw_api_error("cannot show '" + s.model + "'", reply);
    const nlohmann::json info = reply.json();
    const nlohmann::json details = info.value("details", nlohmann::json::object());
    std::printf("  Model\n");
    std::printf("    %-20s %s\n", "name", s.model.c_str());
    std::printf("    %-20s %s\n", "architecture", details.value("family", "?").c_str());
    std::printf("    %-20s %s\n", "parameters", details.value("parameter_size", "?").c_str());
    std::printf("    %-20s %s\n", "quantization", details.value("quantization_level", "?").c_str());
    const nlohmann::json model_info = info.value("model_info", nlohmann::json::object());
    for (const auto& [key, value] : model_info.items()) {
        if (key.size() > 15 && key.compare(key.size() - 15, 15, ".context_length") == 0)
            std::printf("    %-20s %s\n", "context length", value.dump().c_str());
    }
    std::string capabilities;
    const nlohmann::json listed = info.value("capabilities", nlohmann::json::array());
    for (const auto& c : listed) {
        if (c.is_string()) capabilities += (capabilities.empty() ? "" : ", ") + c.get<std::string>();
    }
    std::printf("    %-20s %s\n", "capabilities", capabilities.c_str());
    std::printf("    %-20s %s\n", "chat template",
                info.value("template", "").empty() ? "none (the text is continued)" : "from the model");
    std::printf("    %-20s %s\n\n", "served by", api.where().c_str());
    std::printf("  Settings\n");
    std::printf("    %-20s %s\n", "temperature",
                s.temperature ? std::to_string(*s.temperature).c_str() : "the model's default");
    std::printf("    %-20s %s\n", "system", s.system.empty() ? "(none)" : s.system.c_str());
    std::printf("    %-20s %zu\n\n", "messages", chat.history().size());
}

// One reply drawn on the terminal: reasoning dimmed, then the answer.
ChatReply ask_on_terminal(ChatSession& chat, const std::string& text, InterruptWatch& interrupts) {
    bool in_reasoning = false;
    const auto reasoning = [&](const std::string& piece) {
        if (!in_reasoning) std::fputs(kDim, stdout);
        in_reasoning = true;
        std::fputs(piece.c_str(), stdout);
        std::fflush(stdout);
    };
    bool any_content = false;
    const auto content = [&](const std::string& piece) {
        if (in_reasoning) {
            std::fputs(kReset, stdout);
            std::fputs("\n\n", stdout);
            in_reasoning = false;
        }
        std::string shown = any_content ? piece : piece.substr(std::min(piece.find_first_not_of(" \n"), piece.size()));
        any_content = any_content || !shown.empty();
        std::fputs(shown.c_str(), stdout);
        std::fflush(stdout);
    };
    interrupts.clear();
    ChatReply reply = chat.ask(text, reasoning, content, [&] { return interrupts.raised(); });
    if (in_reasoning) std::fputs(kReset, stdout);
    std::fputs("\n\n", stdout);
    std::fflush(stdout);
    interrupts.clear();
    return reply;
}

void apply_command(const ChatCommand& cmd, ChatSession& chat, ApiClient& api) {
    using Kind = ChatCommand::Kind;
    switch (cmd.kind) {
        case Kind::Clear:
            chat.clear();
            std::printf("Cleared the conversation.\n");
            break;
        case Kind::SetTemperature: {
            char* end = nullptr;
            const double t = std::strtod(cmd.argument.c_str(), &end);
            if (cmd.argument.empty() || *end != '\0' || !(t >= 0 && t <= 100)) {
                std::printf("Usage: /set temperature X, a number from 0 to 100\n");
                break;
            }
            chat.settings().temperature = t;
            std::printf("Set 'temperature' to '%g'.\n", t);
            break;
        }
        case Kind::SetSystem:
            chat.settings().system = cmd.argument;
            std::printf(cmd.argument.empty() ? "Cleared the system message.\n"
                                             : "Set the system message.\n");
            break;
        case Kind::Show:
            show_model(api, chat);
            break;
        case Kind::Help:
            print_help();
            break;
        case Kind::Unknown:
            std::printf("Unknown command '%s'. Type /? for help\n", cmd.argument.c_str());
            break;
        case Kind::Message:
        case Kind::Bye:
            break;
    }
}

std::string history_file() {
    std::error_code error;
    const std::filesystem::path dir = registry::ModelsDir::data_home();
    std::filesystem::create_directories(dir, error);
    return error ? "" : (dir / "run_history").string();
}

void chat_interactively(ApiClient& api, ChatSession& chat) {
    InterruptWatch interrupts;
    LineEditor editor(history_file());
    MultilineInput input;
    for (;;) {
        std::string line;
        const LineEditor::Status status =
            editor.read(input.in_block() ? "... " : ">>> ", line, interrupts);
        if (status == LineEditor::Status::End) {
            std::printf("\n");
            return;
        }
        if (status == LineEditor::Status::Interrupted) {
            interrupts.clear();
            if (input.in_block()) {
                input.reset();
                std::printf("\n");
            } else {
                std::printf("\nUse Ctrl + d or /bye to exit.\n");
            }
            continue;
        }
        std::optional<std::string> message = input.feed(line);
        if (!message) continue;
        editor.remember(input.in_block() ? line : *message);
        const ChatCommand cmd = parse_chat_command(*message);
        if (cmd.kind == ChatCommand::Kind::Bye) return;
        if (cmd.kind != ChatCommand::Kind::Message) {
            try {
                apply_command(cmd, chat, api);
            } catch (const Error& e) {
                std::printf("error: %s\n", e.what());
            }
            continue;
        }
        if (message->find_first_not_of(" \t\n") == std::string::npos) continue;
        try {
            ask_on_terminal(chat, *message, interrupts);
        } catch (const Error& e) {
            std::printf("error: %s\n\n", e.what());
        }
    }
}

// The prompt of a run without a conversation: -p / the words after NAME, then piped stdin.
std::string one_shot_prompt(const RunOptions& o) {
    std::string prompt = o.prompt;
    for (const std::string& w : o.words) prompt += (prompt.empty() ? "" : " ") + w;
    if (!stdin_is_terminal()) {
        std::ostringstream in;
        in << std::cin.rdbuf();
        std::string piped = in.str();
        while (!piped.empty() && (piped.back() == '\n' || piped.back() == '\r')) piped.pop_back();
        if (!piped.empty()) prompt = piped + (prompt.empty() ? "" : "\n\n" + prompt);
    }
    return prompt;
}

ChatSettings chat_settings(const RunOptions& o, const std::string& model) {
    ChatSettings s;
    s.model = model;
    s.system = o.system;
    if (o.given_sampling.contains("temperature"))
        s.temperature = o.given_sampling["temperature"].get<double>();
    if (o.seed >= 0) s.seed = o.seed;
    s.max_tokens = o.n_predict;
    s.ignore_eos = o.ignore_eos;
    s.extra = o.given_sampling;
    s.extra.erase("temperature");
    if (!o.grammar_file.empty()) s.extra["grammar"] = read_text_file(o.grammar_file);
    if (!o.json_schema_file.empty()) {
        const auto schema = nlohmann::json::parse(read_text_file(o.json_schema_file), nullptr, false);
        if (schema.is_discarded()) throw Error("'" + o.json_schema_file + "' is not valid JSON");
        s.extra["response_format"] = {{"type", "json_schema"},
                                      {"json_schema", {{"name", "schema"}, {"schema", schema}}}};
    }
    return s;
}

// The model, served by this process: the server's code without its socket.
std::unique_ptr<InProcessApi> serve_here(const RunOptions& o) {
    server::ServerOptions options;
    options.pool.ctx_size = o.ctx_size;
    options.pool.threads = o.threads;
    options.pool.parallel = 1;
    options.pool.max_queue = 4;
    options.http_threads = 1;  // its HTTP front never listens: requests come through handle()
    options.pool.kv_type = o.kv_type;
    options.pool.context_shift = o.context_shift;
    options.models_dir = models_dir_path(o).string();
    // Nothing is stored: no responses database, keys or audit log on disk.
    options.state_dir.clear();
    options.responses_db.clear();
    return std::make_unique<InProcessApi>(options, local_entries(o));
}

void run(const RunOptions& o) {
    if (o.raw) {
        if (is_model_file(o.model)) return run_raw(o, o.model);
        server::ModelPool pool(local_entries(o), {});
        const server::ModelEntry* entry = pool.find(o.model);
        if (!entry) {
            throw Error("no model '" + o.model + "' in " + models_dir_path(o).string() +
                        " (`hearth models list`; --raw does not pull)");
        }
        run_raw(o, entry->path);
        return;
    }
    const bool one_shot = !o.prompt.empty() || !o.words.empty() || !stdin_is_terminal();
    // The server's log lines would run through the conversation; HEARTH_LOG still decides.
    if (!std::getenv("HEARTH_LOG")) spdlog::set_level(spdlog::level::warn);

    std::unique_ptr<ApiClient> remote;
    if (!o.local && !is_model_file(o.model)) remote = connect_to_server(o.server);
    std::unique_ptr<InProcessApi> here;
    if (!remote) here = serve_here(o);
    ApiClient& api = remote ? *remote : static_cast<ApiClient&>(*here);

    std::string name = o.model;
    if (here && here->pool().find(name)) name = here->pool().find(name)->name;
    if (!load_model(api, name)) {
        if (here) {
            name = pull_locally(*here, o);
        } else {
            pull_on_server(api, o);
        }
        if (!load_model(api, name)) throw Error("'" + name + "' was pulled but cannot be found");
    }
    ChatSession chat(api, chat_settings(o, name));
    if (one_shot) {
        const std::string prompt = one_shot_prompt(o);
        if (prompt.empty()) throw Error("the prompt is empty (give it with -p TEXT or on stdin)");
        InterruptWatch interrupts;
        chat.ask(
            prompt, [](const std::string&) {},
            [](const std::string& piece) {
                std::fputs(piece.c_str(), stdout);
                std::fflush(stdout);
            },
            [&] { return interrupts.raised(); });
        std::fputc('\n', stdout);
        return;
    }
    chat_interactively(api, chat);
}

}  // namespace

void add_run_command(CLI::App& app) {
    auto opts = std::make_shared<RunOptions>();
    CLI::App* cmd = app.add_subcommand(
        "run", "Chat with a model in the terminal (pulled first if needed), or answer one prompt.");
    cmd->add_option("model", opts->model,
                    "An installed model or alias, a catalog name, a Hugging Face reference "
                    "(owner/repo[:QUANT]) or a .gguf file")
        ->required();
    cmd->add_option("prompt", opts->words,
                    "A prompt to answer once, instead of a conversation (as -p)");
    cmd->add_option("-p,--prompt", opts->prompt,
                    "Answer this prompt once and exit: only the answer, on stdout (also when stdin "
                    "is not a terminal: its text is the prompt)");
    cmd->add_option("-n,--n-predict", opts->n_predict,
                    "Most tokens an answer may have (-1: until the model ends it; --raw: 128)")
        ->capture_default_str()
        ->check(CLI::Range(-1, 1 << 20));
    CLI::Option* temperature =
        cmd->add_option("--temp,--temperature", opts->sampling.temperature,
                        "Sampling temperature; 0 = greedy (always the most likely token). "
                        "Unset: the model's default")
            ->check(CLI::Range(0.0, 100.0));
    CLI::Option* top_k =
        cmd->add_option("--top-k", opts->sampling.top_k, "Keep the K most likely tokens (0 = off)");
    CLI::Option* top_p =
        cmd->add_option("--top-p", opts->sampling.top_p,
                        "Keep the smallest set of tokens whose probability reaches P (1 = off)")
            ->check(CLI::Range(0.0, 1.0));
    CLI::Option* min_p =
        cmd->add_option("--min-p", opts->sampling.min_p,
                        "Drop tokens less likely than MIN_P times the best one (0 = off)")
            ->check(CLI::Range(0.0, 1.0));
    CLI::Option* repeat_penalty = cmd->add_option("--repeat-penalty", opts->sampling.repeat_penalty,
                                                  "Penalise recently seen tokens (1 = off)");
    cmd->add_option("-s,--seed", opts->seed,
                    "Random seed; the same seed gives the same text (-1 = random)")
        ->capture_default_str();
    cmd->add_option("--system", opts->system, "A system prompt for the conversation");
    cmd->add_flag("-y,--yes", opts->yes, "Pull a model that is not installed without asking");
    cmd->add_flag("--local", opts->local,
                  "Load the model in this process even when a server runs");
    cmd->add_flag("--raw", opts->raw,
                  "Continue the -p text as it is (no chat template, no conversation), with the "
                  "speed on stderr");
    add_server_options(cmd, opts->server);
    cmd->add_option("--models-dir", opts->models_dir,
                    "Models directory (default ~/.local/share/hearth/models)")
        ->envname("HEARTH_MODELS_DIR");
    cmd->add_option("-t,--threads", opts->threads, "Threads to compute with (0 = what the CPU affinity mask and cgroup CPU quota allow)")
        ->capture_default_str()
        ->envname("HEARTH_THREADS");
    cmd->add_option("-c,--ctx-size", opts->ctx_size,
                    "Context size in tokens (capped at the model's training context)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{16}, int64_t{1} << 24));
    add_kv_type_option(cmd, opts->kv_type);
    cmd->add_flag("--context-shift", opts->context_shift,
                  "When the conversation fills the context, drop its oldest tokens (after the "
                  "system prompt) and go on");
    cmd->add_flag("--ignore-eos", opts->ignore_eos, "Keep generating past the end-of-text token");
    cmd->add_flag("--no-stats", opts->quiet_stats, "Do not print the speed summary on stderr (--raw)");
    cmd->add_option("--grammar", opts->grammar_file,
                    "Only generate text this GBNF grammar accepts (docs/GRAMMARS.md)")
        ->check(CLI::ExistingFile);
    cmd->add_option("--json-schema", opts->json_schema_file,
                    "Only generate JSON that validates against this JSON Schema file")
        ->check(CLI::ExistingFile);
    cmd->footer(R"(Examples:
  hearth run llama-3.2-1b                       chat (pulled first, after asking, if missing)
  hearth run qwen3-4b "Why is the sky blue?"    one answer on stdout, then exit
  git diff | hearth run qwen3-4b -p "Review this change:"
  hearth run tests/data/models/stories260K.gguf --raw -p "Once upon a time" -n 64 --temp 0
  hearth run MODEL -p "A person as JSON:" --json-schema person.schema.json

In the chat: /set temperature X, /set system TEXT, /show, /clear, /bye (or Ctrl-D), /? for
help; """ begins and ends a message of several lines; Ctrl-C stops an answer; Up and Down
recall earlier lines. Reasoning (<think>) is shown dimmed.
When a server runs at --host/--port (HEARTH_HOST, HEARTH_PORT: `hearth serve`'s defaults),
run talks to it (its API, with --api-key / HEARTH_API_KEY) instead of loading the model a
second time; otherwise the model is loaded in this process.)");
    cmd->callback([opts, temperature, top_k, top_p, min_p, repeat_penalty] {
        const runtime::SamplingParams& s = opts->sampling;
        if (temperature->count()) opts->given_sampling["temperature"] = s.temperature;
        if (top_k->count()) opts->given_sampling["top_k"] = s.top_k;
        if (top_p->count()) opts->given_sampling["top_p"] = s.top_p;
        if (min_p->count()) opts->given_sampling["min_p"] = s.min_p;
        if (repeat_penalty->count()) opts->given_sampling["repeat_penalty"] = s.repeat_penalty;
        run(*opts);
    });
}

}  // namespace hearth::cli
