#include "runtime/scheduler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "core/log.h"
#include "runtime/prompt_lookup.h"

namespace hearth::runtime {

using Clock = std::chrono::steady_clock;

struct Scheduler::Sequence {
    SequenceRequest req;
    std::shared_ptr<Ticket> ticket;
    Sampler sampler;
    tokenizer::StreamDecoder decoder;
    StopMatcher stops;
    int32_t slot = -1;
    size_t prompt_done = 0;  // prompt tokens already in the KV cache
    int64_t cached_prompt = 0;
    int32_t next_token = -1;  // sampled, not yet in the cache
    int32_t generated = 0;
    bool done = false;
    std::vector<TokenLogprob> logprobs;  // not yet reported
    std::vector<int32_t> draft;          // drafted tokens in this step's batch, after next_token
    int64_t committed_blocks = 0;        // counted in Scheduler::committed_blocks_ while running
    // Metrics: the milestones SequenceEvent reports, the last token's time, and the gaps
    // between tokens not yet reported.
    Clock::time_point queued_at{}, admitted_at{}, prefill_started_at{}, first_token_at{},
        last_token_at{};
    std::vector<float> token_gaps;

    // Copies the timings into an event; the token gaps go with it.
    void stamp(SequenceEvent& ev) {
        ev.queued_at = queued_at;
        ev.admitted_at = admitted_at;
        ev.prefill_started_at = prefill_started_at;
        ev.first_token_at = first_token_at;
        ev.token_gaps = std::move(token_gaps);
        token_gaps.clear();
    }

    Sequence(SequenceRequest r, int32_t n_vocab, const tokenizer::Tokenizer& tok)
        : req(std::move(r)),
          ticket(std::make_shared<Ticket>()),
          sampler(req.sampling, n_vocab),
          decoder(tok),
          stops(req.stop) {}
};

namespace {

constexpr int64_t kBlock = ContextParams{}.kv_block_size;

int64_t blocks_for(int64_t tokens) {
    return (tokens + kBlock - 1) / kBlock;
}

// The pool in whole blocks: by default every slot can reach ctx_per_seq even when its blocks
// are not shared. No sequence may be longer than the pool.
SchedulerParams fitted(SchedulerParams p) {
    const int64_t tokens = p.kv_tokens > 0 ? p.kv_tokens : p.parallel * blocks_for(p.ctx_per_seq) * kBlock;
    p.kv_tokens = std::max<int64_t>(1, blocks_for(tokens)) * kBlock;
    p.ctx_per_seq = std::min(p.ctx_per_seq, p.kv_tokens);
    return p;
}

}  // namespace

int64_t window_chunk(const SchedulerParams& p) {
    if (p.context_shift || !p.prompt_cache.dir.empty()) return 0;
    return std::max<int64_t>(p.prefill_chunk, 1 + std::max(p.draft_tokens, 0));
}

KvCosts kv_costs(const model::Model& model, const SchedulerParams& p) {
    const auto& hp = model.hparams();
    const model::KvWindow w = kv_window(model, std::numeric_limits<int64_t>::max() / 2, kBlock,
                                        p.parallel, window_chunk(p));
    const auto sliding = static_cast<uint64_t>(std::count(w.sliding.begin(), w.sliding.end(), true));
    const uint64_t row = model::kv_row_bytes(p.kv_type, hp.kv_dim());
    return {2 * (static_cast<uint64_t>(hp.n_layer) - sliding) * row,
            static_cast<uint64_t>(w.n_blocks * kBlock) * 2 * sliding * row};
}

namespace {

// OpenAI's logprobs describe the model's distribution, before sampling settings reshape it.
TokenLogprob logprob_of(const float* logits, int32_t n_vocab, int32_t chosen, int32_t n_top) {
    const float max = *std::max_element(logits, logits + n_vocab);
    double sum = 0;
    for (int32_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i] - max));
    const float log_sum = static_cast<float>(std::log(sum));
    auto logprob = [&](int32_t id) { return logits[id] - max - log_sum; };

    TokenLogprob out;
    out.id = chosen;
    out.logprob = logprob(chosen);
    n_top = std::min(n_top, n_vocab);
    if (n_top > 0) {
        std::vector<int32_t> ids(n_vocab);
        std::iota(ids.begin(), ids.end(), 0);
        std::partial_sort(ids.begin(), ids.begin() + n_top, ids.end(), [&](int32_t a, int32_t b) {
            return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
        });
        for (int32_t i = 0; i < n_top; ++i) out.top.emplace_back(ids[i], logprob(ids[i]));
    }
    return out;
}

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
    size_t n = std::min(a.size(), b.size());
    size_t i = 0;
    while (i < n && a[i] == b[i]) ++i;
    return i;
}

}  // namespace

Scheduler::Scheduler(std::shared_ptr<const model::Model> model,
                     const tokenizer::Tokenizer& tokenizer, const SchedulerParams& params)
    : params_(fitted(params)),
      pacer_(params.prefill_chunk),
      tokenizer_(tokenizer),
      ctx_(
          std::move(model),
          {.n_ctx = params_.kv_tokens,
           .max_seqs = params_.parallel,
           .threads = params_.threads,
           .kv_type = params_.kv_type,
           .window_chunk = window_chunk(params_)}),
      n_vocab_(static_cast<int32_t>(ctx_.model().hparams().n_vocab)),
      kv_cache_bytes_(ctx_.cache().bytes()),
      shifts_(params.context_shift && ctx_.model().can_shift_positions()),
      slots_(static_cast<size_t>(params.parallel)) {
    if (!params_.prompt_cache.dir.empty()) {
        prompt_cache_ = std::make_unique<PromptCache>(
            params_.prompt_cache, ctx_.model().identity(), ctx_.cache());
    }
    if (params_.draft_model && params_.draft_tokens > 0) {
        // Sized by the fitted context: no sequence grows beyond what the KV pool can hold.
        draft_ = std::make_unique<DraftModel>(params_.draft_model, tokenizer.vocab(), params_.parallel,
                                              params_.ctx_per_seq, params_.kv_type);
    }
    stats_.kv_blocks_total = ctx_.cache().n_blocks();
    worker_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    worker_.join();
}

std::vector<std::shared_ptr<Ticket>> Scheduler::submit(std::vector<SequenceRequest> requests) {
    std::vector<std::unique_ptr<Sequence>> seqs;
    std::vector<std::shared_ptr<Ticket>> tickets;
    for (SequenceRequest& r : requests) {
        if (r.sampling.grammar && !r.sampling.token_table) r.sampling.token_table = token_table();
        seqs.push_back(std::make_unique<Sequence>(std::move(r), n_vocab_, tokenizer_));
        seqs.back()->queued_at = Clock::now();
        tickets.push_back(seqs.back()->ticket);
    }
    {
        std::lock_guard lock(mutex_);
        if (stop_ || waiting_.size() + seqs.size() > params_.max_queue) return {};
        for (auto& s : seqs) waiting_.push_back(std::move(s));
        stats_.queued = waiting_.size();
    }
    wake_.notify_all();
    return tickets;
}

std::shared_ptr<const TokenTable> Scheduler::token_table() {
    std::call_once(token_table_once_,
                   [&] { token_table_ = TokenTable::from_tokenizer(tokenizer_); });
    return token_table_;
}

SchedulerStats Scheduler::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

void Scheduler::run() {
    while (wait_for_work()) {
        admit_waiting();
        try {
            step();
        } catch (const std::exception& e) {
            // The engine failed (not the request): fail what was running, start clean.
            log::error("scheduler step failed: {}", e.what());
            for (auto& seq : active_) {
                if (!seq->done) finish(*seq, FinishReason::Stop, "", false, e.what());
            }
            for (size_t s = 0; s < slots_.size(); ++s) {
                ctx_.cache().clear(static_cast<int32_t>(s));
                slots_[s].cached.clear();
            }
            if (draft_) draft_->clear();
            drop_finished();
            update_kv_stats();
        }
    }
    for (auto& seq : active_) finish(*seq, FinishReason::Cancelled);
    std::lock_guard lock(mutex_);
    for (auto& seq : waiting_) {
        SequenceEvent ev;
        ev.finished = true;
        ev.finish = FinishReason::Cancelled;
        seq->req.on_event(std::move(ev));
    }
    waiting_.clear();
}

bool Scheduler::wait_for_work() {
    std::unique_lock lock(mutex_);
    if (!stop_ && waiting_.empty() && active_.empty()) {
        // Idle: the blocks the last sequences freed need not stay resident (cached prefixes
        // of idle slots do, for the next request that shares them).
        lock.unlock();
        ctx_.cache().release_free_memory();
        lock.lock();
    }
    wake_.wait(lock, [&] { return stop_ || !waiting_.empty() || !active_.empty(); });
    return !stop_;
}

int64_t Scheduler::blocks_needed(const SequenceRequest& req) const {
    const auto prompt = static_cast<int64_t>(req.prompt.size());
    const int64_t longest = std::min(prompt + std::max(req.max_tokens, 0), params_.ctx_per_seq);
    return blocks_for(std::max(prompt, longest));
}

// Admits waiting sequences in order while a slot is free and the pool can hold each one's
// prompt and room to generate on top of what the running ones may come to hold. Blocks held by
// idle slots' cached prefixes count as free: reserve() evicts them when needed. So a running
// sequence always finds its blocks, and one that does not fit yet waits instead of failing.
void Scheduler::admit_waiting() {
    std::vector<std::unique_ptr<Sequence>> admitted;
    const int64_t pool_blocks = ctx_.cache().n_blocks();
    {
        std::lock_guard lock(mutex_);
        const size_t free_slots = slots_.size() - active_.size();
        int64_t committed = committed_blocks_;
        while (!waiting_.empty() && admitted.size() < free_slots) {
            const auto next = next_in_fair_order();
            const Sequence& head = **next;
            const int64_t need = blocks_needed(head.req);
            // Cancelled ones and ones that can never fit go through to be reported.
            if (!head.ticket->cancelled() && need <= pool_blocks) {
                if (committed + need > pool_blocks) break;  // waits for blocks to be freed
                committed += need;
                group_admitted_[head.req.fair_share_group] = ++admissions_;
            }
            admitted.push_back(std::move(*next));
            waiting_.erase(next);
        }
        if (!admitted.empty()) forget_idle_groups();
        stats_.queued = waiting_.size();
    }
    std::vector<std::unique_ptr<Sequence>> deferred;
    for (auto& seq : admitted) {
        if (seq->ticket->cancelled()) {
            SequenceEvent ev;
            ev.finished = true;
            ev.finish = FinishReason::Cancelled;
            seq->req.on_event(std::move(ev));
            continue;
        }
        if (const int64_t need = blocks_needed(seq->req); need > pool_blocks) {
            SequenceEvent ev;
            ev.finished = true;
            ev.finish = FinishReason::Length;
            ev.prompt_tokens = static_cast<int64_t>(seq->req.prompt.size());
            ev.error = "the request needs " + std::to_string(need * kBlock) +
                       " tokens of KV cache (prompt and output), more than the whole pool's " +
                       std::to_string(pool_blocks * kBlock) + " (raise --kv-budget)";
            seq->req.on_event(std::move(ev));
            continue;
        }
        int32_t source = -1;
        int64_t reuse = 0;
        int32_t slot = pick_slot(seq->req.prompt, source, reuse);
        PromptCache::Match disk;
        if (prompt_cache_)
            disk = prompt_cache_->lookup(seq->req.prompt,
                                         static_cast<int64_t>(seq->req.prompt.size()) - 1);
        if (worth_waiting_for_prefill(seq->req.prompt, std::max(reuse, disk.tokens))) {
            deferred.push_back(std::move(seq));
            continue;
        }
        auto& cache = ctx_.cache();
        if (source == slot) {
            cache.truncate(slot, reuse);
            slots_[slot].cached.resize(static_cast<size_t>(reuse));
        } else if (source >= 0) {
            cache.share_prefix(source, slot, reuse);
            const auto& from = slots_[source].cached;
            slots_[slot].cached.assign(from.begin(), from.begin() + reuse);
        } else {
            cache.clear(slot);
            slots_[slot].cached.clear();
        }
        slots_[slot].exact = SIZE_MAX;  // what was reused is all exact (pick_slot)
        if (disk.tokens > reuse) reuse = load_from_disk(slot, seq->req.prompt, reuse, disk);
        seq->prompt_done = static_cast<size_t>(reuse);
        seq->cached_prompt = reuse;
        start_sequence(std::move(seq), slot);
    }
    if (deferred.empty()) return;
    std::lock_guard lock(mutex_);
    for (auto it = deferred.rbegin(); it != deferred.rend(); ++it)
        waiting_.push_front(std::move(*it));
    stats_.queued = waiting_.size();
}

std::deque<std::unique_ptr<Scheduler::Sequence>>::iterator Scheduler::next_in_fair_order() {
    auto best = waiting_.begin();
    uint64_t best_turn = UINT64_MAX;
    std::unordered_set<std::string_view> seen;  // groups whose head was looked at
    for (auto it = waiting_.begin(); it != waiting_.end() && best_turn > 0; ++it) {
        const std::string& group = (*it)->req.fair_share_group;
        if (!seen.insert(group).second) continue;  // not the group's head
        const auto last = group_admitted_.find(group);
        const uint64_t turn = last == group_admitted_.end() ? 0 : last->second;
        if (turn < best_turn) {
            best = it;
            best_turn = turn;
        }
    }
    return best;
}

void Scheduler::forget_idle_groups() {
    std::unordered_set<std::string_view> waiting_groups;
    for (const auto& seq : waiting_) waiting_groups.insert(seq->req.fair_share_group);
    std::erase_if(group_admitted_,
                  [&](const auto& entry) { return !waiting_groups.contains(entry.first); });
}

// True when a running sequence is still evaluating a prompt that shares at least a block with
// `prompt`, more than the cache can lend now: waiting until it is done and then sharing its blocks
// beats evaluating the same tokens twice (n > 1 choices, many users with one system prompt).
bool Scheduler::worth_waiting_for_prefill(const std::vector<int32_t>& prompt, int64_t reuse) {
    const size_t limit = prompt.size() - 1;
    for (const auto& other : active_) {
        if (other->done || other->prompt_done >= other->req.prompt.size()) continue;
        const auto shared =
            static_cast<int64_t>(std::min(common_prefix(other->req.prompt, prompt), limit));
        if (shared >= ctx_.cache().block_size() && shared > reuse) return true;
    }
    return false;
}

// Picks a free slot for `prompt` and the longest cached prefix any slot can lend it. At least
// one prompt token is always left to evaluate: its logits give the first output token.
int32_t Scheduler::pick_slot(const std::vector<int32_t>& prompt, int32_t& source,
                             int64_t& reuse) const {
    source = -1;
    reuse = 0;
    const size_t limit = prompt.size() - 1;
    for (size_t s = 0; s < slots_.size(); ++s) {
        // Sliding layers that released the window before n leave nothing reusable.
        const int64_t n = ctx_.cache().reusable(
            static_cast<int32_t>(s), static_cast<int64_t>(std::min(
                                         {common_prefix(slots_[s].cached, prompt), limit, slots_[s].exact})));
        const bool better = n > reuse || (n == reuse && n > 0 && !slots_[s].busy);
        if (better) {
            reuse = n;
            source = static_cast<int32_t>(s);
        }
    }
    if (source >= 0 && !slots_[source].busy) return source;
    // Otherwise the free slot whose own cache is least worth keeping: empty, else least recent.
    int32_t pick = -1;
    for (size_t s = 0; s < slots_.size(); ++s) {
        if (slots_[s].busy) continue;
        auto worth = [&](size_t i) {
            return slots_[i].cached.empty() ? 0 : slots_[i].last_used + 1;
        };
        if (pick < 0 || worth(s) < worth(static_cast<size_t>(pick))) pick = static_cast<int32_t>(s);
    }
    return pick;
}

int64_t Scheduler::load_from_disk(int32_t slot, const std::vector<int32_t>& prompt,
                                  int64_t reuse, const PromptCache::Match& match) {
    auto& cache = ctx_.cache();
    const int64_t from = reuse / cache.block_size() * cache.block_size();
    cache.truncate(slot, from);
    slots_[slot].cached.resize(static_cast<size_t>(from));
    slots_[slot].busy = true;  // reserve() must not evict the prefix this slot holds
    int64_t held = reserve(slot, match.tokens)
                       ? prompt_cache_->load(match, prompt, from, cache, slot)
                       : from;
    slots_[slot].busy = false;
    cache.truncate(slot, held);
    slots_[slot].cached.assign(prompt.begin(), prompt.begin() + held);
    std::lock_guard lock(mutex_);
    stats_.prompt_tokens_loaded += static_cast<uint64_t>(held - from);
    return held;
}

void Scheduler::save_to_disk(const Sequence& seq) {
    if (!prompt_cache_ || seq.slot < 0) return;
    // What the slot holds of the prompt: all of it, unless the sequence failed before.
    const auto& cached = slots_[seq.slot].cached;
    const size_t n = common_prefix(cached, seq.req.prompt);
    prompt_cache_->save(std::span<const int32_t>(seq.req.prompt.data(), n), ctx_.cache(), seq.slot);
}

void Scheduler::start_sequence(std::unique_ptr<Sequence> seq, int32_t slot) {
    seq->slot = slot;
    seq->admitted_at = Clock::now();
    seq->committed_blocks = blocks_needed(seq->req);
    committed_blocks_ += seq->committed_blocks;
    slots_[slot].busy = true;
    slots_[slot].last_used = ++clock_;
    for (int32_t t : seq->req.prompt) seq->sampler.accept_prompt(t);
    {
        std::lock_guard lock(mutex_);
        stats_.prompt_tokens_reused += static_cast<uint64_t>(seq->cached_prompt);
    }
    active_.push_back(std::move(seq));
}

// Reserves cache positions, evicting idle slots' cached prefixes (least recent first) when the
// blocks run out.
bool Scheduler::reserve(int32_t slot, int64_t length) {
    auto& cache = ctx_.cache();
    while (!cache.reserve(slot, length)) {
        int32_t victim = -1;
        for (size_t s = 0; s < slots_.size(); ++s) {
            if (slots_[s].busy || slots_[s].cached.empty()) continue;
            if (victim < 0 || slots_[s].last_used < slots_[victim].last_used)
                victim = static_cast<int32_t>(s);
        }
        if (victim < 0) return false;
        cache.clear(victim);
        slots_[victim].cached.clear();
    }
    return true;
}

void Scheduler::step() {
    const Clock::time_point step_started = Clock::now();
    batch_.clear();
    std::vector<Sequence*> logit_rows;
    std::vector<Sequence*> prompts_done;  // evaluated their prompt's last chunk this step
    // Decode rows first, then prompts, shortest rest first: a short request that arrives
    // behind a long prompt starts generating without waiting for it.
    std::vector<Sequence*> order;
    for (const auto& seq : active_) order.push_back(seq.get());
    auto prompt_left = [](const Sequence* s) { return s->req.prompt.size() - s->prompt_done; };
    std::stable_sort(order.begin(), order.end(), [&](const Sequence* a, const Sequence* b) {
        return prompt_left(a) < prompt_left(b);
    });
    const size_t decoding = static_cast<size_t>(
        std::count_if(order.begin(), order.end(), [&](const Sequence* s) { return prompt_left(s) == 0; }));
    int64_t prefill_budget = pacer_.budget(decoding);
    uint64_t prompt_evaluated = 0;
    uint64_t sampled = 0, proposed = 0;
    draft_all({order.begin(), order.begin() + static_cast<std::ptrdiff_t>(decoding)});
    for (Sequence* seq_ptr : order) {
        Sequence& seq = *seq_ptr;
        if (seq.ticket->cancelled()) {
            finish(seq, FinishReason::Cancelled);
            continue;
        }
        if (!make_room(seq)) {
            finish(seq, FinishReason::Length, "", true);
            continue;
        }
        auto& cached = slots_[seq.slot].cached;
        const int32_t pos = static_cast<int32_t>(cached.size());
        const auto& prompt = seq.req.prompt;
        if (seq.prompt_done < prompt.size()) {
            if (prefill_budget <= 0) continue;
            const size_t n =
                std::min(prompt.size() - seq.prompt_done, static_cast<size_t>(prefill_budget));
            if (!reserve(seq.slot, pos + static_cast<int64_t>(n))) {
                // Admission control should make this unreachable; end the one sequence cleanly.
                log::warn("KV cache full while evaluating a prompt of {} tokens", prompt.size());
                finish(seq, FinishReason::Length, "", false, "the KV cache is full");
                continue;
            }
            const bool completes = seq.prompt_done + n == prompt.size();
            if (seq.prefill_started_at == Clock::time_point{}) seq.prefill_started_at = step_started;
            for (size_t i = 0; i < n; ++i) {
                const int32_t token = prompt[seq.prompt_done + i];
                batch_.add(token, seq.slot, pos + static_cast<int32_t>(i), completes && i + 1 == n);
                cached.push_back(token);
            }
            seq.prompt_done += n;
            prefill_budget -= static_cast<int64_t>(n);
            prompt_evaluated += n;
            if (completes) {
                logit_rows.push_back(&seq);
                prompts_done.push_back(&seq);
            }
        } else {
            if (!seq.draft.empty() &&
                !reserve(seq.slot, pos + 1 + static_cast<int64_t>(seq.draft.size())))
                seq.draft.clear();
            if (seq.draft.empty() && !reserve(seq.slot, pos + 1)) {
                log::warn("KV cache full after {} generated tokens: the sequence ends early",
                          seq.generated);
                finish(seq, FinishReason::Length, "", true);
                continue;
            }
            batch_.add(seq.next_token, seq.slot, pos, true);
            cached.push_back(seq.next_token);
            logit_rows.push_back(&seq);
            // Drafts are evaluated but join `cached` only once verified.
            for (size_t i = 0; i < seq.draft.size(); ++i) {
                batch_.add(seq.draft[i], seq.slot, pos + 1 + static_cast<int32_t>(i), true);
                logit_rows.push_back(&seq);
            }
            proposed += seq.draft.size();
        }
    }
    if (batch_.size() > 0) {
        const auto started = std::chrono::steady_clock::now();
        const std::vector<float>& logits = ctx_.decode(batch_);
        sampled_at_ = Clock::now();
        pacer_.observe(batch_.size() - prompt_evaluated, static_cast<int64_t>(prompt_evaluated),
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        // A sequence's rows are adjacent: its next token's, then its drafts'.
        for (size_t i = 0; i < logit_rows.size();) {
            Sequence& seq = *logit_rows[i];
            const size_t rows = 1 + seq.draft.size();
            sampled += verify(seq, logits.data() + i * static_cast<size_t>(n_vocab_), rows);
            i += rows;
        }
        // The prompts' keys and values are in the cache now, whatever sampling decided.
        for (Sequence* seq : prompts_done) save_to_disk(*seq);
    }
    drop_finished();
    update_kv_stats();
    std::lock_guard lock(mutex_);
    ++stats_.steps;
    stats_.prompt_tokens_evaluated += prompt_evaluated;
    stats_.tokens_generated += sampled;
    stats_.draft_tokens_proposed += proposed;
    stats_.draft_tokens_accepted += accepted_drafts_;
    accepted_drafts_ = 0;
}

// The reference engine's context shift: keep the first n_keep tokens (at most all but 4 of the
// context), drop the older half of the rest, move the newer half down.
bool Scheduler::make_room(Sequence& seq) {
    Slot& slot = slots_[seq.slot];
    const auto length = static_cast<int64_t>(slot.cached.size());
    if (seq.prompt_done < seq.req.prompt.size() || length < params_.ctx_per_seq) return true;
    if (!shifts_) return false;
    const int64_t n_keep =
        std::clamp<int64_t>(seq.req.n_keep, 0, std::max<int64_t>(0, params_.ctx_per_seq - 4));
    const int64_t n_discard = (length - n_keep) / 2;
    const auto started = std::chrono::steady_clock::now();
    if (n_discard <= 0 || !ctx_.model().shift_positions(ctx_.cache(), seq.slot, n_keep, n_discard))
        return false;
    slot.cached.erase(slot.cached.begin() + n_keep, slot.cached.begin() + n_keep + n_discard);
    slot.exact = std::min(slot.exact, static_cast<size_t>(n_keep));
    log::debug("context shift: kept {} tokens, dropped {}, moved {} in {:.1f} ms", n_keep,
               n_discard, length - n_keep - n_discard,
               std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                   .count());
    std::lock_guard lock(mutex_);
    ++stats_.context_shifts;
    return true;
}

int Scheduler::max_draft(const Sequence& seq) const {
    // Room: the tokens the request may still generate, and the context after next_token.
    const auto pos = static_cast<int64_t>(slots_[seq.slot].cached.size());
    const int64_t room = std::min<int64_t>(seq.req.max_tokens - seq.generated - 1,
                                           params_.ctx_per_seq - (pos + 1) - 1);
    return static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(params_.draft_tokens, room)));
}

void Scheduler::draft_all(const std::vector<Sequence*>& generating) {
    if (params_.draft_tokens <= 0) return;
    std::vector<std::vector<int32_t>> histories;
    std::vector<Sequence*> for_model;
    histories.reserve(generating.size());  // the draft requests point into it
    for (Sequence* seq : generating) {
        const int n = max_draft(*seq);
        if (seq->ticket->cancelled() || n <= 0) continue;
        std::vector<int32_t> history = slots_[seq->slot].cached;
        history.push_back(seq->next_token);
        if (params_.prompt_lookup)
            seq->draft = lookup_draft(history, /*max_ngram=*/3, /*min_ngram=*/2, n);
        if (!seq->draft.empty() || !draft_) continue;
        histories.push_back(std::move(history));
        for_model.push_back(seq);
    }
    if (for_model.empty()) return;
    std::vector<DraftModel::Request> requests;
    for (size_t i = 0; i < for_model.size(); ++i)
        requests.push_back({for_model[i]->slot, &histories[i], max_draft(*for_model[i])});
    std::vector<std::vector<int32_t>> drafts = draft_->draft(requests, ctx_.pool());
    for (size_t i = 0; i < for_model.size(); ++i) for_model[i]->draft = std::move(drafts[i]);
}

size_t Scheduler::verify(Sequence& seq, const float* logits, size_t rows) {
    auto& cached = slots_[seq.slot].cached;
    size_t sampled = 0;
    for (size_t i = 0; i < rows; ++i) {
        const bool going = on_logits(seq, logits + i * static_cast<size_t>(n_vocab_));
        ++sampled;
        if (!going) break;
        // The token sampled after row i is draft i: its keys and values are already in the
        // cache, and row i + 1 holds what follows it.
        if (i + 1 == rows || seq.next_token != seq.draft[i]) break;
        cached.push_back(seq.draft[i]);
        ++accepted_drafts_;
    }
    // Drafts the sampler did not take leave the cache.
    if (!seq.draft.empty()) ctx_.cache().truncate(seq.slot, static_cast<int64_t>(cached.size()));
    seq.draft.clear();
    return sampled;
}

bool Scheduler::on_logits(Sequence& seq, const float* logits) {
    if (seq.done) return false;
    const int32_t id = seq.sampler.sample(logits);
    // As in generate(): with a grammar, end of generation is allowed only when it is complete.
    if (id < 0 || ((!seq.req.ignore_eos || seq.sampler.has_grammar()) &&
                   tokenizer_.vocab().is_end_of_generation(id))) {
        finish(seq, FinishReason::Stop, "", true);
        return false;
    }
    seq.sampler.accept(id);
    ++seq.generated;
    if (seq.generated == 1) {
        seq.first_token_at = sampled_at_;
    } else {
        seq.token_gaps.push_back(
            std::chrono::duration<float>(sampled_at_ - seq.last_token_at).count());
    }
    seq.last_token_at = sampled_at_;
    if (seq.req.top_logprobs >= 0) {
        seq.logprobs.push_back(logprob_of(logits, n_vocab_, id, seq.req.top_logprobs));
    }
    bool stopped = false;
    std::string text = seq.stops.push(seq.decoder.push(id), stopped);
    if (stopped) {
        finish(seq, FinishReason::Stop, std::move(text));
        return false;
    }
    if (seq.sampler.grammar_finished()) {
        finish(seq, FinishReason::Stop, std::move(text), true);
        return false;
    }
    // The sampled token enters the cache next step: it needs one more position.
    const int64_t length_after_next = static_cast<int64_t>(slots_[seq.slot].cached.size()) + 1;
    if (seq.generated >= seq.req.max_tokens ||
        (length_after_next > params_.ctx_per_seq && !shifts_)) {
        finish(seq, FinishReason::Length, std::move(text), true);
        return false;
    }
    seq.next_token = id;
    if (!text.empty() || !seq.logprobs.empty()) {
        SequenceEvent ev;
        ev.text = std::move(text);
        ev.logprobs = std::move(seq.logprobs);
        ev.completion_tokens = seq.generated;
        seq.logprobs.clear();
        seq.stamp(ev);
        seq.req.on_event(std::move(ev));
    }
    return true;
}

void Scheduler::finish(Sequence& seq, FinishReason reason, std::string text, bool flush_held,
                       const std::string& error) {
    if (flush_held) {
        // What the decoder and stop matcher still hold was not a stop string: release it.
        bool stopped = false;
        std::string tail = seq.stops.push(seq.decoder.flush(), stopped);
        if (!stopped) tail += seq.stops.flush();
        text += tail;
    }
    SequenceEvent ev;
    ev.text = std::move(text);
    ev.logprobs = std::move(seq.logprobs);
    ev.finished = true;
    ev.finish = reason;
    ev.error = error;
    ev.stop_sequence = seq.stops.matched();
    ev.prompt_tokens = static_cast<int64_t>(seq.req.prompt.size());
    ev.cached_prompt_tokens = seq.cached_prompt;
    ev.completion_tokens = seq.generated;
    seq.stamp(ev);
    seq.req.on_event(std::move(ev));
    seq.done = true;
    committed_blocks_ -= std::exchange(seq.committed_blocks, 0);
    if (seq.slot >= 0) {
        slots_[seq.slot].busy = false;
        slots_[seq.slot].last_used = ++clock_;
    }
}

void Scheduler::drop_finished() {
    std::erase_if(active_, [](const std::unique_ptr<Sequence>& s) { return s->done; });
    std::lock_guard lock(mutex_);
    stats_.active = active_.size();
}

void Scheduler::update_kv_stats() {
    std::vector<int32_t> running;
    for (size_t s = 0; s < slots_.size(); ++s) {
        if (slots_[s].busy) running.push_back(static_cast<int32_t>(s));
    }
    const auto& cache = ctx_.cache();
    const int64_t held = cache.n_blocks() - cache.free_blocks();
    const int64_t used = cache.blocks_held_by(running);
    std::lock_guard lock(mutex_);
    stats_.kv_blocks_used = used;
    stats_.kv_blocks_cached = held - used;
}

}  // namespace hearth::runtime
