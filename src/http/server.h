#pragma once
// An HTTP/1.1 server that slow or hostile clients cannot stall: one event-driven I/O thread
// reads every connection against deadlines, and only complete requests reach the handler
// threads. See docs/ARCHITECTURE.md ("The HTTP front") for the policy.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "http/message.h"
#include "http/request_reader.h"

namespace hearth::http {

struct ServerLimits {
    ReadLimits read;
    // The request line and headers must arrive within this from their first byte (or from the
    // connection's opening): a client that trickles its head is cut off.
    std::chrono::milliseconds header_timeout{10'000};
    // A body that makes no progress for this long is dropped.
    std::chrono::milliseconds body_stall_timeout{30'000};
    // A keep-alive connection may wait this long for its next request.
    std::chrono::milliseconds idle_timeout{60'000};
    // A client that reads none of its answer for this long is dropped.
    std::chrono::milliseconds write_timeout{60'000};
    // Open connections in all and per client address. At either cap a new connection first
    // closes an idle keep-alive one, then the one that has been sending its head the longest;
    // when every connection is busy with a request it gets a 503.
    size_t max_connections = 4096;
    size_t max_connections_per_client = 512;
    // Requests handled at once (the rest wait their turn; their connections cost no thread).
    int handler_threads = 128;
};

// A certificate chain and its private key, in PEM files (see Server::use_tls).
struct TlsFiles {
    std::string cert_file;  // the server's certificate first, then any intermediates
    std::string key_file;   // its private key, without a passphrase
};

using Handler = std::function<void(const Request&, Responder&)>;

// A listening TCP socket on host:port (port 0: any free port), for Server::listen_on in this or
// a child process; the caller owns the descriptor (close-on-exec is set). Throws hearth::Error.
int open_listener(const std::string& host, int port);

struct Hooks {
    // The body of an error the HTTP layer answers itself (bad request, too large, busy).
    std::function<Response(int status, const std::string& message)> error_response;
    // Told of each request refused before it reached the handler, for logs and metrics. The
    // request holds what was read of it (maybe nothing).
    std::function<void(const Request& partial, int status, const std::string& why)> on_refused;
};

class Server {
  public:
    Server(ServerLimits limits, Handler handler, Hooks hooks = {});
    ~Server();

    // Listens on host:port (port 0: any free port) and returns the port. Throws hearth::Error.
    int bind(const std::string& host, int port);
    // Accepts on a socket that is already listening (one open_listener made, inherited from a
    // supervisor process that shares it among its workers) and returns its port. Takes the
    // descriptor over. Throws hearth::Error when it is not a listening TCP socket.
    int listen_on(int fd);
    // Speaks HTTPS on the port from now on (TLS 1.2+, ALPN http/1.1; see http/tls.h): call
    // before run(). Called again, from any thread, it swaps the certificate for new
    // connections (open ones keep theirs). Throws hearth::Error when the files cannot be read
    // or do not match; the certificate in use then stays.
    void use_tls(const TlsFiles& files);
    bool tls() const;
    // Serves until stop(); returns once every connection is closed and every handler returned.
    void run();
    // From any thread: stops accepting, closes idle and half-read connections at once, lets
    // requests being handled finish for up to `grace`, then closes what is left.
    void stop(std::chrono::milliseconds grace);
    // From any thread: stops accepting and closes connections idle between requests, but lets
    // every request already begun end normally (a connection accepted and not yet read gets
    // its first request answered), each answer with `Connection: close`, for up to `grace`;
    // then closes what is left. Another process accepting on the same socket takes the new
    // connections: a worker being replaced drops none.
    void drain(std::chrono::milliseconds grace);
    // Connections open now (for tests and metrics).
    size_t open_connections() const;

    struct Impl;  // server.cpp's; public so its connections can name it

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace hearth::http
