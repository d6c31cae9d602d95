#include "hub/remote_header.h"

#include <algorithm>

#include "core/error.h"

namespace hearth::hub {

namespace {
constexpr uint64_t kFirstRead = 2ull << 20;
constexpr uint64_t kLargestHeader = 128ull << 20;
}  // namespace

gguf::File fetch_gguf_header(const HubClient& client, const std::string& repo,
                             const std::string& revision, const HubFile& file) {
    const std::string url = client.resolve_url(repo, revision, file.path);
    const std::string what = "'" + file.path + "' in " + repo;
    for (uint64_t n = kFirstRead;; n *= 4) {
        if (file.size > 0) n = std::min(n, file.size);
        const HttpResponse response = client.http().get_prefix(url, n);
        if (response.status / 100 != 2) throw_hub_error(response, url, what);
        const auto* bytes = reinterpret_cast<const uint8_t*>(response.body.data());
        try {
            return gguf::File::parse_header(bytes, response.body.size(), what);
        } catch (const gguf::HeaderNeedsMoreBytes& e) {
            // The whole file came and its header still runs past the end: it is truncated.
            const bool whole_file = response.body.size() < n || n == file.size;
            if (whole_file) throw Error(std::string(e.what()) + " (file is truncated)");
            if (n >= kLargestHeader)
                throw Error(what + ": its GGUF header is larger than " +
                            std::to_string(kLargestHeader >> 20) + " MiB; not a model hearth reads");
        }
    }
}

RemoteModel fetch_model_header(const HubClient& client, const std::string& repo,
                               const std::string& revision, const std::vector<HubFile>& files) {
    if (files.empty()) throw Error("no files to read for " + repo);
    RemoteModel model{fetch_gguf_header(client, repo, revision, files.front()), {}};
    model.tensors = model.first.tensors();
    for (size_t i = 1; i < files.size(); ++i) {
        const gguf::File part = fetch_gguf_header(client, repo, revision, files[i]);
        model.tensors.insert(model.tensors.end(), part.tensors().begin(), part.tensors().end());
    }
    return model;
}

std::string why_not_runnable(const HubClient& client, const std::string& repo,
                             const std::string& revision, const std::vector<HubFile>& files,
                             const SupportCheck& check) {
    try {
        const RemoteModel model = fetch_model_header(client, repo, revision, files);
        return check(model.first, model.tensors);
    } catch (const Error& e) {
        return e.what();
    }
}

}  // namespace hearth::hub
