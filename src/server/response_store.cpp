#include "server/response_store.h"

#include <sqlite3.h>

#include <filesystem>

#include "core/error.h"
#include "server/generation.h"

namespace hearth::server {

namespace {

// One prepared statement, finalized however the scope ends.
class Statement {
  public:
    Statement(sqlite3* db, const char* sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
            throw Error(std::string("responses database: ") + sqlite3_errmsg(db));
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int index, const std::string& text) {
        sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Statement& bind(int index, int64_t value) {
        sqlite3_bind_int64(stmt_, index, value);
        return *this;
    }
    // True while there is a row; throws on an error.
    bool step() {
        const int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        throw Error(std::string("responses database: ") + sqlite3_errmsg(db_));
    }
    std::string text(int column) const {
        const auto* p = sqlite3_column_text(stmt_, column);
        return p ? std::string(reinterpret_cast<const char*>(p),
                               static_cast<size_t>(sqlite3_column_bytes(stmt_, column)))
                 : std::string();
    }
    int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }

  private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace

ResponseStore::ResponseStore(const std::string& path, ResponseStoreLimits limits)
    : path_(path), limits_(limits) {
    const std::string where = path.empty() ? ":memory:" : path;
    const std::string fix =
        " Move the file away (or delete it) to start with an empty store, or choose another file "
        "with --responses-db.";
    if (!path.empty()) {
        std::error_code ec;
        const auto parent = std::filesystem::path(path).parent_path();
        if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    }
    if (sqlite3_open_v2(where.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
        const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw Error("cannot open the responses database '" + where + "': " + why +
                    ". Check that its folder exists and this user may write there, or choose "
                    "another file with --responses-db.");
    }
    sqlite3_busy_timeout(db_, 5000);
    try {
        // WAL with NORMAL sync: a write costs well under a millisecond instead of a sync to disk
        // each (about 0.7 ms against 24 ms measured); a power cut may lose the last responses,
        // never the file.
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=NORMAL");
        exec("CREATE TABLE IF NOT EXISTS responses ("
             " id TEXT PRIMARY KEY, key_id TEXT NOT NULL, created_at INTEGER NOT NULL,"
             " input_items TEXT NOT NULL, output_items TEXT NOT NULL, response TEXT NOT NULL)");
        exec("CREATE INDEX IF NOT EXISTS responses_by_age ON responses (created_at)");
        // A file that opened but is damaged fails here rather than on the first request.
        Statement check(db_, "PRAGMA quick_check");
        if (!check.step() || check.text(0) != "ok") throw Error("integrity check failed");
    } catch (const Error& e) {
        sqlite3_close(db_);
        db_ = nullptr;
        throw Error("the responses database '" + where + "' cannot be used (" + e.what() + ")." +
                    fix);
    }
}

ResponseStore::~ResponseStore() {
    sqlite3_close(db_);
}

void ResponseStore::exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string why = message ? message : sqlite3_errmsg(db_);
        sqlite3_free(message);
        throw Error(why);
    }
}

int64_t ResponseStore::oldest_allowed() const {
    return unix_time() - limits_.max_age_seconds;
}

void ResponseStore::put(const StoredResponse& r) {
    std::lock_guard lock(mutex_);
    // One transaction: one sync to disk for the row and the clean-up.
    exec("BEGIN IMMEDIATE");
    try {
        Statement insert(db_,
                         "INSERT OR REPLACE INTO responses (id, key_id, created_at, input_items, "
                         "output_items, response) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
        insert.bind(1, r.id).bind(2, r.key_id).bind(3, r.created_at);
        insert.bind(4, r.input_items).bind(5, r.output_items).bind(6, r.response);
        insert.step();
        Statement expire(db_, "DELETE FROM responses WHERE created_at < ?1");
        expire.bind(1, oldest_allowed()).step();
        Statement overflow(db_,
                           "DELETE FROM responses WHERE rowid IN (SELECT rowid FROM responses "
                           "ORDER BY created_at DESC, rowid DESC LIMIT -1 OFFSET ?1)");
        overflow.bind(1, limits_.max_count).step();
        exec("COMMIT");
    } catch (const Error&) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

std::optional<StoredResponse> ResponseStore::get(const std::string& id, const std::string& key_id) {
    std::lock_guard lock(mutex_);
    Statement select(db_,
                     "SELECT created_at, input_items, output_items, response FROM responses "
                     "WHERE id = ?1 AND key_id = ?2 AND created_at >= ?3");
    select.bind(1, id).bind(2, key_id).bind(3, oldest_allowed());
    if (!select.step()) return std::nullopt;
    return StoredResponse{id, key_id, select.integer(0), select.text(1), select.text(2),
                          select.text(3)};
}

bool ResponseStore::remove(const std::string& id, const std::string& key_id) {
    std::lock_guard lock(mutex_);
    Statement del(db_, "DELETE FROM responses WHERE id = ?1 AND key_id = ?2 AND created_at >= ?3");
    del.bind(1, id).bind(2, key_id).bind(3, oldest_allowed()).step();
    return sqlite3_changes(db_) > 0;
}

int64_t ResponseStore::count() {
    std::lock_guard lock(mutex_);
    Statement select(db_, "SELECT count(*) FROM responses");
    select.step();
    return select.integer(0);
}

}  // namespace hearth::server
