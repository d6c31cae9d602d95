// The web UI's routes on a live server: the files the bundler wrote (web-dist, on disk) come
// back byte for byte, gzip bodies inflate (zlib) to the same bytes, ETags give 304s, the page
// loads without a key while the API still needs one, and every page carries the strict CSP.
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "live_server.h"

namespace hearth::server {
namespace {

const std::filesystem::path kDist = HEARTH_WEB_DIST;

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string gunzip(const std::string& packed) {
    z_stream z{};
    EXPECT_EQ(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
    z.avail_in = static_cast<uInt>(packed.size());
    std::string out;
    char buf[65536];
    int rc = Z_OK;
    while (rc == Z_OK) {
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        rc = inflate(&z, Z_NO_FLUSH);
        out.append(buf, sizeof buf - z.avail_out);
    }
    EXPECT_EQ(rc, Z_STREAM_END);
    inflateEnd(&z);
    return out;
}

ServerOptions with_key() {
    ServerOptions o = default_options();
    o.api_keys = {"sk-web-test"};
    return o;
}

bool ui_built() {
    return std::filesystem::exists(kDist / "index.html");
}

TEST(WebUi, PageAndAssetsLoadWithoutAKeyButTheApiNeedsOne) {
    LiveServer live(with_key());
    httplib::Client c = live.client();
    auto dashboard = c.Get("/dashboard");
    ASSERT_TRUE(dashboard);
    EXPECT_EQ(dashboard->status, 200);
    auto page = c.Get("/");
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 200);
    EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
    const std::string csp = page->get_header_value("Content-Security-Policy");
    EXPECT_NE(csp.find("default-src 'self'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("script-src 'self';"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
    EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");

    auto models = c.Get("/v1/models");
    ASSERT_TRUE(models);
    EXPECT_EQ(models->status, 401);
    // Only reading the UI's files is open: other methods on its paths still need the key.
    auto post = c.Post("/", "{}", "application/json");
    ASSERT_TRUE(post);
    EXPECT_EQ(post->status, 401);
    auto missing = c.Get("/assets/no-such-file.js");
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 404);
}

TEST(WebUi, ServesTheBundledFilesWithTheirTypes) {
    if (!ui_built()) GTEST_SKIP() << "the web UI was not built (no web/node_modules)";
    LiveServer live(with_key());
    httplib::Client c = live.client();
    const std::pair<const char*, const char*> files[] = {
        {"/", "index.html"},
        {"/dashboard", "dashboard.html"},
        {"/models", "models.html"},
        {"/assets/models.js", "assets/models.js"},
        {"/assets/app.js", "assets/app.js"},
        {"/assets/dashboard.js", "assets/dashboard.js"},
        {"/assets/app-style.css", "assets/app-style.css"},
        {"/assets/icon.svg", "assets/icon.svg"},
        {"/assets/licenses.txt", "assets/licenses.txt"},
    };
    const char* types[] = {"text/html; charset=utf-8",       "text/html; charset=utf-8",
                           "text/html; charset=utf-8",       "text/javascript; charset=utf-8",
                           "text/javascript; charset=utf-8", "text/javascript; charset=utf-8",
                           "text/css; charset=utf-8",        "image/svg+xml",
                           "text/plain; charset=utf-8"};
    for (size_t i = 0; i < std::size(files); ++i) {
        SCOPED_TRACE(files[i].first);
        auto res = c.Get(files[i].first);
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 200);
        EXPECT_EQ(res->get_header_value("Content-Type"), types[i]);
        EXPECT_TRUE(res->get_header_value("Content-Encoding").empty());
        EXPECT_EQ(res->body, read_file(kDist / files[i].second));
    }
    // The pages name files the server has.
    const std::string html = read_file(kDist / "index.html");
    for (const char* ref : {"/assets/app.js", "/assets/app-style.css", "/assets/icon.svg"})
        EXPECT_NE(html.find(ref), std::string::npos) << ref;
    const std::string dashboard = read_file(kDist / "dashboard.html");
    for (const char* ref : {"/assets/dashboard.js", "/assets/dashboard-style.css"})
        EXPECT_NE(dashboard.find(ref), std::string::npos) << ref;
    const std::string models = read_file(kDist / "models.html");
    for (const char* ref : {"/assets/models.js", "/assets/dashboard-style.css"})
        EXPECT_NE(models.find(ref), std::string::npos) << ref;
    // The licenses of what app.js bundles ship with it.
    const std::string licenses = read_file(kDist / "assets/licenses.txt");
    for (const char* lib : {"marked", "dompurify", "highlight.js", "uplot", "oauth4webapi"})
        EXPECT_NE(licenses.find(lib), std::string::npos) << lib;
}

TEST(WebUi, GzipWhenAcceptedAndEtagsRevalidate) {
    if (!ui_built()) GTEST_SKIP() << "the web UI was not built (no web/node_modules)";
    LiveServer live(with_key());
    httplib::Client c = live.client();
    c.set_decompress(false);
    const std::string js = read_file(kDist / "assets/app.js");

    auto packed = c.Get("/assets/app.js", {{"Accept-Encoding", "br, gzip, deflate"}});
    ASSERT_TRUE(packed);
    EXPECT_EQ(packed->status, 200);
    EXPECT_EQ(packed->get_header_value("Content-Encoding"), "gzip");
    EXPECT_EQ(packed->get_header_value("Vary"), "Accept-Encoding");
    EXPECT_LT(packed->body.size(), js.size() / 2);
    EXPECT_EQ(gunzip(packed->body), js);

    auto refused = c.Get("/assets/app.js", {{"Accept-Encoding", "gzip;q=0"}});
    ASSERT_TRUE(refused);
    EXPECT_TRUE(refused->get_header_value("Content-Encoding").empty());
    EXPECT_EQ(refused->body, js);

    const std::string etag = packed->get_header_value("ETag");
    ASSERT_GE(etag.size(), 3u);
    EXPECT_EQ(etag.front(), '"');
    EXPECT_EQ(packed->get_header_value("Cache-Control"), "no-cache");
    auto again = c.Get("/assets/app.js", {{"If-None-Match", etag}});
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 304);
    EXPECT_TRUE(again->body.empty());
    auto other = c.Get("/assets/app-style.css", {{"If-None-Match", etag}});
    ASSERT_TRUE(other);
    EXPECT_EQ(other->status, 200);

    auto head = c.Head("/");
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    EXPECT_TRUE(head->body.empty());
}

ServerOptions with_oidc_login() {
    ServerOptions o = default_options();
    o.oidc.issuer = "http://127.0.0.1:9/realms/hearth/";  // nothing listens: never fetched here
    o.oidc.audience = "hearth-api";
    o.oidc_client_id = "hearth-ui";
    return o;
}

TEST(WebUi, SignInConfigNamesTheProviderOnlyWithAClientId) {
    {
        LiveServer live(with_key());
        httplib::Client c = live.client();
        auto config = c.Get("/auth/config");
        ASSERT_TRUE(config);
        EXPECT_EQ(config->status, 200);
        EXPECT_EQ(nlohmann::json::parse(config->body), nlohmann::json::parse(R"({"oidc": null})"));
        const std::string csp = c.Get("/")->get_header_value("Content-Security-Policy");
        EXPECT_NE(csp.find("connect-src 'self';"), std::string::npos) << csp;
    }
    ServerOptions issuer_only = with_oidc_login();
    issuer_only.oidc_client_id.clear();
    {
        LiveServer live(issuer_only);
        httplib::Client c = live.client();
        EXPECT_TRUE(nlohmann::json::parse(c.Get("/auth/config")->body)["oidc"].is_null());
        const std::string csp = c.Get("/")->get_header_value("Content-Security-Policy");
        EXPECT_NE(csp.find("connect-src 'self';"), std::string::npos) << csp;
    }
    LiveServer live(with_oidc_login());
    httplib::Client c = live.client();
    auto config = c.Get("/auth/config");  // no key: the page needs it to sign in
    ASSERT_TRUE(config);
    EXPECT_EQ(config->status, 200);
    EXPECT_EQ(nlohmann::json::parse(config->body),
              nlohmann::json::parse(R"({"oidc": {"issuer": "http://127.0.0.1:9/realms/hearth",
                                                  "client_id": "hearth-ui",
                                                  "scope": "openid hearth:inference"}})"));
    for (const char* path : {"/", "/dashboard", "/auth/callback?code=x&state=y"}) {
        auto page = c.Get(path);
        ASSERT_TRUE(page) << path;
        EXPECT_EQ(page->status, 200) << path;
        const std::string csp = page->get_header_value("Content-Security-Policy");
        // Exactly the issuer's origin, for connect-src alone (discovery and the token endpoint).
        EXPECT_NE(csp.find("connect-src 'self' http://127.0.0.1:9; "), std::string::npos) << csp;
        EXPECT_EQ(csp.find("127.0.0.1:9", csp.find("127.0.0.1:9") + 1), std::string::npos) << csp;
        EXPECT_NE(csp.find("default-src 'self';"), std::string::npos) << csp;
    }
    if (ui_built()) {
        EXPECT_EQ(c.Get("/auth/callback")->body, read_file(kDist / "index.html"));
    }
    EXPECT_EQ(c.Get("/v1/models")->status, 401);
}

TEST(WebUi, ABadSignInConfigurationIsRefusedAtStart) {
    ServerOptions no_issuer = default_options();
    no_issuer.oidc_client_id = "hearth-ui";
    try {
        Server server(no_issuer, std::vector<ModelEntry>{stories_entry()});
        ADD_FAILURE() << "a client id without an issuer was accepted";
    } catch (const hearth::Error& e) {
        EXPECT_NE(std::string(e.what()).find("--oidc-client-id needs --oidc-issuer"), std::string::npos)
            << e.what();
    }
    // A character that would end the policy's directive (or start a new one).
    for (const char* issuer : {"https://id.example;script-src *", "https://id.example x",
                               "https://id.example?x=1"}) {
        ServerOptions o = with_oidc_login();
        o.oidc.issuer = issuer;
        EXPECT_THROW(Server(o, std::vector<ModelEntry>{stories_entry()}), hearth::Error) << issuer;
    }
}

// Without keys, a page opened through an --allowed-host name sends Origin http://NAME:PORT on
// its POSTs: its own origin, so they pass; other origins (another scheme, name or port) not.
TEST(WebUi, APageReachedThroughAnAllowedHostMayPostToItsOwnServer) {
    ServerOptions o = default_options();
    o.allowed_hosts = {"hearth.lan"};
    LiveServer live(o);
    httplib::Client c = live.client();
    const std::string host = "hearth.lan:" + std::to_string(live.port());
    const std::string body =
        R"({"messages": [{"role": "user", "content": "Once"}], "max_tokens": 2})";
    auto post = [&](const std::string& origin) {
        return c.Post("/v1/chat/completions", {{"Host", host}, {"Origin", origin}}, body,
                      "application/json");
    };
    auto own = post("http://" + host);
    ASSERT_TRUE(own);
    EXPECT_EQ(own->status, 200) << own->body;
    EXPECT_EQ(nlohmann::json::parse(own->body)["usage"]["completion_tokens"], 2);
    auto upper = post("http://HEARTH.lan:" + std::to_string(live.port()));
    ASSERT_TRUE(upper);
    EXPECT_EQ(upper->status, 200) << upper->body;
    for (const std::string& origin :
         {"https://" + host, "http://other.lan:" + std::to_string(live.port()),
          std::string("http://hearth.lan:1"), std::string("http://hearth.lan"), std::string("null")}) {
        auto refused = post(origin);
        ASSERT_TRUE(refused) << origin;
        EXPECT_EQ(refused->status, 403) << origin;
        EXPECT_EQ(nlohmann::json::parse(refused->body)["error"]["code"], "origin_not_allowed")
            << origin;
    }
    // Port 80 is http's default: the browser leaves it out of both Origin and Host.
    auto default_port =
        c.Post("/v1/chat/completions", {{"Host", "hearth.lan"}, {"Origin", "http://hearth.lan:80"}},
               body, "application/json");
    ASSERT_TRUE(default_port);
    EXPECT_EQ(default_port->status, 200) << default_port->body;
    // A Host the server does not answer to is refused before the origin is looked at.
    auto stranger = c.Post("/v1/chat/completions",
                           {{"Host", "evil.example"}, {"Origin", "http://evil.example"}}, body,
                           "application/json");
    ASSERT_TRUE(stranger);
    EXPECT_EQ(nlohmann::json::parse(stranger->body)["error"]["code"], "host_not_allowed");
}

}  // namespace
}  // namespace hearth::server
