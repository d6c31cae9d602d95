#pragma once
// Cross-origin access for browser clients (web apps, OpenWebUI direct connections): answers
// preflight OPTIONS requests and marks responses with Access-Control-Allow-Origin. CORS only
// decides which web pages may read the answers; API keys still guard every request.
#include <httplib.h>

#include <string>
#include <vector>

namespace hearth::server {

class CorsPolicy {
  public:
    // Allowed origins: "*" for any (the default), exact origins ("https://app.example"), or none
    // at all (CORS off: no headers, and OPTIONS is routed like any other method).
    CorsPolicy() = default;
    explicit CorsPolicy(std::vector<std::string> origins) : origins_(std::move(origins)) {}
    // From --cors-origin values: each may be a comma list; "none" turns CORS off; no values
    // gives the default "*".
    static CorsPolicy from_flags(const std::vector<std::string>& values);

    bool enabled() const { return !origins_.empty(); }
    const std::vector<std::string>& origins() const { return origins_; }
    // Adds Access-Control-Allow-Origin (and Vary) when the request's origin is allowed.
    void mark(const httplib::Request& req, httplib::Response& res) const;
    // The 204 answer to a preflight request.
    void answer_preflight(const httplib::Request& req, httplib::Response& res) const;

  private:
    std::vector<std::string> origins_ = {"*"};
};

}  // namespace hearth::server
