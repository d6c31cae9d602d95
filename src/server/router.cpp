#include "server/router.h"

namespace hearth::server {

namespace {

std::vector<std::string> split_path(const std::string& path) {
    std::vector<std::string> parts;
    size_t start = 1;  // paths start with '/'
    while (start <= path.size()) {
        size_t slash = path.find('/', start);
        if (slash == std::string::npos) slash = path.size();
        parts.push_back(path.substr(start, slash - start));
        start = slash + 1;
    }
    return parts;
}

bool matches(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
             std::vector<std::string>& params) {
    if (pattern.size() != path.size()) return false;
    params.clear();
    for (size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i].size() > 1 && pattern[i].front() == '{') {
            if (path[i].empty()) return false;
            params.push_back(path[i]);
        } else if (pattern[i] != path[i]) {
            return false;
        }
    }
    return true;
}

}  // namespace

void Router::add(std::string method, const std::string& pattern, Handler handler) {
    routes_.push_back({std::move(method), split_path(pattern), std::move(handler)});
}

Router::Match Router::find(const std::string& method, const std::string& path) const {
    Match m;
    if (path.empty() || path[0] != '/') return m;
    const std::vector<std::string> parts = split_path(path);
    const std::string& wanted = method == "HEAD" ? std::string("GET") : method;
    std::vector<std::string> params;
    for (const Route& r : routes_) {
        if (!matches(r.segments, parts, params)) continue;
        if (r.method == wanted) {
            m.handler = &r.handler;
            m.params = params;
            m.allow.clear();
            return m;
        }
        if (m.allow.find(r.method) == std::string::npos)
            m.allow += (m.allow.empty() ? "" : ", ") + r.method;
    }
    if (!m.allow.empty()) {
        if (m.allow.find("GET") != std::string::npos) m.allow += ", HEAD";
        m.allow += ", OPTIONS";
    }
    return m;
}

}  // namespace hearth::server
