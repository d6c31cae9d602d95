#include "server/oidc.h"

#include <ctime>
#include <sstream>

#include "core/log.h"
#include "hub/http.h"

namespace hearth::server {

using nlohmann::json;

namespace {

bool is_loopback_url(const std::string& url) {
    for (const char* prefix : {"http://127.0.0.1", "http://localhost", "http://[::1]"}) {
        const std::string p(prefix);
        if (url.rfind(p, 0) == 0 && (url.size() == p.size() || url[p.size()] == ':' || url[p.size()] == '/'))
            return true;
    }
    return false;
}

OidcVerifier::Fetch curl_fetch() {
    return [](const std::string& url) {
        hub::HttpSettings settings;
        settings.connect_timeout_s = 5;
        settings.stall_timeout_s = 10;
        hub::HttpResponse r = hub::Http(settings).get(url);
        if (r.status != 200) throw Error(url + " answered HTTP " + std::to_string(r.status));
        return r.body;
    };
}

// The scope values a claim holds, whether written as "a b c" or ["a", "b", "c"].
std::vector<std::string> claim_values(const json& claim) {
    std::vector<std::string> out;
    if (claim.is_string()) {
        std::istringstream words(claim.get<std::string>());
        for (std::string w; words >> w;) out.push_back(w);
    } else if (claim.is_array()) {
        for (const json& v : claim) {
            if (v.is_string()) out.push_back(v.get<std::string>());
        }
    }
    return out;
}

}  // namespace

OidcVerifier::OidcVerifier(OidcSettings settings, Fetch fetch)
    : settings_(std::move(settings)), fetch_(fetch ? std::move(fetch) : curl_fetch()) {
    while (!settings_.issuer.empty() && settings_.issuer.back() == '/') settings_.issuer.pop_back();
    if (settings_.issuer.rfind("https://", 0) != 0 && !is_loopback_url(settings_.issuer))
        throw Error("--oidc-issuer must be an https:// URL (http:// only on a loopback host), got '" +
                    settings_.issuer + "'");
    if (settings_.audience.empty())
        throw Error("--oidc-audience is required with --oidc-issuer: the \"aud\" your provider "
                    "puts in tokens for hearth");
}

std::shared_ptr<const JwkSet> OidcVerifier::keys(bool stale) {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (keys_ && (!stale || now - last_fetch_ < settings_.refresh_interval)) return keys_;
    if (!keys_ && last_fetch_ != std::chrono::steady_clock::time_point{} &&
        now - last_fetch_ < std::chrono::seconds(1))
        throw TokenError("the identity provider could not be reached; try again shortly");
    last_fetch_ = now;
    try {
        if (jwks_uri_.empty()) {
            const json doc = json::parse(fetch_(settings_.issuer + "/.well-known/openid-configuration"),
                                         nullptr, /*allow_exceptions=*/false);
            if (!doc.is_object() || !doc.value("jwks_uri", json()).is_string())
                throw Error("the discovery document has no \"jwks_uri\"");
            // OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer asked.
            std::string issuer = doc.value("issuer", std::string());
            while (!issuer.empty() && issuer.back() == '/') issuer.pop_back();
            if (issuer != settings_.issuer)
                throw Error("the discovery document names issuer '" + issuer + "'");
            jwks_uri_ = doc["jwks_uri"].get<std::string>();
        }
        auto fresh = std::make_shared<const JwkSet>(JwkSet::parse(fetch_(jwks_uri_)));
        log::info("oidc: {} signing keys from {}", fresh->size(), jwks_uri_);
        keys_ = std::move(fresh);
    } catch (const std::exception& e) {
        log::warn("oidc: could not fetch the signing keys of {}: {}", settings_.issuer, e.what());
        if (!keys_) throw TokenError("the identity provider could not be reached; try again shortly");
    }
    return keys_;
}

OidcPrincipal OidcVerifier::verify(const std::string& token) {
    const DecodedJwt jwt = decode_jwt(token);
    std::shared_ptr<const JwkSet> set = keys(false);
    if (!jwt.kid.empty() && !set->has(jwt.kid)) set = keys(true);  // the provider rotated keys
    set->verify(jwt);
    ClaimRules rules{settings_.issuer, settings_.audience, settings_.leeway_s};
    check_claims(jwt.payload, rules, static_cast<int64_t>(std::time(nullptr)));
    return principal_of(jwt.payload);
}

OidcPrincipal OidcVerifier::principal_of(const json& payload) const {
    OidcPrincipal p;
    p.subject = payload.value("sub", std::string());
    if (p.subject.empty()) throw TokenError("the token has no subject (\"sub\")");
    std::vector<std::string> claims = {settings_.scope_claim};
    if (settings_.scope_claim.empty()) claims = {"scope", "scp", "roles"};
    for (const std::string& name : claims) {
        auto it = payload.find(name);
        if (it == payload.end()) continue;
        for (const std::string& v : claim_values(*it)) {
            if (v == "hearth:admin" || v == "admin") p.admin = p.inference = true;
            else if (v == "hearth:inference" || v == "inference") p.inference = true;
            else if (v.rfind("hearth:model:", 0) == 0 && v.size() > 13) p.models.push_back(v.substr(13));
        }
    }
    return p;
}

}  // namespace hearth::server
