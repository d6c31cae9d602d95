#pragma once
// One HTTP/1.1 exchange as the layers above see it: a request read in full, and a Responder
// that answers it either at once or as a stream of chunks. No socket appears here, so the same
// handler serves real connections, tests and the fuzzer.
#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth::http {

using Clock = std::chrono::steady_clock;
using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
    std::string method;       // as sent: "GET", "POST", ...
    std::string target;       // as sent: path and query
    std::string path;         // percent-decoded, checked to be UTF-8
    std::string query;        // after '?', not decoded
    int version = 11;         // 10 or 11
    Headers headers;          // names lower-case, in the order sent
    std::string body;         // de-chunked
    std::string remote_addr;  // the client's IP address
    bool keep_alive = true;
    Clock::time_point started;  // when its first byte arrived

    // The value of the first header called `name` (case-insensitive), "" when absent.
    std::string header(std::string_view name) const;
    bool has_header(std::string_view name) const;
};

struct Response {
    int status = 200;
    Headers headers;
    std::string body;

    Response() = default;
    Response(int status_, std::string body_, std::string content_type)
        : status(status_), body(std::move(body_)) {
        set_header("Content-Type", std::move(content_type));
    }
    // Replaces a header of the same name (case-insensitive), or adds it.
    void set_header(std::string name, std::string value);
    std::string header(std::string_view name) const;
};

// How a handler answers. Exactly one of send() or begin_stream() ... end_stream() per request.
class Responder {
  public:
    virtual ~Responder() = default;
    // The whole answer at once.
    virtual void send(Response response) = 0;
    // Sends the status and headers of an answer whose body follows in write() calls (chunked).
    // False when the client is gone.
    virtual bool begin_stream(Response head) = 0;
    // One piece of a streamed body; waits until it is sent. False once the client is gone or
    // stopped reading for longer than the write timeout.
    virtual bool write(std::string_view data) = 0;
    virtual void end_stream() = 0;
    // True once the client closed its side or the connection broke: its answer goes nowhere.
    virtual bool client_gone() const = 0;

    // The status sent (0: nothing yet), for the access log.
    int status() const { return status_; }
    bool answered() const { return status_ != 0; }

  protected:
    int status_ = 0;
};

// The status line's reason text ("Not Found").
std::string_view reason_phrase(int status);

// The bytes of a whole response; `head_only` for HEAD requests (length kept, body left out).
std::string serialize(const Response& response, bool keep_alive, bool head_only = false);
// The status line and headers of a chunked response.
std::string serialize_stream_head(const Response& head, bool keep_alive);
// One chunk of a chunked body ("" gives the last-chunk marker).
std::string chunk(std::string_view data);

}  // namespace hearth::http
