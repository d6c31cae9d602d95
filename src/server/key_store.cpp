#include "server/key_store.h"

#include <openssl/crypto.h>
#include <sqlite3.h>
#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "hub/sha256.h"
#include "server/generation.h"
#include "server/sqlite_db.h"

namespace hearth::server {

namespace {

constexpr size_t kIdHexDigits = 12;
constexpr size_t kSecretBytes = 32;
constexpr const char* kPrefix = "hk_";
// last_used is written at most this often per key: a write per request would make every
// request a writer of the file the CLI also writes.
constexpr int64_t kTouchEverySeconds = 60;

std::string hex(const unsigned char* bytes, size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(n * 2);
    for (size_t i = 0; i < n; ++i) {
        out += digits[bytes[i] >> 4];
        out += digits[bytes[i] & 15];
    }
    return out;
}

std::string random_hex(size_t bytes) {
    std::vector<unsigned char> buf(bytes);
    size_t got = 0;
    while (got < bytes) {
        const ssize_t n = getrandom(buf.data() + got, bytes - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Error(std::string("cannot read random bytes for a key: ") + std::strerror(errno));
        }
        got += static_cast<size_t>(n);
    }
    return hex(buf.data(), buf.size());
}

std::string hash_secret(const std::string& secret) {
    hub::Sha256 sha;
    sha.update(secret.data(), secret.size());
    return sha.hex_digest();
}

bool is_lower_hex(const std::string& s, size_t from, size_t count) {
    if (s.size() < from + count) return false;
    for (size_t i = from; i < from + count; ++i) {
        const char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

// Each entry moves the schema one version up; entry i makes version i + 1. Never edit a
// shipped entry: add one.
const char* const kMigrations[] = {
    // 1: the keys. A name is unique among unrevoked keys, so a revoked key's name can be reused
    // while its row stays for the audit trail (and, later, its usage).
    "CREATE TABLE keys ("
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " secret_sha256 TEXT NOT NULL,"
    " scope TEXT NOT NULL CHECK (scope IN ('inference', 'admin')),"
    " models TEXT NOT NULL DEFAULT '[]',"
    " rpm INTEGER NOT NULL DEFAULT 0, tpm INTEGER NOT NULL DEFAULT 0,"
    " daily_tokens INTEGER NOT NULL DEFAULT 0, concurrency INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL, expires INTEGER, revoked_at INTEGER, last_used INTEGER);"
    "CREATE UNIQUE INDEX keys_unrevoked_name ON keys (name) WHERE revoked_at IS NULL;",
    // 2: usage per caller, model and UTC day (usage_store.h). key_id is the caller's stable id
    // (Identity::key_id: "hk_<id>", an environment key's id, "" for anonymous); key_name is
    // what reports show. model is the served model's name; day is "YYYY-MM-DD".
    "CREATE TABLE usage ("
    " key_id TEXT NOT NULL, key_name TEXT NOT NULL, model TEXT NOT NULL, day TEXT NOT NULL,"
    " requests INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,"
    " cached_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,"
    " errors INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (key_id, model, day));"
    "CREATE INDEX usage_day ON usage (day);",
};
static_assert(sizeof kMigrations / sizeof *kMigrations == KeyStore::kSchemaVersion);

constexpr const char* kColumns =
    "id, name, scope, models, rpm, tpm, daily_tokens, concurrency, created, expires, "
    "revoked_at, last_used";

KeyRecord read_record(const Statement& row) {
    KeyRecord r;
    r.id = row.text(0);
    r.name = row.text(1);
    r.scope = row.text(2) == "admin" ? Scope::Admin : Scope::Inference;
    const nlohmann::json models = nlohmann::json::parse(row.text(3), nullptr, false);
    if (models.is_array()) {
        for (const auto& m : models) {
            if (m.is_string()) r.models.push_back(m.get<std::string>());
        }
    }
    r.limits = {row.integer(4), row.integer(5), row.integer(6), row.integer(7)};
    r.created = row.integer(8);
    r.expires = row.integer(9);
    r.revoked_at = row.integer(10);
    r.last_used = row.integer(11);
    return r;
}

}  // namespace

std::string KeyRecord::status(int64_t now) const {
    if (revoked_at > 0) return "revoked";
    if (expires > 0 && now >= expires) return "expired";
    return "active";
}

Identity KeyRecord::identity() const {
    Identity who;
    who.key_id = kPrefix + id;
    who.name = name;
    who.scope = scope;
    who.models = models;
    who.limits = limits;
    return who;
}

void validate_key_name(const std::string& name) {
    if (name.empty()) throw Error("a key needs a name (--name)");
    if (name.size() > KeyStore::kMaxNameBytes)
        throw Error("a key name has at most " + std::to_string(KeyStore::kMaxNameBytes) +
                    " characters");
    for (const char c : name) {
        if (c < 0x20 || c > 0x7e || c == '/')
            throw Error("a key name holds printable ASCII characters other than '/' only");
    }
}

int64_t parse_duration_seconds(const std::string& text) {
    if (text.empty() || text == "never") return 0;
    size_t used = 0;
    long long n = 0;
    try {
        n = std::stoll(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    const std::string unit = text.substr(used);
    int64_t scale = 0;
    if (unit == "s") scale = 1;
    else if (unit == "m") scale = 60;
    else if (unit == "h") scale = 3600;
    else if (unit == "d") scale = 86400;
    else if (unit == "w") scale = 7 * 86400;
    if (used == 0 || scale == 0 || n <= 0 || n > (int64_t{1} << 40) / scale)
        throw Error("'" + text + "' is not a duration (examples: 90s, 45m, 12h, 30d, 2w, never)");
    return n * scale;
}

KeyStore::KeyStore(const std::string& path) : path_(path) {
    db_ = open_sqlite(path, "the key store", "choose another folder with --state-dir.");
    try {
        migrate();
    } catch (const Error& e) {
        sqlite3_close(db_);
        db_ = nullptr;
        throw Error("the key store '" + (path.empty() ? std::string(":memory:") : path) +
                    "' cannot be used: " + e.what());
    }
}

KeyStore::~KeyStore() {
    sqlite3_close(db_);
}

void KeyStore::migrate() {
    // One writer migrates; a server and a CLI starting together wait for each other here.
    Transaction tx(db_);
    exec_sql(db_, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    Statement read(db_, "SELECT max(version) FROM schema_version");
    const int64_t version = read.step() ? read.integer(0) : 0;
    if (version > kSchemaVersion)
        throw Error("it was written by a newer hearth (schema " + std::to_string(version) +
                    ", this one knows " + std::to_string(kSchemaVersion) + "); upgrade hearth");
    for (int64_t v = version; v < kSchemaVersion; ++v) {
        exec_sql(db_, kMigrations[v]);
        Statement done(db_, "INSERT INTO schema_version (version) VALUES (?1)");
        done.bind(1, v + 1).step();
    }
    tx.commit();
}

IssuedKey KeyStore::create(const NewKey& key) {
    validate_key_name(key.name);
    for (const std::string& m : key.models) {
        if (m.empty()) throw Error("an empty model name in the key's model list");
    }
    std::lock_guard lock(mutex_);
    Transaction tx(db_);
    Statement taken(db_, "SELECT 1 FROM keys WHERE name = ?1 AND revoked_at IS NULL");
    if (taken.bind(1, key.name).step())
        throw Error("a key named '" + key.name + "' exists; revoke it first or choose another name");
    IssuedKey issued;
    KeyRecord& r = issued.record;
    r.name = key.name;
    r.scope = key.scope;
    r.models = key.models;
    r.limits = key.limits;
    r.created = unix_time();
    r.expires = key.expires;
    // A fresh id; a clash (one in 2^48 per pair of keys) draws again.
    for (;;) {
        r.id = random_hex(kIdHexDigits / 2);
        Statement used(db_, "SELECT 1 FROM keys WHERE id = ?1");
        if (!used.bind(1, r.id).step()) break;
    }
    const std::string secret = random_hex(kSecretBytes);
    Statement insert(db_,
                     "INSERT INTO keys (id, name, secret_sha256, scope, models, rpm, tpm, "
                     "daily_tokens, concurrency, created, expires) VALUES "
                     "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    insert.bind(1, r.id).bind(2, r.name).bind(3, hash_secret(secret));
    insert.bind(4, std::string(scope_name(r.scope))).bind(5, nlohmann::json(r.models).dump());
    insert.bind(6, r.limits.rpm).bind(7, r.limits.tpm).bind(8, r.limits.daily_tokens);
    insert.bind(9, r.limits.concurrency).bind(10, r.created);
    if (r.expires > 0) insert.bind(11, r.expires);
    else insert.bind_null(11);
    insert.step();
    tx.commit();
    issued.secret = kPrefix + r.id + "_" + secret;
    return issued;
}

std::vector<KeyRecord> KeyStore::list() {
    std::lock_guard lock(mutex_);
    Statement select(db_, (std::string("SELECT ") + kColumns +
                           " FROM keys ORDER BY created, rowid").c_str());
    std::vector<KeyRecord> out;
    while (select.step()) out.push_back(read_record(select));
    return out;
}

std::optional<KeyRecord> KeyStore::select_one(const char* where_sql, const std::string& value) {
    Statement select(db_, (std::string("SELECT ") + kColumns + " FROM keys WHERE " + where_sql)
                              .c_str());
    if (!select.bind(1, value).step()) return std::nullopt;
    return read_record(select);
}

std::optional<KeyRecord> KeyStore::find(const std::string& name) {
    std::lock_guard lock(mutex_);
    return select_one("name = ?1 ORDER BY revoked_at IS NOT NULL, revoked_at DESC LIMIT 1",
                      name);
}

bool KeyStore::revoke(const std::string& name) {
    std::lock_guard lock(mutex_);
    Statement update(db_, "UPDATE keys SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL");
    update.bind(1, name).bind(2, unix_time()).step();
    return sqlite3_changes(db_) > 0;
}

IssuedKey KeyStore::rotate(const std::string& name) {
    std::lock_guard lock(mutex_);
    Transaction tx(db_);
    std::optional<KeyRecord> r = select_one("name = ?1 AND revoked_at IS NULL", name);
    if (!r) throw Error("no key named '" + name + "' (revoked keys cannot be rotated)");
    const std::string secret = random_hex(kSecretBytes);
    Statement update(db_, "UPDATE keys SET secret_sha256 = ?2 WHERE id = ?1");
    update.bind(1, r->id).bind(2, hash_secret(secret)).step();
    tx.commit();
    return {*r, kPrefix + r->id + "_" + secret};
}

KeyVerdict KeyStore::verify(const std::string& presented) {
    KeyVerdict v;
    const size_t prefix = std::strlen(kPrefix);
    if (presented.compare(0, prefix, kPrefix) != 0) return v;
    const size_t secret_at = prefix + kIdHexDigits + 1;
    if (presented.size() != secret_at + 2 * kSecretBytes || presented[secret_at - 1] != '_' ||
        !is_lower_hex(presented, prefix, kIdHexDigits) ||
        !is_lower_hex(presented, secret_at, 2 * kSecretBytes)) {
        v.check = KeyCheck::Malformed;
        return v;
    }
    const std::string id = presented.substr(prefix, kIdHexDigits);
    const std::string offered = hash_secret(presented.substr(secret_at));
    const int64_t now = unix_time();
    std::lock_guard lock(mutex_);
    Statement select(db_, (std::string("SELECT ") + kColumns +
                           ", secret_sha256 FROM keys WHERE id = ?1").c_str());
    if (!select.bind(1, id).step()) {
        v.check = KeyCheck::Unknown;
        return v;
    }
    v.record = read_record(select);
    const std::string stored = select.text(12);
    const bool match = stored.size() == offered.size() &&
                       CRYPTO_memcmp(stored.data(), offered.data(), offered.size()) == 0;
    if (!match) v.check = KeyCheck::WrongSecret;
    else if (v.record->revoked_at > 0) v.check = KeyCheck::Revoked;
    else if (v.record->expires > 0 && now >= v.record->expires) v.check = KeyCheck::Expired;
    else v.check = KeyCheck::Ok;
    if (v.check == KeyCheck::Ok) touch(id, now);
    return v;
}

// Called with mutex_ held. Best effort: a busy file only delays the next write.
void KeyStore::touch(const std::string& id, int64_t now) {
    int64_t& last = touched_[id];
    if (now - last < kTouchEverySeconds) return;
    last = now;
    try {
        Statement update(db_, "UPDATE keys SET last_used = ?2 WHERE id = ?1");
        update.bind(1, id).bind(2, now).step();
    } catch (const Error&) {
    }
}

void KeyStore::with_database(const std::function<void(sqlite3*)>& work) {
    std::lock_guard lock(mutex_);
    work(db_);
}

bool KeyStore::has_active_keys() {
    std::lock_guard lock(mutex_);
    Statement select(db_,
                     "SELECT 1 FROM keys WHERE revoked_at IS NULL AND "
                     "(expires IS NULL OR expires > ?1) LIMIT 1");
    return select.bind(1, unix_time()).step();
}

}  // namespace hearth::server
