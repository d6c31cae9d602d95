#include "server/cors.h"

#include <algorithm>

namespace hearth::server {

namespace {

std::string trim(const std::string& s) {
    const char* ws = " \t";
    const size_t b = s.find_first_not_of(ws);
    if (b == std::string::npos) return {};
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

}  // namespace

CorsPolicy CorsPolicy::from_flags(const std::vector<std::string>& values) {
    std::vector<std::string> origins;
    for (const std::string& value : values) {
        size_t start = 0;
        while (start <= value.size()) {
            size_t comma = value.find(',', start);
            if (comma == std::string::npos) comma = value.size();
            std::string origin = trim(value.substr(start, comma - start));
            if (origin == "none") return CorsPolicy(std::vector<std::string>{});
            if (!origin.empty()) origins.push_back(origin);
            start = comma + 1;
        }
    }
    if (origins.empty()) return CorsPolicy();
    return CorsPolicy(std::move(origins));
}

void CorsPolicy::mark(const httplib::Request& req, httplib::Response& res) const {
    if (std::find(origins_.begin(), origins_.end(), "*") != origins_.end()) {
        res.set_header("Access-Control-Allow-Origin", "*");
        return;
    }
    if (!enabled()) return;
    // The answer depends on the Origin header, so caches must keep one copy per origin.
    res.set_header("Vary", "Origin");
    const std::string origin = req.get_header_value("Origin");
    if (std::find(origins_.begin(), origins_.end(), origin) != origins_.end())
        res.set_header("Access-Control-Allow-Origin", origin);
}

void CorsPolicy::answer_preflight(const httplib::Request& req, httplib::Response& res) const {
    mark(req, res);
    res.status = 204;
    res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    // Browsers need Authorization listed by name (a "*" does not cover it); SDKs add their own
    // headers (the OpenAI SDK's X-Stainless-*), which the browser names in the request.
    std::string headers = "Authorization, Content-Type";
    const std::string requested = req.get_header_value("Access-Control-Request-Headers");
    if (!requested.empty()) headers += ", " + requested;
    res.set_header("Access-Control-Allow-Headers", headers);
    res.set_header("Access-Control-Max-Age", "86400");
}

}  // namespace hearth::server
