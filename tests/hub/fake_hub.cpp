#include "fake_hub.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gguf/writer.h"
#include "hub/sha256.h"

namespace hearth::fake {

struct FakeHub::State {
    mutable std::mutex mutex;
    std::map<std::string, FakeRepo> repos;
    Faults faults;
    std::string token;
    std::vector<std::string> listing;
    std::vector<std::string> requests;
    std::string endpoint;
};

namespace {

using nlohmann::json;

std::string true_or_advertised_sha(const FakeFile& file) {
    return file.advertised_sha256.empty() ? sha256_hex(file.content) : file.advertised_sha256;
}

bool authorized(const FakeHub::State& state, const FakeRepo& repo, const httplib::Request& req) {
    if (!repo.private_repo) return true;
    return req.get_header_value("Authorization") == "Bearer " + state.token;
}

void hub_error(httplib::Response& res, int status, const std::string& code,
               const std::string& message) {
    res.status = status;
    res.set_header("X-Error-Code", code);
    res.set_header("X-Error-Message", message);
    res.set_content(json{{"error", message}}.dump(), "application/json");
}

json repo_json(const std::string& id, const FakeRepo& repo) {
    json siblings = json::array();
    for (const auto& [path, file] : repo.files) {
        siblings.push_back({{"rfilename", path},
                            {"size", file.content.size()},
                            {"blobId", "0123abcd"},
                            {"lfs",
                             {{"sha256", true_or_advertised_sha(file)},
                              {"size", file.content.size()},
                              {"pointerSize", 135}}}});
    }
    return {{"_id", "fake"},
            {"id", id},
            {"modelId", id},
            {"sha", repo.commit},
            {"private", repo.private_repo},
            {"gated", false},
            {"pipeline_tag", repo.pipeline_tag},
            {"tags", {"gguf", repo.pipeline_tag}},
            {"downloads", 1234},
            {"likes", 56},
            {"library_name", "gguf"},
            {"siblings", siblings}};
}

// Streams `content` honouring Range (httplib slices for us) and the drop/slow faults.
void serve_bytes(FakeHub::State& state, const httplib::Request& req, httplib::Response& res,
                 std::shared_ptr<const std::string> content) {
    Faults faults;
    {
        std::lock_guard lock(state.mutex);
        faults = state.faults;
    }
    if (faults.refuse_ranges && req.has_header("Range")) {
        res.status = 416;
        res.set_header("Content-Range", "bytes */" + std::to_string(content->size()));
        return;
    }
    bool drop = false;
    if (faults.drops > 0 && req.method == "GET") {
        std::lock_guard lock(state.mutex);
        if (state.faults.drops > 0) {
            --state.faults.drops;
            drop = true;
        }
    }
    auto sent = std::make_shared<uint64_t>(0);
    res.set_content_provider(
        content->size(), "application/octet-stream",
        [content, drop, faults, sent](size_t offset, size_t length, httplib::DataSink& sink) {
            size_t chunk = std::min<size_t>(length, 16 * 1024);
            if (drop && *sent + chunk > faults.drop_after_bytes) {
                size_t last = faults.drop_after_bytes - std::min(*sent, faults.drop_after_bytes);
                if (last > 0) sink.write(content->data() + offset, last);
                return false;  // httplib closes the connection mid-body
            }
            if (faults.slow_ms_per_chunk > 0) {
                std::this_thread::sleep_for(std::chrono::milliseconds(faults.slow_ms_per_chunk));
            }
            sink.write(content->data() + offset, chunk);
            *sent += chunk;
            return true;
        });
}

void log_request(FakeHub::State& state, const httplib::Request& req) {
    std::string line = req.method + " " + req.path;
    std::string query;
    for (const auto& [key, value] : req.params) {
        query += (query.empty() ? "?" : "&") + key + "=" + value;
    }
    line += query;
    if (req.has_header("Range")) line += " Range: " + req.get_header_value("Range");
    if (req.has_header("Authorization")) line += " auth";
    std::lock_guard lock(state.mutex);
    state.requests.push_back(line);
}

void serve_listing(FakeHub::State& state, const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(state.mutex);
    if (!state.faults.api_body_override.empty()) {
        res.set_content(state.faults.api_body_override, "application/json");
        return;
    }
    std::string body = "[";
    for (size_t i = 0; i < state.listing.size(); ++i) body += (i ? "," : "") + state.listing[i];
    res.set_content(body + "]", "application/json");
}

void serve_repo_info(FakeHub::State& state, const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(state.mutex);
    if (!state.faults.api_body_override.empty()) {
        res.set_content(state.faults.api_body_override, "application/json");
        return;
    }
    std::string id = req.matches[1];
    auto it = state.repos.find(id);
    // The real hub answers 401 for unknown repos too, so as not to reveal private ones.
    if (it == state.repos.end()) return hub_error(res, 401, "RepoNotFound", "Repository not found");
    if (!authorized(state, it->second, req)) {
        return hub_error(res, 401, "RepoNotFound", "Invalid credentials in Authorization header");
    }
    std::string revision = req.matches[2];
    if (!revision.empty() && revision != it->second.commit && revision != "main") {
        return hub_error(res, 404, "RevisionNotFound", "Invalid rev id: " + revision);
    }
    res.set_content(repo_json(id, it->second).dump(), "application/json");
}

void serve_resolve(FakeHub::State& state, const httplib::Request& req, httplib::Response& res) {
    std::string id = req.matches[1];
    std::string path = req.matches[3];
    std::unique_lock lock(state.mutex);
    auto repo = state.repos.find(id);
    if (repo == state.repos.end())
        return hub_error(res, 401, "RepoNotFound", "Repository not found");
    if (!authorized(state, repo->second, req)) {
        return hub_error(res, 401, "RepoNotFound", "Invalid credentials");
    }
    if (repo->second.gated && state.token.empty()) {
        return hub_error(res, 403, "GatedRepo", "Access to model " + id + " is restricted");
    }
    auto file = repo->second.files.find(path);
    if (file == repo->second.files.end()) {
        return hub_error(res, 404, "EntryNotFound", path + " does not exist");
    }
    auto content = std::make_shared<const std::string>(file->second.content);
    std::string sha = true_or_advertised_sha(file->second);
    res.set_header("X-Repo-Commit", repo->second.commit);
    res.set_header("X-Linked-Etag", "\"" + sha + "\"");
    res.set_header("X-Linked-Size", std::to_string(content->size()));
    if (state.faults.redirect_to_cdn) {
        std::string cdn =
            state.faults.cdn_endpoint.empty() ? state.endpoint : state.faults.cdn_endpoint;
        res.status = 302;
        res.set_header("Location", cdn + "/cdn/" + sha + "?file=" + path);
        return;
    }
    lock.unlock();
    res.set_header("ETag", "\"" + sha + "\"");
    serve_bytes(state, req, res, content);
}

void serve_cdn(FakeHub::State& state, const httplib::Request& req, httplib::Response& res) {
    std::string sha = req.matches[1];
    std::shared_ptr<const std::string> content;
    {
        std::lock_guard lock(state.mutex);
        for (const auto& [id, repo] : state.repos) {
            for (const auto& [path, file] : repo.files) {
                if (true_or_advertised_sha(file) == sha) {
                    content = std::make_shared<const std::string>(file.content);
                }
            }
        }
    }
    if (!content) return hub_error(res, 404, "NotFound", "no such blob");
    serve_bytes(state, req, res, content);
}

}  // namespace

FakeHub::FakeHub()
    : state_(std::make_shared<State>()), server_(std::make_unique<httplib::Server>()) {
    auto state = state_;
    auto route = [state](void (*handler)(State&, const httplib::Request&, httplib::Response&)) {
        return [state, handler](const httplib::Request& req, httplib::Response& res) {
            log_request(*state, req);
            handler(*state, req, res);
        };
    };
    server_->Get("/api/models", route(serve_listing));
    server_->Get(R"(/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?)", route(serve_repo_info));
    server_->Get(R"(/([^/]+/[^/]+)/resolve/([^/]+)/(.+))", route(serve_resolve));
    server_->Get(R"(/cdn/([0-9a-f]+))", route(serve_cdn));

    port_ = server_->bind_to_any_port("127.0.0.1");
    state_->endpoint = "http://127.0.0.1:" + std::to_string(port_);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

FakeHub::~FakeHub() {
    server_->stop();
    if (thread_.joinable()) thread_.join();
}

std::string FakeHub::endpoint() const {
    return state_->endpoint;
}

void FakeHub::add_repo(const std::string& id, FakeRepo repo) {
    std::lock_guard lock(state_->mutex);
    state_->repos[id] = std::move(repo);
}

void FakeHub::set_file(const std::string& repo, const std::string& path, FakeFile file) {
    std::lock_guard lock(state_->mutex);
    state_->repos[repo].files[path] = std::move(file);
}

void FakeHub::set_commit(const std::string& repo, const std::string& commit) {
    std::lock_guard lock(state_->mutex);
    state_->repos[repo].commit = commit;
}

void FakeHub::set_faults(const Faults& faults) {
    std::lock_guard lock(state_->mutex);
    state_->faults = faults;
}

void FakeHub::set_token(const std::string& token) {
    std::lock_guard lock(state_->mutex);
    state_->token = token;
}

void FakeHub::set_listing(std::vector<std::string> json_objects) {
    std::lock_guard lock(state_->mutex);
    state_->listing = std::move(json_objects);
}

std::vector<std::string> FakeHub::requests() const {
    std::lock_guard lock(state_->mutex);
    return state_->requests;
}

int FakeHub::count_requests(const std::string& substring) const {
    int count = 0;
    for (const std::string& line : requests()) count += line.find(substring) != std::string::npos;
    return count;
}

std::string make_gguf(int seed, size_t payload_floats) {
    gguf::Writer writer;
    writer.set("general.architecture", gguf::Value::string("llama"));
    writer.set("general.name", gguf::Value::string("fake-" + std::to_string(seed)));
    // The keys a header check reads (hparams, an SPM vocabulary), so pulls of it go through.
    writer.set("llama.embedding_length", gguf::Value::u32(8));
    writer.set("llama.feed_forward_length", gguf::Value::u32(16));
    writer.set("llama.block_count", gguf::Value::u32(1));
    writer.set("llama.attention.head_count", gguf::Value::u32(2));
    writer.set("tokenizer.ggml.model", gguf::Value::string("llama"));
    std::vector<gguf::Value> tokens, scores, types;
    for (const char* token : {"<unk>", "<s>", "</s>", "\xe2\x96\x81" "a"}) {
        tokens.push_back(gguf::Value::string(token));
        scores.push_back(gguf::Value::f32(0.0f));
        types.push_back(gguf::Value::i32(tokens.size() <= 3 ? 3 : 1));
    }
    types[0] = gguf::Value::i32(2);
    writer.set("tokenizer.ggml.tokens", gguf::Value::array(gguf::ValueType::String, tokens));
    writer.set("tokenizer.ggml.scores", gguf::Value::array(gguf::ValueType::F32, scores));
    writer.set("tokenizer.ggml.token_type", gguf::Value::array(gguf::ValueType::I32, types));
    std::vector<uint8_t> bytes(payload_floats * sizeof(float));
    for (size_t i = 0; i < payload_floats; ++i) {
        float value = static_cast<float>(seed * 1000 + i);
        std::memcpy(bytes.data() + i * sizeof(float), &value, sizeof(float));
    }
    writer.add_tensor("weights", gguf::TensorType::F32, {static_cast<int64_t>(payload_floats)},
                      std::move(bytes));
    auto path =
        std::filesystem::temp_directory_path() /
        ("hearth-fake-" + std::to_string(::getpid()) + "-" + std::to_string(seed) + ".gguf");
    writer.write(path.string());
    std::ifstream in(path, std::ios::binary);
    std::stringstream data;
    data << in.rdbuf();
    std::filesystem::remove(path);
    return data.str();
}

std::string sha256_hex(const std::string& data) {
    hub::Sha256 hash;
    hash.update(data.data(), data.size());
    return hash.hex_digest();
}

}  // namespace hearth::fake
