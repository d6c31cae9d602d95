#pragma once
// Client for the Hugging Face Hub HTTP API, speaking the same endpoints as huggingface_hub:
//   GET  {endpoint}/api/models/{repo}[/revision/{rev}]?blobs=true   repo info + file hashes
//   GET  {endpoint}/api/models?library=gguf&sort=...&limit=...       search / trending
//   HEAD {endpoint}/{repo}/resolve/{rev}/{file}                      X-Repo-Commit, X-Linked-*
// HF_ENDPOINT picks the endpoint (a mirror), HF_TOKEN is sent as a Bearer token.
#include <cstdint>
#include <string>
#include <vector>

#include "hub/http.h"

namespace hearth::hub {

constexpr const char* kDefaultEndpoint = "https://huggingface.co";

struct HubFile {
    std::string path;    // siblings[].rfilename, relative to the repo root
    uint64_t size = 0;   // 0 when the hub did not say (no ?blobs=true)
    std::string sha256;  // siblings[].lfs.sha256; empty for small, non-LFS files
};

struct RepoInfo {
    std::string id;
    std::string commit;  // "sha": the commit the listing describes
    std::string pipeline_tag;
    std::vector<std::string> tags;
    std::string license;
    bool gated = false;
    uint64_t downloads = 0;
    uint64_t likes = 0;
    std::vector<HubFile> files;

    const HubFile* find_file(const std::string& path) const;
};

struct RepoSummary {
    std::string id;
    std::string pipeline_tag;
    std::vector<std::string> tags;
    uint64_t downloads = 0;
    uint64_t likes = 0;
    double trending_score = 0;
};

struct ModelQuery {
    std::string sort = "trendingScore";  // or "downloads", "likes", "lastModified"
    int limit = 20;
    std::string library = "gguf";
    std::string pipeline_tag;  // e.g. "text-generation"; empty = any
    std::string search;        // substring of the repo id
};

// What HEAD on a resolve URL says about one file, read before any CDN redirect.
struct FileMetadata {
    std::string commit;    // X-Repo-Commit
    std::string etag;      // X-Linked-Etag (sha256 for LFS files) or ETag, without quotes
    uint64_t size = 0;     // X-Linked-Size or Content-Length
    std::string location;  // where the bytes are (a CDN URL, or the resolve URL itself)
};

struct HubSettings {
    std::string endpoint = kDefaultEndpoint;
    HttpSettings http;

    // HF_ENDPOINT, HF_TOKEN (or the older HUGGING_FACE_HUB_TOKEN).
    static HubSettings from_environment();
};

class HubClient {
  public:
    explicit HubClient(HubSettings settings = HubSettings::from_environment());

    RepoInfo model_info(const std::string& repo, const std::string& revision = "main") const;
    std::vector<RepoSummary> list_models(const ModelQuery& query) const;
    FileMetadata file_metadata(const std::string& repo, const std::string& revision,
                               const std::string& path) const;
    std::string resolve_url(const std::string& repo, const std::string& revision,
                            const std::string& path) const;

    const std::string& endpoint() const { return settings_.endpoint; }
    const Http& http() const { return http_; }

  private:
    HubSettings settings_;
    Http http_;
};

// Turns a non-2xx hub answer into an Error that says what to do (set HF_TOKEN, check the
// name, accept a license, try later). `what` names the thing asked for ("repo x/y").
[[noreturn]] void throw_hub_error(const HttpResponse& response, const std::string& url,
                                  const std::string& what);

// Percent-encodes each path segment, keeping '/' separators.
std::string url_encode_path(const std::string& path);

}  // namespace hearth::hub
