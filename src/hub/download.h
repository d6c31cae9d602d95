#pragma once
// Downloads that never leave a broken model behind:
//   free disk checked -> bytes go to "<dest>.partial" -> resumed with Range after a drop ->
//   sha256 checked against the hub's LFS hash -> (GGUF files) parsed by our reader ->
//   fsync + rename into place.
// Until the rename, nothing exists under the final name; an interrupted run leaves only the
// .partial, which the next run continues.
#include <cstdint>
#include <functional>
#include <string>

#include "core/format.h"
#include "hub/http.h"

namespace hearth::hub {

struct DownloadRequest {
    std::string url;
    std::string destination;      // final path
    uint64_t expected_size = 0;   // 0 = unknown
    std::string expected_sha256;  // empty = do not check (non-LFS files)
    bool validate_gguf = true;    // parse with the GGUF reader before the rename
    std::string label;            // shown in progress output; defaults to the file name
};

struct DownloadProgress {
    std::string label;
    uint64_t done = 0;
    uint64_t total = 0;  // 0 = unknown
    double seconds = 0;  // since this run started
    uint64_t resumed_from = 0;
    bool finished = false;  // the last call for this file
};

struct DownloadOptions {
    int max_attempts = 5;                 // tries per file, resuming each time
    double retry_delay_s = 1.0;           // doubled after each failed try
    uint64_t disk_reserve = 64ull << 20;  // keep this much free after the download
    // Free bytes on the filesystem holding a directory; statvfs unless replaced (tests).
    std::function<uint64_t(const std::string& dir)> free_space;
    std::function<void(const DownloadProgress&)> on_progress;  // called often; throttle inside
};

struct DownloadResult {
    std::string path;
    uint64_t size = 0;
    std::string sha256;
    uint64_t resumed_from = 0;  // bytes already on disk when this run started
    int attempts = 0;
};

// Throws hearth::Error with a message a user can act on. A cancellation (cancel_flag()) throws
// too and keeps the .partial for the next run; a hash or GGUF failure deletes it.
DownloadResult download_file(const Http& http, const DownloadRequest& request,
                             const DownloadOptions& options = {});

std::string partial_path(const std::string& destination);
// Throws an Error that says how much is missing when `dir` cannot take `needed` more bytes
// plus options.disk_reserve. Checked per file by download_file; callers fetching several
// files (split models) check the total first so they never stop halfway.
void require_free_space(const std::string& dir, uint64_t needed, const DownloadOptions& options);
uint64_t free_disk_bytes(const std::string& dir);

// A progress printer: a redrawn bar (bytes, rate, ETA) when stderr is a terminal, a log line
// every few seconds otherwise.
std::function<void(const DownloadProgress&)> console_progress();

std::string format_duration(double seconds);  // "1m05s"

}  // namespace hearth::hub
