#include "server/server.h"

#include <sys/stat.h>

#include <atomic>
#include <csignal>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/log.h"
#include "core/utf8.h"
#include "kernels/cpu.h"
#include "server/admin_api.h"
#include "server/anthropic_api.h"
#include "server/api_error.h"
#include "server/auth.h"
#include "server/cors.h"
#include "server/embeddings.h"
#include "server/exchange.h"
#include "server/federation.h"
#include "server/generation.h"
#include "server/key_store.h"
#include "server/audit_log.h"
#include "server/metrics.h"
#include "server/ollama_api.h"
#include "server/openai_api.h"
#include "server/openai_response.h"
#include "server/rerank.h"
#include "server/responses_api.h"
#include "server/router.h"
#include "server/usage_store.h"
#include "server/utility_api.h"
#include "server/web_ui.h"

namespace hearth::server {

namespace {

using nlohmann::json;

double seconds_since(http::Clock::time_point t) {
    return std::chrono::duration<double>(http::Clock::now() - t).count();
}

bool is_loopback(const std::string& host) {
    return host == "127.0.0.1" || host == "localhost" || host == "::1";
}

// Collapses paths to a few labels so metrics cannot grow without bound.
std::string route_label(const std::string& path) {
    std::string p = path;
    if (p.rfind("/models/", 0) == 0) {
        size_t slash = p.find('/', 8);
        p = slash == std::string::npos ? "/models/{name}" : p.substr(slash);
    }
    static const char* known[] = {"/v1/models",      "/v1/chat/completions",
                                  "/v1/completions", "/v1/embeddings",
                                  "/v1/rerank",      "/rerank",
                                  "/v1/reranking",   "/reranking",
                                  "/health",         "/readyz",
                                  "/metrics",        "/tokenize",
                                  "/detokenize",     "/apply-template",
                                  "/v1/responses",   "/v1/messages",
                                  "/v1/messages/count_tokens", "/api/chat",
                                  "/api/generate",   "/api/tags",
                                  "/api/show",       "/api/ps",
                                  "/api/embed",      "/api/embeddings",
                                  "/api/version",    "/api/pull",
                                  "/admin/keys",     "/admin/audit",
                                  "/admin/usage",    "/admin/models",
                                  "/admin/models/pull", "/admin/models/catalog",
                                  kPeerStatePath};
    for (const char* k : known) {
        if (p == k) return p;
    }
    if (p.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
    if (p.rfind("/v1/responses/", 0) == 0) return "/v1/responses/{id}";
    if (p.rfind("/admin/keys/", 0) == 0) return "/admin/keys/{name}";
    if (p.rfind("/admin/models/", 0) == 0) return "/admin/models/{name}";
    if (p == "/" || p == "/dashboard" || p == "/models") return p;
    if (p.rfind("/assets/", 0) == 0) return "/assets/{file}";
    return "other";
}

// Errors answer in the shape of the API the path belongs to, from the gate on.
ErrorShape error_shape_for(const std::string& path) {
    std::string p = path;
    if (p.rfind("/models/", 0) == 0) {
        size_t slash = p.find('/', 8);
        p = slash == std::string::npos ? "" : p.substr(slash);
    }
    if (p == "/v1/messages" || p == "/v1/messages/count_tokens") return ErrorShape::Anthropic;
    if (p.rfind("/api/", 0) == 0) return ErrorShape::Ollama;
    return ErrorShape::OpenAI;
}

// An error the HTTP front answers itself, in OpenAI's shape.
http::Response front_error(int status, const std::string& message) {
    const char* type = status >= 500 ? "server_error" : "invalid_request_error";
    return http::Response(status, safe_dump(ApiError(status, message, type).to_json()),
                          "application/json");
}

http::ServerLimits front_limits(const ServerOptions& o) {
    http::ServerLimits l;
    l.read.max_body_bytes = o.max_body_bytes;
    l.header_timeout = o.header_timeout;
    l.body_stall_timeout = o.body_stall_timeout;
    l.idle_timeout = o.idle_timeout;
    l.max_connections = o.max_connections;
    l.max_connections_per_client = o.max_connections_per_client;
    l.handler_threads = o.http_threads;
    return l;
}

// Routes only admin keys reach: the admin API, the metrics (they name every model and key) and
// Ollama's pull (it downloads models onto the server's disk).
bool needs_admin(const std::string& path) {
    return path == "/admin" || path.rfind("/admin/", 0) == 0 || path == "/metrics" ||
           path == "/api/pull";
}

std::string state_file(const std::string& state_dir, const char* name) {
    return state_dir.empty() ? std::string() : state_dir + "/" + name;
}

ApiError unauthorized(const std::string& message) {
    return ApiError(401, message, "invalid_request_error", "", "invalid_api_key");
}

// The POST routes that name a model (in the path's /models/{name}/ or the body), which the
// federation may relay to a peer.
bool names_a_model(const std::string& path) {
    static const std::set<std::string> routes = {
        "/v1/chat/completions", "/v1/completions", "/v1/messages", "/v1/messages/count_tokens",
        "/v1/responses", "/v1/embeddings", "/v1/rerank", "/rerank", "/v1/reranking", "/reranking",
        "/tokenize", "/detokenize", "/apply-template", "/api/chat", "/api/generate", "/api/show",
        "/api/embed", "/api/embeddings"};
    return routes.count(path) > 0;
}

// The model a request names, if any: the path's /models/{name}/ wins over the body's "model"
// (Ollama's /api/show may say "name").
std::optional<std::string> requested_model(const http::Request& req) {
    std::string route = req.path;
    if (route.rfind("/models/", 0) == 0) {
        const size_t slash = route.find('/', 8);
        if (slash == std::string::npos || !names_a_model(route.substr(slash))) return std::nullopt;
        return route.substr(8, slash - 8);
    }
    if (!names_a_model(route)) return std::nullopt;
    const json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object()) return std::nullopt;
    for (const char* field : {"model", "name"}) {
        auto it = body.find(field);
        if (it != body.end() && it->is_string()) return it->get<std::string>();
    }
    return std::nullopt;
}

std::unique_ptr<Federation> make_federation(const FederationOptions& o) {
    if (o.peer_key.empty()) {
        if (!o.peers.empty())
            throw Error("--peer needs the peer key: set --peer-key or HEARTH_PEER_KEY, the same on "
                        "every peer");
        return nullptr;
    }
    return std::make_unique<Federation>(o);
}

}  // namespace

struct Server::Impl {
    ServerOptions options;
    ApiKeys keys;
    std::unique_ptr<KeyStore> key_store;
    std::unique_ptr<OidcVerifier> oidc;  // null without --oidc-issuer
    AuditLog audit;
    UsageStore usage;  // in the key store's file; before the APIs and the HTTP front that use it
    // Whether requests need a key. Set at start when there are keys; a server started open
    // turns it on for good when a key is created meanwhile, and never turns it off.
    std::atomic<bool> keys_required{false};
    CorsPolicy cors;
    HostCheck host_check;
    WebUi web_ui;
    ModelPool pool;
    Metrics metrics;
    std::atomic<bool> running{false};
    Generations generations;
    CompletionsApi completions;
    AnthropicApi anthropic;
    OllamaApi ollama;
    ResponseStore response_store;
    ResponsesApi responses;
    UtilityApi utilities;
    AdminApi admin;
    Router router;
    std::unique_ptr<Federation> federation;  // null without a peer key
    http::Server http;

    Impl(ServerOptions opts, std::vector<ModelEntry> models, std::unique_ptr<KeyStore> store,
         bool has_keys)
        : options(std::move(opts)),
          keys(options.api_keys),
          key_store(std::move(store)),
          oidc(options.oidc.issuer.empty() ? nullptr : std::make_unique<OidcVerifier>(options.oidc)),
          audit(state_file(options.state_dir, "audit.jsonl")),
          usage(*key_store),
          keys_required(has_keys),
          cors(options.cors_origins, has_keys,
               !options.tls.cert_file.empty() || !options.tls.key_file.empty()),
          host_check(options.allowed_hosts, options.host, has_keys),
          web_ui(WebUiSignIn{options.oidc.issuer, options.oidc_client_id,
                             options.oidc_client_scope}),
          pool(std::move(models), options.pool),
          generations(pool, metrics, running, options.limits),
          completions(generations),
          anthropic(generations),
          ollama(generations, options.models_dir),
          response_store(options.responses_db, options.responses),
          responses(generations, response_store),
          utilities(pool, options.limits),
          admin(*key_store, audit, usage, pool, options.models_dir),
          federation(make_federation(options.federation)),
          http(front_limits(options),
               [this](const http::Request& req, http::Responder& out) { handle(req, out); },
               http::Hooks{front_error, [this](const http::Request& req, int status,
                                               const std::string& why) {
                               refused(req, status, why);
                           }}) {
        add_routes();
        pool.on_load([this](const std::string& model, double seconds) {
            metrics.record_model_load(model, seconds);
        });
    }

    // ---- every request ----

    void handle(const http::Request& req, http::Responder& out) {
        Exchange ex(req, out);
        ex.error_shape = error_shape_for(req.path);
        ex.decorate = [this, &req](http::Response& res) { cors.mark(req, res); };
        try {
            if (pass_gate(ex) && !forward_to_peer(ex)) route(ex);
        } catch (const ApiError& e) {
            ex.send_error(e);
        } catch (const hearth::Error& e) {
            log::error("{} {}: {}", req.method, utf8::escape_for_log(req.path), e.what());
            ex.send_error(ApiError(500, e.what(), "server_error"));
        } catch (const std::exception& e) {
            // A bug, not the client's doing: say so without internals.
            log::error("{} {}: unexpected error: {}", req.method, utf8::escape_for_log(req.path),
                       e.what());
            ex.send_error(ApiError(500, "internal server error; see the server log",
                                   "server_error"));
        }
        if (!out.answered()) ex.send_error(ApiError(500, "no answer", "server_error"));
        log_request(ex);
        usage.record(ex);
    }

    // Host, origin and key checks, in that order; false when the request was answered here.
    bool pass_gate(Exchange& ex) {
        const http::Request& req = ex.request;
        if (!host_check.accepts(req)) {
            throw ApiError(403,
                           "this server does not answer to the host name '" +
                               host_name_of(req.header("host")) +
                               "' (set API keys, or start it with --allowed-host NAME)",
                           "invalid_request_error", "", "host_not_allowed");
        }
        if (cors.refuses(req)) {
            throw ApiError(403,
                           "cross-origin requests from '" + req.header("origin") +
                               "' are refused (set API keys, or start hearth with "
                               "--cors-origin ORIGIN)",
                           "invalid_request_error", "", "origin_not_allowed");
        }
        // A browser's preflight carries no key, so it is answered before auth.
        if (req.method == "OPTIONS" && cors.enabled() && req.has_header("origin")) {
            ex.send(cors.answer_preflight(req));
            return false;
        }
        // Peers of the federation prove themselves with the peer key, not an API key.
        if (req.path == kPeerStatePath || req.has_header(kPeerKeyHeader)) {
            ex.identity = authenticate_peer(req);
            ex.key_id = ex.identity.key_id;
            if (needs_admin(req.path))
                refuse_scope(req, "peer", "peer key refused", "the peer key does not reach /admin, "
                             "/metrics or /api/pull: they need an admin key");
            return true;
        }
        if (req.path == "/health" || req.path == "/readyz") return true;
        if (req.path == "/metrics" && options.public_metrics) return true;
        // The web UI's page and assets load without a key; the page asks for one for its API calls.
        if (is_web_ui_path(req.path) && (req.method == "GET" || req.method == "HEAD")) return true;
        if (!keys_required_now()) return true;  // open (loopback only): anonymous, admin
        ex.identity = authenticate(req);
        ex.key_id = ex.identity.key_id;
        if (needs_admin(req.path) && !ex.identity.is_admin()) {
            refuse_scope(req, ex.identity.name, "inference key refused",
                         "this key's scope is 'inference': /admin, /metrics and /api/pull need "
                         "an admin key");
        }
        return true;
    }

    bool keys_required_now() {
        if (keys_required.load()) return true;
        if (!key_store->has_active_keys()) return false;
        log::info("a key was added to the key store: API keys are now required");
        keys_required = true;
        return true;
    }

    // Who the request's key belongs to; a 401 (and an audit line) when no key passes. The key
    // store is asked on every request, so a revoked or expired key fails on its next use.
    Identity authenticate(const http::Request& req) {
        std::string who = "unknown";
        std::string result = "no key";
        std::string message =
            "No API key provided. Send it as 'Authorization: Bearer KEY' (or 'x-api-key: KEY').";
        const std::string incorrect =
            "Incorrect API key provided. Send it as 'Authorization: Bearer KEY' (or "
            "'x-api-key: KEY').";
        for (const std::string& key : offered_keys(req.header("authorization"),
                                                   req.header("x-api-key"))) {
            // An environment key may have the shape of a JWT too: it is checked as a key first.
            if (oidc && looks_like_jwt(key) && !keys.accepts_key(key)) return authenticate_token(req, key);
            const KeyVerdict v = key_store->verify(key);
            if (v.record) who = v.record->name;
            switch (v.check) {
                case KeyCheck::Ok:
                    return v.record->identity();
                case KeyCheck::NotStoreKey:
                    if (keys.accepts_key(key)) {
                        Identity env;
                        env.key_id = ApiKeys::key_id(key);
                        env.name = "env-key";
                        env.scope = Scope::Admin;
                        return env;
                    }
                    result = "unknown key";
                    message = incorrect;
                    break;
                case KeyCheck::Malformed:
                    result = "malformed hk_ key";
                    message = "Malformed API key: hearth keys look like hk_<12 hex digits>_<64 hex "
                              "digits>, as `hearth keys create` printed it.";
                    break;
                case KeyCheck::Unknown:
                    result = "unknown key id";
                    message = incorrect;
                    break;
                case KeyCheck::WrongSecret:
                    result = "wrong secret";
                    message = incorrect;
                    break;
                case KeyCheck::Revoked:
                    result = "revoked key";
                    message = "This API key was revoked; ask the server's admin for a new one.";
                    break;
                case KeyCheck::Expired:
                    result = "expired key";
                    message = "This API key has expired; ask the server's admin for a new one.";
                    break;
            }
        }
        audit.record_failure(
            {who, "authenticate", utf8::escape_for_log(req.path), req.remote_addr, result});
        throw unauthorized(message);
    }

    // A bearer JWT from the OIDC provider: its subject is the caller, its scope claim the
    // scope and allowed models. A 401 saying why it was refused, a 403 when it grants nothing.
    Identity authenticate_token(const http::Request& req, const std::string& token) {
        OidcPrincipal p;
        try {
            p = oidc->verify(token);
        } catch (const TokenError& e) {
            audit.record_failure({"unknown", "authenticate", utf8::escape_for_log(req.path),
                                  req.remote_addr, std::string("token refused: ") + e.what()});
            throw unauthorized(std::string("Invalid bearer token: ") + e.what() + ".");
        }
        Identity id;
        id.name = "oidc:" + p.subject;
        id.key_id = ApiKeys::key_id(id.name);  // per subject, stable across its tokens
        id.scope = p.admin ? Scope::Admin : Scope::Inference;
        id.models = p.models;
        id.limits = options.oidc_limits;
        if (!p.inference) {
            refuse_scope(req, id.name, "token grants no hearth scope",
                         "this token grants no hearth scope: the provider must put "
                         "'hearth:inference' or 'hearth:admin' in its scope claim");
        }
        return id;
    }

    // A request from another hearth server: its peer key must be ours (401 otherwise, with an
    // audit line). It may use every model (the caller's key was checked where it called). So a
    // request that reaches the routes with X-Hearth-Peer-Key comes from a peer.
    Identity authenticate_peer(const http::Request& req) {
        const std::string offered = req.header(kPeerKeyHeader);
        if (!federation || !federation->accepts_key(offered)) {
            audit.record_failure({"peer", "authenticate", utf8::escape_for_log(req.path),
                                  req.remote_addr,
                                  !federation          ? "peer request, no peer key set here"
                                  : offered.empty()    ? "no peer key"
                                                       : "wrong peer key"});
            throw unauthorized(!federation ? "This server takes no requests from peers (it has no "
                                             "--peer-key)."
                               : offered.empty()
                                   ? "No peer key: this path answers only hearth peers, which "
                                     "send X-Hearth-Peer-Key."
                                   : "Incorrect peer key.");
        }
        Identity id;
        id.name = "peer";
        id.key_id = ApiKeys::key_id("hearth-peer");
        id.scope = Scope::Inference;
        return id;
    }

    // Federation: a request for a model this server does not offer, or whose queue here is
    // full, goes whole to a peer serving it. False: answer it here (a saturated model's 429,
    // an unknown model's 404, ...). Requests from peers are never relayed again.
    bool forward_to_peer(Exchange& ex) {
        const http::Request& req = ex.request;
        if (!federation || req.method != "POST" || req.has_header(kPeerKeyHeader) ||
            req.has_header(kHopHeader))
            return false;
        std::optional<std::string> name = requested_model(req);
        if (!name) return false;
        const bool ollama = req.path.rfind("/api/", 0) == 0;
        if (const ModelEntry* e = pool.find(ollama ? ollama_model_name(pool, *name) : *name)) {
            if (!visible_to(ex.identity, *e) || !queue_full(e->name)) return false;
            ex.model = e->name;
            return federation->forward(ex, e->name);
        }
        static const std::string kLatest = ":latest";  // Ollama's default tag
        if (ollama && !federation->known(*name) && name->size() > kLatest.size() &&
            name->compare(name->size() - kLatest.size(), kLatest.size(), kLatest) == 0)
            name->resize(name->size() - kLatest.size());
        if (!ex.identity.allows_model_name(*name)) return false;
        ex.model = *name;
        if (federation->forward(ex, *name)) return true;
        if (!federation->known(*name)) return false;
        throw ApiError(503,
                       "the model '" + *name + "' is served by peers of this server, and none of "
                       "them can take the request now; retry shortly",
                       "server_error", "", "peers_unavailable");
    }

    // Whether a request for the model now would find its queue full (and get 429).
    bool queue_full(const std::string& model) const {
        for (const LoadedModelInfo& info : pool.loaded()) {
            if (info.name == model) return info.stats.queued >= options.pool.max_queue;
        }
        return false;
    }

    // What GET /federation/state tells the peers: the models offered and their load.
    json peer_state() const {
        std::vector<PeerModel> models;
        for (const ModelEntry& e : pool.entries()) models.push_back({e.name, e.aliases});
        for (const LoadedModelInfo& info : pool.loaded()) {
            for (PeerModel& m : models) {
                if (m.name != info.name) continue;
                m.waiting = static_cast<int64_t>(info.stats.queued);
                m.running = static_cast<int64_t>(info.stats.active);
                m.saturated = info.stats.queued >= options.pool.max_queue;
            }
        }
        return peer_state_json(federation ? federation->instance() : "", models);
    }

    // A caller whose scope does not reach what it asked for: an audit line, then 403.
    [[noreturn]] void refuse_scope(const http::Request& req, const std::string& who,
                                   const std::string& audit_result, const std::string& message) {
        audit.record_failure({who, "authorize", utf8::escape_for_log(req.path), req.remote_addr,
                              audit_result});
        throw ApiError(403, message, "invalid_request_error", "", "insufficient_scope");
    }

    void route(Exchange& ex) {
        const http::Request& req = ex.request;
        Router::Match m = router.find(req.method, req.path);
        if (m.handler) {
            ex.params = std::move(m.params);
            (*m.handler)(ex);
            return;
        }
        if (!m.allow.empty()) {
            if (req.method == "OPTIONS") {  // no CORS: just say what the path takes
                http::Response res(204, "", "text/plain");
                res.set_header("Allow", m.allow);
                ex.send(std::move(res));
                return;
            }
            throw ApiError(405, req.method + " is not allowed on " + req.path + " (use " + m.allow + ")")
                .with_header("Allow", m.allow);
        }
        throw ApiError(404, "no route for " + req.method + " " + req.path, "invalid_request_error",
                       "", "unknown_url");
    }

    // One line a request, client-sent text escaped, duration from its own first byte.
    void log_request(const Exchange& ex) {
        const http::Request& req = ex.request;
        const double seconds = seconds_since(req.started);
        metrics.record_request(route_label(req.path), ex.responder.status(), seconds);
        const std::string path = utf8::escape_for_log(req.path);
        const std::string method = utf8::escape_for_log(req.method);
        if (ex.prompt_tokens >= 0) {
            log::info("{} {} {} {:.0f} ms tokens {}+{}", method, path, ex.responder.status(),
                      seconds * 1000, ex.prompt_tokens, ex.completion_tokens);
        } else {
            log::info("{} {} {} {:.0f} ms", method, path, ex.responder.status(), seconds * 1000);
        }
    }

    // Requests the front refused before they were whole (malformed, too large, too many).
    void refused(const http::Request& req, int status, const std::string& why) {
        const double seconds = seconds_since(req.started);
        metrics.record_request("other", status, seconds);
        log::info("refused {} from {}: {} ({:.0f} ms)", status, req.remote_addr,
                  utf8::escape_for_log(why), seconds * 1000);
    }

    // ---- routes ----

    void add_routes() {
        // Every OpenAI route also lives under /models/{name}/ (the gateway's path routing);
        // the name in the path wins over the body's "model".
        for (const std::string prefix : {"", "/models/{model}"}) {
            auto path_model = [has = !prefix.empty()](const Exchange& ex) {
                return has ? ex.params.front() : std::string();
            };
            router.add("GET", prefix + "/v1/models", [this](Exchange& ex) { list_models(ex); });
            router.add("GET", prefix + "/v1/models/{id}", [this](Exchange& ex) {
                const std::string& id = ex.params.back();
                const ModelEntry* e = pool.find(id);
                if (e && visible_to(ex.identity, *e)) return ex.send_json(200, model_json(*e));
                for (const json& m : peer_models_json(ex.identity)) {
                    if (m["id"] == id) return ex.send_json(200, m);
                }
                throw ApiError::model_not_found(id);
            });
            router.add("POST", prefix + "/v1/chat/completions", [this, path_model](Exchange& ex) {
                completions.handle(ex, /*chat=*/true, path_model(ex));
            });
            router.add("POST", prefix + "/v1/completions", [this, path_model](Exchange& ex) {
                completions.handle(ex, /*chat=*/false, path_model(ex));
            });
            router.add("POST", prefix + "/v1/messages", [this, path_model](Exchange& ex) {
                anthropic.messages(ex, path_model(ex));
            });
            router.add("POST", prefix + "/v1/messages/count_tokens", [this, path_model](Exchange& ex) {
                anthropic.count_tokens(ex, path_model(ex));
            });
            router.add("POST", prefix + "/v1/responses", [this, path_model](Exchange& ex) {
                responses.create(ex, path_model(ex));
            });
            router.add("GET", prefix + "/v1/responses/{id}",
                       [this](Exchange& ex) { responses.retrieve(ex, ex.params.back()); });
            router.add("DELETE", prefix + "/v1/responses/{id}",
                       [this](Exchange& ex) { responses.remove(ex, ex.params.back()); });
            router.add("POST", prefix + "/v1/embeddings", [this, path_model](Exchange& ex) {
                encoder_api(ex, path_model(ex), create_embeddings);
            });
            // llama-server's paths for the same API (Jina's /v1/rerank and its aliases).
            for (const char* path : {"/v1/rerank", "/rerank", "/v1/reranking", "/reranking"}) {
                router.add("POST", prefix + path, [this, path_model](Exchange& ex) {
                    encoder_api(ex, path_model(ex), create_rerank);
                });
            }
            router.add("POST", prefix + "/tokenize",
                       [this, path_model](Exchange& ex) { utilities.tokenize(ex, path_model(ex)); });
            router.add("POST", prefix + "/detokenize", [this, path_model](Exchange& ex) {
                utilities.detokenize(ex, path_model(ex));
            });
            router.add("POST", prefix + "/apply-template", [this, path_model](Exchange& ex) {
                utilities.apply_template(ex, path_model(ex));
            });
        }
        // Ollama's API (no /models/{name}/ prefix: Ollama clients name the model in the body).
        router.add("POST", "/api/chat", [this](Exchange& ex) { ollama.chat(ex); });
        router.add("POST", "/api/generate", [this](Exchange& ex) { ollama.generate(ex); });
        router.add("GET", "/api/tags", [this](Exchange& ex) { ollama.tags(ex, peer_models(ex.identity)); });
        router.add("POST", "/api/show", [this](Exchange& ex) { ollama.show(ex); });
        router.add("GET", "/api/ps", [this](Exchange& ex) { ollama.ps(ex); });
        router.add("POST", "/api/embed", [this](Exchange& ex) { ollama.embed(ex); });
        router.add("POST", "/api/embeddings", [this](Exchange& ex) { ollama.embeddings(ex); });
        router.add("GET", "/api/version", [this](Exchange& ex) { ollama.version(ex); });
        router.add("POST", "/api/pull", [this](Exchange& ex) { ollama.pull(ex); });
        // The gate let only peers with the key through (authenticate_peer).
        router.add("GET", kPeerStatePath, [this](Exchange& ex) { ex.send_json(200, peer_state()); });
        router.add("GET", "/health", [](Exchange& ex) { ex.send_json(200, {{"status", "ok"}}); });
        router.add("GET", "/readyz", [this](Exchange& ex) {
            const bool ready = running.load() && pool.size() > 0;
            ex.send_json(ready ? 200 : 503, {{"status", ready ? "ready" : "not ready"},
                                             {"models", pool.size()}});
        });
        router.add("POST", "/admin/keys", [this](Exchange& ex) { admin.create_key(ex); });
        router.add("GET", "/admin/keys", [this](Exchange& ex) { admin.list_keys(ex); });
        router.add("DELETE", "/admin/keys/{name}",
                   [this](Exchange& ex) { admin.revoke_key(ex, ex.params.front()); });
        router.add("GET", "/admin/audit", [this](Exchange& ex) { admin.audit(ex); });
        router.add("GET", "/admin/usage", [this](Exchange& ex) { admin.usage(ex); });
        router.add("GET", "/admin/models", [this](Exchange& ex) { admin.list_models(ex); });
        router.add("GET", "/admin/models/catalog", [this](Exchange& ex) { admin.catalog(ex); });
        router.add("POST", "/admin/models/pull", [this](Exchange& ex) { admin.pull_model(ex); });
        router.add("POST", "/admin/models/{name}/load",
                   [this](Exchange& ex) { admin.load_model(ex, ex.params.front()); });
        router.add("POST", "/admin/models/{name}/unload",
                   [this](Exchange& ex) { admin.unload_model(ex, ex.params.front()); });
        router.add("DELETE", "/admin/models/{name}",
                   [this](Exchange& ex) { admin.delete_model(ex, ex.params.front()); });
        for (const char* page : {"/", "/dashboard", "/models", "/assets/{file}", "/auth/callback"})
            router.add("GET", page, [this](Exchange& ex) { web_ui.serve(ex); });
        router.add("GET", "/auth/config", [this](Exchange& ex) { web_ui.sign_in_config(ex); });
        router.add("GET", "/metrics", [this](Exchange& ex) {
            ex.send(http::Response(200, metrics.render(pool.loaded()) + usage.render_metrics(),
                                   "text/plain; version=0.0.4"));
        });
    }

    // "created": the model file's modification time (when it was downloaded or written), as
    // OpenAI's Unix seconds; 0 if the file cannot be read.
    json model_json(const ModelEntry& e) const {
        struct stat st {};
        const int64_t created = ::stat(e.path.c_str(), &st) == 0 ? st.st_mtime : 0;
        return {{"id", e.name}, {"object", "model"}, {"created", created}, {"owned_by", "hearth"}};
    }

    void list_models(Exchange& ex) {
        json data = json::array();
        for (const ModelEntry& e : pool.entries()) {
            if (visible_to(ex.identity, e)) data.push_back(model_json(e));
        }
        for (json& m : peer_models_json(ex.identity)) data.push_back(std::move(m));
        ex.send_json(200, {{"object", "list"}, {"data", data}});
    }

    // The models only peers serve (those answering now) that `who` may use: name -> peer URLs.
    std::map<std::string, std::vector<std::string>> peer_models(const Identity& who) const {
        std::map<std::string, std::vector<std::string>> out;
        if (!federation) return out;
        for (auto& [name, urls] : federation->remote_models()) {
            if (!pool.find(name) && who.allows_model_name(name)) out[name] = std::move(urls);
        }
        return out;
    }

    // The models only peers serve (those that answer now), as /v1/models lists them: owned_by
    // "peer", and served_by the peers' URLs.
    std::vector<json> peer_models_json(const Identity& who) const {
        std::vector<json> out;
        for (const auto& [name, urls] : peer_models(who)) {
            out.push_back({{"id", name},
                           {"object", "model"},
                           {"created", 0},
                           {"owned_by", "peer"},
                           {"served_by", urls}});
        }
        return out;
    }

    // Embeddings and rerank: the body's model answers through `create` (which checks the rest).
    void encoder_api(Exchange& ex, const std::string& path_model,
                     json (*create)(const json&, LoadedModel&)) {
        const json body = parse_json_object_body(ex.request.body);
        std::shared_ptr<LoadedModel> loaded = acquire_model(pool, ex.identity, body, path_model);
        ex.model = loaded->entry.name;
        json response = create(body, *loaded);
        ex.prompt_tokens = response["usage"]["prompt_tokens"].get<int64_t>();
        ex.send_json(200, response);
    }
};

namespace {
bool keys_configured(const ServerOptions& options, KeyStore& store) {
    return !options.api_keys.empty() || !options.oidc.issuer.empty() || store.has_active_keys();
}
}  // namespace

std::string Server::listen_host(const ServerOptions& options) {
    if (is_loopback(options.host)) return options.host;
    KeyStore store(state_file(options.state_dir, "keys.db"));
    return keys_configured(options, store) ? options.host : "127.0.0.1";
}

Server::Server(ServerOptions options, std::vector<ModelEntry> models) {
    auto store = std::make_unique<KeyStore>(state_file(options.state_dir, "keys.db"));
    const bool has_keys = keys_configured(options, *store);
    if (!has_keys && !is_loopback(options.host)) {
        log::warn(
            "no API keys are set: binding to 127.0.0.1 instead of {} so only this machine can "
            "connect (create one with `hearth keys create`, or set HEARTH_API_KEYS or "
            "--api-key-file, to serve the network)",
            options.host);
        options.host = "127.0.0.1";
    }
    impl_ = std::make_unique<Impl>(std::move(options), std::move(models), std::move(store),
                                   has_keys);
}

Server::~Server() {
    stop();
}

int Server::bind() {
    // A client that hangs up mid-stream must not kill the process with SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    ServerOptions& o = impl_->options;
    if (!o.tls.cert_file.empty() || !o.tls.key_file.empty()) impl_->http.use_tls(o.tls);
    o.port = o.listen_fd >= 0 ? impl_->http.listen_on(o.listen_fd) : impl_->http.bind(o.host, o.port);
    return o.port;
}

void Server::run() {
    impl_->running = true;
    if (impl_->oidc)
        log::info("bearer tokens from {} accepted (audience {})", impl_->options.oidc.issuer,
                  impl_->options.oidc.audience);
    if (!impl_->keys_required.load())
        log::info("no API keys set: only clients on this machine can connect");
    else
        log::info("API keys required ({} from the environment, key store {})", impl_->keys.size(),
                  impl_->key_store->path().empty() ? "in memory" : impl_->key_store->path());
    log::info("listening on {}://{}:{} (OpenAI API at /v1, Anthropic /v1/messages, Ollama /api)",
              impl_->http.tls() ? "https" : "http", impl_->options.host, impl_->options.port);
    std::string names;
    const std::vector<ModelEntry> entries = impl_->pool.entries();
    for (size_t i = 0; i < entries.size() && i < 12; ++i) names += (i ? ", " : "") + entries[i].name;
    if (entries.size() > 12) names += ", ...";
    log::info("serving {} model(s){}{}; pulls go to {}", impl_->pool.size(), names.empty() ? "" : ": ",
              names, impl_->options.models_dir);
    if (impl_->options.pool.threads > 0) {
        log::info("compute threads per model: {} (--threads)", impl_->options.pool.threads);
    } else {
        const auto& cpu = kernels::cpu_budget();
        log::info("compute threads per model: {} ({}; --threads overrides)", cpu.threads, cpu.reason);
    }
    impl_->http.run();
    impl_->running = false;
}

void Server::run_without_socket() {
    impl_->running = true;
}

void Server::stop() {
    impl_->running = false;
    impl_->http.stop(impl_->options.shutdown_grace);
}

void Server::drain(std::chrono::milliseconds grace) {
    impl_->http.drain(grace);
}

void Server::reload_tls() {
    if (!impl_->http.tls()) return;
    try {
        impl_->http.use_tls(impl_->options.tls);
        log::info("reloaded the TLS certificate {}", impl_->options.tls.cert_file);
    } catch (const Error& e) {
        log::error("{}; still serving the previous certificate", e.what());
    }
}

void Server::handle(const http::Request& request, http::Responder& responder) {
    impl_->handle(request, responder);
}

ModelPool& Server::pool() {
    return impl_->pool;
}
const std::string& Server::host() const {
    return impl_->options.host;
}

}  // namespace hearth::server
