#pragma once
// Bearer tokens from an OpenID Connect provider (Keycloak, Entra ID, Auth0, Dex, ...): the
// provider is found through its discovery document ({issuer}/.well-known/openid-configuration),
// its signing keys (JWKS) are cached and fetched again when a token names a key not seen yet
// (at most once per refresh interval, so unknown kids cannot make hearth hammer the provider),
// and a token's scope claim says what it may do.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/jwt.h"

namespace hearth::server {

struct OidcSettings {
    std::string issuer{};    // https://..., or http:// on a loopback host (tests, sidecars)
    std::string audience{};  // the "aud" tokens for hearth carry
    // The claim holding scopes or roles (a space-separated string or an array of strings);
    // empty: "scope", then "scp", then "roles".
    std::string scope_claim{};
    int64_t leeway_s = 60;
    std::chrono::seconds refresh_interval{30};  // shortest time between two JWKS fetches
};

// Who a verified token speaks for and what it may reach. Scope values: "hearth:admin" (or
// "admin") reaches everything; "hearth:inference" (or "inference") the inference APIs;
// "hearth:model:NAME" limits the token to the models it names (none: every model).
struct OidcPrincipal {
    std::string subject;  // the "sub" claim
    bool inference = false;
    bool admin = false;
    std::vector<std::string> models;
};

class OidcVerifier {
  public:
    // Fetches a URL and returns the body of a 200 answer; throws hearth::Error otherwise.
    using Fetch = std::function<std::string(const std::string& url)>;

    // Throws hearth::Error when the issuer is not an https URL (or http on loopback) or the
    // audience is empty. Nothing is fetched until the first token arrives, so hearth starts even
    // while the provider is down. `fetch` defaults to libcurl with short timeouts.
    explicit OidcVerifier(OidcSettings settings, Fetch fetch = {});

    // The principal of a valid token. Throws TokenError saying why a token is refused: its
    // form, algorithm, key, signature, expiry, issuer or audience, or the provider being
    // unreachable.
    OidcPrincipal verify(const std::string& token);

    const OidcSettings& settings() const { return settings_; }

  private:
    // The provider's keys; fetched on first use, and again when `stale` (a token named an
    // unknown key) and the last fetch is older than the refresh interval.
    std::shared_ptr<const JwkSet> keys(bool stale);
    OidcPrincipal principal_of(const nlohmann::json& payload) const;

    OidcSettings settings_;
    Fetch fetch_;
    std::mutex mutex_;  // guards the fields below; held while fetching, so one fetch at a time
    std::string jwks_uri_;
    std::shared_ptr<const JwkSet> keys_;
    std::chrono::steady_clock::time_point last_fetch_{};
};

}  // namespace hearth::server
