#include "http/server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <condition_variable>
#include <deque>
#include <future>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/error.h"
#include "core/log.h"
#include "http/tls.h"

namespace hearth::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using TlsContext = asio::ssl::context;
using TlsStream = asio::ssl::stream<tcp::socket&>;

namespace {

// What a connection is doing; the deadline and the eviction order follow from it.
enum class Phase {
    Idle,      // keep-alive, waiting for the next request's first byte
    Head,      // reading a request line and headers (a new connection starts here)
    Body,      // reading a body
    Handling,  // a handler thread owns the request; nothing is read meanwhile
};

// A fixed set of threads running queued tasks; counts the tasks in flight.
class HandlerPool {
  public:
    explicit HandlerPool(int threads) {
        for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { loop(); });
    }
    ~HandlerPool() {
        {
            std::lock_guard lock(mutex_);
            done_ = true;
        }
        wake_.notify_all();
        for (auto& t : threads_) t.join();
    }
    void post(std::function<void()> task) {
        {
            std::lock_guard lock(mutex_);
            tasks_.push_back(std::move(task));
            ++busy_;
        }
        wake_.notify_one();
    }
    bool idle() const { return busy_.load() == 0; }

  private:
    void loop() {
        for (;;) {
            std::function<void()> task;
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return done_ || !tasks_.empty(); });
                if (tasks_.empty()) return;
                task = std::move(tasks_.front());
                tasks_.pop_front();
            }
            task();
            --busy_;
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> tasks_;
    std::atomic<size_t> busy_{0};
    bool done_ = false;
    std::vector<std::thread> threads_;
};

Response plain_error(int status, const std::string& message) {
    return Response(status, message + "\n", "text/plain; charset=utf-8");
}

}  // namespace

struct Connection;

// Handlers capture the Impl by plain pointer: they only run inside run(), while it lives, and
// the io_context destroys the ones still pending when the Impl goes.
struct Server::Impl {
    ServerLimits limits;
    Handler handler;
    Hooks hooks;
    asio::io_context io;
    tcp::acceptor acceptor{io};
    asio::steady_timer accept_retry{io};
    asio::steady_timer stop_timer{io};
    std::list<std::shared_ptr<Connection>> connections;  // I/O thread only
    std::unordered_map<std::string, size_t> per_client;  // I/O thread only
    bool stopping = false;                                // I/O thread only
    bool draining = false;                                // I/O thread only
    Clock::time_point force_close_at;
    std::atomic<bool> io_stopped{false};
    std::atomic<size_t> open{0};
    Clock::time_point last_busy_log{};
    size_t refused_since_log = 0;
    HandlerPool workers;
    mutable std::mutex tls_mutex;
    std::shared_ptr<TlsContext> tls_context;  // under tls_mutex; null: plain HTTP

    Impl(ServerLimits l, Handler h, Hooks k)
        : limits(l), handler(std::move(h)), hooks(std::move(k)), workers(l.handler_threads) {
        if (!hooks.error_response) hooks.error_response = plain_error;
    }

    std::shared_ptr<TlsContext> current_tls() const {
        std::lock_guard lock(tls_mutex);
        return tls_context;
    }
    void accept();
    void admit(tcp::socket socket);
    bool evict_for(const std::string* client);
    void refuse_busy(tcp::socket socket, const std::string& remote);
    void forget(Connection& c);
    void begin_stop(std::chrono::milliseconds grace, bool drain);
    void check_stopped();
};

// One client connection. Its socket, reader and timer are touched on the I/O thread only;
// a handler thread reaches it through posted work and the close lock.
struct Connection : std::enable_shared_from_this<Connection> {
    Server::Impl& server;
    tcp::socket socket;
    // With TLS: the context (held while the stream uses it) and the stream over `socket`.
    std::shared_ptr<TlsContext> tls_context;
    std::unique_ptr<TlsStream> tls;
    bool tls_open = false;  // handshake done: bytes go through `tls`, else straight to `socket`
    asio::steady_timer timer;
    RequestReader reader;
    std::string remote;
    Phase phase = Phase::Head;
    Clock::time_point phase_since = Clock::now();
    Clock::time_point request_started = Clock::now();
    std::list<std::shared_ptr<Connection>>::iterator registered;
    std::array<char, 16384> incoming{};
    bool reading = false;
    bool continue_sent = false;
    unsigned deadline_epoch = 0;
    size_t body_progress = 0;
    mutable std::mutex close_mutex;
    bool closed = false;  // under close_mutex; written on the I/O thread

    Connection(Server::Impl& s, tcp::socket sock, std::string addr,
               std::shared_ptr<TlsContext> tls_ctx)
        : server(s),
          socket(std::move(sock)),
          tls_context(std::move(tls_ctx)),
          timer(s.io),
          reader(s.limits.read),
          remote(std::move(addr)) {
        if (tls_context) tls = std::make_unique<TlsStream>(socket, *tls_context);
    }

    bool is_closed() const {
        std::lock_guard lock(close_mutex);
        return closed;
    }

    // The header deadline runs from here: with TLS it covers the handshake too, so a client
    // that connects and never (or slowly) says hello is cut off like one trickling its head.
    void start() {
        enter(Phase::Head, server.limits.header_timeout);
        if (tls) return await_hello();
        read_more();
    }

    void await_hello() {
        socket.async_wait(tcp::socket::wait_read, [self = shared_from_this()](const error_code& ec) {
            if (self->is_closed()) return;
            if (ec) return self->close();
            self->on_hello();
        });
    }

    // The first byte tells a TLS client from one speaking plain HTTP to this port; the latter
    // gets a plain answer saying so instead of a handshake failure it cannot read.
    void on_hello() {
        unsigned char first = 0;
        error_code ec;
        socket.non_blocking(true, ec);
        const size_t n = socket.receive(asio::buffer(&first, 1), tcp::socket::message_peek, ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) return await_hello();
        if (ec || n == 0) return close();
        if (first != kTlsHandshakeRecord) {
            return refuse(400, kHttpsOnlyMessage);
        }
        tls->async_handshake(TlsStream::server, [self = shared_from_this()](const error_code& e) {
            if (self->is_closed()) return;
            if (e) {
                log::debug("TLS handshake with {} failed: {}", self->remote, e.message());
                return self->close();
            }
            self->tls_open = true;
            self->read_more();
        });
    }

    void enter(Phase p, std::chrono::milliseconds deadline) {
        phase = p;
        phase_since = Clock::now();
        arm(deadline);
    }

    void arm(std::chrono::milliseconds after) {
        const unsigned epoch = ++deadline_epoch;
        timer.expires_after(after);
        timer.async_wait([self = shared_from_this(), epoch](const error_code& ec) {
            if (ec || epoch != self->deadline_epoch || self->is_closed()) return;
            self->close();  // a read or write deadline passed
        });
    }

    void disarm() {
        ++deadline_epoch;
        timer.cancel();
    }

    void read_more() {
        if (reading || is_closed()) return;
        reading = true;
        auto on_read = [self = shared_from_this()](const error_code& ec, size_t n) {
            self->reading = false;
            if (self->is_closed()) return;
            if (ec) return self->close();
            self->on_bytes(n);
        };
        if (tls_open)
            tls->async_read_some(asio::buffer(incoming), std::move(on_read));
        else
            socket.async_read_some(asio::buffer(incoming), std::move(on_read));
    }

    void on_bytes(size_t n) {
        if (phase == Phase::Idle) {
            request_started = Clock::now();
            enter(Phase::Head, server.limits.header_timeout);
        }
        reader.feed(std::string_view(incoming.data(), n));
        process();
    }

    // Acts on what the reader has: a request to hand over, an error to answer, or more to read.
    void process() {
        switch (reader.status()) {
            case RequestReader::Status::Failed:
                return refuse(reader.error_status(), reader.error_message());
            case RequestReader::Status::Complete:
                return dispatch();
            case RequestReader::Status::Empty:
                break;
            case RequestReader::Status::Partial:
                if (phase == Phase::Idle) {
                    request_started = Clock::now();
                    enter(Phase::Head, server.limits.header_timeout);
                }
                if (reader.head_done()) {
                    // The stall deadline restarts whenever the body moves.
                    if (phase != Phase::Body || reader.consumed() != body_progress) {
                        body_progress = reader.consumed();
                        enter(Phase::Body, server.limits.body_stall_timeout);
                    }
                    if (reader.expects_continue() && !continue_sent) {
                        continue_sent = true;
                        write_async(std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n"),
                                    nullptr);
                    }
                }
                break;
        }
        read_more();
    }

    void dispatch();
    void refuse(int status, const std::string& why);
    void linger();
    void half_close_and_drain();
    void drain();
    void after_response(bool keep_alive);

    // Writes `bytes`; then runs `done(ok)` on the I/O thread (null: nothing more to do).
    void write_async(std::shared_ptr<std::string> bytes, std::function<void(bool)> done) {
        auto on_written = [self = shared_from_this(), bytes, done](const error_code& ec, size_t) {
            if (ec) self->close();
            if (done) done(!ec && !self->is_closed());
        };
        if (tls_open)
            asio::async_write(*tls, asio::buffer(*bytes), std::move(on_written));
        else
            asio::async_write(socket, asio::buffer(*bytes), std::move(on_written));
    }

    void close() {
        {
            std::lock_guard lock(close_mutex);
            if (closed) return;
            closed = true;
            error_code ignored;
            socket.shutdown(tcp::socket::shutdown_both, ignored);
            socket.close(ignored);
        }
        disarm();
        server.forget(*this);
    }

    // The client hung up or broke the connection (checked from handler threads).
    bool peer_gone() const {
        std::lock_guard lock(close_mutex);
        if (closed) return true;
        // The request was read in full, so the peer has nothing more to say: end-of-stream
        // (POLLRDHUP), a reset or an error all mean it is gone. A pipelined next request only
        // makes the socket readable (POLLIN), which is not a close.
        pollfd p{const_cast<tcp::socket&>(socket).native_handle(), POLLRDHUP, 0};
        if (poll(&p, 1, 0) <= 0) return false;
        return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
    }
};

namespace {

// Answers one request on a handler thread; writes go through the I/O thread.
class ConnectionResponder : public Responder {
  public:
    ConnectionResponder(std::shared_ptr<Connection> c, bool keep_alive, bool head_only)
        : conn_(std::move(c)), keep_alive_(keep_alive), head_only_(head_only) {}

    void send(Response response) override {
        if (answered()) return;
        status_ = response.status;
        auto bytes = std::make_shared<std::string>(serialize(response, keep_alive_, head_only_));
        const bool keep = keep_alive_;
        asio::post(conn_->server.io, [c = conn_, bytes, keep] {
            if (c->is_closed()) return;
            c->arm(c->server.limits.write_timeout);
            c->write_async(bytes, [c, keep](bool ok) {
                if (ok) c->after_response(keep);
            });
        });
    }

    bool begin_stream(Response head) override {
        if (answered()) return false;
        status_ = head.status;
        streaming_ = true;
        if (head_only_) return false;
        return write_now(serialize_stream_head(head, keep_alive_));
    }

    bool write(std::string_view data) override {
        if (!streaming_ || ended_ || failed_) return false;
        if (data.empty()) return !client_gone();
        return write_now(chunk(data));
    }

    void end_stream() override {
        if (!streaming_ || ended_) return;
        ended_ = true;
        if (failed_ || head_only_) {
            asio::post(conn_->server.io, [c = conn_] { c->close(); });
            return;
        }
        const bool ok = write_now(chunk(""));
        asio::post(conn_->server.io, [c = conn_, ok, keep = keep_alive_] {
            if (ok) c->after_response(keep);
            else c->close();
        });
    }

    bool client_gone() const override { return failed_ || conn_->peer_gone(); }

    // Called once the handler returned: a handler that answered nothing gets a 500.
    void finish() {
        if (!answered()) {
            send(conn_->server.hooks.error_response(500, "the request was not answered"));
        } else if (streaming_ && !ended_) {
            end_stream();
        }
    }

  private:
    // Sends and waits until the bytes are out (or the write timed out, or the client left).
    bool write_now(std::string bytes) {
        auto shared = std::make_shared<std::string>(std::move(bytes));
        auto result = std::make_shared<std::promise<bool>>();
        std::future<bool> done = result->get_future();
        asio::post(conn_->server.io, [c = conn_, shared, result] {
            if (c->is_closed()) return result->set_value(false);
            c->arm(c->server.limits.write_timeout);
            c->write_async(shared, [c, result](bool ok) {
                c->disarm();
                result->set_value(ok);
            });
        });
        // The I/O thread ends only after every handler returned, but a server torn down
        // mid-write must not leave this thread waiting forever.
        while (done.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready) {
            if (conn_->server.io_stopped.load()) {
                failed_ = true;
                return false;
            }
        }
        failed_ = !done.get();
        return !failed_;
    }

    std::shared_ptr<Connection> conn_;
    bool keep_alive_;
    bool head_only_;
    bool streaming_ = false;
    bool ended_ = false;
    bool failed_ = false;
};

}  // namespace

void Connection::dispatch() {
    disarm();
    phase = Phase::Handling;
    phase_since = Clock::now();
    Request request = reader.take();
    request.remote_addr = remote;
    request.started = request_started;
    continue_sent = false;
    body_progress = 0;
    const bool keep_alive = request.keep_alive && !server.stopping;
    auto responder = std::make_shared<ConnectionResponder>(shared_from_this(), keep_alive,
                                                           request.method == "HEAD");
    server.workers.post([responder, request = std::move(request), &server = server] {
        try {
            server.handler(request, *responder);
        } catch (const std::exception& e) {
            log::error("request handler failed: {}", e.what());
        } catch (...) {
            log::error("request handler failed");
        }
        responder->finish();
    });
}

void Connection::refuse(int status, const std::string& why) {
    disarm();
    Request partial;
    partial.remote_addr = remote;
    partial.started = request_started;
    if (server.hooks.on_refused) server.hooks.on_refused(partial, status, why);
    Response response = server.hooks.error_response(status, why);
    // What follows a malformed request cannot be trusted to start a new one.
    auto bytes = std::make_shared<std::string>(serialize(response, /*keep_alive=*/false));
    phase = Phase::Handling;
    arm(server.limits.write_timeout);
    write_async(bytes, [self = shared_from_this()](bool ok) {
        if (ok) self->linger();
    });
}

// Closing with unread input makes the kernel send a reset, which can destroy the answer
// before the client reads it; so the send side is closed first and what the client still
// sends is read and dropped, for a second at most. Over TLS a close_notify goes first (the
// client then knows the answer is whole, not cut off); OpenSSL waits for the client's own,
// within the same second.
void Connection::linger() {
    arm(std::chrono::milliseconds(1000));
    if (!tls_open) return half_close_and_drain();
    tls->async_shutdown([self = shared_from_this()](const error_code&) {
        if (self->is_closed()) return;
        self->half_close_and_drain();
    });
}

void Connection::half_close_and_drain() {
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    drain();
}

void Connection::drain() {
    socket.async_read_some(asio::buffer(incoming),
                           [self = shared_from_this()](const error_code& ec, size_t) {
                               if (self->is_closed()) return;
                               if (ec) return self->close();
                               self->drain();
                           });
}

void Connection::after_response(bool keep_alive) {
    if (is_closed()) return;
    if (!keep_alive || server.stopping) {
        if (tls_open) return linger();  // the client needs TLS's close_notify
        // Half-close first so the client reads the whole answer before the connection ends.
        error_code ignored;
        socket.shutdown(tcp::socket::shutdown_send, ignored);
        return close();
    }
    if (reader.status() == RequestReader::Status::Empty) {
        enter(Phase::Idle, server.limits.idle_timeout);
        read_more();
    } else {
        // A pipelined request arrived while the last one was handled.
        request_started = Clock::now();
        enter(Phase::Head, server.limits.header_timeout);
        process();
    }
}

void Server::Impl::accept() {
    acceptor.async_accept([self = this](const error_code& ec, tcp::socket socket) {
        // A connection accepted just before a drain began is served, not dropped.
        if (self->stopping) {
            if (!ec && self->draining) self->admit(std::move(socket));
            return;
        }
        if (ec == asio::error::operation_aborted) return;
        if (ec) {
            // Out of file descriptors (or a transient error): pause instead of spinning.
            log::warn("accept failed: {}; retrying in 100 ms", ec.message());
            self->accept_retry.expires_after(std::chrono::milliseconds(100));
            self->accept_retry.async_wait([self](const error_code& e) {
                if (!e && !self->stopping) self->accept();
            });
            return;
        }
        self->admit(std::move(socket));
        self->accept();
    });
}

void Server::Impl::admit(tcp::socket socket) {
    error_code ec;
    const auto endpoint = socket.remote_endpoint(ec);
    if (ec) return;  // already gone
    std::string remote = endpoint.address().to_string();
    socket.set_option(tcp::no_delay(true), ec);  // SSE sends many small frames
    if (connections.size() >= limits.max_connections && !evict_for(nullptr))
        return refuse_busy(std::move(socket), remote);
    auto known = per_client.find(remote);
    const size_t from_client = known == per_client.end() ? 0 : known->second;
    if (from_client >= limits.max_connections_per_client && !evict_for(&remote))
        return refuse_busy(std::move(socket), remote);
    auto c = std::make_shared<Connection>(*this, std::move(socket), remote, current_tls());
    connections.push_front(c);
    c->registered = connections.begin();
    ++per_client[remote];
    ++open;
    c->start();
}

// Makes room: the oldest idle keep-alive connection goes first, then the one that has been
// sending its head the longest. Connections with a request in hand are never closed for room.
bool Server::Impl::evict_for(const std::string* client) {
    for (Phase wanted : {Phase::Idle, Phase::Head}) {
        std::shared_ptr<Connection> oldest;
        for (const auto& c : connections) {
            if (c->phase != wanted || (client && c->remote != *client)) continue;
            if (!oldest || c->phase_since < oldest->phase_since) oldest = c;
        }
        if (oldest) {
            oldest->close();
            return true;
        }
    }
    return false;
}

void Server::Impl::refuse_busy(tcp::socket socket, const std::string& remote) {
    ++refused_since_log;
    const auto now = Clock::now();
    if (now - last_busy_log > std::chrono::seconds(1)) {
        log::warn("connection limit reached: refused {} connection(s) (latest from {})",
                  refused_since_log, remote);
        last_busy_log = now;
        refused_since_log = 0;
    }
    Request partial;
    partial.remote_addr = remote;
    partial.started = now;
    if (hooks.on_refused) hooks.on_refused(partial, 503, "connection limit reached");
    error_code ec;
    if (current_tls()) {
        // A TLS client could not read a plain answer, and a handshake would cost what the cap
        // saves: just close.
        socket.close(ec);
        return;
    }
    Response response =
        hooks.error_response(503, "the server has too many open connections; retry shortly");
    response.set_header("Retry-After", "1");
    auto bytes = std::make_shared<std::string>(serialize(response, false));
    auto sock = std::make_shared<tcp::socket>(std::move(socket));
    // One non-blocking attempt: a client that does not read its refusal is not waited for.
    sock->non_blocking(true, ec);
    sock->write_some(asio::buffer(*bytes), ec);
    sock->shutdown(tcp::socket::shutdown_both, ec);
    sock->close(ec);
}

void Server::Impl::forget(Connection& c) {
    connections.erase(c.registered);
    auto it = per_client.find(c.remote);
    if (it != per_client.end() && --it->second == 0) per_client.erase(it);
    --open;
}

void Server::Impl::begin_stop(std::chrono::milliseconds grace, bool drain) {
    // A stop during a drain cuts it short; anything else after the first call changes nothing.
    if (stopping && (drain || !draining)) return;
    const bool first = !stopping;
    stopping = true;
    draining = drain;
    error_code ignored;
    acceptor.close(ignored);
    accept_retry.cancel();
    // A drain keeps every connection whose client may already have sent a request (a new
    // one included): only those idle between requests are closed.
    std::vector<std::shared_ptr<Connection>> quiet;
    for (const auto& c : connections) {
        if (drain ? c->phase == Phase::Idle : c->phase != Phase::Handling) quiet.push_back(c);
    }
    for (const auto& c : quiet) c->close();
    force_close_at = first ? Clock::now() + grace : std::min(force_close_at, Clock::now() + grace);
    if (first) check_stopped();  // which then polls until the end
}

// Polls until every connection is closed and every handler returned; past the grace period
// it closes what is left (handlers then see their client gone).
void Server::Impl::check_stopped() {
    if (connections.empty() && workers.idle()) {
        io_stopped = true;
        io.stop();
        return;
    }
    if (Clock::now() >= force_close_at) {
        std::vector<std::shared_ptr<Connection>> left(connections.begin(), connections.end());
        for (const auto& c : left) c->close();
    }
    stop_timer.expires_after(std::chrono::milliseconds(20));
    stop_timer.async_wait([self = this](const error_code& ec) {
        if (!ec) self->check_stopped();
    });
}

Server::Server(ServerLimits limits, Handler handler, Hooks hooks)
    : impl_(std::make_unique<Impl>(limits, std::move(handler), std::move(hooks))) {}

Server::~Server() {
    // Handler threads waiting on a write give up once they see this.
    impl_->io_stopped = true;
}

int open_listener(const std::string& host, int port) {
    asio::io_context io;
    error_code ec;
    tcp::resolver resolver(io);
    auto endpoints = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
    if (ec || endpoints.empty())
        throw Error("cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
    const tcp::endpoint endpoint = endpoints.begin()->endpoint();
    tcp::acceptor a(io);
    a.open(endpoint.protocol(), ec);
    if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) a.bind(endpoint, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        error_code ignored;
        a.close(ignored);
        throw Error("cannot listen on " + host + ":" + std::to_string(port) + " (" + ec.message() +
                    "; in use, or not an address of this machine)");
    }
    const int fd = a.release();
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

int Server::bind(const std::string& host, int port) {
    return listen_on(open_listener(host, port));
}

int Server::listen_on(int fd) {
    // Each connection is a file descriptor: allow as many as the hard limit lets us.
    rlimit fds{};
    if (getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
        fds.rlim_cur = std::min<rlim_t>(fds.rlim_max, 1 << 20);
        setrlimit(RLIMIT_NOFILE, &fds);
    }
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    int listening = 0;
    socklen_t flag_length = sizeof listening;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
        (address.ss_family != AF_INET && address.ss_family != AF_INET6) ||
        ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &flag_length) != 0 || !listening)
        throw Error("descriptor " + std::to_string(fd) + " is not a listening TCP socket");
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    error_code ec;
    tcp::acceptor& a = impl_->acceptor;
    a.assign(address.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
    if (ec) throw Error("cannot accept on descriptor " + std::to_string(fd) + ": " + ec.message());
    return a.local_endpoint().port();
}

void Server::use_tls(const TlsFiles& files) {
    auto context = make_tls_context(files.cert_file, files.key_file);
    std::lock_guard lock(impl_->tls_mutex);
    impl_->tls_context = std::move(context);
}

bool Server::tls() const {
    return impl_->current_tls() != nullptr;
}

void Server::run() {
    if (impl_->io_stopped) return;
    impl_->accept();
    impl_->io.run();
}

void Server::stop(std::chrono::milliseconds grace) {
    if (impl_->io_stopped) return;
    asio::post(impl_->io, [impl = impl_.get(), grace] { impl->begin_stop(grace, false); });
}

void Server::drain(std::chrono::milliseconds grace) {
    if (impl_->io_stopped) return;
    asio::post(impl_->io, [impl = impl_.get(), grace] { impl->begin_stop(grace, true); });
}

size_t Server::open_connections() const {
    return impl_->open.load();
}

}  // namespace hearth::http
