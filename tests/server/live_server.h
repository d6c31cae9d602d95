#pragma once
// A server running on its own thread on a free loopback port, for tests that talk to it over
// real HTTP as clients do.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <thread>
#include <vector>

#include "server/server.h"

namespace hearth::server {

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
    LiveServer(ServerOptions options, ModelEntry entry)
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

// The body of a 200 answer as JSON; otherwise a test failure and null.
inline nlohmann::json ok_json(const httplib::Result& res) {
    EXPECT_TRUE(res) << "no response";
    if (!res) return {};
    EXPECT_EQ(res->status, 200) << res->body;
    return nlohmann::json::parse(res->body);
}

}  // namespace hearth::server
