#include "hub/download.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "gguf/reader.h"
#include "hub/hub_client.h"
#include "hub/sha256.h"

namespace hearth::hub {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() &&
           text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The .partial being written, locked so two hearth processes never write the same file.
class PartialFile {
  public:
    explicit PartialFile(const std::string& path) : path_(path) {
        file_ = std::fopen(path.c_str(), "ab");
        if (!file_) throw Error("cannot write " + path + ": " + std::strerror(errno));
        if (flock(fileno(file_), LOCK_EX | LOCK_NB) != 0) {
            std::fclose(file_);
            throw Error("another hearth process is downloading " + path + "; wait for it to end");
        }
    }
    ~PartialFile() {
        if (file_) std::fclose(file_);
    }
    PartialFile(const PartialFile&) = delete;
    PartialFile& operator=(const PartialFile&) = delete;

    void write(const char* data, size_t size) {
        if (std::fwrite(data, 1, size, file_) != size) {
            throw Error("write failed on " + path_ + " (disk full?): " + std::strerror(errno));
        }
    }
    void truncate() {
        std::fflush(file_);
        if (ftruncate(fileno(file_), 0) != 0) throw Error("cannot truncate " + path_);
    }
    void sync_and_close() {
        bool ok = std::fflush(file_) == 0 && fsync(fileno(file_)) == 0;
        ok = std::fclose(file_) == 0 && ok;
        file_ = nullptr;
        if (!ok) throw Error("could not flush " + path_ + " to disk: " + std::strerror(errno));
    }
    void flush() { std::fflush(file_); }

  private:
    std::string path_;
    std::FILE* file_ = nullptr;
};

uint64_t file_size_or_zero(const std::string& path) {
    std::error_code error;
    auto size = fs::file_size(path, error);
    return error ? 0 : size;
}

void hash_existing_bytes(const std::string& path, Sha256& hash) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (!file) return;
    std::vector<char> buffer(1 << 20);
    size_t n;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), file)) > 0)
        hash.update(buffer.data(), n);
    std::fclose(file);
}

void sync_directory(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        ::close(fd);
    }
}

// One run of the transfer loop: how the last attempt ended.
enum class Outcome { Complete, Retry, RestartFromZero };

struct Attempt {
    const Http& http;
    const DownloadRequest& request;
    const DownloadOptions& options;
    PartialFile& partial;
    Sha256& hash;
    uint64_t& written;  // bytes in the partial file
    Clock::time_point started;
    uint64_t resumed_from;
    std::string last_error;

    void report(bool finished) const {
        if (!options.on_progress) return;
        DownloadProgress progress;
        progress.label = request.label;
        progress.done = written;
        progress.total = request.expected_size;
        progress.seconds = std::chrono::duration<double>(Clock::now() - started).count();
        progress.resumed_from = resumed_from;
        progress.finished = finished;
        options.on_progress(progress);
    }

    Outcome run() {
        uint64_t offset = written;
        auto on_status = [&](long status) {
            if (status == 200 && offset > 0) {
                // The server ignored our Range header: the body starts at byte 0.
                log::warn("{}: server cannot resume, starting over", request.label);
                partial.truncate();
                hash.reset();
                written = 0;
            }
        };
        auto sink = [&](const char* data, size_t size) {
            partial.write(data, size);
            hash.update(data, size);
            written += size;
            report(false);
        };
        HttpResponse response = http.download(request.url, offset, sink, on_status);
        if (response.status == 416) {
            if (request.expected_size != 0 && offset == request.expected_size) {
                return Outcome::Complete;
            }
            last_error = "the server refused to resume at byte " + std::to_string(offset);
            return Outcome::RestartFromZero;
        }
        if (response.status != 200 && response.status != 206) {
            if (response.status >= 500) {
                last_error = "HTTP " + std::to_string(response.status);
                return Outcome::Retry;
            }
            throw_hub_error(response, request.url, request.label);
        }
        if (request.expected_size != 0 && written < request.expected_size) {
            last_error = "connection ended after " + format_bytes(written);
            return Outcome::Retry;
        }
        if (request.expected_size != 0 && written > request.expected_size) {
            last_error = "received more bytes than the hub announced";
            return Outcome::RestartFromZero;
        }
        return Outcome::Complete;
    }
};

void transfer_with_retries(const Http& http, const DownloadRequest& request,
                           const DownloadOptions& options, PartialFile& partial, Sha256& hash,
                           uint64_t& written, int& attempts) {
    Attempt attempt{http, request, options, partial, hash, written, Clock::now(), written, ""};
    double delay = options.retry_delay_s;
    for (attempts = 1;; ++attempts) {
        Outcome outcome;
        try {
            outcome = attempt.run();
        } catch (const TransportError& e) {
            if (e.cancelled()) {
                partial.flush();
                throw Error("download of " + request.label + " interrupted at " +
                            format_bytes(written) + "; the part is kept in " +
                            partial_path(request.destination) + " and the same command resumes it");
            }
            attempt.last_error = e.what();
            outcome = Outcome::Retry;
        }
        if (outcome == Outcome::Complete) break;
        if (outcome == Outcome::RestartFromZero) {
            partial.truncate();
            hash.reset();
            written = 0;
        }
        if (attempts >= options.max_attempts) {
            partial.flush();
            throw Error("download of " + request.label + " failed after " +
                        std::to_string(attempts) + (attempts == 1 ? " attempt (" : " attempts (") +
                        attempt.last_error + "). " + format_bytes(written) + " are kept in " +
                        partial_path(request.destination) + "; run the command again to resume.");
        }
        log::warn("{}: {}; retrying from {} in {:.1f}s", request.label, attempt.last_error,
                  format_bytes(written), delay);
        std::this_thread::sleep_for(std::chrono::duration<double>(delay));
        delay *= 2;
    }
    attempt.report(true);
}

void verify_or_discard(const DownloadRequest& request, const std::string& part,
                       const std::string& digest) {
    if (!request.expected_sha256.empty() && digest != request.expected_sha256) {
        fs::remove(part);
        throw Error("sha256 mismatch for " + request.label + ": the hub says " +
                    request.expected_sha256 + ", the download hashes to " + digest +
                    ". The file was deleted and nothing was installed; run the command again " +
                    "(if it keeps failing, the mirror in HF_ENDPOINT may be serving a bad copy).");
    }
    if (!request.validate_gguf || !ends_with(request.destination, ".gguf")) return;
    try {
        gguf::File::open(part);
    } catch (const Error& e) {
        fs::remove(part);
        throw Error(request.label +
                    " is not a valid GGUF file, so it was not installed: " + e.what());
    }
}

}  // namespace

void require_free_space(const std::string& dir, uint64_t needed, const DownloadOptions& options) {
    uint64_t free = options.free_space ? options.free_space(dir) : free_disk_bytes(dir);
    if (free < needed + options.disk_reserve) {
        throw Error("not enough disk space in " + dir + ": the download needs " +
                    format_bytes(needed) + " (plus " + format_bytes(options.disk_reserve) +
                    " to spare) but only " + format_bytes(free) + " is free. Free some space, " +
                    "or choose another directory with --models-dir or HEARTH_MODELS_DIR.");
    }
}

std::string partial_path(const std::string& destination) {
    return destination + ".partial";
}

uint64_t free_disk_bytes(const std::string& dir) {
    struct statvfs info {};
    if (statvfs(dir.c_str(), &info) != 0) return UINT64_MAX;  // unknown: do not block
    return static_cast<uint64_t>(info.f_bavail) * info.f_frsize;
}

DownloadResult download_file(const Http& http, const DownloadRequest& original,
                             const DownloadOptions& options) {
    DownloadRequest request = original;
    if (request.label.empty()) request.label = fs::path(request.destination).filename().string();
    std::string part = partial_path(request.destination);
    fs::path dir = fs::path(request.destination).parent_path();
    if (dir.empty()) dir = ".";
    fs::create_directories(dir);

    uint64_t written = file_size_or_zero(part);
    if (request.expected_size != 0 && written > request.expected_size) {
        fs::remove(part);  // left by another version of the file
        written = 0;
    }
    uint64_t remaining = request.expected_size > written ? request.expected_size - written : 0;
    require_free_space(dir.string(), remaining, options);

    Sha256 hash;
    if (written > 0) {
        log::info("{}: resuming at {}", request.label, format_bytes(written));
        hash_existing_bytes(part, hash);
    }
    DownloadResult result;
    result.resumed_from = written;
    {
        PartialFile partial(part);  // throws, touching nothing, if another process holds it
        try {
            transfer_with_retries(http, request, options, partial, hash, written, result.attempts);
        } catch (...) {
            // A refusal before the first byte (401, 404, ...) should not leave an empty part.
            if (written == 0) fs::remove(part);
            throw;
        }
        partial.sync_and_close();
    }
    result.sha256 = hash.hex_digest();
    verify_or_discard(request, part, result.sha256);

    std::error_code error;
    fs::rename(part, request.destination, error);
    if (error) {
        throw Error("could not move " + part + " to " + request.destination + ": " +
                    error.message());
    }
    sync_directory(dir.string());
    result.path = request.destination;
    result.size = written;
    return result;
}

std::string format_duration(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0) return "?";
    auto total = static_cast<long>(seconds + 0.5);
    char text[32];
    if (total >= 3600) {
        std::snprintf(text, sizeof(text), "%ldh%02ldm", total / 3600, total / 60 % 60);
    } else if (total >= 60) {
        std::snprintf(text, sizeof(text), "%ldm%02lds", total / 60, total % 60);
    } else {
        std::snprintf(text, sizeof(text), "%lds", total);
    }
    return text;
}

namespace {
int terminal_columns() {
    struct winsize size {};
    if (ioctl(fileno(stderr), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
    return 80;
}
}  // namespace

std::function<void(const DownloadProgress&)> console_progress() {
    bool terminal = isatty(fileno(stderr));
    auto last = std::make_shared<Clock::time_point>();
    return [terminal, last](const DownloadProgress& p) {
        auto now = Clock::now();
        double since_last = std::chrono::duration<double>(now - *last).count();
        if (!p.finished && since_last < (terminal ? 0.2 : 5.0)) return;
        *last = now;
        uint64_t fetched = p.done > p.resumed_from ? p.done - p.resumed_from : 0;
        double rate = p.seconds > 0 ? fetched / p.seconds : 0;
        double eta = rate > 0 && p.total > p.done ? (p.total - p.done) / rate : NAN;
        int percent = p.total ? static_cast<int>(100.0 * p.done / p.total) : 0;
        std::string sizes = format_bytes(p.done) + (p.total ? " / " + format_bytes(p.total) : "");
        std::string speed = format_bytes(static_cast<uint64_t>(rate)) + "/s";
        if (!terminal) {
            log::info("{}: {}% {} at {}{}", p.label, percent, sizes, speed,
                      p.finished ? " (done)" : ", ETA " + format_duration(eta));
            return;
        }
        // The numbers take ~60 columns; the label and the bar share what the terminal has left.
        int spare = std::max(20, terminal_columns() - 62);
        int label_width = std::min(24, spare / 2);
        int bar_width = spare - label_width;
        int filled = p.total ? percent * bar_width / 100 : 0;
        std::string bar(filled, '#');
        bar.resize(bar_width, '.');
        std::fprintf(stderr, "\r%-*.*s [%s] %3d%% %s  %s  ETA %s\x1b[K", label_width, label_width,
                     p.label.c_str(), bar.c_str(), percent, sizes.c_str(), speed.c_str(),
                     p.finished ? "0s" : format_duration(eta).c_str());
        if (p.finished) std::fputc('\n', stderr);
        std::fflush(stderr);
    };
}

}  // namespace hearth::hub
