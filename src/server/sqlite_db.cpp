#include "server/sqlite_db.h"

#include <sqlite3.h>

#include <filesystem>

#include "core/error.h"

namespace hearth::server {

sqlite3* open_sqlite(const std::string& path, const std::string& what, const std::string& fix) {
    const std::string where = path.empty() ? ":memory:" : path;
    if (where != ":memory:") {
        std::error_code ec;
        const auto parent = std::filesystem::path(path).parent_path();
        if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    }
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(where.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                                SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
        const std::string why = db ? sqlite3_errmsg(db) : "out of memory";
        sqlite3_close(db);
        throw Error("cannot open " + what + " '" + where + "': " + why +
                    ". Check that its folder exists and this user may write there, or " + fix);
    }
    sqlite3_busy_timeout(db, 5000);
    try {
        // WAL with NORMAL sync: a write costs well under a millisecond instead of a sync to disk
        // each (about 0.7 ms against 24 ms measured); a power cut may lose the last writes,
        // never the file. WAL also lets a reader (the server) and a writer (the CLI) share it.
        exec_sql(db, "PRAGMA journal_mode=WAL");
        exec_sql(db, "PRAGMA synchronous=NORMAL");
        // A file that opened but is damaged fails here rather than on the first request.
        Statement check(db, "PRAGMA quick_check");
        if (!check.step() || check.text(0) != "ok") throw Error("integrity check failed");
    } catch (const Error& e) {
        sqlite3_close(db);
        throw Error(what + " '" + where + "' cannot be used (" + e.what() + "). Move the file "
                    "away (or delete it) to start empty, or " + fix);
    }
    return db;
}

void exec_sql(sqlite3* db, const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string why = message ? message : sqlite3_errmsg(db);
        sqlite3_free(message);
        throw Error(why);
    }
}

Statement::Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
        throw Error(std::string("database: ") + sqlite3_errmsg(db));
}

Statement::~Statement() {
    sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int index, const std::string& text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
}

Statement& Statement::bind(int index, int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
}

Statement& Statement::bind_null(int index) {
    sqlite3_bind_null(stmt_, index);
    return *this;
}

void Statement::reset() {
    sqlite3_reset(stmt_);
}

bool Statement::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw Error(std::string("database: ") + sqlite3_errmsg(db_));
}

std::string Statement::text(int column) const {
    const auto* p = sqlite3_column_text(stmt_, column);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, column)))
             : std::string();
}

int64_t Statement::integer(int column) const {
    return sqlite3_column_int64(stmt_, column);
}

bool Statement::is_null(int column) const {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

Transaction::Transaction(sqlite3* db) : db_(db) {
    exec_sql(db_, "BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
    exec_sql(db_, "COMMIT");
    done_ = true;
}

}  // namespace hearth::server
