#pragma once
// The small SQLite layer the server's stores share (stored responses, keys): opening a file in
// WAL mode, running SQL, prepared statements with bound parameters (never SQL built from text).
#include <cstdint>
#include <string>

struct sqlite3;
struct sqlite3_stmt;

namespace hearth::server {

// Opens (creating it and its folder if needed) the SQLite file at `path` ("" or ":memory:": in
// memory) in WAL mode with NORMAL sync, waits up to 5 s for another writer, and checks it is
// not damaged. `what` names it in errors ("the key store"), `fix` says what the user can do.
// Throws hearth::Error.
sqlite3* open_sqlite(const std::string& path, const std::string& what, const std::string& fix);

// Runs SQL without results; throws hearth::Error with SQLite's message.
void exec_sql(sqlite3* db, const char* sql);

// One prepared statement, finalized however the scope ends.
class Statement {
  public:
    Statement(sqlite3* db, const char* sql);
    ~Statement();
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int index, const std::string& text);
    Statement& bind(int index, int64_t value);
    Statement& bind_null(int index);
    // Ready to step again with new bindings (the old ones stay until rebound).
    void reset();
    // True while there is a row; throws on an error.
    bool step();
    std::string text(int column) const;
    int64_t integer(int column) const;  // NULL reads as 0
    bool is_null(int column) const;

  private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back when the scope ends without commit().
class Transaction {
  public:
    explicit Transaction(sqlite3* db);
    ~Transaction();
    void commit();

  private:
    sqlite3* db_;
    bool done_ = false;
};

}  // namespace hearth::server
