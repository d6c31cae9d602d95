// Ollama's model routes: /api/tags, /api/show, /api/ps, /api/embed, /api/embeddings,
// /api/version and /api/pull (the generation routes are in ollama_api.cpp).
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <mutex>

#include "core/error.h"
#include "core/log.h"
#include "gguf/reader.h"
#include "hub/sha256.h"
#include "registry/installer.h"
#include "server/embeddings.h"
#include "server/installed_models.h"
#include "server/ollama_api.h"

namespace hearth::server {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

ApiError bad(const std::string& param, const std::string& message) {
    return ApiError::bad_request(param + ": " + message, param);
}

const json* member(const json& object, const char* name) {
    auto it = object.find(name);
    return it == object.end() || it->is_null() ? nullptr : &*it;
}

// What the GGUF header says of a model, for details and model_info.
struct ModelFacts {
    std::string architecture;
    uint64_t parameters = 0;
    int64_t context_length = 0;
    uint64_t file_type = 0;
    std::string chat_template;
    bool embedding = false;
};

ModelFacts read_facts(const ModelEntry& e) {
    ModelFacts f;
    try {
        gguf::File file = gguf::File::open(e.path);
        f.architecture = file.get_string("general.architecture", "");
        f.context_length =
            static_cast<int64_t>(file.get_u64(f.architecture + ".context_length", 0));
        f.file_type = file.get_u64("general.file_type", 0);
        f.chat_template = file.get_string("tokenizer.chat_template", "");
        f.embedding = f.architecture == "bert" || f.architecture == "nomic-bert" ||
                      file.has(f.architecture + ".pooling_type");
        for (const gguf::TensorInfo& t : file.tensors()) {
            f.parameters += static_cast<uint64_t>(t.n_elements());
        }
    } catch (const Error& err) {
        log::warn("cannot read the header of '{}': {}", e.path, err.what());
    }
    if (!e.chat_template.empty()) f.chat_template = e.chat_template;
    return f;
}

// "260K", "1.2B": the parameter count as Ollama writes it.
std::string parameter_size(uint64_t n) {
    char text[32];
    if (n >= 1000000000ull)
        std::snprintf(text, sizeof text, "%.1fB", n / 1e9);
    else if (n >= 1000000ull)
        std::snprintf(text, sizeof text, "%.1fM", n / 1e6);
    else
        std::snprintf(text, sizeof text, "%.0fK", n / 1e3);
    return text;
}

// general.file_type's names (the GGUF spec's LLAMA_FTYPE list) for the common ones.
std::string quantization_level(uint64_t file_type) {
    static const std::pair<uint64_t, const char*> kNames[] = {
        {0, "F32"},     {1, "F16"},     {2, "Q4_0"},    {3, "Q4_1"},    {7, "Q8_0"},
        {8, "Q5_0"},    {9, "Q5_1"},    {10, "Q2_K"},   {11, "Q3_K_S"}, {12, "Q3_K_M"},
        {13, "Q3_K_L"}, {14, "Q4_K_S"}, {15, "Q4_K_M"}, {16, "Q5_K_S"}, {17, "Q5_K_M"},
        {18, "Q6_K"},   {32, "BF16"}};
    for (const auto& [type, name] : kNames) {
        if (type == file_type) return name;
    }
    return "unknown";
}

json details_json(const ModelFacts& f) {
    return {{"parent_model", ""},
            {"format", "gguf"},
            {"family", f.architecture},
            {"families", json::array({f.architecture})},
            {"parameter_size", parameter_size(f.parameters)},
            {"quantization_level", quantization_level(f.file_type)}};
}

struct FileStamp {
    uint64_t size = 0;
    std::chrono::system_clock::time_point modified;
};

FileStamp stamp_of(const ModelEntry& e) {
    struct stat st {};
    FileStamp s;
    if (::stat(e.path.c_str(), &st) != 0) return s;
    s.size = static_cast<uint64_t>(st.st_size);
    s.modified = std::chrono::system_clock::time_point(
        std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec));
    return s;
}

// Ollama's digest names a manifest; hearth has none, so this one names the installed file
// (its path, size and modification time), cheaply: it changes when the file does.
std::string digest_of(const ModelEntry& e, const FileStamp& s) {
    hub::Sha256 h;
    const std::string key = e.path + "\n" + std::to_string(s.size) + "\n" +
                            std::to_string(s.modified.time_since_epoch().count());
    h.update(key.data(), key.size());
    return h.hex_digest();
}

// One model as /api/tags and /api/ps list it.
json model_summary(const ModelEntry& e) {
    const FileStamp s = stamp_of(e);
    return {{"name", e.name},
            {"model", e.name},
            {"modified_at", ollama_time(s.modified)},
            {"size", s.size},
            {"digest", digest_of(e, s)},
            {"details", details_json(read_facts(e))}};
}

std::vector<std::string> capabilities(const ModelFacts& f) {
    if (f.embedding) return {"embedding"};
    std::vector<std::string> out = {"completion"};
    if (f.chat_template.find("tools") != std::string::npos) out.push_back("tools");
    if (f.chat_template.find("<think>") != std::string::npos ||
        f.chat_template.find("enable_thinking") != std::string::npos)
        out.push_back("thinking");
    return out;
}

// A year far enough ahead to read as "never", as Ollama shows a model kept loaded forever.
std::chrono::system_clock::time_point never() {
    return std::chrono::system_clock::now() + std::chrono::hours(24 * 365 * 200);
}

// The embeddings an Ollama body asks for, computed by /v1/embeddings' own code.
json embed_openai(ModelPool& pool, const ModelEntry& entry, const json& input,
                  const json* dimensions, int64_t keep_ms) {
    json openai = {{"input", input}};
    if (dimensions) openai["dimensions"] = *dimensions;
    std::shared_ptr<LoadedModel> model = pool.acquire(entry);
    model->keep_alive_ms.store(keep_ms);
    json response = create_embeddings(openai, *model);
    model->touch();
    return response;
}

int64_t keep_alive_of(const json& body) {
    const json* k = member(body, "keep_alive");
    return k ? parse_keep_alive(*k) : LoadedModel::kPoolKeepAlive;
}

}  // namespace

const ModelEntry& OllamaApi::model_of(const Exchange& ex, const json& body) const {
    const json* model = member(body, "model");
    if (!model) model = member(body, "name");  // the older field
    if (!model) throw bad("model", "Field required");
    if (!model->is_string()) throw bad("model", "must be a string");
    const ModelPool& pool = generations_.pool();
    return resolve_model(pool, ex.identity, "", ollama_model_name(pool, model->get<std::string>()));
}

void OllamaApi::tags(Exchange& ex, const std::map<std::string, std::vector<std::string>>& remote) {
    json models = json::array();
    for (const ModelEntry& e : generations_.pool().entries()) {
        if (visible_to(ex.identity, e)) models.push_back(model_summary(e));
    }
    for (const auto& [name, urls] : remote) {
        models.push_back({{"name", name},
                          {"model", name},
                          {"remote_model", name},
                          {"remote_host", urls.front()},
                          {"modified_at", ollama_time(std::chrono::system_clock::time_point{})},
                          {"size", 0},
                          {"digest", ""},
                          {"details", json::object()}});
    }
    ex.send_json(200, {{"models", std::move(models)}});
}

void OllamaApi::ps(Exchange& ex) {
    ModelPool& pool = generations_.pool();
    json models = json::array();
    for (const LoadedModelInfo& info : pool.loaded()) {
        const ModelEntry* e = pool.find(info.name);
        if (!e || !visible_to(ex.identity, *e)) continue;
        json m = model_summary(*e);
        m["size"] = info.memory_bytes;
        m["size_vram"] = 0;  // CPU only
        m["expires_at"] = ollama_time(info.expires_at.value_or(never()));
        m["context_length"] = info.ctx_size;
        // hearth's own: what `hearth ps` shows besides Ollama's fields.
        m["idle_seconds"] = info.idle_seconds;
        m["active_requests"] = info.stats.active + info.stats.queued;
        models.push_back(std::move(m));
    }
    ex.send_json(200, {{"models", std::move(models)}});
}

void OllamaApi::show(Exchange& ex) {
    const json body = parse_json_object_body(ex.request.body);
    const ModelEntry& e = model_of(ex, body);
    const ModelFacts f = read_facts(e);
    json info = {{"general.architecture", f.architecture},
                 {"general.parameter_count", f.parameters}};
    if (f.context_length > 0) info[f.architecture + ".context_length"] = f.context_length;
    ex.send_json(200, {{"modelfile", ""},
                       {"parameters", ""},
                       {"template", f.chat_template},
                       {"details", details_json(f)},
                       {"model_info", std::move(info)},
                       {"capabilities", capabilities(f)},
                       {"modified_at", ollama_time(stamp_of(e).modified)}});
}

void OllamaApi::embed(Exchange& ex) {
    const auto started = Clock::now();
    const json body = parse_json_object_body(ex.request.body);
    const ModelEntry& e = model_of(ex, body);
    ex.model = e.name;
    const json* input = member(body, "input");
    if (!input) throw bad("input", "Field required");
    if (!input->is_string() && !input->is_array())
        throw bad("input", "must be a string or an array of strings");
    for (const json& item : input->is_array() ? *input : json::array()) {
        if (!item.is_string()) throw bad("input", "must be a string or an array of strings");
    }
    if (const json* t = member(body, "truncate"); t && !t->is_boolean())
        throw bad("truncate", "must be a boolean");
    const int64_t keep_ms = keep_alive_of(body);
    json response = embed_openai(generations_.pool(), e, *input, member(body, "dimensions"), keep_ms);
    json embeddings = json::array();
    for (json& item : response["data"]) embeddings.push_back(std::move(item["embedding"]));
    const int64_t tokens = response["usage"]["prompt_tokens"].get<int64_t>();
    ex.prompt_tokens = tokens;
    const double ns = std::chrono::duration<double, std::nano>(Clock::now() - started).count();
    ex.send_json(200, {{"model", body.contains("model") ? body["model"] : json(e.name)},
                       {"embeddings", std::move(embeddings)},
                       {"total_duration", static_cast<int64_t>(ns)},
                       {"load_duration", 0},
                       {"prompt_eval_count", tokens}});
}

void OllamaApi::embeddings(Exchange& ex) {
    const json body = parse_json_object_body(ex.request.body);
    const ModelEntry& e = model_of(ex, body);
    ex.model = e.name;
    const json* prompt = member(body, "prompt");
    if (!prompt) throw bad("prompt", "Field required");
    if (!prompt->is_string()) throw bad("prompt", "must be a string");
    json response = embed_openai(generations_.pool(), e, *prompt, nullptr, keep_alive_of(body));
    ex.prompt_tokens = response["usage"]["prompt_tokens"].get<int64_t>();
    ex.send_json(200, {{"embedding", std::move(response["data"][0]["embedding"])}});
}

void OllamaApi::version(Exchange& ex) {
    ex.send_json(200, {{"version", kOllamaApiVersion}});
}

void OllamaApi::pull(Exchange& ex) {
    const json body = parse_json_object_body(ex.request.body);
    const json* model = member(body, "model");
    if (!model) model = member(body, "name");
    if (!model) throw bad("model", "Field required");
    if (!model->is_string() || model->get<std::string>().empty())
        throw bad("model", "must be a model reference (as `hearth pull` takes)");
    const json* stream = member(body, "stream");
    if (stream && !stream->is_boolean()) throw bad("stream", "must be a boolean");
    const bool streamed = !stream || stream->get<bool>();
    const std::string reference = model->get<std::string>();

    bool client_here = true;
    auto line = [&](const json& object) {
        if (streamed && client_here) client_here = ex.send_line(object);
    };
    try {
        if (streamed && !ex.begin_line_stream()) client_here = false;
        line({{"status", "pulling manifest"}});
        install_model(generations_.pool(), pull_dir(models_dir_), reference, nullptr,
                      [&](const PullProgress& p) {
                          const std::string digest = p.sha256.empty() ? p.file : p.sha256;
                          line({{"status", "pulling " + digest.substr(0, 12)},
                                {"digest", "sha256:" + digest},
                                {"total", p.total},
                                {"completed", p.done}});
                      });
        line({{"status", "verifying sha256 digest"}});
        line({{"status", "writing manifest"}});
        line({{"status", "success"}});
        if (!streamed) ex.send_json(200, {{"status", "success"}});
    } catch (const Error& e) {
        if (!streamed) throw ApiError(500, e.what(), "server_error");
        line({{"error", e.what()}});
    } catch (const ApiError& e) {
        if (!streamed) throw;
        line(e.to_json(ErrorShape::Ollama));
    }
    if (streamed) ex.end_stream();
}

}  // namespace hearth::server
