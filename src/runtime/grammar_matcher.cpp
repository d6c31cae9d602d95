#include "runtime/grammar_matcher.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "tokenizer/tokenizer.h"

namespace hearth::runtime {

TokenTable::TokenTable(std::vector<std::string> token_bytes, std::vector<int32_t> end_ids)
    : bytes_(std::move(token_bytes)), end_ids_(std::move(end_ids)) {
    static std::atomic<uint64_t> next_id{1};
    id_ = next_id.fetch_add(1);
    for (int32_t id = 0; id < n_vocab(); ++id) {
        const size_t n = bytes_[id].size();
        if (n > 0 && n <= 0xFFFF) sorted_.push_back(id);
    }
    std::sort(sorted_.begin(), sorted_.end(), [&](int32_t a, int32_t b) {
        int c = bytes_[a].compare(bytes_[b]);
        return c < 0 || (c == 0 && a < b);
    });
    std::vector<uint32_t> path;  // node index at each depth - 1
    std::string_view prev;
    for (uint32_t k = 0; k < sorted_.size(); ++k) {
        std::string_view s = bytes_[sorted_[k]];
        size_t lcp = 0;
        while (lcp < prev.size() && lcp < s.size() && lcp < path.size() && prev[lcp] == s[lcp])
            ++lcp;
        while (path.size() > lcp) {
            nodes_[path.back()].subtree_end = static_cast<uint32_t>(nodes_.size());
            path.pop_back();
        }
        for (size_t d = lcp; d < s.size(); ++d) {
            path.push_back(static_cast<uint32_t>(nodes_.size()));
            nodes_.push_back({0, k, k, static_cast<uint16_t>(d + 1), static_cast<uint8_t>(s[d])});
        }
        Node& last = nodes_[path.back()];
        if (last.tok_end != k) last.tok_begin = k;  // first token with these bytes
        last.tok_end = k + 1;
        max_depth_ = std::max(max_depth_, s.size());
        prev = s;
    }
    while (!path.empty()) {
        nodes_[path.back()].subtree_end = static_cast<uint32_t>(nodes_.size());
        path.pop_back();
    }
}

std::shared_ptr<const TokenTable> TokenTable::from_tokenizer(const tokenizer::Tokenizer& tok) {
    const tokenizer::Vocab& v = tok.vocab();
    std::vector<std::string> bytes(static_cast<size_t>(v.size()));
    for (int32_t id = 0; id < v.size(); ++id) {
        auto type = v.types.empty() ? tokenizer::TokenType::Normal : v.types[id];
        // Control tokens have no bytes to match, except those the output shows (harmony's
        // markers, which a grammar for a harmony reply spells out).
        if ((type == tokenizer::TokenType::Control && !v.is_shown_control(id)) ||
            type == tokenizer::TokenType::Unknown)
            continue;
        bytes[id] = tok.token_to_piece(id, false);
    }
    std::vector<int32_t> ends = v.end_of_generation_ids;
    for (int32_t e : ends)
        if (e >= 0 && e < v.size()) bytes[e].clear();
    return std::make_shared<TokenTable>(std::move(bytes), std::move(ends));
}

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar)
    : grammar_(std::move(grammar)) {
    nodes_.push_back({0xFFFFFFFFu, 0});  // node 0: the empty stack
    states_.emplace_back();              // state 0: dead
    std::vector<uint32_t> init;
    for (uint32_t alt : grammar_->rules()[grammar_->root()].alternatives) expand(alt, 0, init);
    initial_ = state_ = intern(init, 0);
}

uint32_t GrammarMatcher::node(uint32_t pos, uint32_t parent) {
    const uint64_t key = (static_cast<uint64_t>(pos) << 32) | parent;
    auto [it, added] = node_ids_.try_emplace(key, static_cast<uint32_t>(nodes_.size()));
    if (added) nodes_.push_back({pos, parent});
    return it->second;
}

bool GrammarMatcher::mark_seen(uint64_t key) {
    if (seen_in_set_) return seen_set_.insert(key).second;
    if (std::find(seen_.begin(), seen_.end(), key) != seen_.end()) return false;
    seen_.push_back(key);
    if (seen_.size() > 64) {
        seen_set_.clear();
        seen_set_.insert(seen_.begin(), seen_.end());
        seen_in_set_ = true;
    }
    return true;
}

void GrammarMatcher::clear_seen() {
    seen_.clear();
    seen_in_set_ = false;
}

// Adds to `out` every stack whose top is a character element, reachable from continuing at
// element `pos` above the stack `parent` without consuming input.
void GrammarMatcher::expand(uint32_t pos, uint32_t parent, std::vector<uint32_t>& out) {
    const auto& elems = grammar_->elements();
    const auto& rules = grammar_->rules();
    work_.clear();
    work_.push_back({pos, parent});
    while (!work_.empty()) {
        auto [p, par] = work_.back();
        work_.pop_back();
        if (!mark_seen((static_cast<uint64_t>(p) << 32) | par)) continue;
        // Highly ambiguous grammars: stop exploring well past the cap on stacks.
        if (out.size() > 4 * kMaxStacks) break;
        const Grammar::Element& e = elems[p];
        switch (e.op) {
            case Grammar::Op::Char:
                out.push_back(node(p, par));
                break;
            case Grammar::Op::End:
                if (par == 0) {
                    out.push_back(0);
                } else {
                    const StackNode below = nodes_[par];
                    work_.push_back({below.pos, below.parent});
                }
                break;
            case Grammar::Op::Rule: {
                // A reference in tail position returns straight to the parent.
                const uint32_t cont = elems[p + 1].op == Grammar::Op::End ? par : node(p + 1, par);
                for (uint32_t alt : rules[e.arg].alternatives) work_.push_back({alt, cont});
                break;
            }
        }
    }
}

uint32_t GrammarMatcher::intern(std::vector<uint32_t>& stacks, uint32_t partial) {
    std::sort(stacks.begin(), stacks.end());
    stacks.erase(std::unique(stacks.begin(), stacks.end()), stacks.end());
    if (stacks.size() > kMaxStacks) stacks.resize(kMaxStacks);
    if (stacks.empty()) return kDead;
    std::string key(stacks.size() * 4 + 4, '\0');
    std::memcpy(key.data(), stacks.data(), stacks.size() * 4);
    std::memcpy(key.data() + stacks.size() * 4, &partial, 4);
    auto [it, added] = state_ids_.try_emplace(std::move(key), static_cast<uint32_t>(states_.size()));
    if (added) {
        State s;
        s.stacks = stacks;
        s.partial = partial;
        s.can_end = partial == 0 && stacks.front() == 0;
        states_.push_back(std::move(s));
    }
    return it->second;
}

uint32_t GrammarMatcher::compute_step(uint32_t sid, uint8_t byte) {
    const uint32_t partial = states_[sid].partial;
    uint32_t need = (partial >> 24) & 0xF, len = partial >> 28, cp = partial & 0xFFFFFF;
    if (need == 0) {
        if (byte < 0x80) {
            cp = byte, len = 1;
        } else if (byte >= 0xC2 && byte <= 0xDF) {
            cp = byte & 0x1F, len = 2, need = 1;
        } else if (byte >= 0xE0 && byte <= 0xEF) {
            cp = byte & 0x0F, len = 3, need = 2;
        } else if (byte >= 0xF0 && byte <= 0xF4) {
            cp = byte & 0x07, len = 4, need = 3;
        } else {
            return kDead;
        }
    } else {
        if ((byte & 0xC0) != 0x80) return kDead;
        cp = (cp << 6) | (byte & 0x3F);
        --need;
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    const auto& elems = grammar_->elements();
    const auto& classes = grammar_->classes();
    const std::vector<uint32_t> stacks = states_[sid].stacks;
    if (need > 0) {
        // Some code point starting with these bits must be possible.
        uint32_t lo = cp << (6 * need), hi = lo | ((1u << (6 * need)) - 1);
        lo = std::max(lo, kMin[len]);
        hi = std::min<uint32_t>(hi, 0x10FFFF);
        if (lo > hi || (lo >= 0xD800 && hi <= 0xDFFF)) return kDead;
        bool any = false;
        for (uint32_t id : stacks) {
            if (id == 0) continue;
            if (classes[elems[nodes_[id].pos].arg].matches_any(lo, hi)) {
                any = true;
                break;
            }
        }
        if (!any) return kDead;
        std::vector<uint32_t> same;
        for (uint32_t id : stacks)
            if (id != 0) same.push_back(id);
        return intern(same, cp | (need << 24) | (len << 28));
    }
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return kDead;
    scratch_.clear();
    clear_seen();
    for (uint32_t id : stacks) {
        if (id == 0) continue;
        const StackNode n = nodes_[id];
        if (classes[elems[n.pos].arg].matches(cp)) expand(n.pos + 1, n.parent, scratch_);
    }
    std::vector<uint32_t> out = std::move(scratch_);
    scratch_ = {};
    uint32_t r = intern(out, 0);
    scratch_ = std::move(out);
    return r;
}

inline uint32_t GrammarMatcher::step(uint32_t sid, uint8_t byte) {
    if (sid == kDead) return kDead;
    State& s = states_[sid];
    if (s.next) {
        int32_t n = (*s.next)[byte];
        if (n >= 0) return static_cast<uint32_t>(n);
    } else {
        s.next = std::make_unique<std::array<int32_t, 256>>();
        s.next->fill(-1);
    }
    const uint32_t r = compute_step(sid, byte);
    (*states_[sid].next)[byte] = static_cast<int32_t>(r);
    return r;
}

void GrammarMatcher::trim_caches() {
    size_t mask_bytes = 0;
    for (const auto& m : masks_) mask_bytes += m->size() * 8;
    const bool many_states = states_.size() > max_states_ / 2;
    if (!many_states && mask_bytes < (size_t{256} << 20)) return;
    masks_.clear();
    for (State& s : states_) {
        s.mask = -1;
        if (many_states) s.next.reset();
    }
}

void GrammarMatcher::compact() {
    // Each current stack as its positions from the bottom up, then everything rebuilt.
    std::vector<std::vector<uint32_t>> chains;
    for (uint32_t id : states_[state_].stacks) {
        std::vector<uint32_t> chain;
        for (uint32_t n = id; n != 0; n = nodes_[n].parent) chain.push_back(nodes_[n].pos);
        std::reverse(chain.begin(), chain.end());
        chains.push_back(std::move(chain));
    }
    const uint32_t partial = states_[state_].partial;
    nodes_.clear();
    node_ids_.clear();
    states_.clear();
    state_ids_.clear();
    masks_.clear();
    nodes_.push_back({0xFFFFFFFFu, 0});
    states_.emplace_back();
    std::vector<uint32_t> init;
    clear_seen();
    for (uint32_t alt : grammar_->rules()[grammar_->root()].alternatives) expand(alt, 0, init);
    initial_ = intern(init, 0);
    std::vector<uint32_t> current;
    for (const auto& chain : chains) {
        uint32_t n = 0;
        for (uint32_t pos : chain) n = node(pos, n);
        current.push_back(n);
    }
    state_ = intern(current, partial);
}

bool GrammarMatcher::accept_bytes(std::string_view bytes) {
    if (states_.size() > max_states_ || nodes_.size() > 20 * max_states_) compact();
    uint32_t s = state_;
    for (char c : bytes) {
        s = step(s, static_cast<uint8_t>(c));
        if (s == kDead) return false;
    }
    state_ = s;
    return true;
}

bool GrammarMatcher::can_end() const {
    return states_[state_].can_end;
}

bool GrammarMatcher::finished() const {
    const State& s = states_[state_];
    return s.can_end && s.stacks.size() == 1;
}

void GrammarMatcher::reset() {
    state_ = initial_;
}

size_t GrammarMatcher::n_stacks() const {
    return states_[state_].stacks.size();
}

const std::vector<uint64_t>& GrammarMatcher::allowed_tokens(const TokenTable& table) {
    if (&table != mask_table_) {
        masks_.clear();
        for (State& s : states_) s.mask = -1;
        mask_table_ = &table;
    }
    if (states_[state_].mask >= 0) return *masks_[states_[state_].mask];
    trim_caches();
    const std::string key = shared_key(table);
    if (auto shared = grammar_->find_mask(key)) {
        masks_.push_back(std::move(shared));
        states_[state_].mask = static_cast<int32_t>(masks_.size() - 1);
        return *masks_.back();
    }
    ++masks_computed_;
    std::vector<uint64_t> mask((static_cast<size_t>(table.n_vocab()) + 63) / 64, 0);
    const auto& nodes = table.nodes();
    const auto& sorted = table.sorted_ids();
    walk_.assign(table.max_depth() + 1, kDead);
    walk_[0] = state_;
    for (size_t i = 0; i < nodes.size();) {
        const TokenTable::Node& nd = nodes[i];
        const uint32_t next = step(walk_[nd.depth - 1], nd.byte);
        if (next == kDead) {
            i = nd.subtree_end;
            continue;
        }
        walk_[nd.depth] = next;
        for (uint32_t k = nd.tok_begin; k < nd.tok_end; ++k) {
            const auto id = static_cast<uint32_t>(sorted[k]);
            mask[id >> 6] |= uint64_t{1} << (id & 63);
        }
        ++i;
    }
    if (states_[state_].can_end)
        for (int32_t e : table.end_ids())
            if (e >= 0 && e < table.n_vocab())
                mask[static_cast<uint32_t>(e) >> 6] |= uint64_t{1} << (e & 63);
    auto shared = std::make_shared<const std::vector<uint64_t>>(std::move(mask));
    grammar_->store_mask(key, shared);
    masks_.push_back(std::move(shared));
    states_[state_].mask = static_cast<int32_t>(masks_.size() - 1);
    return *masks_.back();
}

// The current state independent of this matcher's ids: each stack's positions from the top
// down, stacks sorted, plus the partial character and the table.
std::string GrammarMatcher::shared_key(const TokenTable& table) const {
    const State& st = states_[state_];
    std::vector<std::vector<uint32_t>> chains;
    chains.reserve(st.stacks.size());
    for (uint32_t id : st.stacks) {
        std::vector<uint32_t> chain;
        for (uint32_t n = id; n != 0; n = nodes_[n].parent) chain.push_back(nodes_[n].pos);
        chains.push_back(std::move(chain));
    }
    std::sort(chains.begin(), chains.end());
    std::string key;
    auto put = [&](const void* p, size_t n) { key.append(static_cast<const char*>(p), n); };
    const uint64_t table_id = table.id();
    put(&table_id, 8);
    put(&st.partial, 4);
    for (const auto& chain : chains) {
        const auto n = static_cast<uint32_t>(chain.size());
        put(&n, 4);
        put(chain.data(), chain.size() * 4);
    }
    return key;
}

}  // namespace hearth::runtime
