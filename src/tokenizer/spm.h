#pragma once
// SentencePiece-style tokenizer (tokenizer.ggml.model = "llama"): spaces become U+2581, the
// highest-scoring adjacent pair present in the vocabulary is merged first, and characters the
// vocabulary lacks fall back to <0xXX> byte tokens.
#include "tokenizer/tokenizer.h"

namespace hearth::tokenizer {

class SpmTokenizer : public Tokenizer {
  public:
    explicit SpmTokenizer(Vocab vocab);
    std::string token_to_piece(int32_t id, bool special = false) const override;
    std::string decode(const std::vector<int32_t>& ids, bool special = false) const override;

  protected:
    void encode_text(std::string_view text, bool at_start,
                     std::vector<int32_t>& out) const override;

  private:
    void byte_fallback(std::string_view bytes, std::vector<int32_t>& out) const;
    int32_t byte_tokens_[256];
};

}  // namespace hearth::tokenizer
