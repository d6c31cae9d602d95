#pragma once
// Pre-tokenization for byte-level BPE: the text is cut into words by a sequence of regexes before
// any merge runs, so merges never cross a word boundary. Each regex splits every current piece
// into its matches and the text between them (both kept, in order), which is how Hugging Face's
// `Split(..., behavior = Isolated)` steps compose.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::tokenizer {

struct PreTokenizerSpec {
    std::vector<std::string> patterns;
    // Llama 3 style: a word that is already a vocabulary token is emitted without merging.
    bool ignore_merges = false;
};

// The published regexes for the value of tokenizer.ggml.pre ("" when the key is missing).
// Throws hearth::Error for names this build does not know.
PreTokenizerSpec pre_tokenizer_spec(std::string_view pre);

class RegexSplitter {
  public:
    explicit RegexSplitter(const std::vector<std::string>& patterns);
    ~RegexSplitter();
    RegexSplitter(const RegexSplitter&) = delete;
    RegexSplitter& operator=(const RegexSplitter&) = delete;

    // Cuts `text` into consecutive, non-empty pieces that together are exactly `text`.
    // Invalid UTF-8 never matches a pattern, so it ends up in pieces of its own.
    std::vector<std::string_view> split(std::string_view text) const;

  private:
    struct Pattern;
    void split_one(const Pattern& pattern, std::string_view piece,
                   std::vector<std::string_view>& out) const;
    std::vector<std::unique_ptr<Pattern>> patterns_;
};

}  // namespace hearth::tokenizer
