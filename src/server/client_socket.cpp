#include "server/client_socket.h"

#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>
#include <string>

namespace hearth::server {

namespace {

// The numeric host and port of a socket address, formatted as cpp-httplib formats them.
bool host_and_port(const sockaddr_storage& addr, socklen_t len, std::string& host, int& port) {
    char buf[NI_MAXHOST];
    if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, buf, sizeof buf, nullptr, 0,
                    NI_NUMERICHOST) != 0)
        return false;
    host = buf;
    if (addr.ss_family == AF_INET)
        port = ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
    else if (addr.ss_family == AF_INET6)
        port = ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
    else
        return false;
    return true;
}

bool is_connection_of(int fd, const httplib::Request& req) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    std::string host;
    int port = -1;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        !host_and_port(addr, len, host, port) || port != req.local_port)
        return false;
    len = sizeof addr;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        !host_and_port(addr, len, host, port))
        return false;
    return port == req.remote_port && host == req.remote_addr;
}

}  // namespace

ClientSocket ClientSocket::of(const httplib::Request& req) {
    DIR* dir = opendir("/proc/self/fd");
    if (!dir) return {};
    int found = -1;
    while (dirent* entry = readdir(dir)) {
        if (entry->d_name[0] == '.') continue;
        const int fd = std::atoi(entry->d_name);
        if (fd != dirfd(dir) && is_connection_of(fd, req)) {
            found = fd;
            break;
        }
    }
    closedir(dir);
    return ClientSocket(found);
}

bool ClientSocket::closed() const {
    if (fd_ < 0) return false;
    // A request's body has been read in full, so the peer has nothing more to say: readable
    // end-of-stream (POLLRDHUP), a reset or an error all mean it is gone. A pipelined next
    // request only makes the socket readable (POLLIN), which is not a close.
    pollfd p{fd_, POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return false;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

}  // namespace hearth::server
