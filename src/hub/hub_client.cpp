#include "hub/hub_client.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdlib>

#include "core/error.h"

namespace hearth::hub {
namespace {

using nlohmann::json;

std::string env_or(const char* name, const std::string& fallback) {
    const char* value = std::getenv(name);
    return value && *value ? value : fallback;
}

std::string strip_trailing_slashes(std::string text) {
    while (!text.empty() && text.back() == '/') text.pop_back();
    return text;
}

std::string strip_quotes(std::string text) {
    if (text.rfind("W/", 0) == 0) text = text.substr(2);
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
        text = text.substr(1, text.size() - 2);
    }
    return text;
}

std::string url_encode_component(const std::string& text) {
    static const char* kHex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    return out;
}

json parse_json(const HttpResponse& response, const std::string& url) {
    try {
        return json::parse(response.body);
    } catch (const json::exception&) {
        std::string start = response.body.substr(0, 80);
        throw Error("the hub sent a response that is not JSON for " + url + " (it starts with \"" +
                    start + "\"). If HF_ENDPOINT points at a mirror, check that it serves the " +
                    "Hugging Face API.");
    }
}

// Field readers that accept a missing or null field, and refuse a field of the wrong type
// with a json::exception (turned into an Error by the caller).
std::string string_field(const json& object, const char* key) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return "";
    return it->get<std::string>();
}

uint64_t count_field(const json& object, const char* key) {
    auto it = object.find(key);
    if (it == object.end() || !it->is_number()) return 0;
    double value = it->get<double>();
    return value > 0 ? static_cast<uint64_t>(value) : 0;
}

std::vector<std::string> string_list(const json& object, const char* key) {
    std::vector<std::string> out;
    auto it = object.find(key);
    if (it == object.end() || !it->is_array()) return out;
    for (const json& item : *it) {
        if (item.is_string()) out.push_back(item.get<std::string>());
    }
    return out;
}

HubFile parse_sibling(const json& sibling) {
    HubFile file;
    file.path = string_field(sibling, "rfilename");
    file.size = count_field(sibling, "size");
    auto lfs = sibling.find("lfs");
    if (lfs != sibling.end() && lfs->is_object()) {
        file.sha256 = string_field(*lfs, "sha256");
        if (file.size == 0) file.size = count_field(*lfs, "size");
    }
    return file;
}

RepoInfo parse_repo_info(const json& body) {
    RepoInfo info;
    info.id = string_field(body, "id");
    info.commit = string_field(body, "sha");
    info.pipeline_tag = string_field(body, "pipeline_tag");
    info.tags = string_list(body, "tags");
    info.downloads = count_field(body, "downloads");
    info.likes = count_field(body, "likes");
    auto gated = body.find("gated");
    // "gated" is false, or a string ("auto"/"manual") when the repo asks for a license click.
    info.gated = gated != body.end() && (gated->is_string() || (gated->is_boolean() && *gated));
    auto card = body.find("cardData");
    if (card != body.end() && card->is_object()) {
        auto license = card->find("license");
        if (license != card->end() && license->is_string()) info.license = *license;
    }
    auto siblings = body.find("siblings");
    if (siblings != body.end() && siblings->is_array()) {
        for (const json& sibling : *siblings) {
            HubFile file = parse_sibling(sibling);
            if (!file.path.empty()) info.files.push_back(std::move(file));
        }
    }
    return info;
}

RepoSummary parse_summary(const json& item) {
    RepoSummary summary;
    summary.id = string_field(item, "id");
    if (summary.id.empty()) summary.id = string_field(item, "modelId");
    summary.pipeline_tag = string_field(item, "pipeline_tag");
    summary.tags = string_list(item, "tags");
    summary.downloads = count_field(item, "downloads");
    summary.likes = count_field(item, "likes");
    auto score = item.find("trendingScore");
    if (score != item.end() && score->is_number()) summary.trending_score = score->get<double>();
    return summary;
}

}  // namespace

const HubFile* RepoInfo::find_file(const std::string& path) const {
    for (const HubFile& file : files) {
        if (file.path == path) return &file;
    }
    return nullptr;
}

HubSettings HubSettings::from_environment() {
    HubSettings settings;
    settings.endpoint = strip_trailing_slashes(env_or("HF_ENDPOINT", kDefaultEndpoint));
    settings.http.bearer_token = env_or("HF_TOKEN", env_or("HUGGING_FACE_HUB_TOKEN", ""));
    return settings;
}

HubClient::HubClient(HubSettings settings) : settings_(std::move(settings)), http_(settings_.http) {
    settings_.endpoint = strip_trailing_slashes(settings_.endpoint);
}

std::string url_encode_path(const std::string& path) {
    std::string out;
    size_t start = 0;
    while (true) {
        size_t slash = path.find('/', start);
        out += url_encode_component(path.substr(start, slash - start));
        if (slash == std::string::npos) break;
        out += '/';
        start = slash + 1;
    }
    return out;
}

void throw_hub_error(const HttpResponse& response, const std::string& url,
                     const std::string& what) {
    std::string code = response.header("x-error-code");
    std::string hub_message = response.header("x-error-message");
    std::string status = "HTTP " + std::to_string(response.status);
    std::string advice;
    if (code == "GatedRepo") {
        advice = what +
                 " is gated: accept its license on the model page, then set HF_TOKEN to "
                 "an access token of that account (https://huggingface.co/settings/tokens).";
    } else if (response.status == 401) {
        advice = what +
                 " needs authentication, or does not exist (the hub answers 401 for both)."
                 " Check the name; for a private or gated repo set HF_TOKEN to an access token "
                 "(https://huggingface.co/settings/tokens).";
    } else if (response.status == 403) {
        advice = "access to " + what +
                 " is forbidden for this token. Check that HF_TOKEN has "
                 "read access and that you accepted the model's license.";
    } else if (code == "EntryNotFound") {
        advice = what + " is not in the repository. `hearth pull owner/repo` lists its GGUF files.";
    } else if (code == "RevisionNotFound") {
        advice = "the revision of " + what + " does not exist (check the branch or commit).";
    } else if (response.status == 404) {
        advice = what + " was not found. Check the spelling (owner/repo, file name, revision).";
    } else if (response.status == 429) {
        advice =
            "the hub is rate-limiting requests. Wait a minute, or set HF_TOKEN (signed-in "
            "users get higher limits).";
    } else if (response.status >= 500) {
        advice = "the hub is having trouble. Try again later, or set HF_ENDPOINT to a mirror.";
    } else {
        advice = "unexpected answer for " + what + ".";
    }
    std::string message = status + " from " + url + ": " + advice;
    if (!hub_message.empty()) message += " (hub says: " + hub_message + ")";
    throw Error(message);
}

RepoInfo HubClient::model_info(const std::string& repo, const std::string& revision) const {
    std::string url = settings_.endpoint + "/api/models/" + url_encode_path(repo);
    if (!revision.empty() && revision != "main") {
        url += "/revision/" + url_encode_component(revision);
    }
    url += "?blobs=true";
    HttpResponse response = http_.get(url);
    if (response.status != 200) throw_hub_error(response, url, "repo " + repo);
    json body = parse_json(response, url);
    if (!body.is_object()) {
        throw Error("the hub's description of " + repo + " is not a JSON object (" + url + ")");
    }
    try {
        RepoInfo info = parse_repo_info(body);
        if (info.id.empty()) info.id = repo;
        return info;
    } catch (const json::exception& e) {
        throw Error("the hub's description of " + repo + " has an unexpected shape (" + e.what() +
                    ") at " + url);
    }
}

std::vector<RepoSummary> HubClient::list_models(const ModelQuery& query) const {
    std::string url = settings_.endpoint + "/api/models?";
    if (!query.library.empty()) url += "library=" + url_encode_component(query.library) + "&";
    if (!query.pipeline_tag.empty()) {
        url += "pipeline_tag=" + url_encode_component(query.pipeline_tag) + "&";
    }
    if (!query.search.empty()) url += "search=" + url_encode_component(query.search) + "&";
    url += "sort=" + url_encode_component(query.sort) + "&limit=" + std::to_string(query.limit);
    HttpResponse response = http_.get(url);
    if (response.status != 200) throw_hub_error(response, url, "the model list");
    json body = parse_json(response, url);
    if (!body.is_array()) {
        throw Error("the hub's model list at " + url + " is not a JSON array");
    }
    std::vector<RepoSummary> out;
    try {
        for (const json& item : body) {
            if (!item.is_object()) continue;
            RepoSummary summary = parse_summary(item);
            if (!summary.id.empty()) out.push_back(std::move(summary));
        }
    } catch (const json::exception& e) {
        throw Error("the hub's model list has an unexpected shape (" + std::string(e.what()) +
                    ") at " + url);
    }
    return out;
}

std::string HubClient::resolve_url(const std::string& repo, const std::string& revision,
                                   const std::string& path) const {
    return settings_.endpoint + "/" + url_encode_path(repo) + "/resolve/" +
           url_encode_component(revision.empty() ? "main" : revision) + "/" + url_encode_path(path);
}

FileMetadata HubClient::file_metadata(const std::string& repo, const std::string& revision,
                                      const std::string& path) const {
    std::string url = resolve_url(repo, revision, path);
    // Like huggingface_hub: follow redirects that stay on the hub (a renamed repo), but stop
    // at the first one that leaves it, since the X-Linked-* headers are on that response.
    HttpResponse response = http_.head(url, false);
    for (int hops = 0; hops < 5 && response.status >= 300 && response.status < 400; ++hops) {
        std::string location = response.header("location");
        if (location.empty() || location.front() != '/') break;
        url = settings_.endpoint + location;
        response = http_.head(url, false);
    }
    bool redirected = response.status >= 300 && response.status < 400;
    if (response.status != 200 && !redirected) throw_hub_error(response, url, path + " in " + repo);
    FileMetadata meta;
    meta.commit = response.header("x-repo-commit");
    meta.etag = strip_quotes(response.header("x-linked-etag"));
    if (meta.etag.empty()) meta.etag = strip_quotes(response.header("etag"));
    std::string size = response.header("x-linked-size");
    if (size.empty()) size = response.header("content-length");
    meta.size = size.empty() ? 0 : std::strtoull(size.c_str(), nullptr, 10);
    meta.location = redirected ? response.header("location") : url;
    return meta;
}

}  // namespace hearth::hub
