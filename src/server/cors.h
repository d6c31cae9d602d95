#pragma once
// What web pages in a browser may do with the API. CORS decides which pages may read answers
// (preflight OPTIONS and Access-Control-Allow-Origin); without API keys, requests from other
// origins are refused outright, and the Host header must name this server, so a page the user
// visits cannot drive a loopback-only server, even through a DNS name it controls (rebinding).
#include <string>
#include <vector>

#include "http/message.h"

namespace hearth::server {

class CorsPolicy {
  public:
    // `origins`: exact origins ("https://app.example"), "*" for any, "none" for CORS off, or
    // nothing: any origin when API keys are set, else only pages served from this machine
    // (http(s)://localhost, 127.0.0.1, [::1], any port), which are always allowed. `tls`: the
    // server speaks HTTPS, so its own pages' origin is https://HOST.
    CorsPolicy(std::vector<std::string> origins, bool keys_enabled, bool tls = false);
    // From --cors-origin values: each may be a comma list.
    static std::vector<std::string> parse_flags(const std::vector<std::string>& values);

    bool enabled() const { return enabled_; }
    bool allows(const std::string& origin) const;
    // Without API keys a request from a page of another origin is refused (403): the browser
    // would send it (a form post needs no preflight) even though it may not read the answer.
    // A page's own requests (Origin is this server's scheme and the request's Host) pass.
    bool refuses(const http::Request& req) const;
    // Adds Access-Control-Allow-Origin (and Vary) when the request's origin is allowed.
    void mark(const http::Request& req, http::Response& res) const;
    // The 204 answer to a preflight request.
    http::Response answer_preflight(const http::Request& req) const;

  private:
    std::vector<std::string> origins_;
    bool any_ = false;
    bool enabled_ = true;
    bool keys_enabled_ = false;
    bool tls_ = false;
};

// The Host names a server without API keys answers to: loopback names, the address it listens
// on and the names given with --allowed-host ("*" allows any). With keys any Host is accepted.
class HostCheck {
  public:
    HostCheck(std::vector<std::string> allowed, const std::string& listen_host, bool keys_enabled);
    bool accepts(const http::Request& req) const;

  private:
    std::vector<std::string> allowed_;
    bool any_ = false;
};

// "localhost" from "localhost:8080", "::1" from "[::1]:8080"; lower-cased.
std::string host_name_of(const std::string& host_header);
// True for http(s)://localhost, 127.0.0.1 and [::1] origins on any port.
bool is_loopback_origin(const std::string& origin);

}  // namespace hearth::server
