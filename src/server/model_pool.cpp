#include "server/model_pool.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "core/error.h"
#include "core/format.h"
#include "core/log.h"

namespace hearth::server {

namespace {

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

bool in_use(const std::shared_ptr<LoadedModel>& m) {
    return m.use_count() > 1;
}

}  // namespace

int64_t kv_pool_tokens(uint64_t budget, uint64_t bytes_per_token, int64_t parallel,
                       int64_t ctx_size, uint64_t max_memory, uint64_t weight_bytes) {
    const int64_t block = runtime::ContextParams{}.kv_block_size;
    const uint64_t block_bytes = bytes_per_token * static_cast<uint64_t>(block);
    if (budget > 0) {
        if (budget < block_bytes) {
            throw Error("a KV budget of " + format_bytes(budget) + " holds less than one block of " +
                        std::to_string(block) + " tokens of this model's KV cache (" +
                        format_bytes(block_bytes) + "); raise --kv-budget");
        }
        return static_cast<int64_t>(budget / block_bytes) * block;
    }
    const int64_t per_seq = (ctx_size + block - 1) / block;
    int64_t blocks = parallel * per_seq;
    if (max_memory > 0) {
        const uint64_t left = max_memory > weight_bytes ? max_memory - weight_bytes : 0;
        blocks = std::max(std::min<int64_t>(blocks, static_cast<int64_t>(left / block_bytes)),
                          parallel);
    }
    return blocks * block;
}

void LoadedModel::touch() {
    last_used_ms.store(now_ms(), std::memory_order_relaxed);
}

void LoadedModel::run_encoder(const std::function<void(kernels::ThreadPool&)>& work) {
    std::lock_guard<std::mutex> lock(encoder_mutex_);
    if (!encoder_pool_) {
        encoder_pool_ = std::make_unique<kernels::ThreadPool>(
            entry.threads > 0 ? entry.threads : kernels::ThreadPool::default_thread_count());
    }
    work(*encoder_pool_);
}

ModelPool::ModelPool(std::vector<ModelEntry> entries, PoolOptions options)
    : entries_(entries.begin(), entries.end()), options_(options) {
    // Always running: a request's keep_alive may ask for an unload even without a pool timeout.
    reaper_ = std::thread([this] {
        std::unique_lock lock(mutex_);
        while (!stop_cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping_; })) {
            lock.unlock();
            unload_idle();
            lock.lock();
        }
    });
}

ModelPool::~ModelPool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    stop_cv_.notify_all();
    if (reaper_.joinable()) reaper_.join();
}

std::vector<ModelEntry> ModelPool::entries() const {
    std::lock_guard lock(mutex_);
    std::vector<ModelEntry> out;
    for (const ModelEntry& e : entries_) {
        if (offered(e)) out.push_back(e);
    }
    return out;
}

size_t ModelPool::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size() - withdrawn_.size();
}

const ModelEntry* ModelPool::sole_entry() const {
    std::lock_guard lock(mutex_);
    const ModelEntry* only = nullptr;
    for (const ModelEntry& e : entries_) {
        if (!offered(e)) continue;
        if (only) return nullptr;
        only = &e;
    }
    return only;
}

const ModelEntry& ModelPool::add(ModelEntry entry) {
    std::lock_guard lock(mutex_);
    for (const ModelEntry& e : entries_) {
        if (e.name != entry.name) continue;
        if (withdrawn_.erase(e.name) > 0) log::info("serving model '{}' again ({})", e.name, e.path);
        if (loaded_.erase(e.name) > 0) log::info("model '{}' changed on disk: unloaded", e.name);
        return e;
    }
    log::info("now serving model '{}' ({})", entry.name, entry.path);
    return entries_.emplace_back(std::move(entry));
}

// Names match case-insensitively (docs/CONFIG.md), an exact spelling first: "Llama-3.2-1B" finds
// llama-3.2-1b, and two models differing only in case stay reachable by their own spelling.
const ModelEntry* ModelPool::find(const std::string& name) const {
    auto same = [&](const std::string& a) {
        return a.size() == name.size() &&
               std::equal(a.begin(), a.end(), name.begin(), [](unsigned char x, unsigned char y) {
                   return std::tolower(x) == std::tolower(y);
               });
    };
    std::lock_guard lock(mutex_);
    for (const ModelEntry& e : entries_) {
        if (e.name == name && offered(e)) return &e;
    }
    for (const ModelEntry& e : entries_) {
        if (same(e.name) && offered(e)) return &e;
    }
    for (const ModelEntry& e : entries_) {
        for (const std::string& alias : e.aliases) {
            if (same(alias) && offered(e)) return &e;
        }
    }
    return nullptr;
}

std::shared_ptr<LoadedModel> ModelPool::acquire(const ModelEntry& entry) {
    std::lock_guard lock(mutex_);
    auto it = loaded_.find(entry.name);
    std::shared_ptr<LoadedModel> m;
    if (it != loaded_.end()) {
        m = it->second;
    } else {
        const auto started = std::chrono::steady_clock::now();
        m = load(entry);
        if (load_observer_) {
            load_observer_(entry.name, std::chrono::duration<double>(
                                           std::chrono::steady_clock::now() - started)
                                           .count());
        }
    }
    m->touch();
    return m;
}

// Called with mutex_ held. Loading maps the file (cheap), so holding the lock is acceptable.
std::shared_ptr<LoadedModel> ModelPool::load(const ModelEntry& entry) {
    std::error_code ec;
    const uint64_t file_bytes = std::filesystem::file_size(entry.path, ec);
    if (ec) throw Error("cannot read model file '" + entry.path + "': " + ec.message());
    evict_for(file_bytes);

    auto m = std::make_shared<LoadedModel>();
    m->entry = entry;
    m->model = model::Model::load(entry.path, {.mlock = entry.mlock,
                                               .threads = entry.threads > 0 ? entry.threads : options_.threads,
                                               .repack_cache = options_.repack_cache});
    m->tokenizer = tokenizer::Tokenizer::from_gguf(m->model->file());
    for (const std::string& token : m->tokenizer->vocab().tokens)
        m->longest_token_bytes = std::max(m->longest_token_bytes, token.size());
    const int64_t wanted_ctx = entry.ctx_size > 0 ? entry.ctx_size : options_.ctx_size;
    const int64_t train_ctx = m->model->hparams().n_ctx_train;
    m->ctx_size = train_ctx > 0 ? std::min(wanted_ctx, train_ctx) : wanted_ctx;
    runtime::SchedulerParams params;
    params.ctx_per_seq = m->ctx_size;
    params.parallel = options_.parallel;
    params.threads = entry.threads > 0 ? entry.threads : options_.threads;
    params.max_queue = options_.max_queue;
    params.draft_tokens = options_.lookup_draft;
    params.kv_type = entry.kv_type.value_or(options_.kv_type);
    params.context_shift = entry.context_shift.value_or(options_.context_shift);
    m->context_shift = params.context_shift && m->model->can_shift_positions();
    if (params.context_shift && !m->context_shift)
        log::warn("model '{}' cannot shift its context ({}): sequences end at its context",
                  entry.name, m->model->hparams().architecture);
    params.prompt_cache = options_.prompt_cache;
    params.prompt_lookup = options_.lookup_draft > 0;
    const std::string& draft = entry.draft_model.empty() ? options_.draft_model : entry.draft_model;
    if (!draft.empty()) {
        params.draft_model = model::Model::load(draft_model_path(draft), {.repack_cache = options_.repack_cache});
        if (options_.lookup_draft <= 0) params.draft_tokens = options_.draft_tokens;
    }
    // Sliding-window layers hold only their windows: their pool comes off the budget first, the
    // rest holds tokens of the other layers.
    const runtime::KvCosts costs = runtime::kv_costs(*m->model, params);
    uint64_t budget = entry.kv_budget.value_or(options_.kv_budget);
    if (budget > 0 && costs.window_pool_bytes > 0) {
        if (budget <= costs.window_pool_bytes)
            throw Error("a KV budget of " + format_bytes(budget) + " cannot hold the sliding-window " +
                        "layers' windows of " + std::to_string(params.parallel) + " sequences (" +
                        format_bytes(costs.window_pool_bytes) + "); raise --kv-budget");
        budget -= costs.window_pool_bytes;
    }
    params.kv_tokens = kv_pool_tokens(budget, costs.bytes_per_token, params.parallel, m->ctx_size,
                                      options_.max_memory,
                                      m->model->weight_bytes() + costs.window_pool_bytes);
    try {
        m->scheduler = std::make_unique<runtime::Scheduler>(m->model, *m->tokenizer, params);
    } catch (const Error& e) {
        if (!params.draft_model) throw;
        throw Error("cannot use '" + draft + "' as the draft model of '" + entry.name + "': " +
                    e.what());
    }
    // No sequence can be longer than the pool: requests are checked against what is possible.
    m->ctx_size = m->scheduler->params().ctx_per_seq;
    // The pool counts whole even though its memory is committed only as tokens fill it.
    m->memory_bytes = m->model->weight_bytes() + m->scheduler->kv_cache_bytes();
    if (params.draft_model) {
        m->memory_bytes +=
            params.draft_model->weight_bytes() + m->scheduler->draft_kv_cache_bytes();
        log::info("model '{}' drafts with '{}' ({} tokens a step{})", entry.name, draft,
                  params.draft_tokens, params.prompt_lookup ? ", prompt lookup first" : "");
    }
    evict_for(m->memory_bytes);
    loaded_[entry.name] = m;
    const int64_t pool_tokens = m->scheduler->params().kv_tokens;
    log::info("loaded model '{}' from {} ({:.1f} MiB of weights; KV pool of {} tokens, {:.1f} MiB "
              "{}, in use as filled; context {} tokens a sequence, {} decoded together)",
              entry.name, entry.path, m->model->weight_bytes() / 1048576.0, pool_tokens,
              m->scheduler->kv_cache_bytes() / 1048576.0, model::kv_type_name(params.kv_type),
              m->ctx_size, params.parallel);
    if (costs.window_pool_bytes > 0)
        log::info("model '{}': its sliding-window layers keep only their last {} tokens (up to "
                  "{:.1f} MiB of the pool; the pool's tokens are the other layers')",
                  entry.name, m->model->hparams().sliding_window,
                  costs.window_pool_bytes / 1048576.0);
    if (m->ctx_size < params.ctx_per_seq) {
        log::warn("model '{}': the KV pool holds only {} tokens, so no sequence may be longer "
                  "than that (raise --kv-budget or --max-memory)",
                  entry.name, pool_tokens);
    }
    return m;
}

// Called with mutex_ held.
std::string ModelPool::draft_model_path(const std::string& draft) const {
    for (const ModelEntry& e : entries_) {
        if (e.name == draft) return e.path;
    }
    for (const ModelEntry& e : entries_) {
        if (std::find(e.aliases.begin(), e.aliases.end(), draft) != e.aliases.end()) return e.path;
    }
    std::error_code ec;
    if (std::filesystem::is_regular_file(draft, ec)) return draft;
    throw Error("draft model '" + draft + "' is neither a model this server offers nor a file");
}

// Unloads idle models, least recently used first, until `bytes_needed` more fit the budget.
// Models serving a request stay; the budget is then exceeded and we say so.
void ModelPool::evict_for(uint64_t bytes_needed) {
    if (options_.max_memory == 0) return;
    while (loaded_bytes() + bytes_needed > options_.max_memory) {
        auto victim = loaded_.end();
        for (auto it = loaded_.begin(); it != loaded_.end(); ++it) {
            if (in_use(it->second)) continue;
            if (victim == loaded_.end() ||
                it->second->last_used_ms.load() < victim->second->last_used_ms.load()) {
                victim = it;
            }
        }
        if (victim == loaded_.end()) {
            log::warn("memory budget of {} bytes exceeded: every loaded model is in use",
                      options_.max_memory);
            return;
        }
        log::info("unloading model '{}' to stay within --max-memory", victim->first);
        loaded_.erase(victim);
    }
}

uint64_t ModelPool::loaded_bytes() const {
    uint64_t total = 0;
    for (const auto& [name, m] : loaded_) total += m->memory_bytes;
    return total;
}

// The model's own keep-alive, else the pool's idle timeout; kKeepForever when it never unloads.
int64_t ModelPool::keep_alive_ms(const LoadedModel& m) const {
    const int64_t own = m.keep_alive_ms.load();
    if (own != LoadedModel::kPoolKeepAlive) return own < 0 ? LoadedModel::kKeepForever : own;
    if (options_.idle_unload_seconds <= 0) return LoadedModel::kKeepForever;
    return static_cast<int64_t>(options_.idle_unload_seconds * 1000);
}

void ModelPool::unload_idle() {
    std::lock_guard lock(mutex_);
    const int64_t now = now_ms();
    std::erase_if(loaded_, [&](const auto& item) {
        const auto& m = item.second;
        const int64_t keep = keep_alive_ms(*m);
        if (keep == LoadedModel::kKeepForever || in_use(m) || m->last_used_ms.load() + keep > now)
            return false;
        log::info("unloading model '{}': idle for {:.1f} s", item.first, keep / 1000.0);
        return true;
    });
}

bool ModelPool::release(const std::string& name) {
    std::lock_guard lock(mutex_);
    if (loaded_.erase(name) == 0) return false;
    log::info("unloaded model '{}' (asked to)", name);
    return true;
}

bool ModelPool::withdraw(const std::string& name) {
    std::lock_guard lock(mutex_);
    for (const ModelEntry& e : entries_) {
        if (e.name != name || !offered(e)) continue;
        withdrawn_.insert(name);
        loaded_.erase(name);
        log::info("no longer serving model '{}'", name);
        return true;
    }
    return false;
}

std::vector<LoadedModelInfo> ModelPool::loaded() const {
    std::lock_guard lock(mutex_);
    std::vector<LoadedModelInfo> out;
    const int64_t now = now_ms();
    for (const auto& [name, m] : loaded_) {
        LoadedModelInfo info{name, m->memory_bytes, m->scheduler->stats(), std::nullopt};
        info.ctx_size = m->ctx_size;
        info.threads = m->scheduler->threads();
        info.idle_seconds = in_use(m) ? 0 : std::max<int64_t>(0, now - m->last_used_ms.load()) / 1000.0;
        if (const int64_t keep = keep_alive_ms(*m); keep != LoadedModel::kKeepForever) {
            // In use, it expires no sooner than `keep` from now.
            const int64_t from = in_use(m) ? now : m->last_used_ms.load();
            info.expires_at = std::chrono::system_clock::now() +
                              std::chrono::milliseconds(std::max<int64_t>(0, from + keep - now));
        }
        out.push_back(std::move(info));
    }
    return out;
}

}  // namespace hearth::server
