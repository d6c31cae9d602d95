#pragma once
// JSON Web Tokens signed by an identity provider (RFC 7519 over RFC 7515's compact JWS): the
// provider's public keys (a JWK set, RFC 7517), signature checks for RS256, ES256 and EdDSA
// (Ed25519) through OpenSSL, and the time, issuer and audience claims.
//
// Only asymmetric algorithms are accepted: "none" and the HMAC family (HS256...) are refused,
// because a server that takes them lets anyone who knows a public key, or nothing, mint tokens.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace hearth::server {

// Why a token was refused; the message is safe to show the client (it names no key material).
class TokenError : public Error {
  public:
    using Error::Error;
};

// Base64url without padding (RFC 4648 section 5), as JOSE writes it. Throws TokenError on
// characters outside the alphabet or an impossible length.
std::string base64url_decode(std::string_view text);

// A compact JWS split into its parts; the header and payload are JSON objects.
struct DecodedJwt {
    nlohmann::json header;
    nlohmann::json payload;
    std::string signing_input;  // "BASE64URL(header).BASE64URL(payload)", what was signed
    std::string signature;      // raw bytes
    std::string alg;
    std::string kid;  // empty when the header names none
};

// Splits and decodes a token; throws TokenError when it is not three base64url parts holding a
// JSON object header with an "alg" string and a JSON object payload.
DecodedJwt decode_jwt(std::string_view token);

// True when `token` has the shape of a compact JWS (three dot-separated parts, the first two not
// empty), so a bearer value can be routed to the JWT check rather than the API-key check.
bool looks_like_jwt(std::string_view token);

// The public signing keys of a provider.
class JwkSet {
  public:
    JwkSet();
    ~JwkSet();
    JwkSet(JwkSet&&) noexcept;
    JwkSet& operator=(JwkSet&&) noexcept;

    // Reads {"keys": [...]}. Keys hearth cannot use for signatures (symmetric "oct" keys,
    // encryption keys, other curves, RSA under 2048 bits, points not on the curve) are skipped;
    // malformed JSON or a missing "keys" array throws TokenError.
    static JwkSet parse(std::string_view json_text);

    size_t size() const;
    bool has(const std::string& kid) const;

    // Checks `jwt`'s signature with the key its "kid" names (or the only key of a suitable type
    // when the token names none). Throws TokenError saying why when the algorithm is refused,
    // the key is unknown or of another type, or the signature does not verify.
    void verify(const DecodedJwt& jwt) const;

  private:
    struct Key;
    std::vector<std::shared_ptr<const Key>> keys_;
};

// The claims a token must satisfy besides its signature.
struct ClaimRules {
    std::string issuer;    // "iss" must equal it exactly
    std::string audience;  // "aud" (a string or an array) must contain it
    int64_t leeway_s = 60;  // clock skew tolerated on exp, nbf and iat
};

// Checks exp (required), nbf and iat (when present), iss and aud at time `now` (seconds since
// the epoch). Throws TokenError naming the failed claim.
void check_claims(const nlohmann::json& payload, const ClaimRules& rules, int64_t now);

}  // namespace hearth::server
