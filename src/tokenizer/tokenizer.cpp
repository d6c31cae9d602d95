#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "core/error.h"
#include "core/utf8.h"
#include "tokenizer/bpe.h"
#include "tokenizer/spm.h"
#include "tokenizer/wpm.h"

namespace hearth::tokenizer {

Tokenizer::Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {
    for (int32_t id = 0; id < vocab_.size(); ++id) {
        const std::string& text = vocab_.tokens[id];
        TokenType t = vocab_.types[id];
        if (text.empty()) continue;
        unsigned char first = static_cast<unsigned char>(text[0]);
        if (t == TokenType::UserDefined) user_defined_[first].push_back(id);
        if (t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown) {
            all_special_[first].push_back(id);
        }
    }
    auto longest_first = [&](int32_t a, int32_t b) {
        return vocab_.tokens[a].size() > vocab_.tokens[b].size();
    };
    for (SpecialIndex* index : {&user_defined_, &all_special_}) {
        for (auto& bucket : *index) std::stable_sort(bucket.begin(), bucket.end(), longest_first);
    }
}

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const gguf::File& file) {
    Vocab vocab = Vocab::from_gguf(file);
    if (vocab.model == "llama") return std::make_unique<SpmTokenizer>(std::move(vocab));
    if (vocab.model == "gpt2") return std::make_unique<BpeTokenizer>(std::move(vocab));
    if (vocab.model == "bert") return std::make_unique<WpmTokenizer>(std::move(vocab));
    throw Error("'" + file.name() + "' uses tokenizer '" + vocab.model +
                "', which this hearth build does not support yet (supported: llama, gpt2, bert)");
}

std::vector<Tokenizer::Fragment> Tokenizer::split_special(
    std::string_view text, bool parse_special, const std::vector<ByteRange>& plain) const {
    std::vector<Fragment> fragments;
    size_t plain_from = 0;
    auto overlaps_plain = [&](size_t begin, size_t end) {
        for (const ByteRange& r : plain) {
            if (begin < r.end && r.begin < end) return true;
        }
        return false;
    };
    // User-defined tokens are vocabulary words and match everywhere; control tokens only where
    // special parsing is on and the text is not marked plain.
    const SpecialIndex& index = parse_special ? all_special_ : user_defined_;
    for (size_t at = 0; at < text.size();) {
        int32_t match = kNoToken;
        for (int32_t id : index[static_cast<unsigned char>(text[at])]) {
            const std::string& piece = vocab_.tokens[id];
            if (!text.substr(at).starts_with(piece)) continue;
            if (!plain.empty() && vocab_.types[id] != TokenType::UserDefined &&
                overlaps_plain(at, at + piece.size())) {
                continue;
            }
            match = id;
            break;
        }
        if (match == kNoToken) {
            ++at;
            continue;
        }
        if (at > plain_from)
            fragments.push_back({false, kNoToken, text.substr(plain_from, at - plain_from)});
        fragments.push_back({true, match, {}});
        at += vocab_.tokens[match].size();
        plain_from = at;
    }
    if (plain_from < text.size()) fragments.push_back({false, kNoToken, text.substr(plain_from)});
    return fragments;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
    return encode_fragments(split_special(text, parse_special, {}), add_special);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special,
                                       const std::vector<ByteRange>& plain) const {
    return encode_fragments(split_special(text, true, plain), add_special);
}

std::vector<int32_t> Tokenizer::encode_fragments(const std::vector<Fragment>& fragments,
                                                 bool add_special) const {
    std::vector<int32_t> out;
    const int32_t prefix = add_special ? prefix_token() : kNoToken;
    if (prefix != kNoToken) out.push_back(prefix);
    bool at_start = true;
    for (const Fragment& f : fragments) {
        if (f.is_token) {
            out.push_back(f.token);
            at_start = true;
        } else {
            encode_text(f.text, at_start, out);
            at_start = false;
        }
    }
    const int32_t suffix = add_special ? suffix_token() : kNoToken;
    if (suffix != kNoToken) out.push_back(suffix);
    return out;
}

Tokenizer::Pair Tokenizer::encode_pair(std::string_view a, std::string_view b) const {
    Pair pair;
    auto add = [&](int32_t id) {
        if (id != kNoToken) pair.tokens.push_back(id);
    };
    auto add_text = [&](std::string_view text) {
        for (int32_t id : encode(text, /*add_special=*/false, /*parse_special=*/false)) add(id);
    };
    add(prefix_token());
    add_text(a);
    add(suffix_token());
    add(pair_separator());
    pair.second = pair.tokens.size();
    add_text(b);
    add(suffix_token());
    return pair;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool special) const {
    std::string out;
    for (int32_t id : ids) out += token_to_piece(id, special);
    return out;
}

std::string StreamDecoder::push(int32_t id) {
    pending_ += tokenizer_.token_to_piece(id);
    size_t hold = utf8::incomplete_tail(pending_);
    std::string ready = pending_.substr(0, pending_.size() - hold);
    pending_.erase(0, pending_.size() - hold);
    return ready;
}

std::string StreamDecoder::flush() {
    std::string rest;
    rest.swap(pending_);
    return rest;
}

}  // namespace hearth::tokenizer
