#pragma once
// Text <-> token ids. One Tokenizer per vocabulary family (SentencePiece "llama", byte-level BPE
// "gpt2", WordPiece "bert"); the shared parts (special-token splitting, BOS/EOS, streaming-safe
// detokenizing) live in this base class.
#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/reader.h"
#include "tokenizer/vocab.h"

namespace hearth::tokenizer {

class Tokenizer {
  public:
    virtual ~Tokenizer() = default;

    // Picks the implementation from tokenizer.ggml.model; throws for unsupported families.
    static std::unique_ptr<Tokenizer> from_gguf(const gguf::File& file);

    // add_special: add BOS/EOS as the vocabulary asks. parse_special: control tokens written
    // in the text (e.g. "<|im_start|>") become single tokens; otherwise they stay plain text,
    // so user content cannot inject them. User-defined (added) words always match, except BOS
    // and the end-of-generation tokens, which the vocabulary types as control tokens whatever
    // the file says (Vocab::set_end_of_generation). Matching is leftmost-longest, as Hugging
    // Face's added-token matcher does.
    std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

    // Byte range [begin, end) of a text.
    struct ByteRange {
        size_t begin, end;
    };
    // Like encode(text, add_special, true), except that no control token is matched across or
    // inside `plain` ranges: a chat prompt marks its users' content this way, so content cannot
    // inject control tokens while the template's own ones still parse. Where the ranges hold no
    // control-token text, the result equals encode(text, add_special, true).
    std::vector<int32_t> encode(std::string_view text, bool add_special,
                                const std::vector<ByteRange>& plain) const;

    // Two texts as one input, joined the way the vocabulary joins a sequence pair (a
    // reranker's query and document): prefix A suffix [separator] B suffix, the prefix and
    // suffix being what add_special puts around one text and the separator the GGUF's
    // add_sep_token. WordPiece: [CLS] A [SEP] B [SEP]; XLM-RoBERTa: <s> A </s></s> B </s>.
    // Control-token text in A and B stays text. `second` is the index of B's first token.
    struct Pair {
        std::vector<int32_t> tokens;
        size_t second = 0;
    };
    Pair encode_pair(std::string_view a, std::string_view b) const;

    // The bytes token `id` stands for. Control tokens give "" unless `special` is set.
    virtual std::string token_to_piece(int32_t id, bool special = false) const = 0;
    // Whole-sequence decoding (applies leading-space rules of the family).
    virtual std::string decode(const std::vector<int32_t>& ids, bool special = false) const;

    const Vocab& vocab() const { return vocab_; }

  protected:
    explicit Tokenizer(Vocab vocab);
    // Tokenizes one run of plain text. `at_start` is true for the first run of the input and
    // for runs right after a special token (SentencePiece adds its space prefix there).
    virtual void encode_text(std::string_view text, bool at_start,
                             std::vector<int32_t>& out) const = 0;
    // What add_special puts around the text: BOS/EOS as the vocabulary asks (CLS/SEP for BERT).
    virtual int32_t prefix_token() const { return vocab_.add_bos ? vocab_.bos : kNoToken; }
    virtual int32_t suffix_token() const { return vocab_.add_eos ? vocab_.eos : kNoToken; }
    // What encode_pair adds after A's suffix (the reference engine's add_sep: SEP, else EOS).
    virtual int32_t pair_separator() const {
        if (!vocab_.add_sep) return kNoToken;
        return vocab_.sep != kNoToken ? vocab_.sep : vocab_.eos;
    }

    Vocab vocab_;

  private:
    struct Fragment {
        bool is_token;
        int32_t token;
        std::string_view text;
    };
    std::vector<Fragment> split_special(std::string_view text, bool parse_special,
                                        const std::vector<ByteRange>& plain) const;
    std::vector<int32_t> encode_fragments(const std::vector<Fragment>& fragments,
                                          bool add_special) const;
    // Matchable special tokens bucketed by first byte, longest first within a bucket, so the
    // text is scanned once whatever the number of added tokens (deepseek has thousands).
    using SpecialIndex = std::array<std::vector<int32_t>, 256>;
    SpecialIndex user_defined_;  // always matched
    SpecialIndex all_special_;   // matched with parse_special: control, unknown, user-defined
};

// Turns a stream of token ids into text chunks that never end in half a UTF-8 character.
class StreamDecoder {
  public:
    explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
    // Returns the text that became complete with this token (maybe empty).
    std::string push(int32_t id);
    // Whatever is still held back (invalid trailing bytes at the end of generation).
    std::string flush();

  private:
    const Tokenizer& tokenizer_;
    std::string pending_;
};

}  // namespace hearth::tokenizer
