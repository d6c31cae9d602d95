// The key store, scopes, model allow-lists, the admin API and the audit log, against a real
// server; `hearth keys` runs as main() registers it, on the same state folder as the server.
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <sqlite3.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "live_server.h"
#include "server/audit_log.h"
#include "server/key_store.h"
#include "server/sqlite_db.h"

namespace hearth::cli {
void add_keys_command(CLI::App& app);
}

namespace hearth::server {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

NewKey key_named(const std::string& name, Scope scope = Scope::Inference,
                 std::vector<std::string> models = {}) {
    NewKey k;
    k.name = name;
    k.scope = scope;
    k.models = std::move(models);
    return k;
}

// A fresh state folder per test.
std::string fresh_state_dir(const std::string& name) {
    const fs::path dir = fs::temp_directory_path() / ("hearth-keys-" + name + "-" +
                                                      std::to_string(::getpid()));
    fs::remove_all(dir);
    return dir.string();
}

// `hearth keys ARGS...` as the binary runs it; returns what it printed.
std::string run_keys(std::vector<std::string> args) {
    CLI::App app{"hearth"};
    app.require_subcommand(1);
    cli::add_keys_command(app);
    args.insert(args.begin(), "keys");
    std::reverse(args.begin(), args.end());  // CLI11 takes the arguments reversed
    ::testing::internal::CaptureStdout();
    try {
        app.parse(args);
    } catch (...) {
        ::testing::internal::GetCapturedStdout();
        throw;
    }
    return ::testing::internal::GetCapturedStdout();
}

std::string key_in(const std::string& printed) {
    std::smatch m;
    EXPECT_TRUE(std::regex_search(printed, m, std::regex("hk_[0-9a-f]{12}_[0-9a-f]{64}")))
        << printed;
    return m.empty() ? std::string() : m.str();
}

std::string sha256_hex(const std::string& s) {
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
    std::string out;
    char two[3];
    for (unsigned char c : d) {
        std::snprintf(two, sizeof two, "%02x", c);
        out += two;
    }
    return out;
}

std::string file_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Every byte the store may hold: the database, its write-ahead log and shared memory.
std::string store_bytes(const std::string& dir) {
    std::string all;
    for (const char* name : {"keys.db", "keys.db-wal", "keys.db-shm"})
        all += file_bytes(fs::path(dir) / name);
    return all;
}

httplib::Headers bearer(const std::string& key) {
    return {{"Authorization", "Bearer " + key}};
}

int status_of(const httplib::Result& r) {
    return r ? r->status : -1;
}

json completion_body(const std::string& model = "") {
    json b = {{"prompt", "Once"}, {"max_tokens", 2}};
    if (!model.empty()) b["model"] = model;
    return b;
}

ServerOptions options_with_state(const std::string& dir) {
    ServerOptions o = default_options();
    o.state_dir = dir;
    return o;
}

// Captures the server's log lines while alive.
class LogCapture {
  public:
    LogCapture() : previous_(spdlog::default_logger()) {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text_);
        spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
        spdlog::set_level(spdlog::level::trace);
    }
    ~LogCapture() { spdlog::set_default_logger(previous_); }
    std::string text() const { return text_.str(); }

  private:
    std::ostringstream text_;
    std::shared_ptr<spdlog::logger> previous_;
};

// ---- the store ----

TEST(KeyStore, StoresOnlyTheHashOfTheSecret) {
    const std::string dir = fresh_state_dir("hash");
    std::string secret;
    {
        KeyStore store(dir + "/keys.db");
        secret = store.create(key_named("app")).secret;
        EXPECT_EQ(store.verify(secret).check, KeyCheck::Ok);
    }
    ASSERT_TRUE(std::regex_match(secret, std::regex("hk_[0-9a-f]{12}_[0-9a-f]{64}"))) << secret;
    const std::string random_part = secret.substr(16);
    const std::string bytes = store_bytes(dir);
    EXPECT_EQ(bytes.find(random_part), std::string::npos) << "the secret is in the file";
    EXPECT_EQ(bytes.find(random_part.substr(0, 16)), std::string::npos);
    // What the file holds instead: the SHA-256 of the secret (OpenSSL's, computed here).
    EXPECT_NE(bytes.find(sha256_hex(random_part)), std::string::npos);
    fs::remove_all(dir);
}

TEST(KeyStore, ChecksEveryPartOfAPresentedKey) {
    KeyStore store("");
    const IssuedKey k = store.create(key_named("app", Scope::Inference, {"m"}));
    EXPECT_EQ(store.verify(k.secret).check, KeyCheck::Ok);
    EXPECT_EQ(store.verify(k.secret).record->models, std::vector<std::string>{"m"});
    EXPECT_EQ(store.verify("sk-other").check, KeyCheck::NotStoreKey);
    std::string wrong_secret = k.secret;
    wrong_secret.back() = wrong_secret.back() == '0' ? '1' : '0';
    EXPECT_EQ(store.verify(wrong_secret).check, KeyCheck::WrongSecret);
    std::string wrong_id = k.secret;
    wrong_id[3] = wrong_id[3] == '0' ? '1' : '0';
    EXPECT_EQ(store.verify(wrong_id).check, KeyCheck::Unknown);
    for (const std::string& bad :
         {std::string("hk_"), std::string("hk_abc_def"), k.secret + "0", k.secret.substr(0, 79),
          "hk_" + std::string(12, 'G') + k.secret.substr(15), std::string(4096, 'h'),
          "hk_" + std::string(8192, 'a')}) {
        const KeyCheck c = store.verify(bad).check;
        EXPECT_TRUE(c == KeyCheck::Malformed || c == KeyCheck::NotStoreKey) << bad.size();
    }
    // Upper-case hex is not what we print: refused, not looked up.
    std::string upper = k.secret;
    for (size_t i = 3; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
    EXPECT_EQ(store.verify(upper).check, KeyCheck::Malformed);
}

TEST(KeyStore, RotateRevokeExpire) {
    KeyStore store("");
    const IssuedKey first = store.create(key_named("app"));
    const IssuedKey second = store.rotate("app");
    EXPECT_EQ(second.record.id, first.record.id) << "rotation keeps the key's identity";
    EXPECT_NE(second.secret, first.secret);
    EXPECT_EQ(store.verify(first.secret).check, KeyCheck::WrongSecret);
    EXPECT_EQ(store.verify(second.secret).check, KeyCheck::Ok);
    EXPECT_TRUE(store.revoke("app"));
    EXPECT_FALSE(store.revoke("app"));
    EXPECT_EQ(store.verify(second.secret).check, KeyCheck::Revoked);
    EXPECT_THROW(store.rotate("app"), Error);
    // The name is free again; the revoked row stays.
    const IssuedKey again = store.create(key_named("app"));
    EXPECT_EQ(store.list().size(), 2u);
    EXPECT_EQ(store.find("app")->id, again.record.id);
    EXPECT_THROW(store.create(key_named("app")), Error);

    NewKey brief = key_named("brief");
    brief.expires = std::time(nullptr) - 1;
    EXPECT_EQ(store.verify(store.create(brief).secret).check, KeyCheck::Expired);
    EXPECT_EQ(store.find("brief")->status(std::time(nullptr)), "expired");
}

TEST(KeyStore, NamesAreDataNotSql) {
    KeyStore store("");
    store.create(key_named("keep"));
    const std::string evil = "x'); DROP TABLE keys; --";
    const IssuedKey k = store.create(key_named(evil, Scope::Inference, {"a'; DELETE FROM keys; --"}));
    EXPECT_EQ(store.verify(k.secret).record->name, evil);
    ASSERT_EQ(store.list().size(), 2u);
    EXPECT_EQ(store.list()[1].models[0], "a'; DELETE FROM keys; --");
    EXPECT_TRUE(store.find("keep"));
    EXPECT_FALSE(store.find("' OR '1'='1"));
    EXPECT_FALSE(store.revoke("' OR '1'='1"));
    EXPECT_EQ(store.verify(store.create(key_named("after")).secret).check, KeyCheck::Ok);
    for (const std::string& bad : {std::string(), std::string("a/b"), std::string("tab\there"),
                                   std::string(65, 'n'), std::string("caf\xc3\xa9")}) {
        EXPECT_THROW(store.create(key_named(bad)), Error) << bad;
    }
}

TEST(KeyStore, SchemaIsVersionedAndNewerFilesAreRefused) {
    const std::string dir = fresh_state_dir("schema");
    const std::string path = dir + "/keys.db";
    { KeyStore(path).create(key_named("a")); }
    EXPECT_EQ(KeyStore(path).list().size(), 1u) << "opening again migrates nothing, keeps keys";
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    {  // finalized before the close below, or the connection could not close (and would leak)
        Statement version(db, "SELECT max(version) FROM schema_version");
        ASSERT_TRUE(version.step());
        EXPECT_EQ(version.integer(0), KeyStore::kSchemaVersion);
    }
    // A file from a newer hearth: refused with a message, not misread.
    exec_sql(db, "INSERT INTO schema_version VALUES (99)");
    ASSERT_EQ(sqlite3_close(db), SQLITE_OK);
    try {
        KeyStore store(path);
        ADD_FAILURE() << "a newer schema was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("newer hearth"), std::string::npos) << e.what();
    }
    fs::remove_all(dir);
}

TEST(KeyStore, DurationsParse) {
    EXPECT_EQ(parse_duration_seconds("30d"), 30 * 86400);
    EXPECT_EQ(parse_duration_seconds("12h"), 12 * 3600);
    EXPECT_EQ(parse_duration_seconds("2w"), 14 * 86400);
    EXPECT_EQ(parse_duration_seconds("never"), 0);
    for (const char* bad : {"30", "d", "-1d", "0d", "1y", "99999999999999999999d", "1.5d"})
        EXPECT_THROW(parse_duration_seconds(bad), Error) << bad;
}

// ---- the server ----

TEST(ServerKeys, CliRevocationTakesEffectWithoutRestart) {
    const std::string dir = fresh_state_dir("revoke");
    const std::string key = key_in(run_keys({"create", "--name", "ci", "--state-dir", dir}));
    LiveServer live(options_with_state(dir));
    auto c = live.client();
    EXPECT_EQ(status_of(c.Get("/v1/models")), 401);
    EXPECT_EQ(status_of(c.Post("/v1/completions", bearer(key), completion_body().dump(),
                               "application/json")),
              200);
    const std::string rotated = key_in(run_keys({"rotate", "ci", "--state-dir", dir}));
    EXPECT_EQ(status_of(c.Get("/v1/models", bearer(key))), 401) << "the old secret still works";
    EXPECT_EQ(status_of(c.Get("/v1/models", bearer(rotated))), 200);

    run_keys({"revoke", "ci", "--state-dir", dir});
    const auto revoked_at = std::chrono::steady_clock::now();
    auto res = c.Get("/v1/models", bearer(rotated));
    EXPECT_LT(std::chrono::steady_clock::now() - revoked_at, std::chrono::seconds(1));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401);
    EXPECT_NE(res->body.find("revoked"), std::string::npos) << res->body;

    const json listed = json::parse(run_keys({"list", "--json", "--state-dir", dir}));
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0]["status"], "revoked");
    EXPECT_GT(listed[0]["last_used"].get<int64_t>(), 0);
    EXPECT_EQ(listed[0].dump().find(rotated.substr(16)), std::string::npos);
    fs::remove_all(dir);
}

TEST(ServerKeys, ExpiredKeysStopWorking) {
    const std::string dir = fresh_state_dir("expire");
    std::string key;
    {
        KeyStore store(dir + "/keys.db");
        NewKey k = key_named("brief");
        k.expires = std::time(nullptr) + 2;
        key = store.create(k).secret;
    }
    LiveServer live(options_with_state(dir));
    auto c = live.client();
    EXPECT_EQ(status_of(c.Get("/v1/models", bearer(key))), 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(3100));
    auto res = c.Get("/v1/models", bearer(key));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401);
    EXPECT_NE(res->body.find("expired"), std::string::npos) << res->body;
    fs::remove_all(dir);
}

TEST(ServerKeys, ScopesSeparateAdminFromInference) {
    const std::string dir = fresh_state_dir("scope");
    std::string inference, admin;
    {
        KeyStore store(dir + "/keys.db");
        inference = store.create(key_named("app")).secret;
        admin = store.create(key_named("ops", Scope::Admin)).secret;
    }
    ServerOptions o = options_with_state(dir);
    o.api_keys = {"sk-env"};
    LiveServer live(o);
    auto c = live.client();
    for (const char* path : {"/admin/keys", "/admin/audit", "/metrics"}) {
        auto res = c.Get(path, bearer(inference));
        ASSERT_TRUE(res) << path;
        EXPECT_EQ(res->status, 403) << path;
        EXPECT_EQ(json::parse(res->body)["error"]["code"], "insufficient_scope") << path;
        EXPECT_EQ(status_of(c.Get(path, bearer(admin))), 200) << path;
        EXPECT_EQ(status_of(c.Get(path, bearer("sk-env"))), 200) << "env keys are admin keys";
    }
    EXPECT_EQ(status_of(c.Post("/api/pull", bearer(inference), R"({"model":"x"})",
                               "application/json")),
              403);
    // Inference reaches every model API.
    EXPECT_EQ(status_of(c.Post("/v1/completions", bearer(inference), completion_body().dump(),
                               "application/json")),
              200);
    EXPECT_EQ(status_of(c.Post("/v1/chat/completions", bearer(inference),
                               json{{"messages", {{{"role", "user"}, {"content", "hi"}}}},
                                    {"max_tokens", 2}}.dump(),
                               "application/json")),
              200);
    EXPECT_EQ(status_of(c.Post("/tokenize", bearer(inference), R"({"content":"hi"})",
                               "application/json")),
              200);
    EXPECT_EQ(status_of(c.Post("/api/generate", bearer(inference),
                               R"({"model":"stories260K","prompt":"Once","stream":false,"options":{"num_predict":2}})",
                               "application/json")),
              200);
    EXPECT_EQ(status_of(c.Post("/v1/messages", {{"x-api-key", inference}},
                               json{{"model", "stories260K"}, {"max_tokens", 2},
                                    {"messages", {{{"role", "user"}, {"content", "hi"}}}}}.dump(),
                               "application/json")),
              200);
    EXPECT_EQ(status_of(c.Post("/v1/completions", bearer("sk-env"), completion_body().dump(),
                               "application/json")),
              200);
    fs::remove_all(dir);
}

TEST(ServerKeys, AllowListsHideOtherModels) {
    const std::string dir = fresh_state_dir("models");
    std::string key, other_case;
    {
        KeyStore store(dir + "/keys.db");
        key = store.create(key_named("app", Scope::Inference, {"stories"})).secret;  // by alias
        // Names match ignoring case, in allow-lists as in requests.
        other_case = store.create(key_named("app2", Scope::Inference, {"Stories260k"})).secret;
    }
    ModelEntry other = stories_entry();
    other.name = "other";
    other.aliases = {"other-alias"};
    LiveServer live(options_with_state(dir), {stories_entry(), other});
    auto c = live.client();
    const json models = ok_json(c.Get("/v1/models", bearer(key)));
    ASSERT_EQ(models["data"].size(), 1u);
    EXPECT_EQ(models["data"][0]["id"], "stories260K");
    const json tags = ok_json(c.Get("/api/tags", bearer(key)));
    ASSERT_EQ(tags["models"].size(), 1u);
    EXPECT_EQ(tags["models"][0]["name"], "stories260K");
    const json seen = ok_json(c.Get("/v1/models", bearer(other_case)));
    ASSERT_EQ(seen["data"].size(), 1u);
    EXPECT_EQ(seen["data"][0]["id"], "stories260K");
    EXPECT_EQ(status_of(c.Post("/v1/completions", bearer(key), completion_body("stories260K").dump(),
                               "application/json")),
              200);
    // A hidden model answers exactly as an absent one.
    auto hidden = c.Post("/v1/completions", bearer(key), completion_body("other").dump(),
                         "application/json");
    auto absent = c.Post("/v1/completions", bearer(key), completion_body("absent").dump(),
                         "application/json");
    ASSERT_TRUE(hidden && absent);
    EXPECT_EQ(hidden->status, 404);
    json h = json::parse(hidden->body), a = json::parse(absent->body);
    EXPECT_EQ(h["error"]["code"], "model_not_found");
    EXPECT_EQ(h["error"]["message"],
              a["error"]["message"].get<std::string>().replace(
                  a["error"]["message"].get<std::string>().find("absent"), 6, "other"));
    for (const char* path : {"/models/other/v1/completions", "/models/other-alias/v1/completions"})
        EXPECT_EQ(status_of(c.Post(path, bearer(key), completion_body().dump(), "application/json")),
                  404)
            << path;
    EXPECT_EQ(status_of(c.Get("/v1/models/other", bearer(key))), 404);
    EXPECT_EQ(status_of(c.Post("/api/chat", bearer(key),
                               R"({"model":"other","messages":[{"role":"user","content":"hi"}],"stream":false})",
                               "application/json")),
              404);
    EXPECT_EQ(status_of(c.Post("/api/show", bearer(key), R"({"model":"other"})", "application/json")),
              404);
    EXPECT_EQ(status_of(c.Post("/tokenize", bearer(key), R"({"model":"other","content":"hi"})",
                               "application/json")),
              404);
    fs::remove_all(dir);
}

TEST(ServerKeys, BadKeysAre401AndAuditedWithoutTheKey) {
    const std::string dir = fresh_state_dir("bad");
    std::string key;
    {
        KeyStore store(dir + "/keys.db");
        key = store.create(key_named("app")).secret;
    }
    LogCapture log;
    std::string wrong_secret = key, wrong_id = key;
    wrong_secret[20] = wrong_secret[20] == 'a' ? 'b' : 'a';
    wrong_id[5] = wrong_id[5] == 'a' ? 'b' : 'a';
    const std::string long_key = "hk_" + std::string(6000, 'f');
    {
        LiveServer live(options_with_state(dir));
        auto c = live.client();
        struct Case {
            httplib::Headers headers;
            std::string says;
        };
        const std::vector<Case> cases = {
            {{}, "No API key provided"},
            {bearer(wrong_secret), "Incorrect API key"},
            {bearer(wrong_id), "Incorrect API key"},
            {bearer("hk_123_456"), "Malformed API key"},
            {bearer(long_key), "Malformed API key"},
            {{{"Authorization", "Bearer "}}, "No API key provided"},
            {{{"Authorization", "Basic " + key}}, "No API key provided"},
            {bearer("sk-not-a-key"), "Incorrect API key"},
        };
        for (const Case& k : cases) {
            auto res = c.Get("/v1/models", k.headers);
            ASSERT_TRUE(res);
            EXPECT_EQ(res->status, 401);
            EXPECT_NE(res->body.find(k.says), std::string::npos) << res->body;
            EXPECT_EQ(json::parse(res->body)["error"]["code"], "invalid_api_key");
        }
        EXPECT_EQ(status_of(c.Get("/v1/models", bearer(key))), 200);
    }
    const std::string audit = file_bytes(fs::path(dir) / "audit.jsonl");
    std::vector<json> lines;
    std::istringstream in(audit);
    for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
    ASSERT_EQ(lines.size(), 8u) << audit;
    EXPECT_EQ(lines[0]["result"], "no key");
    EXPECT_EQ(lines[1]["who"], "app") << "a known id names its key";
    EXPECT_EQ(lines[1]["result"], "wrong secret");
    EXPECT_EQ(lines[2]["result"], "unknown key id");
    EXPECT_EQ(lines[3]["result"], "malformed hk_ key");
    for (const json& l : lines) {
        EXPECT_EQ(l["action"], "authenticate");
        EXPECT_EQ(l["target"], "/v1/models");
        EXPECT_EQ(l["remote"], "127.0.0.1");
        EXPECT_TRUE(l["time"].is_string());
    }
    // No secret, right or wrong, in the audit log or the server's log.
    const std::string logged = log.text();
    EXPECT_NE(logged.find("GET /v1/models 401"), std::string::npos) << "the capture works";
    for (const std::string& secret : {key, wrong_secret, wrong_id}) {
        EXPECT_EQ(audit.find(secret.substr(16)), std::string::npos);
        EXPECT_EQ(logged.find(secret.substr(16)), std::string::npos);
    }
    EXPECT_EQ(store_bytes(dir).find(key.substr(16)), std::string::npos);
    fs::remove_all(dir);
}

TEST(ServerKeys, AdminApiCreatesListsRevokesAndAudits) {
    const std::string dir = fresh_state_dir("admin");
    ServerOptions o = options_with_state(dir);
    o.api_keys = {"sk-env"};
    LiveServer live(o);
    auto c = live.client();
    const std::string evil = "x'); DROP TABLE keys; --";
    auto created = c.Post("/admin/keys", bearer("sk-env"),
                          json{{"name", evil}, {"models", {"stories260K"}}, {"rpm", 60},
                               {"expires", "30d"}}.dump(),
                          "application/json");
    ASSERT_TRUE(created);
    ASSERT_EQ(created->status, 201) << created->body;
    const json k = json::parse(created->body);
    const std::string key = k["key"];
    EXPECT_EQ(k["name"], evil);
    EXPECT_EQ(k["scope"], "inference");
    EXPECT_EQ(k["rpm"], 60);
    EXPECT_NEAR(k["expires"].get<double>() - k["created"].get<double>(), 30 * 86400, 2);
    EXPECT_EQ(status_of(c.Post("/v1/completions", bearer(key), completion_body().dump(),
                               "application/json")),
              200);
    EXPECT_EQ(status_of(c.Post("/admin/keys", bearer("sk-env"), json{{"name", evil}}.dump(),
                               "application/json")),
              400)
        << "names are unique";
    for (const json& bad : {json{{"name", "a"}, {"scope", "root"}}, json{{"name", "a"}, {"rpm", -1}},
                            json{{"name", "a/b"}}, json{{"name", "a"}, {"expires", "soon"}},
                            json{{"scope", "admin"}}}) {
        EXPECT_EQ(status_of(c.Post("/admin/keys", bearer("sk-env"), bad.dump(), "application/json")),
                  400)
            << bad;
    }

    auto listed = c.Get("/admin/keys", bearer("sk-env"));
    ASSERT_TRUE(listed);
    EXPECT_EQ(listed->body.find(key.substr(16)), std::string::npos) << "lists never show secrets";
    const json data = json::parse(listed->body)["data"];
    ASSERT_EQ(data.size(), 1u);
    EXPECT_FALSE(data[0].contains("key"));
    EXPECT_EQ(data[0]["status"], "active");

    EXPECT_EQ(status_of(c.Delete("/admin/keys/nobody", bearer("sk-env"))), 404);
    const std::string encoded = "x%27%29%3B%20DROP%20TABLE%20keys%3B%20--";
    EXPECT_EQ(status_of(c.Delete("/admin/keys/" + encoded, bearer("sk-env"))), 200);
    EXPECT_EQ(status_of(c.Get("/v1/models", bearer(key))), 401);

    const json audit = ok_json(c.Get("/admin/audit?limit=3", bearer("sk-env")))["data"];
    ASSERT_EQ(audit.size(), 3u) << audit;
    EXPECT_EQ(audit[0]["action"], "keys.revoke");
    EXPECT_EQ(audit[0]["result"], "no such key");
    EXPECT_EQ(audit[1]["action"], "keys.revoke");
    EXPECT_EQ(audit[1]["target"], evil);
    EXPECT_EQ(audit[1]["who"], "env-key");
    EXPECT_EQ(audit[1]["result"], "ok");
    EXPECT_EQ(audit[2]["action"], "authenticate");
    EXPECT_EQ(audit[2]["who"], evil);
    EXPECT_EQ(audit[2]["result"], "revoked key");
    const json all = ok_json(c.Get("/admin/audit", bearer("sk-env")))["data"];
    EXPECT_EQ(all[0]["action"], "keys.create");
    EXPECT_EQ(all[0]["result"], "ok");
    EXPECT_EQ(status_of(c.Get("/admin/audit?limit=x", bearer("sk-env"))), 400);
    fs::remove_all(dir);
}

TEST(ServerKeys, WithoutKeysTheServerStaysOpenUntilOneIsCreated) {
    const std::string dir = fresh_state_dir("open");
    LiveServer live(options_with_state(dir));
    auto c = live.client();
    EXPECT_EQ(status_of(c.Get("/v1/models")), 200);
    EXPECT_EQ(status_of(c.Get("/metrics")), 200);
    // On loopback without keys, the admin API is open too: the first key can be made there.
    auto created = c.Post("/admin/keys", json{{"name", "first"}, {"scope", "admin"}}.dump(),
                          "application/json");
    ASSERT_EQ(status_of(created), 201);
    const std::string key = json::parse(created->body)["key"];
    EXPECT_EQ(status_of(c.Get("/v1/models")), 401) << "a key exists now: keys are required";
    EXPECT_EQ(status_of(c.Get("/admin/keys", bearer(key))), 200);
    EXPECT_EQ(status_of(c.Get("/health")), 200);
    fs::remove_all(dir);
}

TEST(ServerKeys, AuthenticationFailuresAreCappedPerSecond) {
    AuditLog audit("");
    for (int i = 0; i < 500; ++i) audit.record_failure({"x", "authenticate", "/", "ip", "no key"});
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    audit.record_failure({"x", "authenticate", "/", "ip", "no key"});
    const std::vector<json> lines = audit.last(1000);
    ASSERT_GE(lines.size(), 3u);
    EXPECT_LE(lines.size(), 2u * AuditLog::kMaxFailuresPerSecond + 2);
    bool summarized = false;
    for (const json& l : lines)
        summarized |= l["result"].get<std::string>().find("not logged") != std::string::npos;
    EXPECT_TRUE(summarized);
}

}  // namespace
}  // namespace hearth::server

namespace hearth::server {
namespace {

// With an OIDC provider configured, a bearer value shaped like a JWT goes to the token check;
// an environment key that happens to have that shape still works as a key, and a JWT while the
// provider is unreachable is a clear 401, not a crash.
TEST(ServerKeys, OidcTokensAndJwtShapedEnvironmentKeys) {
    ServerOptions o = options_with_state(fresh_state_dir("oidc"));
    o.api_keys = {"team.key.one"};
    o.oidc.issuer = "http://127.0.0.1:1";  // nothing listens there
    o.oidc.audience = "hearth-api";
    LiveServer live(o);
    auto c = live.client();
    EXPECT_EQ(status_of(c.Get("/v1/models", bearer("team.key.one"))), 200);
    auto res = c.Get("/v1/models", bearer("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401);
    EXPECT_NE(res->body.find("could not be reached"), std::string::npos) << res->body;
}

}  // namespace
}  // namespace hearth::server
