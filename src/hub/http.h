#pragma once
// A small, blocking libcurl wrapper: just the requests the hub client needs (GET into memory,
// HEAD, streaming GET with Range, the first bytes of a file), and the POSTs CLI commands send
// to a running hearth server. Proxies come from the usual
// environment variables (http_proxy, HTTPS_PROXY, no_proxy), which libcurl reads on its own.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/version.h"

namespace hearth::hub {

struct HttpSettings {
    std::string bearer_token;  // sent as "Authorization: Bearer ..." to the first host only
    long connect_timeout_s = 30;
    long stall_timeout_s = 60;  // abort when fewer than 1 byte/s arrive for this long
    std::string user_agent = std::string("hearth/") + kVersion;
    bool use_proxy = true;  // false: connect directly (a server on this machine)
    long total_timeout_s = 0;  // the whole transfer at most this long; 0: no bound
};

struct HttpResponse {
    long status = 0;
    std::string body;                            // empty for streamed downloads
    std::map<std::string, std::string> headers;  // of the last response, names lower-cased
    std::string effective_url;                   // after redirects

    // Header value or "" when absent; `name` is matched case-insensitively.
    std::string header(const std::string& name) const;
};

// A request body (POST).
struct HttpBody {
    std::string data;
    std::string content_type = "application/json";
};

// Transport failures (no connection, reset, timeout, cancelled). HTTP statuses are not errors
// here: callers look at HttpResponse::status and explain it in their own terms.
class TransportError : public Error {
  public:
    TransportError(const std::string& message, bool cancelled)
        : Error(message), cancelled_(cancelled) {}
    bool cancelled() const { return cancelled_; }

  private:
    bool cancelled_;
};

// Set from a SIGINT handler (or anything else) to stop every transfer in progress.
std::atomic<bool>& cancel_flag();

class Http {
  public:
    explicit Http(HttpSettings settings = {});

    HttpResponse get(const std::string& url) const;
    HttpResponse head(const std::string& url, bool follow_redirects) const;

    // Streams a 200/206 body into `sink`; other statuses are buffered into HttpResponse::body.
    // `resume_from` > 0 asks for "Range: bytes=N-". `on_status` runs once the final status is
    // known, before the first body byte (so a resumed download can restart on a plain 200).
    using Sink = std::function<void(const char* data, size_t size)>;
    using StatusHook = std::function<void(long status)>;
    HttpResponse download(const std::string& url, uint64_t resume_from, const Sink& sink,
                          const StatusHook& on_status = {}) const;

    // The first `n_bytes` (> 0) of a file ("Range: bytes=0-N"; fewer when the file is shorter).
    // A 2xx answer's bytes are in HttpResponse::body, whether the server honoured the range or
    // not (then the transfer is stopped after n_bytes).
    HttpResponse get_prefix(const std::string& url, uint64_t n_bytes) const;

    // POSTs `body` (no redirects followed). With a sink, a 200 answer's body streams into it as
    // it arrives (Server-Sent Events); other statuses, and every answer without a sink, are
    // buffered into HttpResponse::body. cancel_flag() stops it as it stops downloads.
    HttpResponse post(const std::string& url, const HttpBody& body, const Sink& sink = {}) const;

    // A request relayed as it is (federation: another hearth server): `method` GET or POST
    // (`body` null for GET), `headers` as "Name: value" lines besides the settings' bearer
    // token, no redirects, no compression asked for. `on_head` runs once the status and headers
    // are known, before the first body byte; then the body of every status streams into
    // `sink`. Without a sink, the body is buffered into HttpResponse::body (up to 1 MiB).
    // `stop_if` is asked about once a second (and at each chunk); true ends the transfer with
    // a cancelled TransportError (the caller the answer was for is gone).
    using HeadHook = std::function<void(long status, const std::map<std::string, std::string>& headers)>;
    HttpResponse relay(const std::string& method, const std::string& url,
                       const std::vector<std::string>& headers, const HttpBody* body,
                       const HeadHook& on_head = {}, const Sink& sink = {},
                       const std::function<bool()>& stop_if = {}) const;

    const HttpSettings& settings() const { return settings_; }

  private:
    HttpSettings settings_;
};

}  // namespace hearth::hub
