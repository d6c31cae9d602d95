#pragma once
// A real server on a free loopback port for the server tests, talked to over real HTTP as
// clients do; the bundled model's entry, and the SSE body parser the streaming tests share.
#include <gtest/gtest.h>

#include <httplib.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "server/server.h"
#include "synthetic_with_vocab.h"
#include "test_helpers.h"

namespace hearth::server {

inline ModelEntry stories_entry() {
    ModelEntry entry;
    entry.name = "stories260K";
    entry.path = testing::stories_path();
    entry.aliases = {"stories"};
    return entry;
}

// A random model behind Qwen2.5's template, which lists tools and reads past calls (Hermes
// <tool_call> syntax).
inline ModelEntry qwen_like() {
    ModelEntry entry;
    entry.name = "qwen-like";
    entry.path = synthetic_model_file_with_vocab("llama", "phi-3", 2048);
    std::ifstream in(std::string(HEARTH_TEST_DATA) + "/templates/Qwen-Qwen2.5-7B-Instruct.jinja");
    std::stringstream source;
    source << in.rdbuf();
    entry.chat_template = source.str();
    return entry;
}

// A server running on its own thread on a free loopback port.
class LiveServer {
  public:
    LiveServer(ServerOptions options, std::vector<ModelEntry> entries) {
        options.host = "127.0.0.1";
        options.port = 0;
        options.pool.threads = 1;
        server_ = std::make_unique<Server>(options, std::move(entries));
        port_ = server_->bind();
        thread_ = std::thread([this] { server_->run(); });
    }
    explicit LiveServer(ServerOptions options, ModelEntry entry = stories_entry())
        : LiveServer(std::move(options), std::vector<ModelEntry>{std::move(entry)}) {}
    ~LiveServer() {
        server_->stop();
        thread_.join();
    }
    int port() const { return port_; }
    Server& server() { return *server_; }
    httplib::Client client() const {
        httplib::Client c("127.0.0.1", port_);
        c.set_read_timeout(60, 0);
        return c;
    }
    httplib::Result post(const std::string& path, const nlohmann::json& body) const {
        return client().Post(path, body.dump(), "application/json");
    }

  private:
    std::unique_ptr<Server> server_;
    int port_ = 0;
    std::thread thread_;
};

inline ServerOptions default_options() {
    ServerOptions o;
    o.max_body_bytes = 64 * 1024;
    o.pool.ctx_size = 128;
    o.pool.parallel = 4;
    return o;
}

// The body of a 200 answer as JSON; otherwise a test failure and null.
inline nlohmann::json ok_json(const httplib::Result& res) {
    EXPECT_TRUE(res) << "no response";
    if (!res) return {};
    EXPECT_EQ(res->status, 200) << res->body;
    return nlohmann::json::parse(res->body);
}

// Parses an SSE body into its data payloads, checking the framing on the way.
inline std::vector<std::string> sse_payloads(const std::string& body) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos < body.size()) {
        size_t end = body.find("\n\n", pos);
        EXPECT_NE(end, std::string::npos) << "unterminated event";
        if (end == std::string::npos) break;
        std::string event = body.substr(pos, end - pos);
        EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
        out.push_back(event.substr(6));
        pos = end + 2;
    }
    return out;
}

}  // namespace hearth::server
