#pragma once
// The socket an HTTP request arrived on, so a handler that waits for a long generation can
// notice that the client went away. cpp-httplib 0.11 (Debian 12) gives a handler no way to ask
// (later versions have Request::is_connection_closed); the socket is found from the request's
// addresses instead, which are unique among this process's open TCP connections.
#include <httplib.h>

namespace hearth::server {

class ClientSocket {
  public:
    ClientSocket() = default;
    // Finds the request's socket; an unknown one (not found) is never reported closed. The
    // socket stays open while the handler runs, since cpp-httplib closes it after the handler.
    static ClientSocket of(const httplib::Request& req);

    bool known() const { return fd_ >= 0; }
    // True once the peer has closed or reset the connection (without waiting).
    bool closed() const;

  private:
    explicit ClientSocket(int fd) : fd_(fd) {}
    int fd_ = -1;
};

}  // namespace hearth::server
