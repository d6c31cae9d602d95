#pragma once
// `hearth serve`: the OpenAI-compatible HTTP server. This file wires the pieces: the HTTP front
// (http/), the gate every request passes (Host, CORS, keys), the route table, and the APIs
// (generation.h, embeddings.h), with an access-log line and metrics for each request.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "http/message.h"
#include "http/server.h"
#include "server/federation.h"
#include "server/identity.h"
#include "server/model_pool.h"
#include "server/oidc.h"
#include "server/openai_request.h"
#include "server/response_store.h"

namespace hearth::server {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;                    // 0: any free port (see Server::bind)
    // Keys from HEARTH_API_KEYS / the key file (admin scope). With none here and none in the
    // key store: no auth, and the server binds to loopback only.
    std::vector<std::string> api_keys;
    size_t max_body_bytes = 8u << 20;
    // Requests handled at once; waiting or idle connections hold no thread.
    int http_threads = 128;
    // Connection caps and deadlines of the HTTP front (see http/server.h).
    size_t max_connections = 4096;
    size_t max_connections_per_client = 512;
    std::chrono::milliseconds header_timeout{10'000};
    std::chrono::milliseconds body_stall_timeout{30'000};
    std::chrono::milliseconds idle_timeout{60'000};
    // On stop, how long requests being answered may take to end.
    std::chrono::milliseconds shutdown_grace{5'000};
    // Origins whose web pages may call the API (see CorsPolicy): empty for the default.
    std::vector<std::string> cors_origins;
    // Host names this server answers to without API keys, besides loopback and --host.
    std::vector<std::string> allowed_hosts;
    // GET /metrics answers without a key (for scrapers that cannot send one, such as the
    // Gateway API Inference Extension's endpoint picker); the network must limit who asks.
    bool public_metrics = false;
    RequestLimits limits;
    PoolOptions pool;
    // Where /api/pull installs models; empty: the default models directory.
    std::string models_dir;
    // The SQLite file of stored Responses API responses ("": kept in memory) and its bounds.
    std::string responses_db;
    ResponseStoreLimits responses;
    // The key store (keys.db) and the audit log (audit.jsonl) live here; "": both in memory.
    std::string state_dir;
    // Bearer JWTs from an OpenID Connect provider (server/oidc.h); empty issuer: off.
    OidcSettings oidc;
    // What each OIDC subject may spend, counted per subject across its tokens (as a key's
    // limits; all 0: none).
    KeyLimits oidc_limits;
    // The web UI's login at that provider (authorization code + PKCE): its public client id
    // ("": the page asks for an API key) and the scopes it asks for ("": openid
    // hearth:inference).
    std::string oidc_client_id;
    std::string oidc_client_scope;
    // HTTPS with this certificate and key (PEM files); both empty: plain HTTP.
    http::TlsFiles tls;
    // A socket already listening (a worker's, inherited from `serve --workers`): bind() accepts
    // on it instead of opening host:port. -1: none.
    int listen_fd = -1;
    // Peers and the peer key (server/federation.h); no key: no federation.
    FederationOptions federation;
};

class Server {
  public:
    Server(ServerOptions options, std::vector<ModelEntry> models);
    ~Server();

    // The address the server listens on: options.host, or 127.0.0.1 when no keys are set (no
    // API keys, no OIDC issuer, no active key in the key store) and the host is not loopback.
    static std::string listen_host(const ServerOptions& options);

    // Binds the listening socket and returns the port. Throws hearth::Error on failure.
    int bind();
    // Serves until stop() is called (from any thread, e.g. a signal watcher).
    void run();
    // Stops accepting connections, closes idle ones and ends in-flight generations: streams
    // get an error event and `data: [DONE]`, non-streamed requests a 503. run() returns once
    // they are answered (or the grace period is over).
    void stop();
    // Stops accepting (another process on the same socket takes new connections) and lets
    // every request already begun finish normally, for up to `grace`; run() returns then.
    void drain(std::chrono::milliseconds grace);
    // Reads the TLS certificate and key again (on SIGHUP), for new connections. When they
    // cannot be used it logs why and keeps serving the old ones. Without TLS: nothing.
    void reload_tls();

    // Answers one parsed request, as a connection would: the gate, the routes, the log line.
    // The fuzzer and the tests call it without a socket.
    void handle(const http::Request& request, http::Responder& responder);
    // Accepts generations without binding or running the HTTP front: requests come only
    // through handle() (`hearth run` serving its chat in its own process). stop() ends it.
    void run_without_socket();

    ModelPool& pool();
    const std::string& host() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace hearth::server
