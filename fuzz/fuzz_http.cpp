// libFuzzer target: whole HTTP requests (request line, headers, chunked or sized bodies, JSON)
// through the real request reader and the real server's gate, routes and request parsing,
// in-process, against the tiny stories260K model. Findings: crashes, sanitizer reports, hangs,
// and any answer that is not a well-formed HTTP status with a JSON body that parses (an error
// shape for every 4xx/5xx: OpenAI's and Anthropic's {"error": {"message"}}, Ollama's
// {"error": "..."}).
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

#include "http/request_reader.h"
#include "server/server.h"

namespace {

using hearth::http::Request;
using hearth::http::RequestReader;
using hearth::http::Response;

// Collects one answer, streamed or not, and checks its shape.
class CheckingResponder : public hearth::http::Responder {
  public:
    void send(Response response) override {
        if (answered()) __builtin_trap();  // two answers to one request
        status_ = response.status;
        check(response);
        body_ = std::move(response.body);
        if (response.header("Content-Type") == "application/json") check_json(body_);
    }
    bool begin_stream(Response head) override {
        if (answered()) __builtin_trap();
        status_ = head.status;
        check(head);
        return true;
    }
    bool write(std::string_view data) override {
        if (!answered()) __builtin_trap();
        body_ += data;
        return true;
    }
    void end_stream() override {}
    bool client_gone() const override { return false; }

  private:
    void check(const Response& r) {
        if (r.status < 100 || r.status > 599) __builtin_trap();
        for (const auto& [name, value] : r.headers) {
            // Header injection: no client text may break a header line.
            if (name.find_first_of("\r\n") != std::string::npos ||
                value.find_first_of("\r\n") != std::string::npos)
                __builtin_trap();
        }
    }
    void check_json(const std::string& body) {
        auto parsed = nlohmann::json::parse(body, nullptr, false);
        if (parsed.is_discarded()) __builtin_trap();
        if (status_ < 400) return;
        if (!parsed.is_object() || !parsed.contains("error")) __builtin_trap();
        const auto& error = parsed["error"];
        if (!error.is_string() && !(error.is_object() && error.contains("message"))) __builtin_trap();
    }
    std::string body_;
};

hearth::server::Server& server() {
    static hearth::server::Server* s = [] {
        spdlog::set_level(spdlog::level::warn);  // a log line per request would slow the fuzzer
        hearth::server::ServerOptions o;
        o.host = "127.0.0.1";
        o.port = 0;
        o.max_body_bytes = 64 * 1024;
        o.pool.ctx_size = 64;  // short generations keep the fuzzer fast
        o.pool.threads = 1;
        o.pool.parallel = 2;
        hearth::server::ModelEntry entry;
        entry.name = "stories260K";
        entry.path = std::string(HEARTH_TEST_DATA) + "/models/stories260K.gguf";
        auto* srv = new hearth::server::Server(o, {entry});
        srv->bind();
        std::thread([srv] { srv->run(); }).detach();  // running, so generations are served
        return srv;
    }();
    return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    hearth::server::Server& srv = server();
    hearth::http::ReadLimits limits;
    limits.max_body_bytes = 64 * 1024;
    RequestReader reader(limits);
    // The first byte picks how the bytes arrive: whole, or in pieces of 1..16 bytes.
    if (size == 0) return 0;
    const size_t piece = data[0] % 17 == 0 ? size : data[0] % 17;
    const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
    int answered = 0;
    for (size_t at = 0; at < bytes.size() && answered < 4; at += piece) {
        reader.feed(std::string_view(bytes).substr(at, piece));
        while (reader.status() == RequestReader::Status::Complete && answered < 4) {
            Request request = reader.take();
            request.remote_addr = "127.0.0.1";
            request.started = hearth::http::Clock::now();
            CheckingResponder out;
            srv.handle(request, out);
            if (!out.answered()) __builtin_trap();
            ++answered;
        }
        if (reader.status() == RequestReader::Status::Failed) {
            const int status = reader.error_status();
            if (status != 400 && status != 413 && status != 431) __builtin_trap();
            break;
        }
    }
    return 0;
}
