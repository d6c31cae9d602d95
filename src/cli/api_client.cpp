#include "cli/api_client.h"

#include "core/error.h"
#include "hub/http.h"

namespace hearth::cli {

namespace {

using nlohmann::json;

bool is_loopback(const std::string& host) {
    return host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "0.0.0.0" ||
           host == "::" || host.rfind("127.", 0) == 0;
}

// Thrown from the sink to end a stream the caller stopped.
struct StreamStopped {};

class HttpApiClient : public ApiClient {
  public:
    explicit HttpApiClient(const ServerAddress& address) : base_(address.base_url()) {
        hub::HttpSettings settings;
        settings.bearer_token = address.api_key;
        settings.connect_timeout_s = 5;
        // A long prompt on a big model may take minutes before its first token.
        settings.stall_timeout_s = 3600;
        settings.use_proxy = !is_loopback(address.host);
        http_ = std::make_unique<hub::Http>(settings);
    }

    ApiReply get(const std::string& path) override { return reply_of(http_->get(base_ + path)); }

    ApiReply post(const std::string& path, const json& body) override {
        return reply_of(http_->post(base_ + path, {body.dump()}));
    }

    ApiReply post_stream(const std::string& path, const json& body, const BodySink& sink,
                         const std::function<bool()>& interrupted) override {
        const hub::Http::Sink pieces = [&](const char* data, size_t size) {
            if (interrupted() || !sink(std::string_view(data, size))) throw StreamStopped{};
        };
        // curl polls cancel_flag() between reads, also while no byte arrives (a long prompt).
        hub::cancel_flag() = false;
        try {
            return reply_of(http_->post(base_ + path, {body.dump()}, pieces));
        } catch (const StreamStopped&) {
            return {200, ""};
        } catch (const hub::TransportError& e) {
            if (e.cancelled()) return {200, ""};
            throw Error("the server at " + base_ + " stopped answering: " + e.what());
        }
    }

    std::string where() const override { return base_; }

  private:
    static ApiReply reply_of(const hub::HttpResponse& r) { return {r.status, r.body}; }

    std::string base_;
    std::unique_ptr<hub::Http> http_;
};

}  // namespace

json ApiReply::json() const {
    return nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
}

std::string ApiReply::error_message() const {
    const nlohmann::json parsed = json();
    if (parsed.is_object() && parsed.contains("error")) {
        const nlohmann::json& e = parsed["error"];
        if (e.is_string()) return e.get<std::string>();
        if (e.is_object() && e.contains("message") && e["message"].is_string())
            return e["message"].get<std::string>();
    }
    return body.empty() ? "no answer" : body;
}

void throw_api_error(const std::string& what, const ApiReply& reply) {
    throw Error(what + ": " + reply.error_message() + " (HTTP " + std::to_string(reply.status) +
                ")");
}

std::string ServerAddress::base_url() const {
    std::string h = host;
    if (h.empty() || h == "0.0.0.0") h = "127.0.0.1";
    if (h == "::") h = "::1";
    if (h.find(':') != std::string::npos) h = "[" + h + "]";
    return "http://" + h + ":" + std::to_string(port);
}

void add_server_options(CLI::App* cmd, ServerAddress& address) {
    cmd->add_option("--host", address.host, "Address of a running `hearth serve`")
        ->capture_default_str()
        ->envname("HEARTH_HOST");
    cmd->add_option("--port", address.port, "Port of a running `hearth serve`")
        ->capture_default_str()
        ->envname("HEARTH_PORT")
        ->check(CLI::Range(1, 65535));
    cmd->add_option("--api-key", address.api_key, "API key for a server that requires one")
        ->envname("HEARTH_API_KEY");
}

std::unique_ptr<ApiClient> connect_to_server(const ServerAddress& address) {
    auto client = std::make_unique<HttpApiClient>(address);
    try {
        const ApiReply health = client->get("/health");
        if (health.ok()) return client;
    } catch (const hub::TransportError&) {
        // Nothing listens there.
    }
    return nullptr;
}

std::unique_ptr<ApiClient> require_server(const ServerAddress& address) {
    std::unique_ptr<ApiClient> client = connect_to_server(address);
    if (!client) {
        throw Error("no hearth server answers at " + address.base_url() +
                    " (start one with `hearth serve`, or give --host/--port)");
    }
    return client;
}

}  // namespace hearth::cli
