#include "tokenizer/bpe.h"

#include <atomic>
#include <queue>
#include <unordered_map>

#include "tokenizer/byte_level.h"

namespace hearth::tokenizer {

namespace {

constexpr size_t kMaxCachedWords = 1 << 15;

std::atomic<uint64_t> next_serial{1};

struct Symbol {
    int32_t id;  // kNoToken once merged into its left neighbour
    int prev, next;
};

struct Candidate {
    int32_t rank;
    int left;  // symbol index; leftmost wins among equal ranks
    int32_t left_id, right_id;
    bool operator>(const Candidate& o) const {
        return rank > o.rank || (rank == o.rank && left > o.left);
    }
};

}  // namespace

BpeTokenizer::BpeTokenizer(Vocab vocab)
    : Tokenizer(std::move(vocab)),
      spec_(pre_tokenizer_spec(vocab_.pre)),
      splitter_(std::make_unique<RegexSplitter>(spec_.patterns)),
      serial_(next_serial++) {
    for (int b = 0; b < 256; ++b) byte_token_[b] = vocab_.find(byte_level::encode_byte(b));
    load_merges();
    decoded_.resize(vocab_.size());
    for (int32_t id = 0; id < vocab_.size(); ++id) {
        switch (vocab_.types[id]) {
            case TokenType::Normal:
            case TokenType::Byte:
            case TokenType::Undefined:
            case TokenType::Unused:
                decoded_[id] = byte_level::decode(vocab_.tokens[id]);
                break;
            // Added words are stored as plain text, not in the byte alphabet.
            case TokenType::UserDefined:
                decoded_[id] = vocab_.tokens[id];
                break;
            case TokenType::Control:
            case TokenType::Unknown:
                break;
        }
    }
}

namespace {

uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
}

}  // namespace

void BpeTokenizer::MergeTable::reserve(size_t merges) {
    size_t capacity = 16;
    shift_ = 60;
    while (capacity < merges * 2) {  // at most half full keeps probe runs short
        capacity *= 2;
        --shift_;
    }
    slots_.assign(capacity, Slot{});
}

void BpeTokenizer::MergeTable::insert(int32_t left, int32_t right, Merge merge) {
    const uint64_t key = pair_key(left, right);
    for (size_t i = slot_of(key);; i = (i + 1) & (slots_.size() - 1)) {
        if (slots_[i].key == key) return;
        if (slots_[i].key == kEmpty) {
            slots_[i] = {key, merge};
            return;
        }
    }
}

const BpeTokenizer::Merge* BpeTokenizer::MergeTable::find(int32_t left, int32_t right) const {
    if (left < 0 || right < 0 || slots_.empty()) return nullptr;
    const uint64_t key = pair_key(left, right);
    for (size_t i = slot_of(key);; i = (i + 1) & (slots_.size() - 1)) {
        if (slots_[i].key == key) return &slots_[i].merge;
        if (slots_[i].key == kEmpty) return nullptr;
    }
}

void BpeTokenizer::load_merges() {
    merges_.reserve(vocab_.merges.size());
    for (size_t rank = 0; rank < vocab_.merges.size(); ++rank) {
        const std::string& merge = vocab_.merges[rank];
        size_t space = merge.find(' ', 1);
        if (space == std::string::npos) continue;
        int32_t left = vocab_.find(merge.substr(0, space));
        int32_t right = vocab_.find(merge.substr(space + 1));
        int32_t result = vocab_.find(merge.substr(0, space) + merge.substr(space + 1));
        if (left == kNoToken || right == kNoToken || result == kNoToken) continue;
        // A pair listed twice keeps its first (best) rank.
        merges_.insert(left, right, Merge{static_cast<int32_t>(rank), result});
    }
}

void BpeTokenizer::encode_text(std::string_view text, bool, std::vector<int32_t>& out) const {
    // Words repeat a lot in any text, so each thread keeps the ids of the words it merged last.
    // Keyed by this tokenizer's serial number (never reused, unlike its address) so a cache can
    // never serve ids from another vocabulary.
    struct WordCache {
        uint64_t owner = 0;
        std::unordered_map<std::string, std::vector<int32_t>, Vocab::TextHash, std::equal_to<>>
            words;
    };
    thread_local WordCache cache;
    if (cache.owner != serial_ || cache.words.size() >= kMaxCachedWords) {
        cache.words.clear();
        cache.owner = serial_;
    }
    for (std::string_view word : splitter_->split(text)) {
        if (auto it = cache.words.find(word); it != cache.words.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            continue;
        }
        size_t begin = out.size();
        encode_word(word, out);
        cache.words.emplace(word, std::vector<int32_t>(out.begin() + begin, out.end()));
    }
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
    if (spec_.ignore_merges) {
        std::string spelled;
        byte_level::encode(word, spelled);
        int32_t whole = vocab_.find(spelled);
        if (whole != kNoToken) {
            out.push_back(whole);
            return;
        }
    }
    std::vector<Symbol> symbols(word.size());
    for (size_t i = 0; i < word.size(); ++i) {
        symbols[i] = {byte_token_[static_cast<unsigned char>(word[i])], static_cast<int>(i) - 1,
                      static_cast<int>(i) + 1};
    }
    symbols.back().next = -1;

    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
    auto consider = [&](int left) {
        if (left < 0 || symbols[left].next < 0) return;
        const Symbol& a = symbols[left];
        const Symbol& b = symbols[a.next];
        if (const Merge* m = merges_.find(a.id, b.id)) queue.push({m->rank, left, a.id, b.id});
    };
    for (int i = 0; i + 1 < static_cast<int>(symbols.size()); ++i) consider(i);

    while (!queue.empty()) {
        Candidate c = queue.top();
        queue.pop();
        Symbol& left = symbols[c.left];
        // Stale: one side has changed since this pair was queued.
        if (left.id != c.left_id || left.next < 0 || symbols[left.next].id != c.right_id) continue;
        Symbol& right = symbols[left.next];
        left.id = merges_.find(c.left_id, c.right_id)->result;
        right.id = kNoToken;
        left.next = right.next;
        if (left.next >= 0) symbols[left.next].prev = c.left;
        consider(left.prev);
        consider(c.left);
    }

    for (int i = 0; i >= 0; i = symbols[i].next) {
        if (symbols[i].id != kNoToken) {
            out.push_back(symbols[i].id);
        } else if (vocab_.unk != kNoToken) {
            out.push_back(vocab_.unk);  // a byte the vocabulary cannot spell
        }
    }
}

std::string BpeTokenizer::token_to_piece(int32_t id, bool special) const {
    if (id < 0 || id >= vocab_.size()) return "";
    TokenType type = vocab_.types[id];
    if (type == TokenType::Control || type == TokenType::Unknown) {
        return special || vocab_.is_shown_control(id) ? vocab_.tokens[id] : "";
    }
    return decoded_[id];
}

}  // namespace hearth::tokenizer
