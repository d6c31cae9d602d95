#pragma once
// The models a server offers and the ones it has loaded: load on first use, unload the least
// recently used when a memory budget would be exceeded, and unload after an idle timeout.
//
// It works from a plain list of ModelEntry values so it does not depend on where they come from
// (--model files and registry::ModelsDir configs, each made a ModelEntry by `hearth serve`).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "model/model.h"
#include "runtime/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace hearth::server {

struct ModelEntry {
    std::string name;  // what clients send as "model"
    std::string path;  // the .gguf file
    std::vector<std::string> aliases;
    int64_t ctx_size = 0;  // 0: the pool's default
    int threads = 0;       // 0: the pool's default
    std::optional<gguf::TensorType> kv_type;  // none: the pool's default
    bool mlock = false;
    std::string chat_template;  // overrides the GGUF's tokenizer.chat_template when set
    // The model's defaults (its YAML `parameters:`); a request's own fields win over them.
    runtime::SamplingOverrides sampling;
    std::optional<int32_t> max_tokens;
    std::optional<bool> context_shift;  // none: the pool's default
    std::optional<uint64_t> kv_budget;  // bytes of KV pool; none: the pool's
    std::string draft_model;  // a model name or .gguf file; empty: the pool's draft_model
};

struct PoolOptions {
    uint64_t max_memory = 0;         // bytes; 0: no budget
    double idle_unload_seconds = 0;  // 0: never
    int64_t ctx_size = 2048;         // per sequence, capped at the model's training context
    int threads = 0;
    int64_t parallel = 4;
    size_t max_queue = 64;
    int32_t lookup_draft = 0;  // speculative decoding by prompt lookup: drafted tokens a step
    gguf::TensorType kv_type = runtime::SchedulerParams{}.kv_type;
    bool context_shift = false;  // runtime::SchedulerParams::context_shift
    runtime::PromptCacheParams prompt_cache;  // empty dir: no prompt cache on disk
    std::string repack_cache;  // model::LoadOptions::repack_cache ("": its default; "off")
    uint64_t kv_budget = 0;  // bytes of KV pool per model; 0: kv_pool_tokens' default
    // Speculative decoding with a draft model (a model name or .gguf file; empty: none), and
    // the tokens drafted a step when lookup_draft does not say (lookup_draft's N counts for both).
    std::string draft_model;
    int32_t draft_tokens = 8;
};

// The KV pool's size in tokens for a model whose cache costs bytes_per_token: `budget` bytes
// when set (at least one 32-token block: throws hearth::Error naming the minimum otherwise);
// else parallel x ctx_size tokens, capped by what max_memory (when set) leaves after the
// weights, but never under one block per sequence.
int64_t kv_pool_tokens(uint64_t budget, uint64_t bytes_per_token, int64_t parallel,
                       int64_t ctx_size, uint64_t max_memory, uint64_t weight_bytes);

// A model ready to serve. Requests hold a shared_ptr for their whole life, so unloading only
// drops the pool's reference and the memory goes when the last request ends.
struct LoadedModel {
    ModelEntry entry;
    std::shared_ptr<model::Model> model;
    std::unique_ptr<tokenizer::Tokenizer> tokenizer;
    std::unique_ptr<runtime::Scheduler> scheduler;  // declared last: stops before the rest go
    int64_t ctx_size = 0;
    // No token stands for more input bytes than its stored text has, so a text of N bytes is
    // at least N / this many tokens: too-long prompts are refused before tokenizing them.
    size_t longest_token_bytes = 1;
    uint64_t memory_bytes = 0;  // weights + KV cache
    std::atomic<int64_t> last_used_ms{0};
    // How long the model stays loaded once idle, set by a request (Ollama's keep_alive):
    // kPoolKeepAlive follows the pool's idle_unload_seconds, kKeepForever never unloads,
    // otherwise milliseconds (0: unload as soon as no request holds it).
    static constexpr int64_t kPoolKeepAlive = INT64_MIN;
    static constexpr int64_t kKeepForever = -1;
    std::atomic<int64_t> keep_alive_ms{kPoolKeepAlive};
    // Context shift is on and the model can shift: a sequence may outgrow ctx_size.
    bool context_shift = false;

    void touch();
    // Runs `work` on the model's encoder threads: embedding and rerank requests run outside
    // the scheduler, one at a time (each already uses every thread), on threads made at first
    // use.
    void run_encoder(const std::function<void(kernels::ThreadPool&)>& work);

  private:
    std::mutex encoder_mutex_;
    std::unique_ptr<kernels::ThreadPool> encoder_pool_;
};

struct LoadedModelInfo {
    std::string name;
    uint64_t memory_bytes;
    runtime::SchedulerStats stats;
    // When it will be unloaded if no request comes; nullopt: never.
    std::optional<std::chrono::system_clock::time_point> expires_at;
    // For the metrics: context per sequence, compute threads, seconds since its last request
    // ended (0 while one runs).
    int64_t ctx_size = 0;
    int threads = 0;
    double idle_seconds = 0;
};

class ModelPool {
  public:
    ModelPool(std::vector<ModelEntry> entries, PoolOptions options);
    ~ModelPool();

    // A copy: models may be added while the server runs (add).
    std::vector<ModelEntry> entries() const;
    size_t size() const;
    // The only model offered, or nullptr when there are none or several.
    const ModelEntry* sole_entry() const;
    // By name or alias. The entry stays valid for the pool's life.
    const ModelEntry* find(const std::string& name) const;
    // Offers one more model (one just pulled). A model of that name already offered keeps its
    // entry, but its loaded copy is dropped so the next request loads the file as it is now.
    const ModelEntry& add(ModelEntry entry);
    // Loads the model if needed (evicting idle ones to stay in budget). Throws hearth::Error
    // when the file cannot be loaded.
    std::shared_ptr<LoadedModel> acquire(const ModelEntry& entry);

    std::vector<LoadedModelInfo> loaded() const;
    // Drops the pool's copy of a model now (requests holding it finish first); false when it
    // was not loaded.
    bool release(const std::string& name);
    // Stops offering a model (its file is being deleted): drops its loaded copy and hides it
    // from find(), entries(), size() and sole_entry(); false when no offered model has that
    // name. add() of the name offers it again.
    bool withdraw(const std::string& name);
    // Drops models unused for idle_unload_seconds; the background thread calls this.
    void unload_idle();
    // Told of each model loaded and the seconds it took (the metrics); set before serving.
    void on_load(std::function<void(const std::string& name, double seconds)> observer) {
        load_observer_ = std::move(observer);
    }

  private:
    void evict_for(uint64_t bytes_needed);
    uint64_t loaded_bytes() const;
    std::shared_ptr<LoadedModel> load(const ModelEntry& entry);
    // The file of a draft model named by a model name or alias, else by its path.
    std::string draft_model_path(const std::string& draft) const;

    int64_t keep_alive_ms(const LoadedModel& m) const;

    std::deque<ModelEntry> entries_;  // a deque: add() keeps earlier entries where they are
    PoolOptions options_;
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<LoadedModel>> loaded_;
    std::condition_variable stop_cv_;
    bool stopping_ = false;
    std::thread reaper_;
    // Names withdraw() took away. Their entries stay in entries_ (references to them must
    // stay valid), unseen.
    std::set<std::string> withdrawn_;

    bool offered(const ModelEntry& e) const { return !withdrawn_.count(e.name); }
    std::function<void(const std::string&, double)> load_observer_;
};

}  // namespace hearth::server
