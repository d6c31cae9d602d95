// Draining the HTTP front (what a worker replaced by `serve --workers` does on SIGQUIT), over
// raw sockets on loopback: a request being handled and one on a connection accepted but not yet
// read are both answered, with `Connection: close`; a connection idle between requests is
// closed; new connections are no longer accepted; run() returns once the answers are out.
// And the socket a supervisor hands its workers: listen_on takes a listening socket, and
// refuses anything else with an error that says so.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "core/error.h"
#include "http/server.h"

namespace hearth::http {
namespace {

int connect_to(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return -1;
    }
    timeval timeout{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    return fd;
}

void send_all(int fd, const std::string& bytes) {
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}

// Everything until the server closes (or `until` appears).
std::string read_reply(int fd, const std::string& until = "") {
    std::string got;
    char buffer[4096];
    while (until.empty() || got.find(until) == std::string::npos) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        got.append(buffer, static_cast<size_t>(n));
    }
    return got;
}

std::string get(const std::string& path) {
    return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
}

TEST(Drain, AnswersWhatBegunClosesIdleAndStopsAccepting) {
    std::atomic<bool> slow_started{false};
    std::atomic<bool> release_slow{false};
    Server server(ServerLimits{}, [&](const Request& request, Responder& responder) {
        if (request.path == "/slow") {
            slow_started = true;
            while (!release_slow) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        responder.send(Response(200, "answer of " + request.path, "text/plain"));
    });
    const int port = server.bind("127.0.0.1", 0);
    std::thread runner([&] { server.run(); });

    const int idle = connect_to(port);  // keep-alive, idle after one answer
    send_all(idle, get("/first"));
    EXPECT_NE(read_reply(idle, "answer of /first").find("200 OK"), std::string::npos);
    const int busy = connect_to(port);  // its request is being handled when the drain begins
    send_all(busy, get("/slow"));
    while (!slow_started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const int fresh = connect_to(port);  // accepted, nothing sent yet
    for (int i = 0; i < 2000 && server.open_connections() < 3; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(server.open_connections(), 3u);

    server.drain(std::chrono::minutes(1));
    // New connections are refused once the listening socket is closed (bounded wait).
    int refused = 0;
    for (int i = 0; i < 1000 && !refused; ++i) {
        const int fd = connect_to(port);
        if (fd < 0) {
            refused = 1;
        } else {
            ::close(fd);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }
    EXPECT_TRUE(refused) << "still accepting after the drain began";
    // The idle connection is closed without an answer.
    EXPECT_EQ(read_reply(idle), "");
    // The fresh connection's first request is answered, and the connection then ends.
    send_all(fresh, get("/late"));
    const std::string late = read_reply(fresh);
    EXPECT_NE(late.find("HTTP/1.1 200 OK"), std::string::npos) << late;
    EXPECT_NE(late.find("answer of /late"), std::string::npos) << late;
    EXPECT_NE(late.find("Connection: close"), std::string::npos) << late;
    // The request being handled finishes normally.
    release_slow = true;
    const std::string slow = read_reply(busy);
    EXPECT_NE(slow.find("HTTP/1.1 200 OK"), std::string::npos) << slow;
    EXPECT_NE(slow.find("answer of /slow"), std::string::npos) << slow;
    runner.join();  // run() returned: nothing was left open
    EXPECT_EQ(server.open_connections(), 0u);
    for (int fd : {idle, busy, fresh}) ::close(fd);
}

TEST(Drain, StopDuringADrainEndsItAtOnce) {
    std::atomic<bool> started{false};
    Server server(ServerLimits{}, [&](const Request&, Responder& responder) {
        started = true;
        responder.begin_stream(Response(200, "", "text/plain"));
        // Streams until the client is gone, which the stop's closing makes it.
        while (responder.write("x")) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        responder.end_stream();
    });
    const int port = server.bind("127.0.0.1", 0);
    std::thread runner([&] { server.run(); });
    const int fd = connect_to(port);
    send_all(fd, get("/stream"));
    while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    server.drain(std::chrono::minutes(10));
    server.stop(std::chrono::milliseconds(0));
    runner.join();  // a drain of 10 minutes would still be waiting on the endless stream
    ::close(fd);
}

TEST(ListenOn, AcceptsOnAnInheritedListeningSocket) {
    const int fd = open_listener("127.0.0.1", 0);
    Server server(ServerLimits{}, [](const Request&, Responder& responder) {
        responder.send(Response(200, "hello", "text/plain"));
    });
    const int port = server.listen_on(fd);
    sockaddr_in address{};
    socklen_t length = sizeof address;
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
    EXPECT_EQ(port, ntohs(address.sin_port));
    std::thread runner([&] { server.run(); });
    const int client = connect_to(port);
    send_all(client, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(read_reply(client).find("hello"), std::string::npos);
    ::close(client);
    server.stop(std::chrono::milliseconds(100));
    runner.join();
}

TEST(ListenOn, RefusesWhatIsNotAListeningSocket) {
    Server server(ServerLimits{}, [](const Request&, Responder&) {});
    const int unbound = ::socket(AF_INET, SOCK_STREAM, 0);
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    for (int fd : {unbound, pipe_fds[0]}) {
        try {
            server.listen_on(fd);
            ADD_FAILURE() << "descriptor " << fd << " accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("is not a listening TCP socket"), std::string::npos) << e.what();
        }
    }
    for (int fd : {unbound, pipe_fds[0], pipe_fds[1]}) ::close(fd);
}

}  // namespace
}  // namespace hearth::http
