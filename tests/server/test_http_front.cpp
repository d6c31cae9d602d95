// The HTTP front under attack, over real sockets on loopback: malformed requests, oversize and
// deeply nested bodies, trickling clients by the thousand, pipelining, methods, keys, browser
// origins and Host names. Each case ends by checking the server still answers.
#include <gtest/gtest.h>

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "server/server.h"
#include "test_helpers.h"

extern char** environ;

namespace hearth::server {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

ModelEntry stories() {
    ModelEntry entry;
    entry.name = "stories260K";
    entry.path = testing::stories_path();
    return entry;
}

ServerOptions small_options() {
    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.max_body_bytes = 64 * 1024;
    o.pool.ctx_size = 128;
    o.pool.threads = 1;
    return o;
}

class Live {
  public:
    explicit Live(ServerOptions o) {
        server_ = std::make_unique<Server>(o, std::vector<ModelEntry>{stories()});
        port_ = server_->bind();
        thread_ = std::thread([this] { server_->run(); });
    }
    ~Live() { stop(); }
    // Stops the server and returns how long that took.
    double stop() {
        if (!thread_.joinable()) return 0;
        const auto t0 = Clock::now();
        server_->stop();
        thread_.join();
        return std::chrono::duration<double>(Clock::now() - t0).count();
    }
    int port() const { return port_; }
    httplib::Client client() const {
        httplib::Client c("127.0.0.1", port_);
        c.set_read_timeout(30, 0);
        return c;
    }

  private:
    std::unique_ptr<Server> server_;
    int port_ = 0;
    std::thread thread_;
};

void raise_fd_limit() {
    rlimit r{};
    getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
}

int connect_to(int port) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

bool send_all(int fd, const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return false;
        sent += static_cast<size_t>(n);
    }
    return true;
}

// Everything the server sends until it closes (or 10 s pass).
std::string read_until_close(int fd) {
    std::string out;
    char buf[65536];
    for (;;) {
        const ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

// Sends raw bytes on a new connection and returns the whole reply.
std::string exchange_raw(int port, const std::string& bytes) {
    const int fd = connect_to(port);
    EXPECT_GE(fd, 0);
    send_all(fd, bytes);
    std::string reply = read_until_close(fd);
    close(fd);
    return reply;
}

int status_of(const std::string& reply) {
    if (reply.rfind("HTTP/1.1 ", 0) != 0 || reply.size() < 12) return -1;
    return std::atoi(reply.c_str() + 9);
}

json body_of(const std::string& reply) {
    const size_t at = reply.find("\r\n\r\n");
    return json::parse(reply.substr(at + 4), nullptr, false);
}

void expect_alive(const Live& live) {
    auto health = live.client().Get("/health");
    ASSERT_TRUE(health) << "the server stopped answering";
    EXPECT_EQ(health->status, 200);
}

TEST(HttpFront, MalformedRequestsAre400AndTheServerLives) {
    Live live(small_options());
    for (const char* target : {"/%ff", "/%C3", "/%zz", "/a%00"}) {
        const std::string reply = exchange_raw(
            live.port(), "GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
        EXPECT_EQ(status_of(reply), 400) << target << "\n" << reply;
        EXPECT_TRUE(body_of(reply).contains("error")) << reply;
        expect_alive(live);
    }
    // Garbage, a bare newline flood, and a request line with no version.
    for (const std::string& bytes : {std::string("\x16\x03\x01\x02\x00 junk\r\n\r\n"),
                                    std::string("GET /\r\n\r\n"),
                                    std::string("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n")}) {
        EXPECT_EQ(status_of(exchange_raw(live.port(), bytes)), 400) << bytes;
    }
    // A newline decoded into the path is routed (404) and escaped in the log, not obeyed.
    EXPECT_EQ(status_of(exchange_raw(live.port(),
                                     "GET /a%0d%0aINFO%20forged HTTP/1.1\r\nHost: localhost\r\n"
                                     "Connection: close\r\n\r\n")),
              404);
    expect_alive(live);
}

TEST(HttpFront, DeeplyNestedAndInvalidUtf8BodiesAre400) {
    ServerOptions o = small_options();
    o.max_body_bytes = 1 << 20;
    Live live(o);
    auto c = live.client();
    // About 300 KB: messages content nested 150k levels deep.
    const std::string deep = "{\"messages\": [{\"role\": \"user\", \"content\": " +
                             std::string(150000, '[') + std::string(150000, ']') + "}]}";
    auto res = c.Post("/v1/chat/completions", deep, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    EXPECT_NE(json::parse(res->body)["error"]["message"].get<std::string>().find("deeper"),
              std::string::npos);
    auto bad = c.Post("/v1/completions", "{\"prompt\": \"\xff\xfe\"}", "application/json");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400);
    EXPECT_NE(json::parse(bad->body)["error"]["message"].get<std::string>().find("UTF-8"),
              std::string::npos);
    // Exactly at the limit still parses.
    std::string ok_depth = "{\"prompt\": \"Once\", \"max_tokens\": 1, \"x\": " +
                           std::string(63, '[') + std::string(63, ']') + "}";
    auto fine = c.Post("/v1/completions", ok_depth, "application/json");
    ASSERT_TRUE(fine);
    EXPECT_EQ(fine->status, 200) << fine->body;
    expect_alive(live);
}

TEST(HttpFront, LongPromptsAreRefusedBeforeTokenizing) {
    ServerOptions o = small_options();
    o.max_body_bytes = 4 << 20;
    Live live(o);
    auto res = live.client().Post("/v1/completions",
                                  json{{"prompt", std::string(3 << 20, 'a')}}.dump(),
                                  "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    json err = json::parse(res->body)["error"];
    EXPECT_EQ(err["code"], "context_length_exceeded");
    EXPECT_NE(err["message"].get<std::string>().find("at least"), std::string::npos);
}

TEST(HttpFront, ChunkedBodiesAreHeldToMaxBody) {
    Live live(small_options());  // 64 KiB
    const int fd = connect_to(live.port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_all(fd, "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\n"
                             "Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"));
    const std::string piece(32 * 1024, ' ');
    char hex[16];
    snprintf(hex, sizeof hex, "%zx\r\n", piece.size());
    size_t sent = 0;
    std::string reply;
    // Up to 50 MB, stopping as soon as the server answers or stops reading.
    while (sent < (50u << 20)) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 0) > 0) break;
        if (!send_all(fd, std::string(hex) + piece + "\r\n")) break;
        sent += piece.size();
    }
    reply = read_until_close(fd);
    close(fd);
    EXPECT_EQ(status_of(reply), 413) << reply;
    EXPECT_LT(sent, 8u << 20) << "the server kept reading a body past its limit";
    expect_alive(live);
}

TEST(HttpFront, PipelinedRequestsAreAnsweredInOrder) {
    Live live(small_options());
    const std::string reply = exchange_raw(
        live.port(),
        "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"
        "GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n"
        "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 35\r\n\r\n"
        "{\"prompt\": \"Once\", \"max_tokens\": 2}"
        "GET /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    std::vector<int> statuses;
    std::vector<size_t> at;
    for (size_t p = reply.find("HTTP/1.1 "); p != std::string::npos;
         p = reply.find("HTTP/1.1 ", p + 1)) {
        statuses.push_back(std::atoi(reply.c_str() + p + 9));
        at.push_back(p);
    }
    ASSERT_EQ(statuses, (std::vector<int>{200, 200, 200, 404})) << reply;
    EXPECT_NE(reply.substr(at[0], at[1] - at[0]).find("\"status\""), std::string::npos);
    EXPECT_NE(reply.substr(at[1], at[2] - at[1]).find("\"list\""), std::string::npos);
    EXPECT_NE(reply.substr(at[2], at[3] - at[2]).find("text_completion"), std::string::npos);
}

TEST(HttpFront, WrongMethodIs405WithAllow) {
    Live live(small_options());
    auto c = live.client();
    auto get = c.Get("/v1/chat/completions");
    ASSERT_TRUE(get);
    EXPECT_EQ(get->status, 405);
    EXPECT_EQ(get->get_header_value("Allow"), "POST, OPTIONS");
    EXPECT_TRUE(json::parse(get->body).contains("error"));
    auto post = c.Post("/health", "{}", "application/json");
    ASSERT_TRUE(post);
    EXPECT_EQ(post->status, 405);
    EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD, OPTIONS");
    auto head = c.Head("/v1/models");
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    EXPECT_TRUE(head->body.empty());
}

TEST(HttpFront, BearerSchemeIsCaseInsensitiveAndErrorsCarryCors) {
    ServerOptions o = small_options();
    o.api_keys = {"sk-test"};
    Live live(o);
    auto c = live.client();
    for (const char* auth : {"Bearer sk-test", "bearer sk-test", "BEARER   sk-test"}) {
        EXPECT_EQ(c.Get("/v1/models", {{"Authorization", auth}})->status, 200) << auth;
    }
    for (const char* auth : {"Basic sk-test", "Bearersk-test", "Bearer", "sk-test"}) {
        EXPECT_EQ(c.Get("/v1/models", {{"Authorization", auth}})->status, 401) << auth;
    }
    auto missing = c.Get("/nope", {{"Authorization", "Bearer sk-test"}, {"Origin", "https://a.b"}});
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 404);
    EXPECT_EQ(missing->get_header_value("Access-Control-Allow-Origin"), "*");
    auto bad = c.Post("/v1/completions", {{"Authorization", "Bearer sk-test"}, {"Origin", "https://a.b"}},
                      "{", "application/json");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400);
    EXPECT_EQ(bad->get_header_value("Access-Control-Allow-Origin"), "*");
    // With keys any Host is fine: the key is the guard.
    EXPECT_EQ(c.Get("/v1/models", {{"Authorization", "Bearer sk-test"}, {"Host", "hearth.example"}})
                  ->status,
              200);
}

TEST(HttpFront, WithoutKeysTheHostMustNameThisServer) {
    ServerOptions o = small_options();
    o.allowed_hosts = {"hearth.internal"};
    Live live(o);
    auto c = live.client();
    const std::string port = std::to_string(live.port());
    for (const std::string& host : std::vector<std::string>{"localhost:" + port, "127.0.0.1:" + port,
                                                             "[::1]:" + port, "hearth.internal",
                                                             "LOCALHOST"}) {
        EXPECT_EQ(c.Get("/v1/models", {{"Host", host}})->status, 200) << host;
    }
    for (const std::string& host : std::vector<std::string>{
             "evil.example:" + port, "localhost.evil.example", "127.0.0.2"}) {
        auto res = c.Get("/v1/models", {{"Host", host}});
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 403) << host;
        EXPECT_EQ(json::parse(res->body)["error"]["code"], "host_not_allowed");
    }
}

TEST(HttpFront, TricklingHeadsAreCutOffAtTheDeadline) {
    ServerOptions o = small_options();
    o.header_timeout = std::chrono::milliseconds(1000);
    Live live(o);
    const int fd = connect_to(live.port());
    ASSERT_GE(fd, 0);
    const auto t0 = Clock::now();
    const std::string head = "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaa";
    bool cut = false;
    for (char ch : head) {
        if (!send_all(fd, std::string(1, ch))) {
            cut = true;
            break;
        }
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 0) > 0) {
            char b;
            if (recv(fd, &b, 1, 0) <= 0) {
                cut = true;
                break;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    close(fd);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    EXPECT_TRUE(cut) << "a head sent one byte every 100 ms for " << seconds << " s was not cut off";
    EXPECT_LT(seconds, 3.0);
    expect_alive(live);
}

// Keeps `count` connections open that send a request head one byte at a time, reconnecting
// those the server closes, until `seconds` pass.
class Trickler {
  public:
    Trickler(int port, int count) : port_(port), count_(count) {}
    ~Trickler() { stop(); }
    void start(double seconds) {
        thread_ = std::thread([this, seconds] { run(seconds); });
    }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        for (auto& c : conns_) close(c.fd);
        conns_.clear();
    }
    size_t reconnects() const { return reconnects_; }

  private:
    struct Conn {
        int fd;
        size_t sent;
    };
    void run(double seconds) {
        const std::string head = "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\n" +
                                 std::string(4000, 'X');  // never finished
        const auto end = Clock::now() + std::chrono::duration<double>(seconds);
        while (!stop_ && Clock::now() < end) {
            while (static_cast<int>(conns_.size()) < count_) {
                const int fd = connect_to(port_);
                if (fd < 0) break;
                conns_.push_back({fd, 0});
            }
            for (auto& c : conns_) {
                char b;
                const bool closed = recv(c.fd, &b, 1, MSG_DONTWAIT) == 0;
                if (closed || send(c.fd, head.data() + (c.sent % head.size()), 1,
                                   MSG_NOSIGNAL | MSG_DONTWAIT) != 1) {
                    close(c.fd);
                    c.fd = -1;
                    ++reconnects_;
                } else {
                    ++c.sent;
                }
            }
            std::erase_if(conns_, [](const Conn& c) { return c.fd < 0; });
            for (int i = 0; i < 10 && !stop_; ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    int port_, count_;
    std::atomic<bool> stop_{false};
    std::deque<Conn> conns_;
    size_t reconnects_ = 0;
    std::thread thread_;
};

int env_int(const char* name, int fallback) {
    const char* v = std::getenv(name);
    return v ? std::atoi(v) : fallback;
}

TEST(HttpFront, ThousandTricklingClientsDoNotStarveOthersAndStopIsPrompt) {
    raise_fd_limit();
    const int count = env_int("HEARTH_SLOW_CLIENTS", 1000);
    const int seconds = env_int("HEARTH_SLOW_SECONDS", 30);
    ServerOptions o = small_options();
    o.shutdown_grace = std::chrono::milliseconds(2000);
    Live live(o);
    Trickler trickler(live.port(), count);
    trickler.start(seconds + 10);
    std::this_thread::sleep_for(std::chrono::seconds(2));  // let them all connect
    double worst = 0;
    int answered = 0;
    const auto end = Clock::now() + std::chrono::seconds(seconds);
    while (Clock::now() < end) {
        const auto t0 = Clock::now();
        auto c = live.client();
        auto res = c.Post("/v1/completions", json{{"prompt", "Once"}, {"max_tokens", 4}}.dump(),
                          "application/json");
        const double took = std::chrono::duration<double>(Clock::now() - t0).count();
        ASSERT_TRUE(res) << "a normal request got no answer while slow clients were connected";
        EXPECT_EQ(res->status, 200);
        worst = std::max(worst, took);
        ++answered;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    EXPECT_LT(worst, 1.0) << "slowest normal request: " << worst << " s";
    // Stopping with the slow clients still connected ends within the grace period.
    const double stop_seconds = live.stop();
    trickler.stop();
    EXPECT_LT(stop_seconds, 2.0 + 1.0);
    std::printf("[ slow clients ] %d trickling connections for %d s: %d normal requests, slowest "
                "%.3f s, %zu trickling connections cut off, stop took %.3f s\n",
                count, seconds, answered, worst, trickler.reconnects(), stop_seconds);
}

TEST(HttpFront, AtTheConnectionCapIdleKeepAliveConnectionsGoFirst) {
    ServerOptions o = small_options();
    o.max_connections_per_client = 4;
    Live live(o);
    std::vector<int> idle;
    for (int i = 0; i < 4; ++i) {
        const int fd = connect_to(live.port());
        ASSERT_TRUE(send_all(fd, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"));
        char buf[4096];
        ASSERT_GT(recv(fd, buf, sizeof buf, 0), 0);  // answered, now idle
        idle.push_back(fd);
    }
    // A fifth client is served; the oldest idle connection made room.
    expect_alive(live);
    char b;
    EXPECT_EQ(recv(idle[0], &b, 1, 0), 0) << "the oldest idle connection was not closed";
    for (int fd : idle) close(fd);
}

TEST(HttpFront, SigtermEndsTheServerPromptlyDespiteSlowClients) {
    raise_fd_limit();
    // A free port: bind to 0, read it, release it.
    const int probe = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len);
    const int port = ntohs(addr.sin_port);
    close(probe);

    const std::string port_text = std::to_string(port);
    const std::string model = testing::stories_path();
    std::vector<std::string> args = {HEARTH_BINARY, "serve", "--model", model, "--port",
                                     port_text,     "--threads", "1", "--responses-db", ":memory:",
                                     "--state-dir", ":memory:"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    ASSERT_EQ(posix_spawn(&pid, HEARTH_BINARY, nullptr, nullptr, argv.data(), environ), 0);
    httplib::Client c("127.0.0.1", port);
    bool up = false;
    for (int i = 0; i < 100 && !up; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        auto res = c.Get("/health");
        up = res && res->status == 200;
    }
    ASSERT_TRUE(up) << "hearth serve did not come up";
    Trickler trickler(port, 200);
    trickler.start(30);
    std::this_thread::sleep_for(std::chrono::seconds(2));
    const auto t0 = Clock::now();
    kill(pid, SIGTERM);
    int status = 0;
    bool exited = false;
    while (!exited && Clock::now() - t0 < std::chrono::seconds(15)) {
        exited = waitpid(pid, &status, WNOHANG) == pid;
        if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    trickler.stop();
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    ASSERT_TRUE(exited) << "hearth serve still running 15 s after SIGTERM";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    EXPECT_LT(seconds, 5.0 + 1.0);  // the default grace period, and a second to spare
    std::printf("[ sigterm ] exited %.3f s after SIGTERM with 200 slow clients connected\n",
                seconds);
}

}  // namespace
}  // namespace hearth::server

namespace hearth::server {
namespace {

// The real binary with a bad --kv-budget (flag or HEARTH_KV_BUDGET): exit 1 before serving,
// with an error that names the option and what a size looks like.
std::string serve_error(const std::string& env, const std::string& budget_flag, int& status) {
    const std::string command = env + " " + HEARTH_BINARY + " serve --model " +
                                testing::stories_path() + " --port 0 --env-file /dev/null " +
                                budget_flag + " 2>&1";
    FILE* out = popen(command.c_str(), "r");
    std::string text;
    char buffer[512];
    while (out != nullptr && fgets(buffer, sizeof buffer, out) != nullptr) text += buffer;
    status = out != nullptr ? pclose(out) : -1;
    return text;
}

TEST(ServeOptions, BadKvBudgetIsAClearErrorAtStart) {
    struct Case {
        const char* env;
        const char* flag;
        const char* says;
    };
    for (const Case& c : {Case{"", "--kv-budget 12Q", "unknown size unit in '12Q'"},
                          Case{"", "--kv-budget lots", "'lots' is not a size"},
                          Case{"", "--kv-budget 0", "more than 0 bytes"},
                          Case{"", "--kv-budget=-1G", "cannot be negative"},
                          Case{"HEARTH_KV_BUDGET=2X", "", "unknown size unit in '2X'"}}) {
        int status = 0;
        const std::string text = serve_error(c.env, c.flag, status);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << c.flag << ": " << text;
        EXPECT_NE(text.find("--kv-budget"), std::string::npos) << text;
        EXPECT_NE(text.find(c.says), std::string::npos) << text;
    }
}

}  // namespace
}  // namespace hearth::server
