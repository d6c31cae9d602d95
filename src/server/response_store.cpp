#include "server/response_store.h"

#include <sqlite3.h>

#include "core/error.h"
#include "server/generation.h"
#include "server/sqlite_db.h"

namespace hearth::server {

ResponseStore::ResponseStore(const std::string& path, ResponseStoreLimits limits)
    : path_(path), limits_(limits) {
    db_ = open_sqlite(path, "the responses database", "choose another file with --responses-db.");
    try {
        exec("CREATE TABLE IF NOT EXISTS responses ("
             " id TEXT PRIMARY KEY, key_id TEXT NOT NULL, created_at INTEGER NOT NULL,"
             " input_items TEXT NOT NULL, output_items TEXT NOT NULL, response TEXT NOT NULL)");
        exec("CREATE INDEX IF NOT EXISTS responses_by_age ON responses (created_at)");
    } catch (const Error& e) {
        sqlite3_close(db_);
        db_ = nullptr;
        throw Error("the responses database '" + (path.empty() ? std::string(":memory:") : path) +
                    "' cannot be used (" + e.what() + "). Move the file away (or delete it) to "
                    "start with an empty store, or choose another file with --responses-db.");
    }
}

ResponseStore::~ResponseStore() {
    sqlite3_close(db_);
}

void ResponseStore::exec(const char* sql) {
    exec_sql(db_, sql);
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
