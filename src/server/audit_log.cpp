#include "server/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "core/error.h"
#include "server/openai_response.h"

namespace hearth::server {

namespace {

using Clock = std::chrono::system_clock;

std::string utc_time(Clock::time_point t) {
    const std::time_t seconds = Clock::to_time_t(t);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[40];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
    char tail[8];
    std::snprintf(tail, sizeof tail, ".%03dZ", static_cast<int>(ms));
    return std::string(text) + tail;
}

nlohmann::json to_json(const AuditEntry& e) {
    return {{"time", utc_time(Clock::now())}, {"who", e.who},       {"action", e.action},
            {"target", e.target},             {"remote", e.remote}, {"result", e.result}};
}

}  // namespace

AuditLog::AuditLog(const std::string& path) : path_(path) {
    if (path.empty()) return;
    std::error_code ec;
    const auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || !(file_ = ::fdopen(fd, "a"))) {
        const std::string why = std::strerror(errno);
        if (fd >= 0) ::close(fd);
        throw Error("cannot write the audit log '" + path + "': " + why +
                    " (choose another folder with --state-dir)");
    }
}

AuditLog::~AuditLog() {
    if (file_) std::fclose(file_);
}

void AuditLog::write(const nlohmann::json& line) {
    if (!file_) {
        memory_.push_back(line);
        if (memory_.size() > kMaxRead) memory_.erase(memory_.begin());
        return;
    }
    const std::string text = safe_dump(line) + "\n";
    std::fwrite(text.data(), 1, text.size(), file_);
    std::fflush(file_);
}

void AuditLog::flush_suppressed(int64_t now) {
    if (now == failure_second_) return;
    if (suppressed_ > 0) {
        write(to_json({"", "authenticate", "", "",
                       std::to_string(suppressed_) + " more failures in that second not logged"}));
        suppressed_ = 0;
    }
    failure_second_ = now;
    failures_this_second_ = 0;
}

void AuditLog::record(const AuditEntry& entry) {
    std::lock_guard lock(mutex_);
    write(to_json(entry));
}

void AuditLog::record_failure(const AuditEntry& entry) {
    const int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
    std::lock_guard lock(mutex_);
    flush_suppressed(now);
    if (++failures_this_second_ > kMaxFailuresPerSecond) {
        ++suppressed_;
        return;
    }
    write(to_json(entry));
}

std::vector<nlohmann::json> AuditLog::last(size_t n) {
    n = std::min(n, kMaxRead);
    std::lock_guard lock(mutex_);
    if (!file_) {
        const size_t from = memory_.size() > n ? memory_.size() - n : 0;
        return {memory_.begin() + static_cast<std::ptrdiff_t>(from), memory_.end()};
    }
    // Read back from the end in blocks until n lines are in hand.
    std::FILE* in = std::fopen(path_.c_str(), "rb");
    if (!in) return {};
    std::fseek(in, 0, SEEK_END);
    long end = std::ftell(in);
    std::string tail;
    size_t newlines = 0;
    while (end > 0 && newlines <= n) {
        const long size = std::min<long>(end, 64 * 1024);
        std::string block(static_cast<size_t>(size), '\0');
        std::fseek(in, end - size, SEEK_SET);
        if (std::fread(block.data(), 1, block.size(), in) != block.size()) break;
        end -= size;
        newlines += static_cast<size_t>(std::count(block.begin(), block.end(), '\n'));
        tail = block + tail;
    }
    std::fclose(in);
    std::vector<nlohmann::json> lines;
    size_t pos = 0;
    if (end > 0) pos = tail.find('\n') + 1;  // the first line may be cut
    while (pos < tail.size()) {
        size_t nl = tail.find('\n', pos);
        if (nl == std::string::npos) nl = tail.size();
        nlohmann::json j = nlohmann::json::parse(tail.substr(pos, nl - pos), nullptr, false);
        if (!j.is_discarded()) lines.push_back(std::move(j));
        pos = nl + 1;
    }
    if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(n));
    return lines;
}

}  // namespace hearth::server
