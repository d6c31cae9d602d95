#include "cli/in_process_api.h"

#include "http/message.h"

namespace hearth::cli {

namespace {

// Collects a whole answer, or hands a streamed one's pieces to the sink as they are written.
class LocalResponder : public http::Responder {
  public:
    LocalResponder(const BodySink* sink, const std::function<bool()>* interrupted)
        : sink_(sink), interrupted_(interrupted) {}

    void send(http::Response response) override {
        status_ = response.status;
        body_ = std::move(response.body);
    }
    bool begin_stream(http::Response head) override {
        status_ = head.status;
        streaming_ = sink_ && head.status == 200;
        if (!streaming_) body_ = std::move(head.body);
        return !client_gone();
    }
    bool write(std::string_view data) override {
        if (!streaming_) {
            body_.append(data);
            return true;
        }
        if (gone_ || client_gone()) return false;
        if (!(*sink_)(data)) gone_ = true;
        return !gone_;
    }
    void end_stream() override {}
    // The generation polls this: a stopped stream cancels it, as a client hanging up does.
    bool client_gone() const override {
        return gone_ || (interrupted_ && *interrupted_ && (*interrupted_)());
    }

    ApiReply reply() { return {status_, std::move(body_)}; }

  private:
    const BodySink* sink_;
    const std::function<bool()>* interrupted_;
    bool streaming_ = false;
    bool gone_ = false;
    std::string body_;
};

}  // namespace

InProcessApi::InProcessApi(server::ServerOptions options, std::vector<server::ModelEntry> models)
    : server_(std::make_unique<server::Server>(std::move(options), std::move(models))) {
    server_->run_without_socket();
}

InProcessApi::~InProcessApi() {
    server_->stop();
}

server::ModelPool& InProcessApi::pool() {
    return server_->pool();
}

ApiReply InProcessApi::exchange(const std::string& method, const std::string& path,
                                std::string body, const BodySink* sink,
                                const std::function<bool()>* interrupted) {
    http::Request request;
    request.method = method;
    request.target = path;
    request.path = path;
    request.headers = {{"host", "127.0.0.1"}};
    if (!body.empty()) request.headers.emplace_back("content-type", "application/json");
    request.body = std::move(body);
    request.remote_addr = "127.0.0.1";
    request.started = http::Clock::now();
    LocalResponder responder(sink, interrupted);
    server_->handle(request, responder);
    return responder.reply();
}

ApiReply InProcessApi::get(const std::string& path) {
    return exchange("GET", path, "", nullptr, nullptr);
}

ApiReply InProcessApi::post(const std::string& path, const nlohmann::json& body) {
    return exchange("POST", path, body.dump(), nullptr, nullptr);
}

ApiReply InProcessApi::post_stream(const std::string& path, const nlohmann::json& body,
                                   const BodySink& sink, const std::function<bool()>& interrupted) {
    return exchange("POST", path, body.dump(), &sink, &interrupted);
}

}  // namespace hearth::cli
