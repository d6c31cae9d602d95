#pragma once
// API keys in one SQLite file (<state-dir>/keys.db), shared by the running server (which looks
// a key up on every request) and `hearth keys` (which writes it): WAL mode lets both use the
// file at once, so a created, revoked or rotated key takes effect on the next request.
//
// A key is shown once, at creation or rotation, as "hk_<id>_<secret>": <id> 12 hex digits
// (public: names the row), <secret> 64 hex digits (32 bytes from getrandom). The file holds only
// the SHA-256 of the secret; a presented secret is hashed and compared in constant time. The
// secrets are random, not chosen by people, so one fast hash is enough (nothing to brute-force).
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/identity.h"

struct sqlite3;

namespace hearth::server {

struct KeyRecord {
    std::string id;  // the <id> of hk_<id>_<secret>
    std::string name;
    Scope scope = Scope::Inference;
    std::vector<std::string> models;  // empty: every model
    KeyLimits limits;
    int64_t created = 0;     // unix seconds
    int64_t expires = 0;     // 0: never
    int64_t revoked_at = 0;  // 0: not revoked
    int64_t last_used = 0;   // 0: never (updated at most once a minute)

    // "active", "revoked" or "expired" at `now`.
    std::string status(int64_t now) const;
    // What the gate gives a request made with this key.
    Identity identity() const;
};

struct NewKey {
    std::string name;
    Scope scope = Scope::Inference;
    std::vector<std::string> models;
    KeyLimits limits;
    int64_t expires = 0;  // unix seconds; 0: never
};

struct IssuedKey {
    KeyRecord record;
    std::string secret;  // the whole "hk_<id>_<secret>", to show once and never again
};

// Why a presented key was refused (or Ok).
enum class KeyCheck { Ok, NotStoreKey, Malformed, Unknown, WrongSecret, Revoked, Expired };

struct KeyVerdict {
    KeyCheck check = KeyCheck::NotStoreKey;
    std::optional<KeyRecord> record;  // set when the id is known
};

class KeyStore {
  public:
    // Opens or creates the store at `path` ("" keeps it in memory), migrating its schema to
    // this version's. Throws hearth::Error saying what to do when it cannot be used.
    explicit KeyStore(const std::string& path);
    ~KeyStore();
    KeyStore(const KeyStore&) = delete;
    KeyStore& operator=(const KeyStore&) = delete;

    static constexpr int kSchemaVersion = 2;
    static constexpr size_t kMaxNameBytes = 64;

    // Throws hearth::Error when the name is taken by an unrevoked key or not a valid name
    // (1-64 printable ASCII characters, no '/').
    IssuedKey create(const NewKey& key);
    // Every key, revoked and expired ones too, oldest first.
    std::vector<KeyRecord> list();
    // The unrevoked key of that name, else the latest revoked one.
    std::optional<KeyRecord> find(const std::string& name);
    // Revokes the unrevoked key of that name; false when there is none.
    bool revoke(const std::string& name);
    // A new secret for the unrevoked key of that name (same id, name and settings); the old one
    // stops working at once. Throws hearth::Error when there is no such key.
    IssuedKey rotate(const std::string& name);
    // The check of a presented key (the whole "hk_..." text).
    KeyVerdict verify(const std::string& presented);
    // Whether any key is neither revoked nor expired.
    bool has_active_keys();

    const std::string& path() const { return path_; }

    // Runs `work` on the store's connection, alone (no other use of it meanwhile): the usage
    // table (usage_store.h) lives in the same file and shares the connection, so an in-memory
    // store is one database and a transaction never mixes with another thread's statements.
    void with_database(const std::function<void(sqlite3*)>& work);

  private:
    void migrate();
    std::optional<KeyRecord> select_one(const char* where_sql, const std::string& value);
    void touch(const std::string& id, int64_t now);

    std::string path_;
    sqlite3* db_ = nullptr;
    std::mutex mutex_;
    std::unordered_map<std::string, int64_t> touched_;  // id -> last_used last written
};

// Checks a key name (see KeyStore::create); throws hearth::Error saying what is wrong.
void validate_key_name(const std::string& name);
// "30d", "12h", "45m", "90s", "2w" -> seconds; "never" or "" -> 0. Throws hearth::Error.
int64_t parse_duration_seconds(const std::string& text);

}  // namespace hearth::server
