#pragma once
// Turns the bytes of one connection into requests, one at a time: the head within a size
// limit, the body (Content-Length or chunked) within --max-body, the target decoded and checked.
// Bytes of a pipelined next request stay buffered until the current one is answered.
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/message.h"

namespace hearth::http {

struct ReadLimits {
    size_t max_header_bytes = 16u << 10;
    size_t max_body_bytes = 8u << 20;
};

class RequestReader {
  public:
    enum class Status {
        Empty,     // no byte of the next request yet
        Partial,   // some of it
        Complete,  // a whole request: take() it
        Failed,    // malformed or over a limit: answer error_status() and close
    };

    explicit RequestReader(ReadLimits limits);
    ~RequestReader();
    RequestReader(RequestReader&&) noexcept;

    // Adds received bytes and parses as far as they go.
    void feed(std::string_view bytes);
    Status status() const { return status_; }
    bool head_done() const;
    // The head asked for "Expect: 100-continue" and the body has not started.
    bool expects_continue() const;
    // The complete request; the reader moves on to the next one with the bytes left over.
    Request take();
    int error_status() const { return error_status_; }
    const std::string& error_message() const { return error_message_; }
    // Bytes parsed so far for the current request (body progress, for stall deadlines).
    size_t consumed() const { return consumed_; }

  private:
    void parse();
    void fail(int status, std::string message);
    void start_next();

    ReadLimits limits_;
    struct Parser;
    std::unique_ptr<Parser> parser_;
    std::string buffer_;
    std::string path_, query_;  // the target, checked as soon as the head is read
    bool target_checked_ = false;
    size_t consumed_ = 0;
    Status status_ = Status::Empty;
    int error_status_ = 0;
    std::string error_message_;
};

// Percent-decodes `raw` into `out`; false, with `error` saying why ("has a bad %-escape",
// "holds a NUL byte"), when it cannot.
bool percent_decode(std::string_view raw, std::string& out, std::string& error);
// The value of `name` in a query string ("a=1&b=x%20y"), '+' read as a space and %-decoded
// (kept as sent when it cannot be); nullopt when the query does not have it.
std::optional<std::string> query_value(std::string_view query, std::string_view name);

// Splits a request target into a percent-decoded path and the raw query. False, with `error`
// set, when the target is not origin-form or absolute-form, a %-escape is bad, or the decoded
// path holds a NUL or is not UTF-8.
bool split_target(std::string_view target, std::string& path, std::string& query,
                  std::string& error);

}  // namespace hearth::http
