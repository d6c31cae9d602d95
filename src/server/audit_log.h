#pragma once
// The audit log: one JSON line per admin action and per refused key, appended (and flushed) to
// <state-dir>/audit.jsonl: {"time", "who", "action", "target", "remote", "result"}. A presented
// key is never written, only who it claimed to be. Authentication failures are capped per
// second (a flood of wrong keys must not fill the disk); the surplus is counted in one line.
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hearth::server {

struct AuditEntry {
    std::string who;     // key name, "env-key", "anonymous", or what a refused key claimed
    std::string action;  // "authenticate", "keys.create", "keys.revoke", ...
    std::string target;  // the path, or the key name acted on
    std::string remote;  // the client's address
    std::string result;  // "ok", or why not
};

class AuditLog {
  public:
    static constexpr int kMaxFailuresPerSecond = 50;
    static constexpr size_t kMaxRead = 1000;

    // Appends to `path` (created 0600 with its folder); "" keeps the entries in memory only.
    // Throws hearth::Error when the file cannot be opened for writing.
    explicit AuditLog(const std::string& path);
    ~AuditLog();
    AuditLog(const AuditLog&) = delete;
    AuditLog& operator=(const AuditLog&) = delete;

    void record(const AuditEntry& entry);
    // An authentication failure: written unless this second already had kMaxFailuresPerSecond.
    void record_failure(const AuditEntry& entry);
    // The last `n` entries (at most kMaxRead), oldest first, as written.
    std::vector<nlohmann::json> last(size_t n);

    const std::string& path() const { return path_; }

  private:
    void write(const nlohmann::json& line);  // with mutex_ held
    void flush_suppressed(int64_t now);      // with mutex_ held

    std::string path_;
    std::FILE* file_ = nullptr;
    std::mutex mutex_;
    std::vector<nlohmann::json> memory_;  // without a file: the last kMaxRead entries
    int64_t failure_second_ = 0;
    int failures_this_second_ = 0;
    int64_t suppressed_ = 0;
};

}  // namespace hearth::server
