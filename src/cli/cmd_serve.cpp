// `hearth serve`: options, keys and models from flags, environment and files, then the server.
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "cli/serve_workers.h"
#include "core/error.h"
#include "core/format.h"
#include "core/log.h"
#include "hub/catalog.h"
#include "registry/models_dir.h"
#include "server/auth.h"
#include "server/cors.h"
#include "server/installed_models.h"
#include "server/server.h"

namespace hearth::cli {

namespace {

struct ServeOptions {
    std::vector<std::string> models;
    std::string models_dir;
    std::string host = "127.0.0.1";
    int port = 8080;
    std::string api_key_file;
    std::string env_file = ".env";
    std::string max_memory;
    double idle_unload = 0;
    int64_t parallel = 4;
    int32_t lookup_draft = 0;
    int64_t ctx_size = 2048;
    int threads = 0;
    gguf::TensorType kv_type = server::PoolOptions{}.kv_type;
    size_t max_queue = 64;
    size_t max_body = 8u << 20;
    int http_threads = 128;
    size_t max_connections = 4096;
    size_t max_connections_per_client = 512;
    double header_timeout = 10;
    double idle_timeout = 60;
    std::vector<std::string> cors_origins;
    std::vector<std::string> allowed_hosts;
    bool public_metrics = false;
    std::string responses_db;
    double responses_max_age_days = 30;
    int64_t responses_max_count = 100000;
    bool context_shift = false;
    std::string prompt_cache_dir;
    std::string prompt_cache_max = "2G";
    int64_t prompt_cache_min = server::PoolOptions{}.prompt_cache.min_tokens;
    std::string repack_cache;
    std::string kv_budget;
    std::string state_dir;
    std::string oidc_issuer, oidc_audience, oidc_scope_claim;
    std::string oidc_client_id, oidc_client_scope;
    server::KeyLimits oidc_limits;
    std::string draft_model;
    int32_t draft_tokens = server::PoolOptions{}.draft_tokens;
    bool draft_tokens_given = false;
    std::string tls_cert, tls_key;
    std::string workers;  // --workers N|auto (cli/serve_workers.h); empty: this process serves
    std::vector<std::string> peers;
    std::string peers_file, peer_key;
};

// Stored responses live in hearth's data folder, in the user's home whatever the models folder
// is (a models folder may be read-only, or sit at / as /models does in the container image).
std::string default_responses_db() {
    return (registry::ModelsDir::data_home() / "responses.db").string();
}

// How long a drain (SIGQUIT; a worker replaced on reload) lets requests begun run on.
constexpr std::chrono::minutes kDrainGrace{10};

std::chrono::milliseconds millis(double seconds) {
    return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// --kv-budget: a size above zero; unset, the pool sizes itself (server::kv_pool_tokens).
uint64_t parse_kv_budget(const std::string& text) {
    if (text.empty()) return 0;
    uint64_t bytes = 0;
    try {
        bytes = parse_bytes(text);
    } catch (const Error& e) {
        throw Error(std::string("--kv-budget: ") + e.what());
    }
    if (bytes == 0) throw Error("--kv-budget must be more than 0 bytes (leave it unset for the default)");
    return bytes;
}

server::ModelEntry entry_for_file(const std::string& path) {
    server::ModelEntry e;
    e.name = std::filesystem::path(path).stem().string();
    e.path = path;
    return e;
}

std::vector<server::ModelEntry> collect_models(const ServeOptions& o) {
    std::vector<server::ModelEntry> entries;
    for (const std::string& file : o.models) entries.push_back(entry_for_file(file));
    std::string models_dir = o.models_dir;
    // Like `ollama serve`: with nothing named, serve what `hearth pull` put in the default place.
    if (models_dir.empty() && o.models.empty()) models_dir = registry::ModelsDir::default_path().string();
    // A directory named but not made yet is where pulls will go: make it, as `hearth pull` would.
    if (!models_dir.empty() && !std::filesystem::exists(models_dir)) {
        std::filesystem::create_directories(models_dir);
        log::info("created the models directory {}", models_dir);
    }
    if (!models_dir.empty()) {
        registry::ModelsDir dir(models_dir);
        for (const registry::ModelConfig& config : dir.list()) {
            entries.push_back(server::entry_for_config(dir, config));
        }
    }
    for (size_t i = 0; i < entries.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
            if (entries[i].name == entries[j].name) {
                throw Error("two models are named '" + entries[i].name + "' (" + entries[j].path +
                            " and " + entries[i].path + "); rename one file");
            }
        }
    }
    if (entries.empty()) {
        // Serve anyway (clients may pull through /api/pull), and say how to get a first model.
        const hub::Catalog catalog = hub::Catalog::builtin();
        const std::string example = catalog.entries().empty() ? "NAME" : catalog.entries().front().name;
        log::warn("no models yet in {}: pull one with `hearth pull {}` (`hearth discover` lists "
                  "what fits this machine), or start with --model FILE.gguf",
                  models_dir, example);
    }
    return entries;
}

// --peer URLs and those of --peers-file, with the key every peer shares.
server::FederationOptions federation_options(const ServeOptions& o) {
    server::FederationOptions f;
    f.peers = o.peers;
    if (!o.peers_file.empty()) {
        for (std::string& url : server::read_list_file(o.peers_file, "peers file"))
            f.peers.push_back(std::move(url));
    }
    f.peer_key = o.peer_key;
    return f;
}

// Keys from --api-key-file, plus HEARTH_API_KEYS from the environment or else the .env file.
std::vector<std::string> collect_keys(const ServeOptions& o) {
    std::vector<std::string> keys;
    if (!o.api_key_file.empty()) keys = server::read_key_file(o.api_key_file);
    std::optional<std::string> list;
    if (const char* env = std::getenv("HEARTH_API_KEYS"))
        list = env;
    else
        list = server::read_env_file_value(o.env_file, "HEARTH_API_KEYS");
    if (list) {
        for (std::string& k : server::parse_key_list(*list)) keys.push_back(std::move(k));
    }
    return keys;
}

void serve(const ServeOptions& o) {
    std::optional<process::WorkerSlot> worker = start_worker();
    server::ServerOptions options;
    options.host = o.host;
    options.port = o.port;
    options.api_keys = collect_keys(o);
    options.max_body_bytes = o.max_body;
    options.http_threads = o.http_threads;
    options.max_connections = o.max_connections;
    options.max_connections_per_client = o.max_connections_per_client;
    options.header_timeout = millis(o.header_timeout);
    options.idle_timeout = millis(o.idle_timeout);
    options.cors_origins = server::CorsPolicy::parse_flags(o.cors_origins);
    options.allowed_hosts = server::CorsPolicy::parse_flags(o.allowed_hosts);
    options.public_metrics = o.public_metrics;
    options.pool.max_memory = o.max_memory.empty() ? 0 : parse_bytes(o.max_memory);
    options.pool.idle_unload_seconds = o.idle_unload;
    options.pool.parallel = o.parallel;
    options.pool.ctx_size = o.ctx_size;
    options.pool.threads = o.threads;
    options.pool.max_queue = o.max_queue;
    options.pool.lookup_draft = o.lookup_draft;
    options.models_dir =
        o.models_dir.empty() ? registry::ModelsDir::default_path().string() : o.models_dir;
    options.responses_db = o.responses_db.empty() ? default_responses_db() : o.responses_db;
    if (options.responses_db == ":memory:") options.responses_db.clear();
    options.responses.max_age_seconds = static_cast<int64_t>(o.responses_max_age_days * 86400);
    options.responses.max_count = o.responses_max_count;
    options.pool.kv_type = o.kv_type;
    options.pool.context_shift = o.context_shift;
    options.pool.prompt_cache.dir = o.prompt_cache_dir;
    options.pool.prompt_cache.max_bytes = parse_bytes(o.prompt_cache_max);
    options.pool.prompt_cache.min_tokens = o.prompt_cache_min;
    options.pool.repack_cache = o.repack_cache;
    options.pool.kv_budget = parse_kv_budget(o.kv_budget);
    options.oidc.issuer = o.oidc_issuer;
    options.oidc.audience = o.oidc_audience;
    options.oidc.scope_claim = o.oidc_scope_claim;
    options.oidc_limits = o.oidc_limits;
    options.oidc_client_id = o.oidc_client_id;
    options.oidc_client_scope = o.oidc_client_scope;
    options.state_dir = state_dir_or_default(o.state_dir);
    if (options.state_dir == ":memory:") options.state_dir.clear();
    if (o.lookup_draft > 0 && o.draft_tokens_given && o.draft_tokens != o.lookup_draft) {
        throw Error("--lookup-draft " + std::to_string(o.lookup_draft) + " and --draft-tokens " +
                    std::to_string(o.draft_tokens) +
                    " disagree: one count serves prompt lookup and the draft model");
    }
    options.pool.draft_model = o.draft_model;
    options.pool.draft_tokens = o.draft_tokens;
    if (o.tls_cert.empty() != o.tls_key.empty())
        throw Error("--tls-cert and --tls-key go together: give the certificate and its key");
    options.tls = {o.tls_cert, o.tls_key};
    options.federation = federation_options(o);
    if (!worker && !o.workers.empty()) return serve_workers(o.workers, options, o.threads);
    if (worker) options.listen_fd = worker->listen_fd;

    // Signals go to one watcher thread (blocked everywhere else, inherited by every thread the
    // server starts), which stops the server so in-flight work ends cleanly. With TLS, SIGHUP
    // reloads the certificate (as nginx does); without, it keeps its default (the end), except
    // in a worker (its supervisor handles reloads). SIGQUIT drains: no new connections, requests begun finish (as nginx's).
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGQUIT);
    if (!o.tls_cert.empty() || worker) sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    server::Server srv(options, collect_models(o));
    srv.bind();
    std::atomic<bool> ended{false};
    std::thread watcher([&] {
        int sig = 0;
        while (sigwait(&signals, &sig) == 0 && (sig == SIGHUP || sig == SIGQUIT)) {
            if (sig == SIGHUP) {
                srv.reload_tls();
            } else {
                log::info("received SIGQUIT, draining: finishing the requests begun");
                srv.drain(kDrainGrace);
            }
        }
        if (sig != 0 && !ended) log::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
        srv.stop();
    });
    if (worker) process::report_ready(*worker);
    srv.run();
    ended = true;
    // run() also returns if listening fails; wake the watcher so it can be joined.
    pthread_kill(watcher.native_handle(), SIGTERM);
    watcher.join();
    log::info("server stopped");
}

}  // namespace

void add_serve_command(CLI::App& app) {
    auto o = std::make_shared<ServeOptions>();
    CLI::App* cmd = app.add_subcommand("serve", "Serve models over HTTP: the OpenAI API (/v1), Anthropic's Messages API and Ollama's (/api).");
    cmd->add_option("-m,--model", o->models,
                    "A .gguf model to serve, named by its file stem (repeatable)")
        ->check(CLI::ExistingFile);
    cmd->add_option("--models-dir", o->models_dir,
                    "Serve every model in this directory (made when missing; `hearth pull` fills it)")
        ->envname("HEARTH_MODELS_DIR")
        ->check(CLI::NonexistentPath | CLI::ExistingDirectory);
    cmd->add_option("--host", o->host, "Address to listen on (without API keys: always 127.0.0.1)")
        ->capture_default_str()
        ->envname("HEARTH_HOST");
    cmd->add_option("--port", o->port, "Port to listen on (0: any free port)")
        ->capture_default_str()
        ->envname("HEARTH_PORT")
        ->check(CLI::Range(0, 65535));
    cmd->add_option("--api-key-file", o->api_key_file, "File with one API key per line")
        ->envname("HEARTH_API_KEY_FILE")
        ->check(CLI::ExistingFile);
    cmd->add_option("--env-file", o->env_file,
                    "Read HEARTH_API_KEYS from this .env file when the variable is unset")
        ->capture_default_str();
    cmd->add_option("--max-memory", o->max_memory,
                    "Memory budget for loaded models, e.g. 8G (unset: no limit)")
        ->envname("HEARTH_MAX_MEMORY");
    cmd->add_option("--idle-unload", o->idle_unload,
                    "Unload a model unused for this many seconds (0: never)")
        ->capture_default_str()
        ->envname("HEARTH_IDLE_UNLOAD")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--parallel", o->parallel,
                    "Sequences decoded together per model (slots); memory is --kv-budget's")
        ->capture_default_str()
        ->envname("HEARTH_PARALLEL")
        ->check(CLI::Range(int64_t{1}, int64_t{256}));
    cmd->add_option("-c,--ctx-size", o->ctx_size,
                    "Context per sequence in tokens (capped at the model's)")
        ->capture_default_str()
        ->envname("HEARTH_CTX_SIZE")
        ->check(CLI::Range(int64_t{16}, int64_t{1} << 24));
    cmd->add_option("-t,--threads", o->threads, "Compute threads per model (0: what the CPU affinity mask and the cgroup CPU quota allow)")
        ->capture_default_str()
        ->envname("HEARTH_THREADS");
    cmd->add_option("--lookup-draft", o->lookup_draft,
                    "Speculative decoding by prompt lookup: each step also evaluates up to N "
                    "tokens guessed from earlier text of the sequence and keeps those the sampler "
                    "agrees with. Output is unchanged; text that repeats its input (code edits, "
                    "quoting summaries) comes faster. 0: off")
        ->capture_default_str()
        ->envname("HEARTH_LOOKUP_DRAFT")
        ->check(CLI::Range(0, 32));
    cmd->add_option("--draft-model", o->draft_model,
                    "Speculative decoding with a draft model: a small model of the same "
                    "vocabulary (a .gguf file, or the name of a model this server offers) guesses "
                    "--draft-tokens tokens a step for every model (a model's YAML draft_model "
                    "overrides it); the model keeps those its sampler agrees with, so output is "
                    "unchanged. With --lookup-draft too, prompt lookup drafts where the text "
                    "repeats itself and the draft model elsewhere")
        ->type_name("FILE|NAME")
        ->envname("HEARTH_DRAFT_MODEL");
    cmd->add_option_function<int32_t>(
           "--draft-tokens",
           [o](const int32_t& n) {
               o->draft_tokens = n;
               o->draft_tokens_given = true;
           },
           "Tokens the draft model guesses per sequence and step (--lookup-draft N sets N for "
           "both)")
        ->default_str(std::to_string(o->draft_tokens))
        ->envname("HEARTH_DRAFT_TOKENS")
        ->check(CLI::Range(1, 32));
    add_kv_type_option(cmd, o->kv_type)->envname("HEARTH_KV_TYPE");
    cmd->add_flag("--context-shift", o->context_shift,
                  "When a generating sequence fills its context, keep its first tokens (chat: the "
                  "system messages; completions: n_keep), drop the older half of the rest and go "
                  "on, as llama-server's --context-shift (per model: YAML context_shift). Off: it "
                  "ends with finish_reason \"length\"")
        ->envname("HEARTH_CONTEXT_SHIFT");
    cmd->add_option("--kv-budget", o->kv_budget,
                    "Size of each model's KV pool, e.g. 2G: the keys and values of every sequence "
                    "share it in 32-token blocks, and RAM is used only as tokens fill it. A request "
                    "waits in the queue until the pool can hold its prompt and output. Sliding-"
                    "window layers (gemma2/3, gpt-oss) hold only their window, paid first. Default: "
                    "--parallel x --ctx-size tokens, capped by what --max-memory leaves after the "
                    "weights")
        ->type_name("BYTES")
        ->envname("HEARTH_KV_BUDGET");
    cmd->add_option("--max-queue", o->max_queue, "Requests that may wait per model before 429")
        ->capture_default_str()
        ->envname("HEARTH_MAX_QUEUE");
    cmd->add_option("--max-body", o->max_body, "Largest request body in bytes (larger: 413)")
        ->capture_default_str()
        ->envname("HEARTH_MAX_BODY");
    cmd->add_option("--http-threads", o->http_threads,
                    "Requests handled at once (idle and waiting connections need no thread)")
        ->capture_default_str()
        ->envname("HEARTH_HTTP_THREADS")
        ->check(CLI::Range(4, 4096));
    cmd->add_option("--max-connections", o->max_connections,
                    "Open connections at most; past it, idle and slow ones are closed first")
        ->capture_default_str()
        ->envname("HEARTH_MAX_CONNECTIONS")
        ->check(CLI::Range(size_t{16}, size_t{1} << 20));
    cmd->add_option("--max-connections-per-client", o->max_connections_per_client,
                    "Open connections at most from one client address")
        ->capture_default_str()
        ->envname("HEARTH_MAX_CONNECTIONS_PER_CLIENT")
        ->check(CLI::Range(size_t{1}, size_t{1} << 20));
    cmd->add_option("--header-timeout", o->header_timeout,
                    "Seconds a client has to send a request's line and headers")
        ->capture_default_str()
        ->envname("HEARTH_HEADER_TIMEOUT")
        ->check(CLI::Range(0.1, 3600.0));
    cmd->add_option("--idle-timeout", o->idle_timeout,
                    "Seconds an idle keep-alive connection stays open")
        ->capture_default_str()
        ->envname("HEARTH_IDLE_TIMEOUT")
        ->check(CLI::Range(0.1, 86400.0));
    cmd->add_option("--cors-origin", o->cors_origins,
                    "Web origin whose pages may call the API from a browser (repeatable or a "
                    "comma list; * any; none: CORS off). Default: any with API keys, else only "
                    "pages from this machine (localhost); without keys other origins get 403")
        ->type_name("ORIGIN")
        ->envname("HEARTH_CORS_ORIGIN");
    cmd->add_option("--allowed-host", o->allowed_hosts,
                    "Host name this server answers to without API keys, besides localhost and "
                    "--host (repeatable or a comma list; * any). Guards against DNS rebinding")
        ->type_name("NAME")
        ->envname("HEARTH_ALLOWED_HOST");
    cmd->add_flag("--public-metrics", o->public_metrics,
                  "Answer GET /metrics without an API key, for scrapers that cannot send one "
                  "(a Kubernetes inference gateway's endpoint picker); let only them reach the "
                  "port (NetworkPolicy, firewall)")
        ->envname("HEARTH_PUBLIC_METRICS");
    cmd->add_option("--responses-db", o->responses_db,
                    "SQLite file of stored /v1/responses (store, previous_response_id; :memory: "
                    "keeps them in memory only). Default: $XDG_DATA_HOME/hearth/responses.db, else "
                    "~/.local/share/hearth/responses.db")
        ->envname("HEARTH_RESPONSES_DB");
    cmd->add_option("--responses-max-age", o->responses_max_age_days,
                    "Days a stored response is kept (older ones are deleted)")
        ->capture_default_str()
        ->envname("HEARTH_RESPONSES_MAX_AGE")
        ->check(CLI::Range(0.0, 36500.0));
    cmd->add_option("--responses-max-count", o->responses_max_count,
                    "Stored responses kept at most (the oldest go first)")
        ->capture_default_str()
        ->envname("HEARTH_RESPONSES_MAX_COUNT")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
    cmd->add_option("--prompt-cache-dir", o->prompt_cache_dir,
                    "Keep the KV cache of long prompts (system prompts, tool lists) in this "
                    "directory, so a later prompt starting with the same tokens skips their "
                    "evaluation, also after a restart or a model unload (unset: off)")
        ->envname("HEARTH_PROMPT_CACHE_DIR");
    cmd->add_option("--prompt-cache-max", o->prompt_cache_max,
                    "Size bound of the prompt cache directory, e.g. 2G (least recently used "
                    "files are deleted beyond it)")
        ->capture_default_str()
        ->envname("HEARTH_PROMPT_CACHE_MAX");
    cmd->add_option("--prompt-cache-min", o->prompt_cache_min,
                    "Prompts shorter than this many tokens are not saved in the prompt cache")
        ->capture_default_str()
        ->envname("HEARTH_PROMPT_CACHE_MIN")
        ->check(CLI::Range(int64_t{32}, int64_t{1} << 24));
    cmd->add_option("--repack-cache", o->repack_cache,
                    "Folder of the repacked-weights cache files, which every hearth process "
                    "serving a model maps and shares (one copy of the repacked weights in RAM, "
                    "and restarts skip repacking); off: each process repacks into its own "
                    "memory. Default: beside the model when its folder is writable, else "
                    "$XDG_CACHE_HOME/hearth/repack (else ~/.cache/hearth/repack)")
        ->envname("HEARTH_REPACK_CACHE");
    cmd->add_option("--state-dir", o->state_dir,
                    "Folder of the key store (keys.db, managed with `hearth keys`) and the audit "
                    "log (audit.jsonl); :memory: keeps both in memory only (keys then come from "
                    "HEARTH_API_KEYS or POST /admin/keys). Default: $XDG_DATA_HOME/hearth/state, "
                    "else ~/.local/share/hearth/state")
        ->envname("HEARTH_STATE_DIR");
    cmd->add_option("--oidc-issuer", o->oidc_issuer,
                    "Also accept bearer JWTs from this OpenID Connect provider (https://..., or "
                    "http:// on loopback): keys are found through its discovery document and "
                    "cached. Tokens need the scope 'hearth:inference' or 'hearth:admin' "
                    "(optionally 'hearth:model:NAME' to limit them to models)")
        ->envname("HEARTH_OIDC_ISSUER");
    cmd->add_option("--oidc-audience", o->oidc_audience,
                    "The \"aud\" the provider puts in tokens meant for hearth (required with "
                    "--oidc-issuer)")
        ->envname("HEARTH_OIDC_AUDIENCE");
    cmd->add_option("--oidc-scope-claim", o->oidc_scope_claim,
                    "The claim holding the scopes or roles (default: scope, then scp, then roles)")
        ->envname("HEARTH_OIDC_SCOPE_CLAIM");
    cmd->add_option("--oidc-client-id", o->oidc_client_id,
                    "The web UI's client at the --oidc-issuer provider: a public client (no "
                    "secret) allowed the authorization code flow with PKCE and the redirect URI "
                    "https://THIS-SERVER/auth/callback. Set, the page offers a login there "
                    "instead of asking for an API key")
        ->envname("HEARTH_OIDC_CLIENT_ID");
    cmd->add_option("--oidc-client-scope", o->oidc_client_scope,
                    "The scopes the web UI asks the provider for (default: openid "
                    "hearth:inference)")
        ->envname("HEARTH_OIDC_CLIENT_SCOPE");
    // Limits of every OIDC subject (a key's come from `hearth keys create --rpm ...`).
    cmd->add_option("--oidc-rpm", o->oidc_limits.rpm,
                    "Requests per minute of each OIDC subject, across its tokens (0: no limit)")
        ->envname("HEARTH_OIDC_RPM");
    cmd->add_option("--oidc-tpm", o->oidc_limits.tpm,
                    "Tokens (prompt + completion) per minute of each OIDC subject (0: no limit)")
        ->envname("HEARTH_OIDC_TPM");
    cmd->add_option("--oidc-daily-tokens", o->oidc_limits.daily_tokens,
                    "Tokens per UTC day of each OIDC subject (0: no limit)")
        ->envname("HEARTH_OIDC_DAILY_TOKENS");
    cmd->add_option("--oidc-concurrency", o->oidc_limits.concurrency,
                    "Requests at once of each OIDC subject (0: no limit)")
        ->envname("HEARTH_OIDC_CONCURRENCY");
    cmd->add_option("--tls-cert", o->tls_cert,
                    "Serve HTTPS with this certificate (PEM: the server's certificate, then any "
                    "intermediates), for setups without a gateway; SIGHUP reloads it. TLS 1.2+")
        ->type_name("FILE")
        ->envname("HEARTH_TLS_CERT");
    cmd->add_option("--tls-key", o->tls_key,
                    "The private key of --tls-cert (PEM, without a passphrase)")
        ->type_name("FILE")
        ->envname("HEARTH_TLS_KEY");
    cmd->add_option("--workers", o->workers,
                    "Serve from N worker processes sharing the port, under a supervisor that "
                    "restarts a worker that dies and, on SIGHUP, replaces them one at a time "
                    "without dropping requests; auto: one worker per NUMA node, pinned to its "
                    "CPUs and memory (docs/OPERATIONS.md, \"Workers\")")
        ->type_name("N|auto")
        ->envname("HEARTH_WORKERS");
    cmd->add_option("--peer", o->peers,
                    "Federation: another hearth server (http://HOST:PORT; repeatable or a comma "
                    "list) whose models this one offers too: requests for a model served only "
                    "there, or while this server's queue for it is full, are relayed to the least "
                    "loaded peer serving it (docs/SERVER.md, Federation). Needs --peer-key")
        ->type_name("URL")
        ->delimiter(',')
        ->envname("HEARTH_PEERS");
    cmd->add_option("--peers-file", o->peers_file,
                    "Federation: a file of peer URLs, one a line (# comments); this server's own "
                    "URL may be in it (it is recognised and skipped)")
        ->type_name("FILE")
        ->envname("HEARTH_PEERS_FILE")
        ->check(CLI::ExistingFile);
    cmd->add_option("--peer-key", o->peer_key,
                    "Federation: the secret every peer shares (16 characters or more; prefer the "
                    "environment variable to the command line). Peers send it on polls and "
                    "relayed requests; requests with a wrong or missing key get 401")
        ->type_name("KEY")
        ->envname("HEARTH_PEER_KEY");
    cmd->footer(
        "Examples:\n"
        "  hearth serve --model tests/data/models/stories260K.gguf\n"
        "  HEARTH_API_KEYS=secret hearth serve --models-dir ~/models --host 0.0.0.0 --max-memory "
        "8G\n"
        "  HEARTH_API_KEYS=secret HEARTH_PEER_KEY=$(cat peer.key) hearth serve --host 0.0.0.0 "
        "--model a.gguf --peer http://10.0.0.2:8080");
    cmd->callback([o] { serve(*o); });
}

}  // namespace hearth::cli
