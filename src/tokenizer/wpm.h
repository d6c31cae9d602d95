#pragma once
// WordPiece (tokenizer.ggml.model = "bert"): BERT's normalizer (drop control characters, lower
// case, strip accents, space out CJK ideographs), split on whitespace and punctuation, then
// greedy longest-match-first pieces per word. The GGUF vocabulary marks word-initial pieces with
// a leading U+2581 and continuation pieces ("##ing" in the original) with no prefix.
#include "tokenizer/tokenizer.h"

namespace hearth::tokenizer {

class WpmTokenizer : public Tokenizer {
  public:
    explicit WpmTokenizer(Vocab vocab);
    std::string token_to_piece(int32_t id, bool special = false) const override;
    std::string decode(const std::vector<int32_t>& ids, bool special = false) const override;

  protected:
    void encode_text(std::string_view text, bool at_start,
                     std::vector<int32_t>& out) const override;
    int32_t prefix_token() const override;
    int32_t suffix_token() const override;
    // The suffix [SEP] already separates a pair: [CLS] A [SEP] B [SEP].
    int32_t pair_separator() const override { return kNoToken; }

  private:
    void encode_word(std::string_view word, std::vector<int32_t>& out) const;
    size_t longest_token_ = 0;  // bytes; no longer candidate can match
};

}  // namespace hearth::tokenizer
