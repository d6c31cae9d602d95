#pragma once
// A real server on a free loopback port, on its own thread, for tests that talk HTTP to it.
#include <httplib.h>

#include <memory>
#include <thread>
#include <vector>

#include "server/server.h"
#include "test_helpers.h"

namespace hearth::server {

inline ModelEntry stories_entry() {
    ModelEntry entry;
    entry.name = "stories260K";
    entry.path = testing::stories_path();
    entry.aliases = {"stories"};
    return entry;
}

// A server running on its own thread on a free loopback port.
class LiveServer {
  public:
    explicit LiveServer(ServerOptions options, ModelEntry entry = stories_entry()) {
        options.host = "127.0.0.1";
        options.port = 0;
        options.pool.threads = 1;
        server_ = std::make_unique<Server>(options, std::vector<ModelEntry>{entry});
        port_ = server_->bind();
        thread_ = std::thread([this] { server_->run(); });
    }
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

}  // namespace hearth::server
