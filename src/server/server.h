#pragma once
// `hearth serve`: the OpenAI-compatible HTTP server (routes, auth, limits, SSE, metrics).
#include <memory>
#include <string>
#include <vector>

#include "server/model_pool.h"
#include "server/openai_request.h"

namespace hearth::server {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;                    // 0: any free port (see Server::bind)
    std::vector<std::string> api_keys;  // empty: no auth, and the server binds to loopback only
    size_t max_body_bytes = 8u << 20;
    // Connections served at once; an idle keep-alive connection holds its thread until it closes,
    // so this should exceed the clients' connection count.
    int http_threads = 128;
    // Origins whose web pages may call the API (CORS): "*" for any, exact origins, or none (off).
    std::vector<std::string> cors_origins = {"*"};
    RequestLimits limits;
    PoolOptions pool;
};

class Server {
  public:
    Server(ServerOptions options, std::vector<ModelEntry> models);
    ~Server();

    // Binds the listening socket and returns the port. Throws hearth::Error on failure.
    int bind();
    // Serves until stop() is called (from any thread, e.g. a signal watcher).
    void run();
    // Stops accepting connections and ends in-flight generations: streams get an error event
    // and `data: [DONE]`, non-streamed requests a 503. run() returns once they are answered.
    void stop();

    ModelPool& pool();
    const std::string& host() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace hearth::server
