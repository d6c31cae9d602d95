#include "server/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <array>
#include <optional>

namespace hearth::server {

using nlohmann::json;

namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamsPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;

// The algorithms hearth verifies and the key type each needs.
enum class KeyKind { Rsa, P256, Ed25519 };

bool kind_for_alg(const std::string& alg, KeyKind& kind) {
    if (alg == "RS256") kind = KeyKind::Rsa;
    else if (alg == "ES256") kind = KeyKind::P256;
    else if (alg == "EdDSA") kind = KeyKind::Ed25519;
    else return false;
    return true;
}

std::string string_member(const json& object, const char* name) {
    auto it = object.find(name);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int8_t base64url_value(char c) {
    if (c >= 'A' && c <= 'Z') return static_cast<int8_t>(c - 'A');
    if (c >= 'a' && c <= 'z') return static_cast<int8_t>(c - 'a' + 26);
    if (c >= '0' && c <= '9') return static_cast<int8_t>(c - '0' + 52);
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

json parse_object(const std::string& text, const char* what) {
    json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!value.is_object()) throw TokenError(std::string("the token's ") + what + " is not a JSON object");
    return value;
}

PkeyPtr from_params(const char* type, OSSL_PARAM_BLD* bld) {
    ParamsPtr params(OSSL_PARAM_BLD_to_param(bld));
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY* key = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
        EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0)
        return nullptr;
    return PkeyPtr(key);
}

BnPtr bignum(const std::string& big_endian) {
    return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(big_endian.data()),
                           static_cast<int>(big_endian.size()), nullptr));
}

PkeyPtr rsa_key(const json& jwk) {
    const std::string n = base64url_decode(string_member(jwk, "n"));
    const std::string e = base64url_decode(string_member(jwk, "e"));
    if (n.empty() || e.empty()) return nullptr;
    BnPtr bn_n = bignum(n), bn_e = bignum(e);
    if (!bn_n || !bn_e || BN_num_bits(bn_n.get()) < 2048) return nullptr;
    ParamBldPtr bld(OSSL_PARAM_BLD_new());
    if (!bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
        !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()))
        return nullptr;
    return from_params("RSA", bld.get());
}

PkeyPtr p256_key(const json& jwk) {
    if (string_member(jwk, "crv") != "P-256") return nullptr;
    const std::string x = base64url_decode(string_member(jwk, "x"));
    const std::string y = base64url_decode(string_member(jwk, "y"));
    if (x.size() != 32 || y.size() != 32) return nullptr;
    std::string point = "\x04" + x + y;  // uncompressed SEC1 point
    ParamBldPtr bld(OSSL_PARAM_BLD_new());
    if (!bld ||
        !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                          point.size()))
        return nullptr;
    PkeyPtr key = from_params("EC", bld.get());
    if (!key) return nullptr;
    // A point off the curve invites invalid-curve attacks: refuse it here, once.
    PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
    return key;
}

PkeyPtr ed25519_key(const json& jwk) {
    if (string_member(jwk, "crv") != "Ed25519") return nullptr;
    const std::string x = base64url_decode(string_member(jwk, "x"));
    if (x.size() != 32) return nullptr;
    return PkeyPtr(EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x.data()), x.size()));
}

// JOSE writes an ECDSA signature as r || s (32 bytes each for P-256); OpenSSL wants DER.
std::string ecdsa_der(const std::string& raw) {
    if (raw.size() != 64) throw TokenError("the token's ES256 signature is not 64 bytes");
    EcdsaSigPtr sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
    if (!sig || !r || !s || !ECDSA_SIG_set0(sig.get(), r, s)) {
        BN_free(r);
        BN_free(s);
        throw TokenError("could not read the token's ES256 signature");
    }
    unsigned char* der = nullptr;
    const int n = i2d_ECDSA_SIG(sig.get(), &der);
    if (n <= 0) throw TokenError("could not read the token's ES256 signature");
    std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
    OPENSSL_free(der);
    return out;
}

bool signature_matches(EVP_PKEY* key, KeyKind kind, const DecodedJwt& jwt) {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    // Ed25519 hashes internally (no digest); RS256 and ES256 use SHA-256.
    const EVP_MD* md = kind == KeyKind::Ed25519 ? nullptr : EVP_sha256();
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) != 1) return false;
    const std::string signature = kind == KeyKind::P256 ? ecdsa_der(jwt.signature) : jwt.signature;
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(),
                            reinterpret_cast<const unsigned char*>(jwt.signing_input.data()),
                            jwt.signing_input.size()) == 1;
}

std::optional<int64_t> time_claim(const json& payload, const char* name) {
    auto it = payload.find(name);
    if (it == payload.end()) return std::nullopt;
    if (!it->is_number()) throw TokenError(std::string("the token's \"") + name + "\" is not a number");
    return static_cast<int64_t>(it->get<double>());
}

}  // namespace

struct JwkSet::Key {
    std::string kid;
    std::string alg;  // the JWK's own "alg" restriction, or empty
    KeyKind kind;
    PkeyPtr pkey;
};

std::string base64url_decode(std::string_view text) {
    if (text.size() % 4 == 1) throw TokenError("a token part is not valid base64url");
    std::string out;
    out.reserve(text.size() * 3 / 4);
    uint32_t bits = 0;
    int have = 0;
    for (char c : text) {
        const int8_t v = base64url_value(c);
        if (v < 0) throw TokenError("a token part is not valid base64url");
        bits = (bits << 6) | static_cast<uint32_t>(v);
        have += 6;
        if (have >= 8) {
            have -= 8;
            out.push_back(static_cast<char>((bits >> have) & 0xFF));
        }
    }
    return out;
}

bool looks_like_jwt(std::string_view token) {
    const size_t a = token.find('.');
    if (a == std::string_view::npos || a == 0) return false;
    const size_t b = token.find('.', a + 1);
    // The signature may be empty (an unsecured "alg": "none" token): it is refused later, by name.
    return b != std::string_view::npos && b > a + 1 && token.find('.', b + 1) == std::string_view::npos;
}

DecodedJwt decode_jwt(std::string_view token) {
    if (!looks_like_jwt(token)) throw TokenError("the bearer token is not a JWT (three base64url parts)");
    const size_t a = token.find('.');
    const size_t b = token.find('.', a + 1);
    DecodedJwt jwt;
    jwt.header = parse_object(base64url_decode(token.substr(0, a)), "header");
    jwt.payload = parse_object(base64url_decode(token.substr(a + 1, b - a - 1)), "payload");
    jwt.signature = base64url_decode(token.substr(b + 1));
    jwt.signing_input = std::string(token.substr(0, b));
    auto alg = jwt.header.find("alg");
    if (alg == jwt.header.end() || !alg->is_string()) throw TokenError("the token's header names no \"alg\"");
    jwt.alg = alg->get<std::string>();
    jwt.kid = string_member(jwt.header, "kid");
    // "crit" lists extensions the verifier must understand; hearth understands none.
    if (jwt.header.contains("crit")) throw TokenError("the token has critical header extensions hearth does not support");
    return jwt;
}

JwkSet::JwkSet() = default;
JwkSet::~JwkSet() = default;
JwkSet::JwkSet(JwkSet&&) noexcept = default;
JwkSet& JwkSet::operator=(JwkSet&&) noexcept = default;

JwkSet JwkSet::parse(std::string_view json_text) {
    json doc = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array())
        throw TokenError("the provider's JWKS is not a JSON object with a \"keys\" array");
    JwkSet set;
    for (const json& jwk : doc["keys"]) {
        if (!jwk.is_object()) continue;
        const std::string use = string_member(jwk, "use");
        if (!use.empty() && use != "sig") continue;
        const std::string kty = string_member(jwk, "kty");
        auto key = std::make_shared<Key>();
        key->kid = string_member(jwk, "kid");
        key->alg = string_member(jwk, "alg");
        try {
            if (kty == "RSA") {
                key->kind = KeyKind::Rsa;
                key->pkey = rsa_key(jwk);
            } else if (kty == "EC") {
                key->kind = KeyKind::P256;
                key->pkey = p256_key(jwk);
            } else if (kty == "OKP") {
                key->kind = KeyKind::Ed25519;
                key->pkey = ed25519_key(jwk);
            }
        } catch (const TokenError&) {
            continue;  // a key whose numbers are not base64url
        }
        if (key->pkey) set.keys_.push_back(std::move(key));
    }
    return set;
}

size_t JwkSet::size() const {
    return keys_.size();
}

bool JwkSet::has(const std::string& kid) const {
    for (const auto& k : keys_) {
        if (k->kid == kid) return true;
    }
    return false;
}

void JwkSet::verify(const DecodedJwt& jwt) const {
    KeyKind kind;
    if (!kind_for_alg(jwt.alg, kind)) {
        throw TokenError("tokens signed with \"" + jwt.alg +
                         "\" are refused (hearth accepts RS256, ES256 and EdDSA)");
    }
    const Key* key = nullptr;
    for (const auto& k : keys_) {
        const bool named = jwt.kid.empty() || k->kid == jwt.kid;
        if (!named || k->kind != kind) continue;
        if (jwt.kid.empty() && key) throw TokenError("the token names no key and the provider has several");
        key = k.get();
    }
    if (!key) {
        throw TokenError(jwt.kid.empty() ? "the provider has no " + jwt.alg + " key"
                                         : "unknown signing key \"" + jwt.kid + "\" for " + jwt.alg);
    }
    if (!key->alg.empty() && key->alg != jwt.alg)
        throw TokenError("key \"" + key->kid + "\" is for " + key->alg + ", not " + jwt.alg);
    if (!signature_matches(key->pkey.get(), kind, jwt)) throw TokenError("the token's signature does not verify");
}

void check_claims(const json& payload, const ClaimRules& rules, int64_t now) {
    const auto exp = time_claim(payload, "exp");
    if (!exp) throw TokenError("the token has no expiry (\"exp\")");
    if (now > *exp + rules.leeway_s) throw TokenError("the token has expired");
    if (auto nbf = time_claim(payload, "nbf"); nbf && now + rules.leeway_s < *nbf)
        throw TokenError("the token is not valid yet (\"nbf\")");
    if (auto iat = time_claim(payload, "iat"); iat && now + rules.leeway_s < *iat)
        throw TokenError("the token was issued in the future (\"iat\")");
    if (string_member(payload, "iss") != rules.issuer)
        throw TokenError("the token was issued by another issuer");
    bool audience_ok = false;
    if (auto aud = payload.find("aud"); aud != payload.end()) {
        if (aud->is_string()) audience_ok = *aud == rules.audience;
        if (aud->is_array()) {
            for (const json& a : *aud) audience_ok = audience_ok || (a.is_string() && a == rules.audience);
        }
    }
    if (!audience_ok) throw TokenError("the token is for another audience");
}

}  // namespace hearth::server
