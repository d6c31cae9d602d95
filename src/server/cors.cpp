#include "server/cors.h"

#include <algorithm>
#include <cctype>

namespace hearth::server {

namespace {

std::string trim(const std::string& s) {
    const char* ws = " \t";
    const size_t b = s.find_first_not_of(ws);
    if (b == std::string::npos) return {};
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool is_loopback_name(const std::string& name) {
    return name == "localhost" || name == "127.0.0.1" || name == "::1" ||
           (name.size() > 10 && name.ends_with(".localhost"));
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

// "host:port" without the scheme's default port, lower-cased, as an origin serialises it.
std::string authority_without_default_port(const std::string& authority, bool tls) {
    std::string a = lower(trim(authority));
    const std::string default_port = tls ? ":443" : ":80";
    if (a.ends_with(default_port)) a.resize(a.size() - default_port.size());
    return a;
}

// Whether `origin` is the page's own: this server's scheme and the Host the request names.
// (The Host was checked first, so this admits only names the server answers to.)
bool is_same_origin(const std::string& origin, const std::string& host_header, bool tls) {
    const std::string scheme = tls ? "https://" : "http://";
    const std::string o = lower(origin);
    if (host_header.empty() || !o.starts_with(scheme)) return false;
    return authority_without_default_port(o.substr(scheme.size()), tls) ==
           authority_without_default_port(host_header, tls);
}

}  // namespace

std::string host_name_of(const std::string& host_header) {
    std::string h = lower(trim(host_header));
    if (!h.empty() && h[0] == '[') {
        const size_t close = h.find(']');
        return close == std::string::npos ? h : h.substr(1, close - 1);
    }
    const size_t colon = h.find(':');
    return colon == std::string::npos ? h : h.substr(0, colon);
}

bool is_loopback_origin(const std::string& origin) {
    const std::string o = lower(origin);
    size_t start = 0;
    if (o.starts_with("http://"))
        start = 7;
    else if (o.starts_with("https://"))
        start = 8;
    else
        return false;
    const std::string authority = o.substr(start);
    if (authority.find('/') != std::string::npos || authority.find('@') != std::string::npos)
        return false;
    return is_loopback_name(host_name_of(authority));
}

std::vector<std::string> CorsPolicy::parse_flags(const std::vector<std::string>& values) {
    std::vector<std::string> origins;
    for (const std::string& value : values) {
        size_t start = 0;
        while (start <= value.size()) {
            size_t comma = value.find(',', start);
            if (comma == std::string::npos) comma = value.size();
            std::string origin = trim(value.substr(start, comma - start));
            if (origin == "none") return {"none"};
            if (!origin.empty()) origins.push_back(origin);
            start = comma + 1;
        }
    }
    return origins;
}

CorsPolicy::CorsPolicy(std::vector<std::string> origins, bool keys_enabled, bool tls)
    : origins_(std::move(origins)), keys_enabled_(keys_enabled), tls_(tls) {
    enabled_ = !contains(origins_, "none");
    any_ = contains(origins_, "*") || (origins_.empty() && keys_enabled);
}

bool CorsPolicy::allows(const std::string& origin) const {
    if (!enabled_) return false;
    return any_ || contains(origins_, origin) || is_loopback_origin(origin);
}

bool CorsPolicy::refuses(const http::Request& req) const {
    if (keys_enabled_ || !req.has_header("origin")) return false;
    const std::string origin = req.header("origin");
    // A page's own origin on this server is not cross-origin (the browser sends Origin on
    // same-origin POSTs too), whether reached as localhost or as an --allowed-host name.
    if (allows(origin) || is_loopback_origin(origin)) return false;
    return !is_same_origin(origin, req.header("host"), tls_);
}

void CorsPolicy::mark(const http::Request& req, http::Response& res) const {
    if (!enabled_ || !req.has_header("origin")) return;
    if (any_) {
        res.set_header("Access-Control-Allow-Origin", "*");
        return;
    }
    // The answer depends on the Origin header, so caches must keep one copy per origin.
    res.set_header("Vary", "Origin");
    const std::string origin = req.header("origin");
    if (allows(origin)) res.set_header("Access-Control-Allow-Origin", origin);
}

http::Response CorsPolicy::answer_preflight(const http::Request& req) const {
    http::Response res;
    res.status = 204;
    mark(req, res);
    res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    // Browsers need Authorization listed by name (a "*" does not cover it); SDKs add their own
    // headers (the OpenAI SDK's X-Stainless-*), which the browser names in the request.
    std::string headers = "Authorization, Content-Type";
    const std::string requested = req.header("access-control-request-headers");
    if (!requested.empty()) headers += ", " + requested;
    res.set_header("Access-Control-Allow-Headers", headers);
    res.set_header("Access-Control-Max-Age", "86400");
    return res;
}

HostCheck::HostCheck(std::vector<std::string> allowed, const std::string& listen_host,
                     bool keys_enabled)
    : any_(keys_enabled) {
    for (const std::string& a : allowed) {
        if (a == "*") any_ = true;
        allowed_.push_back(host_name_of(a));
    }
    allowed_.push_back(host_name_of(listen_host.find(':') != std::string::npos &&
                                            listen_host.front() != '['
                                        ? "[" + listen_host + "]"
                                        : listen_host));
}

bool HostCheck::accepts(const http::Request& req) const {
    if (any_ || !req.has_header("host")) return true;
    const std::string name = host_name_of(req.header("host"));
    return is_loopback_name(name) || contains(allowed_, name);
}

}  // namespace hearth::server
