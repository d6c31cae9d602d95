// JWT verification (server/jwt.h) and the OIDC key cache (server/oidc.h), against tokens that an
// independent JOSE implementation signed (tests/data/jwt/tokens.json, written by
// tests/clients/make_jwt_tokens.mjs with the `jose` npm package): each case carries the verdict
// a correct verifier reaches. The live provider test is tests/clients/oidc.test.mjs.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "server/jwt.h"
#include "server/oidc.h"

namespace hearth::server {
namespace {

using nlohmann::json;

const json& fixture() {
    static const json doc = [] {
        std::ifstream in(HEARTH_TEST_DATA "/jwt/tokens.json");
        std::stringstream text;
        text << in.rdbuf();
        return json::parse(text.str());
    }();
    return doc;
}

// The verdict on one token at the fixture's clock: "" when accepted, else the error message.
std::string verdict(const JwkSet& keys, const std::string& token) {
    try {
        DecodedJwt jwt = decode_jwt(token);
        keys.verify(jwt);
        check_claims(jwt.payload, {fixture()["issuer"], fixture()["audience"], 60},
                     fixture()["now"].get<int64_t>());
        return "";
    } catch (const TokenError& e) {
        return e.what();
    }
}

TEST(Jwt, EveryCaseGetsTheVerdictOfTheReference) {
    const JwkSet keys = JwkSet::parse(fixture()["jwks"].dump());
    // RSA, P-256 and Ed25519 are usable; the 1024-bit RSA key and the symmetric key are not.
    EXPECT_EQ(keys.size(), 3u);
    EXPECT_FALSE(keys.has("rsa-weak"));
    EXPECT_FALSE(keys.has("oct-1"));
    ASSERT_GE(fixture()["cases"].size(), 20u);
    for (const json& c : fixture()["cases"]) {
        SCOPED_TRACE(c["name"].get<std::string>());
        const std::string got = verdict(keys, c["token"]);
        if (c["ok"]) {
            EXPECT_EQ(got, "");
        } else {
            EXPECT_NE(got.find(c["error"].get<std::string>()), std::string::npos) << got;
        }
    }
}

TEST(Jwt, FlippingAnySignatureByteIsCaught) {
    const JwkSet keys = JwkSet::parse(fixture()["jwks"].dump());
    for (const json& c : fixture()["cases"]) {
        if (!c["ok"]) continue;
        const std::string token = c["token"];
        DecodedJwt jwt = decode_jwt(token);
        for (size_t i = 0; i < jwt.signature.size(); i += 7) {
            DecodedJwt bad = jwt;
            bad.signature[i] = static_cast<char>(bad.signature[i] ^ 0x01);
            EXPECT_THROW(keys.verify(bad), TokenError) << c["name"] << " byte " << i;
        }
    }
}

TEST(Jwt, Base64urlMatchesRfc4648Vectors) {
    // RFC 4648 section 10, in the URL-safe alphabet without padding.
    EXPECT_EQ(base64url_decode(""), "");
    EXPECT_EQ(base64url_decode("Zg"), "f");
    EXPECT_EQ(base64url_decode("Zm8"), "fo");
    EXPECT_EQ(base64url_decode("Zm9v"), "foo");
    EXPECT_EQ(base64url_decode("Zm9vYg"), "foob");
    EXPECT_EQ(base64url_decode("Zm9vYmE"), "fooba");
    EXPECT_EQ(base64url_decode("Zm9vYmFy"), "foobar");
    EXPECT_EQ(base64url_decode("-_8"), "\xfb\xff");
    EXPECT_THROW(base64url_decode("Zm9vY"), TokenError);  // 5 characters cannot end a group
    EXPECT_THROW(base64url_decode("Zm9v+g"), TokenError);  // '+' is the other alphabet
    EXPECT_THROW(base64url_decode("Zm9v=="), TokenError);  // JOSE never pads
}

TEST(Jwt, MalformedKeySetsAreRefusedOrSkipped) {
    EXPECT_THROW(JwkSet::parse("not json"), TokenError);
    EXPECT_THROW(JwkSet::parse("{\"keys\": 3}"), TokenError);
    EXPECT_EQ(JwkSet::parse("{\"keys\": []}").size(), 0u);
    // Keys with broken numbers, off-curve points and unknown types are skipped, not fatal.
    const char* odd = R"({"keys": [
        {"kty": "RSA", "kid": "a", "n": "!!", "e": "AQAB"},
        {"kty": "EC", "kid": "b", "crv": "P-256", "x": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "y": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"},
        {"kty": "OKP", "kid": "c", "crv": "X25519", "x": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        {"kty": "RSA", "kid": "d", "use": "enc"},
        7, "x", null]})";
    EXPECT_EQ(JwkSet::parse(odd).size(), 0u);
}

// The key cache against a provider whose answers the test controls (the fetch function): what is
// under test is when hearth fetches, not how.
struct FakeProvider {
    std::string jwks = fixture()["jwks"].dump();
    int discovery_fetches = 0, jwks_fetches = 0;
    bool down = false;
    OidcVerifier::Fetch fetch() {
        return [this](const std::string& url) -> std::string {
            if (down) throw Error("connection refused");
            if (url == "https://id.example.com/.well-known/openid-configuration") {
                ++discovery_fetches;
                return R"({"issuer": "https://id.example.com", "jwks_uri": "https://id.example.com/jwks"})";
            }
            if (url == "https://id.example.com/jwks") {
                ++jwks_fetches;
                return jwks;
            }
            throw Error("unexpected URL " + url);
        };
    }
};

std::string token_named(const std::string& name) {
    for (const json& c : fixture()["cases"]) {
        if (c["name"] == name) return c["token"];
    }
    return "";
}

TEST(Oidc, FetchesKeysOnceAndMapsScopes) {
    FakeProvider idp;
    OidcVerifier verifier({.issuer = "https://id.example.com/", .audience = "hearth-api"}, idp.fetch());
    for (const char* name : {"rs256", "es256", "eddsa"}) {
        OidcPrincipal p = verifier.verify(token_named(name));
        EXPECT_EQ(p.subject, "user-1");
        EXPECT_TRUE(p.inference);
        EXPECT_FALSE(p.admin);
    }
    EXPECT_EQ(idp.discovery_fetches, 1);
    EXPECT_EQ(idp.jwks_fetches, 1);
}

TEST(Oidc, UnknownKidsRefetchAtMostOncePerInterval) {
    FakeProvider idp;
    OidcVerifier verifier({.issuer = "https://id.example.com", .audience = "hearth-api",
                           .refresh_interval = std::chrono::seconds(3600)},
                          idp.fetch());
    EXPECT_NO_THROW(verifier.verify(token_named("es256")));
    for (int i = 0; i < 50; ++i) EXPECT_THROW(verifier.verify(token_named("unknown_kid")), TokenError);
    EXPECT_EQ(idp.jwks_fetches, 1);  // the first fetch was just now: no refetch for a while
}

TEST(Oidc, ARotatedKeyIsPickedUpOnItsFirstToken) {
    FakeProvider idp;
    json without_ed = fixture()["jwks"];
    auto& keys = without_ed["keys"];
    keys.erase(std::remove_if(keys.begin(), keys.end(), [](const json& k) { return k["kid"] == "ed-1"; }),
               keys.end());
    idp.jwks = without_ed.dump();
    OidcVerifier verifier({.issuer = "https://id.example.com", .audience = "hearth-api",
                           .refresh_interval = std::chrono::seconds(0)},
                          idp.fetch());
    EXPECT_THROW(verifier.verify(token_named("eddsa")), TokenError);
    idp.jwks = fixture()["jwks"].dump();  // the provider publishes the new key
    EXPECT_NO_THROW(verifier.verify(token_named("eddsa")));
}

TEST(Oidc, AProviderThatIsDownRefusesTokensWithoutCrashing) {
    FakeProvider idp;
    idp.down = true;
    OidcVerifier verifier({.issuer = "https://id.example.com", .audience = "hearth-api"}, idp.fetch());
    try {
        verifier.verify(token_named("es256"));
        FAIL() << "accepted a token without keys";
    } catch (const TokenError& e) {
        EXPECT_NE(std::string(e.what()).find("could not be reached"), std::string::npos);
    }
}

TEST(Oidc, IssuerMustBeHttpsOrLoopback) {
    EXPECT_THROW(OidcVerifier({.issuer = "http://id.example.com", .audience = "a"}), Error);
    EXPECT_THROW(OidcVerifier({.issuer = "http://localhost.evil.com", .audience = "a"}), Error);
    EXPECT_THROW(OidcVerifier({.issuer = "https://id.example.com", .audience = ""}), Error);
    EXPECT_NO_THROW(OidcVerifier({.issuer = "http://127.0.0.1:9000", .audience = "a"}));
    EXPECT_NO_THROW(OidcVerifier({.issuer = "https://id.example.com/realms/x", .audience = "a"}));
}

TEST(Oidc, DiscoveryNamingAnotherIssuerIsRefused) {
    OidcVerifier verifier({.issuer = "https://id.example.com", .audience = "hearth-api"},
                          [](const std::string& url) -> std::string {
                              if (url.find("openid-configuration") != std::string::npos)
                                  return R"({"issuer": "https://evil.example.com", "jwks_uri": "https://id.example.com/jwks"})";
                              return fixture()["jwks"].dump();
                          });
    EXPECT_THROW(verifier.verify(token_named("es256")), TokenError);
}

}  // namespace
}  // namespace hearth::server
