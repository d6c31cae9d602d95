#pragma once
// Continuous batching for one model: a worker thread owns a Context whose KV cache has one slot
// per parallel sequence. Each step it admits queued requests into free slots (reusing a cached
// prompt prefix when one matches), then runs ONE forward pass holding a decode row for every
// generating sequence plus prompt chunks of newly admitted ones, samples, and reports text.
//
// Every batch row is computed independently of the others, so a sequence gets exactly the
// tokens the single-sequence runtime::generate() loop would give it (the tests check this).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "runtime/context.h"
#include "runtime/draft_model.h"
#include "runtime/generate.h"
#include "runtime/prefill_pacer.h"
#include "runtime/prompt_cache.h"
#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"

namespace hearth::runtime {

// Log-probability of a generated token and, when asked, of the most likely alternatives.
struct TokenLogprob {
    int32_t id = 0;
    float logprob = 0;
    std::vector<std::pair<int32_t, float>> top;  // (id, logprob), most likely first
};

// What a sequence reports: new text as it becomes safe to show, then a final event.
struct SequenceEvent {
    std::string text;                    // never contains (the start of) a stop string
    std::vector<TokenLogprob> logprobs;  // tokens since the last event, when requested
    bool finished = false;
    FinishReason finish = FinishReason::Stop;
    std::string error;  // set when the sequence failed for a reason other than its input
    std::string stop_sequence;  // the request's stop string that ended it, if one did
    int64_t prompt_tokens = 0;
    int64_t cached_prompt_tokens = 0;  // prompt tokens reused from the prefix cache
    int64_t completion_tokens = 0;     // generated so far (every event carries it)
    // Timings for the metrics, on the steady clock; each event carries the milestones reached
    // so far (time_point{} until then): queued by submit(), admitted into a slot, the first
    // prompt chunk in a batch (prefill start), the first token generated.
    std::chrono::steady_clock::time_point queued_at{}, admitted_at{}, prefill_started_at{},
        first_token_at{};
    // Seconds from the token before to each token this event reports (a sequence's first
    // token has none): over a whole sequence, completion_tokens - 1 inter-token latencies.
    std::vector<float> token_gaps;
};

struct SequenceRequest {
    std::vector<int32_t> prompt;  // must not be empty
    SamplingParams sampling;
    int32_t max_tokens = 128;
    std::vector<std::string> stop;
    bool ignore_eos = false;
    int32_t top_logprobs = -1;  // < 0: no logprobs; 0: only the chosen token's
    // Called on the scheduler thread; must return quickly and never block on the network.
    std::function<void(SequenceEvent&&)> on_event;
    // Context shift (SchedulerParams::context_shift): the first n_keep tokens (BOS, system
    // prompt) always stay when older tokens are dropped to make room.
    int32_t n_keep = 0;
    // Fair share: waiting sequences are admitted round-robin across groups (the server puts the
    // caller's key here), in order within a group, so one group flooding the queue delays
    // another's request by at most one admission. All "" (the default): first come, first served.
    std::string fair_share_group;
};

// The caller's handle on a submitted sequence.
class Ticket {
  public:
    // Stops the sequence at the next step and frees its slot.
    void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
    bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

  private:
    std::atomic<bool> cancelled_{false};
};

struct SchedulerParams {
    int64_t ctx_per_seq = 2048;   // the longest a sequence (prompt + output) may get
    int64_t parallel = 4;         // sequences decoded together (KV cache slots)
    int threads = 0;              // 0: all cores
    size_t max_queue = 64;        // waiting requests beyond the slots; more are refused
    // Prompt tokens evaluated per step, shared by new sequences; fewer while others decode
    // (PrefillPacer), so a long prompt does not stall them.
    int64_t prefill_chunk = 256;
    gguf::TensorType kv_type = ContextParams{}.kv_type;  // what the KV cache stores
    // Speculative decoding: up to this many drafted tokens per sequence and step, whichever
    // source drafts them, verified in the same pass; 0: off. Output is unchanged.
    int32_t draft_tokens = 0;
    // Context shift, as the reference engine's --context-shift: a sequence that fills
    // ctx_per_seq while generating keeps its first n_keep tokens, drops half of the rest (the
    // oldest) and goes on, instead of finishing with FinishReason::Length. Models that cannot
    // shift (Model::can_shift_positions) finish as without it.
    bool context_shift = false;
    // Prompt cache on disk (runtime/prompt_cache.h): prompts of at least min_tokens leave their
    // whole KV blocks in `dir`; later prompts starting with them load them. Empty dir: off.
    PromptCacheParams prompt_cache{};
    // The KV pool in tokens, shared by all sequences (rounded up to whole blocks); 0: room for
    // `parallel` sequences of ctx_per_seq. A sequence is admitted only when the pool can hold
    // its prompt and its room to generate; until then it waits in the queue, in order.
    int64_t kv_tokens = 0;
    // Draft by prompt lookup (runtime/prompt_lookup.h) ...
    bool prompt_lookup = true;
    // ... and/or with this small model of the same vocabulary (runtime/draft_model.h). With
    // both, prompt lookup drafts when the sequence's last tokens occurred before (free, and
    // right on text that repeats its input), the draft model otherwise.
    std::shared_ptr<const model::Model> draft_model = nullptr;
};

// Sliding-window layers keep only their window (ContextParams::window_chunk: the most positions
// a step adds to a sequence), unless context shift or the prompt cache on disk is on: those
// read every position's rows (KvCache::discard, PromptCache::save), so with them every layer
// keeps every position, as before. 0: no window.
int64_t window_chunk(const SchedulerParams& params);

// What a model's KV pool costs under `params`: bytes per token held by the layers that keep
// every position, and the sliding layers' own pool (0 when they keep every position too),
// which comes off --kv-budget first.
struct KvCosts {
    uint64_t bytes_per_token = 0;
    uint64_t window_pool_bytes = 0;
};
KvCosts kv_costs(const model::Model& model, const SchedulerParams& params);

struct SchedulerStats {
    size_t active = 0;
    size_t queued = 0;
    uint64_t steps = 0;
    uint64_t prompt_tokens_evaluated = 0;
    uint64_t prompt_tokens_reused = 0;
    uint64_t tokens_generated = 0;
    uint64_t draft_tokens_proposed = 0;  // speculative decoding: tokens guessed
    uint64_t draft_tokens_accepted = 0;  // ... and kept (each saved a forward pass)
    uint64_t context_shifts = 0;         // times a full sequence dropped old tokens
    uint64_t prompt_tokens_loaded = 0;   // of prompt_tokens_reused: read from the disk cache
    // The KV pool in blocks: all of it, those running sequences hold, and those only idle
    // slots' cached prefixes hold (kept for reuse, evicted when blocks run out).
    int64_t kv_blocks_total = 0;
    int64_t kv_blocks_used = 0;
    int64_t kv_blocks_cached = 0;
};

class Scheduler {
  public:
    Scheduler(std::shared_ptr<const model::Model> model, const tokenizer::Tokenizer& tokenizer,
              const SchedulerParams& params);
    ~Scheduler();  // finishes every pending sequence as cancelled
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    // Queues all requests or none: returns an empty vector when the queue has no room for them.
    std::vector<std::shared_ptr<Ticket>> submit(std::vector<SequenceRequest> requests);

    // As fitted: kv_tokens is the pool's size in whole blocks, ctx_per_seq at most that.
    const SchedulerParams& params() const { return params_; }
    // The disk cache, when params().prompt_cache.dir is set (tests flush it).
    PromptCache* prompt_cache() { return prompt_cache_.get(); }
    int threads() const { return ctx_.threads(); }  // compute threads
    SchedulerStats stats() const;
    size_t kv_cache_bytes() const { return kv_cache_bytes_; }  // reserved; RAM follows use
    // The draft model's own KV cache (0 without one).
    size_t draft_kv_cache_bytes() const { return draft_ ? draft_->kv_cache_bytes() : 0; }

  private:
    struct Sequence;
    struct Slot {
        bool busy = false;
        std::vector<int32_t> cached;  // tokens whose keys/values the slot holds
        uint64_t last_used = 0;
        // After a context shift the keys and values after the first `exact` cached tokens were
        // computed with a longer history than `cached` holds: only that prefix may be reused.
        size_t exact = SIZE_MAX;
    };

    void run();
    bool wait_for_work();
    void admit_waiting();
    // The waiting sequence to admit next: the head of the group admitted least recently (a
    // group never admitted first; ties by arrival). Needs mutex_.
    std::deque<std::unique_ptr<Sequence>>::iterator next_in_fair_order();
    // Drops the turns of groups with nothing waiting (a group that comes back is new again).
    void forget_idle_groups();
    void start_sequence(std::unique_ptr<Sequence> seq, int32_t slot);
    bool worth_waiting_for_prefill(const std::vector<int32_t>& prompt, int64_t reuse);
    int32_t pick_slot(const std::vector<int32_t>& prompt, int32_t& source, int64_t& reuse) const;
    bool reserve(int32_t slot, int64_t length);
    // Before a generating sequence's next token: true when its context has room for it, after a
    // context shift when it was full and shifting is on.
    bool make_room(Sequence& seq);
    // KV blocks a sequence may come to hold: its prompt and its room to generate.
    int64_t blocks_needed(const SequenceRequest& req) const;
    void step();
    // Samples the token after the sequence's last one; false when the sequence ended.
    bool on_logits(Sequence& seq, const float* logits);
    // Sets the drafted tokens each generating sequence evaluates after its next token (none
    // when off or no guess): prompt lookup first, then the draft model for the rest, batched.
    void draft_all(const std::vector<Sequence*>& generating);
    // Tokens the sequence may draft this step: what it may still generate and the context holds.
    int max_draft(const Sequence& seq) const;
    // Samples through the sequence's `rows` logit rows (its next token, then its drafts),
    // keeping drafts while the sampler agrees with them; returns the tokens sampled.
    size_t verify(Sequence& seq, const float* logits, size_t rows);
    // Reports the final event and frees the slot. flush_held: release text held back by the
    // decoder and the stop matcher (not when a stop string ended the sequence).
    void finish(Sequence& seq, FinishReason reason, std::string text = {}, bool flush_held = false,
                const std::string& error = {});
    void drop_finished();
    // Prompt cache on disk: loads what it holds of `prompt` beyond the `reuse` tokens the slot
    // holds, returning how many the slot now holds; saves a prompt once it is evaluated.
    int64_t load_from_disk(int32_t slot, const std::vector<int32_t>& prompt, int64_t reuse,
                           const PromptCache::Match& match);
    void save_to_disk(const Sequence& seq);
    // The tokenizer's token bytes for grammar masks, built on first use (any thread).
    std::shared_ptr<const TokenTable> token_table();
    // Counts the KV blocks in stats_ (kv_blocks_used, kv_blocks_cached); worker thread.
    void update_kv_stats();

    SchedulerParams params_;
    PrefillPacer pacer_;
    const tokenizer::Tokenizer& tokenizer_;
    Context ctx_;
    int32_t n_vocab_;
    size_t kv_cache_bytes_;
    bool shifts_;  // context shift asked for and possible with this model

    mutable std::mutex mutex_;  // guards waiting_, stop_ and the stats
    std::condition_variable wake_;
    std::deque<std::unique_ptr<Sequence>> waiting_;
    // Fair share: when each group with waiting sequences last had one admitted (a count of
    // admissions); groups with nothing waiting are forgotten, so it holds at most max_queue.
    std::unordered_map<std::string, uint64_t> group_admitted_;
    uint64_t admissions_ = 0;
    bool stop_ = false;
    SchedulerStats stats_;
    uint64_t accepted_drafts_ = 0;  // this step's, until counted in stats_
    std::once_flag token_table_once_;
    std::shared_ptr<const TokenTable> token_table_;

    // Owned by the worker thread.
    std::vector<Slot> slots_;
    std::vector<std::unique_ptr<Sequence>> active_;
    model::Batch batch_;
    uint64_t clock_ = 0;
    std::unique_ptr<PromptCache> prompt_cache_;
    int64_t committed_blocks_ = 0;  // blocks_needed of the running sequences, summed
    std::unique_ptr<DraftModel> draft_;  // when params_.draft_model is set
    // When this step's logits came: the time of the tokens sampled from them (metrics).
    std::chrono::steady_clock::time_point sampled_at_{};

    std::thread worker_;
};

}  // namespace hearth::runtime
