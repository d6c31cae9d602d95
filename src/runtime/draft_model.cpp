#include "runtime/draft_model.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "runtime/context.h"

namespace hearth::runtime {

namespace {

// Prompt tokens one catch-up pass evaluates at most: bounds the forward scratch a long prompt
// needs, as the scheduler's prefill chunks do.
constexpr size_t kMaxPassTokens = 512;
// Catch-up tokens one draft() call evaluates for long histories, and what counts as long.
constexpr size_t kMaxCatchUp = 512;
constexpr size_t kShortCatchUp = 16;
constexpr int64_t kBlock = ContextParams{}.kv_block_size;

int32_t greedy_token(const float* logits, int32_t n_vocab) {
    return static_cast<int32_t>(std::max_element(logits, logits + n_vocab) - logits);
}

std::string quoted(const std::string& token) {
    std::string out = "'";
    for (char c : token) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[u >> 4];
            out += kHex[u & 15];
        } else {
            out += c;
        }
    }
    return out + "'";
}

}  // namespace

void check_same_vocabulary(const tokenizer::Vocab& target, const tokenizer::Vocab& draft) {
    if (target.size() != draft.size()) {
        throw Error("the draft model's vocabulary has " + std::to_string(draft.size()) +
                    " tokens, the model's " + std::to_string(target.size()) +
                    ": a draft model must share the model's vocabulary");
    }
    for (int32_t id = 0; id < target.size(); ++id) {
        if (target.tokens[id] == draft.tokens[id]) continue;
        throw Error("the draft model's vocabulary differs from the model's at token " +
                    std::to_string(id) + " (" + quoted(draft.tokens[id]) + " instead of " +
                    quoted(target.tokens[id]) + "): a draft model must share the model's "
                    "vocabulary");
    }
}

DraftModel::DraftModel(std::shared_ptr<const model::Model> model,
                       const tokenizer::Vocab& target_vocab, int64_t slots, int64_t ctx_per_slot,
                       gguf::TensorType kv_type)
    : model_(std::move(model)),
      ctx_per_slot_(ctx_per_slot),
      n_vocab_(static_cast<int32_t>(model_->hparams().n_vocab)),
      cache_(model_->hparams().n_layer, model_->hparams().kv_dim(),
             slots * ((ctx_per_slot + kBlock - 1) / kBlock), kBlock, slots, kv_type),
      cached_(static_cast<size_t>(slots)) {
    check_same_vocabulary(target_vocab, tokenizer::Vocab::from_gguf(model_->file()));
    if (n_vocab_ != target_vocab.size()) {
        throw Error("the draft model has " + std::to_string(n_vocab_) + " output rows for a " +
                    std::to_string(target_vocab.size()) + "-token vocabulary");
    }
    // One trial pass, so a model that cannot generate (an encoder) is refused now rather than
    // failing every step.
    batch_.add(0, 0, 0, true);
    if (!cache_.reserve(0, 1)) throw Error("the draft model's KV cache has no room");
    kernels::ThreadPool caller_only(1);
    model_->forward(batch_, cache_, caller_only, scratch_, logits_);
    cache_.clear(0);
}

void DraftModel::clear() {
    for (size_t s = 0; s < cached_.size(); ++s) {
        cache_.clear(static_cast<int32_t>(s));
        cached_[s].clear();
    }
}

std::vector<std::vector<int32_t>> DraftModel::draft(const std::vector<Request>& requests,
                                                    kernels::ThreadPool& pool) {
    // Per request: the tokens still to evaluate (history the slot lacks, then each drafted
    // token but the last), and what it drafted.
    struct Work {
        std::vector<int32_t> todo;
        size_t next = 0;
        bool drafts = false;  // false: catching up on a long history, no draft this call
    };
    std::vector<Work> work(requests.size());
    std::vector<std::vector<int32_t>> drafts(requests.size());
    std::vector<size_t> keeps(requests.size(), SIZE_MAX);
    for (size_t r = 0; r < requests.size(); ++r) {
        const Request& req = requests[r];
        const std::vector<int32_t>& history = *req.history;
        auto& cached = cached_[static_cast<size_t>(req.slot)];
        // The slot ends holding the history and every drafted token but the last.
        const int64_t length = static_cast<int64_t>(history.size()) + req.max_tokens - 1;
        if (req.max_tokens <= 0 || history.empty() || length > ctx_per_slot_) continue;
        // Keep what the slot already holds of this history, less at least its last token:
        // that token's logits give the first draft.
        size_t keep = std::mismatch(cached.begin(), cached.end(), history.begin(), history.end())
                          .first -
                      cached.begin();
        keep = std::min(keep, history.size() - 1);
        cache_.truncate(req.slot, static_cast<int64_t>(keep));
        cached.resize(keep);
        if (!cache_.reserve(req.slot, length)) continue;  // sized for every slot: not expected
        keeps[r] = keep;
    }
    // A long history (a new prompt) is caught up on at most kMaxCatchUp tokens a call, after
    // the short ones (the tokens kept since the last step), so one new long prompt does not
    // stall every sequence's step; it drafts once it has caught up.
    size_t budget = kMaxCatchUp;
    for (int long_ones = 0; long_ones < 2; ++long_ones) {
        for (size_t r = 0; r < requests.size(); ++r) {
            if (keeps[r] == SIZE_MAX) continue;
            const std::vector<int32_t>& history = *requests[r].history;
            const size_t missing = history.size() - keeps[r];
            if ((missing > kShortCatchUp) != (long_ones == 1)) continue;
            const size_t take = long_ones ? std::min(missing, budget) : missing;
            if (long_ones) budget -= take;
            const auto from = history.begin() + static_cast<std::ptrdiff_t>(keeps[r]);
            work[r].todo.assign(from, from + static_cast<std::ptrdiff_t>(take));
            work[r].drafts = take == missing;
        }
    }

    std::vector<size_t> logit_owners;  // the request of each logits row, in batch order
    for (;;) {
        batch_.clear();
        logit_owners.clear();
        for (size_t r = 0; r < requests.size(); ++r) {
            Work& w = work[r];
            const int32_t slot = requests[r].slot;
            auto& cached = cached_[static_cast<size_t>(slot)];
            while (w.next < w.todo.size() && batch_.size() < kMaxPassTokens) {
                const bool last = w.drafts && w.next + 1 == w.todo.size();
                batch_.add(w.todo[w.next], slot, static_cast<int32_t>(cached.size()), last);
                cached.push_back(w.todo[w.next]);
                ++w.next;
                if (last) logit_owners.push_back(r);
            }
        }
        if (batch_.size() == 0) break;
        model_->forward(batch_, cache_, pool, scratch_, logits_);
        for (size_t row = 0; row < logit_owners.size(); ++row) {
            const size_t r = logit_owners[row];
            const int32_t token =
                greedy_token(logits_.data() + row * static_cast<size_t>(n_vocab_), n_vocab_);
            drafts[r].push_back(token);
            // The next draft needs this one's logits; the last one is never evaluated here.
            if (static_cast<int>(drafts[r].size()) < requests[r].max_tokens)
                work[r].todo.push_back(token);
        }
    }
    return drafts;
}

}  // namespace hearth::runtime
