#pragma once
// Byte-level BPE (tokenizer.ggml.model = "gpt2"): the text is cut into words by the model's
// pre-tokenizer regexes, each word is spelled in GPT-2's byte alphabet, and adjacent symbols are
// merged by merge rank (lowest first) until no listed merge applies.
#include <array>
#include <memory>

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace hearth::tokenizer {

class BpeTokenizer : public Tokenizer {
  public:
    explicit BpeTokenizer(Vocab vocab);
    std::string token_to_piece(int32_t id, bool special = false) const override;

  protected:
    void encode_text(std::string_view text, bool at_start,
                     std::vector<int32_t>& out) const override;

  private:
    struct Merge {
        int32_t rank;
        int32_t result;
    };
    // Merge ranks in an open-addressing table keyed by the (left id, right id) pair: lookups are
    // the inner loop of BPE, and a flat table costs one cache miss where a node map costs two.
    class MergeTable {
      public:
        void reserve(size_t merges);
        // Keeps the first rank given for a pair.
        void insert(int32_t left, int32_t right, Merge merge);
        const Merge* find(int32_t left, int32_t right) const;

      private:
        struct Slot {
            uint64_t key = kEmpty;
            Merge merge{};
        };
        static constexpr uint64_t kEmpty = ~0ull;
        size_t slot_of(uint64_t key) const {
            return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
        }
        std::vector<Slot> slots_;
        int shift_ = 64;
    };
    void load_merges();
    void encode_word(std::string_view word, std::vector<int32_t>& out) const;

    PreTokenizerSpec spec_;
    std::unique_ptr<RegexSplitter> splitter_;
    MergeTable merges_;
    std::array<int32_t, 256> byte_token_;  // the single-byte token of each byte
    std::vector<std::string> decoded_;     // raw bytes of each token, precomputed
    uint64_t serial_;                      // identifies this tokenizer to word caches
};

}  // namespace hearth::tokenizer
