#pragma once
// Running a Grammar over generated text, and which tokens may come next.
//
// GrammarMatcher is a pushdown recognizer over UTF-8 code points: its state is a set of stacks
// of positions in the grammar's rules (one stack per way the text so far can be parsed). Stacks
// are hash-consed (a stack is a node: the position on top and the stack below it), so a set of
// stacks is a short sorted list of ids; sets are interned as states, and a state remembers its
// successor for each byte. A token mask is one walk over TokenTable's trie of token bytes
// (subtrees whose prefix the grammar rejects are skipped), cached per state.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "runtime/grammar.h"

namespace hearth::tokenizer {
class Tokenizer;
}

namespace hearth::runtime {

// The bytes of every token of a vocabulary, as a trie in preorder, built once per tokenizer.
// Tokens with no bytes (control tokens, save the ones the output shows) and unknown tokens are
// never allowed by a grammar; `end_ids` (end of generation) are allowed when it is complete.
class TokenTable {
  public:
    TokenTable(std::vector<std::string> token_bytes, std::vector<int32_t> end_ids);
    static std::shared_ptr<const TokenTable> from_tokenizer(const tokenizer::Tokenizer& tok);

    int32_t n_vocab() const { return static_cast<int32_t>(bytes_.size()); }
    uint64_t id() const { return id_; }  // unique per table in the process (mask cache keys)
    const std::string& bytes(int32_t id) const { return bytes_[id]; }
    const std::vector<int32_t>& end_ids() const { return end_ids_; }

    struct Node {
        uint32_t subtree_end;  // index of the first node after this node's subtree
        uint32_t tok_begin;    // tokens ending here: sorted_[tok_begin, tok_end)
        uint32_t tok_end;
        uint16_t depth;  // 1 for a first byte
        uint8_t byte;
    };
    const std::vector<Node>& nodes() const { return nodes_; }
    const std::vector<int32_t>& sorted_ids() const { return sorted_; }
    size_t max_depth() const { return max_depth_; }

  private:
    std::vector<std::string> bytes_;
    std::vector<int32_t> end_ids_;
    std::vector<Node> nodes_;
    std::vector<int32_t> sorted_;  // ids in byte order
    size_t max_depth_ = 0;
    uint64_t id_;
};

class GrammarMatcher {
  public:
    explicit GrammarMatcher(std::shared_ptr<const Grammar> grammar);

    // Advances over the bytes (a token's text; a UTF-8 character may continue in the next
    // call). Returns false, leaving the state unchanged, when the grammar rejects them.
    bool accept_bytes(std::string_view bytes);
    // The text so far is a complete sentence of the grammar (end of generation allowed).
    bool can_end() const;
    // Complete, and no further character is possible.
    bool finished() const;
    // No continuation at all (only after a failed reset; accept_bytes never enters it).
    bool dead() const { return state_ == kDead; }
    void reset();

    // Bit i of the mask (64 per word) is set when token i may come next: its bytes continue
    // the text, or it ends generation and can_end(). The reference stays valid until the next
    // call of a non-const method.
    const std::vector<uint64_t>& allowed_tokens(const TokenTable& table);

    size_t n_stacks() const;
    size_t n_states() const { return states_.size(); }
    // Masks computed by this matcher (not found in its own or the grammar's shared cache).
    size_t masks_computed() const { return masks_computed_; }

    // Cap on the number of parses kept at once (ambiguous grammars); beyond it the extra
    // stacks are dropped, which can only narrow what the grammar allows.
    static constexpr size_t kMaxStacks = 1024;
    // Interned states kept before every cache is rebuilt from the current state (memory
    // bound for long generations; tests lower it).
    void set_max_states(size_t n) { max_states_ = n; }

  private:
    static constexpr uint32_t kDead = 0;
    struct StackNode {
        uint32_t pos;     // element index (top: a Char; below: where to continue)
        uint32_t parent;  // 0: the empty stack
    };
    struct State {
        std::vector<uint32_t> stacks;  // sorted node ids; 0 = the completed parse
        uint32_t partial = 0;          // UTF-8 in progress: bits, need << 24, len << 28
        bool can_end = false;
        std::unique_ptr<std::array<int32_t, 256>> next;  // -1: not computed yet
        int32_t mask = -1;
    };

    uint32_t node(uint32_t pos, uint32_t parent);
    void expand(uint32_t pos, uint32_t parent, std::vector<uint32_t>& out);
    uint32_t intern(std::vector<uint32_t>& stacks, uint32_t partial);
    uint32_t step(uint32_t state, uint8_t byte);
    uint32_t compute_step(uint32_t state, uint8_t byte);
    void trim_caches();
    void compact();  // forgets every state but the current one (memory bound)

    std::shared_ptr<const Grammar> grammar_;
    std::vector<StackNode> nodes_;
    std::unordered_map<uint64_t, uint32_t> node_ids_;
    std::vector<State> states_;
    std::unordered_map<std::string, uint32_t> state_ids_;
    uint32_t initial_ = 0;
    uint32_t state_ = 0;

    const TokenTable* mask_table_ = nullptr;
    std::string shared_key(const TokenTable& table) const;
    std::vector<std::shared_ptr<const std::vector<uint64_t>>> masks_;
    size_t masks_computed_ = 0;
    size_t max_states_ = 200000;
    std::vector<uint32_t> walk_;  // per trie depth
    // Scratch for expand().
    std::vector<std::pair<uint32_t, uint32_t>> work_;
    std::vector<uint64_t> seen_;  // small sets: linear search
    std::unordered_set<uint64_t> seen_set_;  // large ones
    bool seen_in_set_ = false;
    bool mark_seen(uint64_t key);
    void clear_seen();
    std::vector<uint32_t> scratch_;
};

}  // namespace hearth::runtime
