#include "server/web_ui.h"

#include <cctype>
#include <string_view>

#include "core/error.h"
#include "server/web_assets.h"

namespace hearth::server {

namespace {

// Everything comes from this server: no inline script or style, no third-party requests
// (but the OpenID provider's, when the page logs in there), no framing (clickjacking), no
// plugins, and forms and <base> cannot point elsewhere.
std::string content_security_policy(const std::string& connect_also) {
    return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
           "connect-src 'self'" +
           (connect_also.empty() ? "" : " " + connect_also) +
           "; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
           "frame-ancestors 'none'";
}

// "https://id.example:8443" from "https://id.example:8443/realms/x"; throws when the host
// part holds anything but a host name, an IP address and a port (a ';' or a space would
// change the policy it goes into).
std::string origin_of(const std::string& url) {
    const size_t scheme_end = url.find("://");
    const size_t host_end = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
    std::string origin = url.substr(0, host_end);
    for (char& c : origin) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool scheme_ok = origin.starts_with("https://") || origin.starts_with("http://");
    const std::string host = scheme_ok ? origin.substr(origin.find("://") + 3) : std::string();
    const bool host_ok =
        !host.empty() && host.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-:[]") ==
                             std::string::npos;
    if (!host_ok)
        throw Error("--oidc-issuer '" + url +
                    "' has no plain https://host[:port] origin for the web UI's "
                    "Content-Security-Policy");
    return origin;
}

// Shown at / when the build had no npm packages: plain HTML, no script.
constexpr const char* kNotBuiltPage =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>hearth</title></head>"
    "<body><h1>hearth</h1><p>The web UI was not built into this binary: its JavaScript "
    "packages (web/node_modules) were missing when it was compiled. Run "
    "<code>scripts/install-deps.sh</code> (it runs <code>npm ci</code> in <code>web/</code>), "
    "then build again.</p><p>The OpenAI-compatible API is at <code>/v1</code>.</p></body></html>";

const WebAsset* find_asset(std::string_view path) {
    for (size_t i = 0; i < kWebAssetCount; ++i) {
        if (path == kWebAssets[i].path) return &kWebAssets[i];
    }
    return nullptr;
}

// Whether the Accept-Encoding header allows gzip ("gzip;q=0" refuses it).
bool accepts_gzip(const std::string& accept_encoding) {
    const size_t at = accept_encoding.find("gzip");
    if (at == std::string::npos) return false;
    const size_t end = accept_encoding.find(',', at);
    const std::string part = accept_encoding.substr(at, end == std::string::npos ? end : end - at);
    const size_t q = part.find("q=");
    if (q == std::string::npos) return true;
    // q=0, q=0.0, q=0.000: refused; any other digit makes it accepted.
    return part.find_first_not_of("0. ", q + 2) != std::string::npos;
}

// Whether If-None-Match names this ETag (a list, or "*").
bool etag_matches(const std::string& if_none_match, const char* etag) {
    if (if_none_match.empty()) return false;
    if (if_none_match == "*") return true;
    return if_none_match.find(etag) != std::string::npos;
}

}  // namespace

bool is_web_ui_path(const std::string& path) {
    return path == "/" || path == "/dashboard" || path == "/models" || path == "/auth/config" ||
           path == "/auth/callback" || path.rfind("/assets/", 0) == 0;
}

WebUi::WebUi(WebUiSignIn sign_in) : sign_in_(std::move(sign_in)) {
    while (!sign_in_.issuer.empty() && sign_in_.issuer.back() == '/') sign_in_.issuer.pop_back();
    if (!sign_in_.client_id.empty() && sign_in_.issuer.empty())
        throw Error("--oidc-client-id needs --oidc-issuer: the provider the web UI logs in at");
    if (sign_in_.scope.empty()) sign_in_.scope = "openid hearth:inference";
    csp_ = content_security_policy(sign_in_.client_id.empty() ? "" : origin_of(sign_in_.issuer));
}

void WebUi::add_page_headers(http::Response& res) const {
    res.set_header("Content-Security-Policy", csp_);
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("X-Frame-Options", "DENY");
}

void WebUi::sign_in_config(Exchange& ex) const {
    nlohmann::json oidc = nullptr;
    if (!sign_in_.client_id.empty())
        oidc = {{"issuer", sign_in_.issuer},
                {"client_id", sign_in_.client_id},
                {"scope", sign_in_.scope}};
    http::Response res(200, nlohmann::json{{"oidc", oidc}}.dump(), "application/json");
    res.set_header("Cache-Control", "no-store");
    ex.send(std::move(res));
}

void WebUi::serve(Exchange& ex) const {
    const http::Request& req = ex.request;
    if (!kWebUiBuilt) {
        if (req.path.rfind("/assets/", 0) == 0)
            throw ApiError(404, "the web UI was not built into this binary");
        http::Response res(200, kNotBuiltPage, "text/html; charset=utf-8");
        add_page_headers(res);
        res.set_header("Cache-Control", "no-cache");
        ex.send(std::move(res));
        return;
    }
    const std::string file = req.path == "/" || req.path == "/auth/callback" ? "/index.html"
                             : req.path == "/dashboard"                      ? "/dashboard.html"
                             : req.path == "/models"                         ? "/models.html"
                                                                             : req.path;
    const WebAsset* asset = find_asset(file);
    if (!asset)
        throw ApiError(404, "no file " + req.path + " in the web UI", "invalid_request_error", "",
                       "unknown_url");
    http::Response res;
    res.status = 200;
    // Names carry no hash, so the browser revalidates each load: a 304 costs one round trip
    // and a new build is never hidden behind a stale cache.
    res.set_header("Cache-Control", "no-cache");
    res.set_header("ETag", asset->etag);
    res.set_header("Vary", "Accept-Encoding");
    add_page_headers(res);
    if (etag_matches(req.header("if-none-match"), asset->etag)) {
        res.status = 304;
        ex.send(std::move(res));
        return;
    }
    res.set_header("Content-Type", asset->content_type);
    const char* bytes = asset->data;
    size_t size = asset->size;
    if (asset->gzip_size > 0 && accepts_gzip(req.header("accept-encoding"))) {
        bytes = asset->gzip;
        size = asset->gzip_size;
        res.set_header("Content-Encoding", "gzip");
    }
    res.body.assign(bytes, size);
    ex.send(std::move(res));
}

}  // namespace hearth::server
