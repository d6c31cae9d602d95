#pragma once
// How CLI commands (run, ps, stop, models list) talk to hearth's HTTP API: to a server that
// runs already (over HTTP, libcurl), or to a server::Server inside this process, answered
// through Server::handle without a socket (`hearth run` when no server runs). Both speak the
// same routes, so a command is written once against ApiClient.
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace hearth::cli {

struct ApiReply {
    long status = 0;
    std::string body;

    bool ok() const { return status == 200; }
    // The body parsed; null when it is not JSON.
    nlohmann::json json() const;
    // The message of an error body (OpenAI's {"error":{"message"}} or Ollama's {"error": "..."}),
    // else the body itself.
    std::string error_message() const;
};

// Takes each piece of a streamed answer's body as it comes; false stops the stream (the
// server then cancels the generation).
using BodySink = std::function<bool(std::string_view)>;

class ApiClient {
  public:
    virtual ~ApiClient() = default;
    virtual ApiReply get(const std::string& path) = 0;
    virtual ApiReply post(const std::string& path, const nlohmann::json& body) = 0;
    // A 200 answer's body streams into `sink`; any other answer comes back whole.
    // `interrupted` is polled while waiting: true stops the stream as a false sink does.
    virtual ApiReply post_stream(const std::string& path, const nlohmann::json& body,
                                 const BodySink& sink,
                                 const std::function<bool()>& interrupted) = 0;
    // Where the answers come from, for messages: "http://127.0.0.1:8080" or "this process".
    virtual std::string where() const = 0;
};

// The address `hearth serve` listens on by default, from the same flags and variables.
struct ServerAddress {
    std::string host = "127.0.0.1";
    int port = 8080;
    std::string api_key;

    // http://HOST:PORT, a wildcard host (0.0.0.0, ::) reached through loopback.
    std::string base_url() const;
};

// --host (HEARTH_HOST), --port (HEARTH_PORT), --api-key (HEARTH_API_KEY).
void add_server_options(CLI::App* cmd, ServerAddress& address);

// The server at `address` when one answers GET /health, else nullptr.
std::unique_ptr<ApiClient> connect_to_server(const ServerAddress& address);
// The same, or a hearth::Error saying no server runs there and how to start one.
std::unique_ptr<ApiClient> require_server(const ServerAddress& address);

// A reply that is not 200 as a hearth::Error: "WHAT: MESSAGE (HTTP STATUS)".
[[noreturn]] void throw_api_error(const std::string& what, const ApiReply& reply);

}  // namespace hearth::cli
