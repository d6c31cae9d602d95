#include "tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.h"
#include "core/utf8.h"

namespace hearth::tokenizer {

namespace {

// The regexes below are the ones the models' tokenizer.json files publish (as collected for each
// tokenizer.ggml.pre name). PCRE2 with UTF + UCP supports every feature they use (\p{..}
// classes, the (?!\S) lookahead, (?i:...) groups), so they are used unchanged.
const char* const kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
const char* const kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// o200k (GPT-4o, gpt-oss, Llama 4): words split before an upper-case run that follows lower case,
// contractions kept on their word, digits in groups of up to three, "/" runs kept on punctuation.
const char* const kO200k =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kCjk = "[一-龥ࠀ-一가-퟿]+";

PreTokenizerSpec make_spec(std::vector<std::string> patterns, bool ignore_merges = false) {
    return {std::move(patterns), ignore_merges};
}

}  // namespace

PreTokenizerSpec pre_tokenizer_spec(std::string_view pre) {
    // gpt-neox and other early conversions carry no pre key; they use GPT-2's regex.
    if (pre.empty() || pre == "default" || pre == "gpt-2" || pre == "gpt2" || pre == "mpt" ||
        pre == "olmo" || pre == "jais") {
        return make_spec({kGpt2});
    }
    if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3" || pre == "dbrx" ||
        pre == "smaug-bpe") {
        return make_spec({kLlama3}, true);
    }
    if (pre == "qwen2" || pre == "stablelm2" || pre == "hunyuan") return make_spec({kQwen2});
    if (pre == "gpt-4o" || pre == "llama4") return make_spec({kO200k});
    if (pre == "starcoder" || pre == "refact" || pre == "command-r" || pre == "smollm" ||
        pre == "codeshell" || pre == "exaone" || pre == "minerva-7b") {
        return make_spec({R"(\p{N})", kGpt2});
    }
    if (pre == "falcon") {
        return make_spec({R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"});
    }
    if (pre == "deepseek-coder") {
        return make_spec({"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kCjk, R"(\p{N})"});
    }
    if (pre == "deepseek-llm") {
        // The letter class is spelled with code points: several of its characters (U+1F7D,
        // U+1FBE, U+1FD3, U+1FDB, U+2126, U+212A) are canonical singletons that an editor's
        // Unicode normalization would silently turn into different characters.
        return make_spec({
            "[\r\n]",
            "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}"
            "\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}"
            "\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}"
            "\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}"
            "\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}"
            "\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}"
            "\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}"
            "\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"
            "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}"
            "\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}"
            "\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}"
            "\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}"
            "\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}"
            "\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}"
            "\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}"
            "\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}"
            "\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}"
            "\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"
            "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}"
            "\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}"
            "\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}"
            "\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"
            "\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
            "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
            "\\s+$",
            kCjk,
            R"(\p{N}+)",
        });
    }
    if (pre == "deepseek-v3") {
        return make_spec({
            R"(\p{N}{1,3})",
            "[一-龥぀-ゟ゠-ヿ]+",
            R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
        });
    }
    throw Error("unknown BPE pre-tokenizer '" + std::string(pre) +
                "' (tokenizer.ggml.pre); hearth would tokenize this model wrongly, so it refuses");
}

struct RegexSplitter::Pattern {
    pcre2_code* code = nullptr;
    ~Pattern() { pcre2_code_free(code); }
};

namespace {

// Deep backtracking (long whitespace runs against \s+(?!\S)) can outgrow JIT's default 32 KiB
// stack; each thread gets a larger one of its own, since matching runs on many threads at once.
struct JitStack {
    pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    pcre2_match_context* context = pcre2_match_context_create(nullptr);
    JitStack() { pcre2_jit_stack_assign(context, nullptr, stack); }
    ~JitStack() {
        pcre2_match_context_free(context);
        pcre2_jit_stack_free(stack);
    }
};

pcre2_match_context* thread_match_context() {
    thread_local JitStack jit;
    return jit.context;
}

}  // namespace

RegexSplitter::RegexSplitter(const std::vector<std::string>& patterns) {
    for (const std::string& source : patterns) {
        int error = 0;
        PCRE2_SIZE error_at = 0;
        // MATCH_INVALID_UTF: invalid byte sequences simply never match instead of failing the
        // whole match, so arbitrary bytes from users are safe to split.
        auto pattern = std::make_unique<Pattern>();
        pattern->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(),
                                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error,
                                      &error_at, nullptr);
        if (!pattern->code) {
            PCRE2_UCHAR message[256];
            pcre2_get_error_message(error, message, sizeof message);
            throw Error("pre-tokenizer regex does not compile at offset " +
                        std::to_string(error_at) + ": " + reinterpret_cast<char*>(message));
        }
        pcre2_jit_compile(pattern->code, PCRE2_JIT_COMPLETE);  // interpreter if JIT is missing
        patterns_.push_back(std::move(pattern));
    }
}

RegexSplitter::~RegexSplitter() = default;

void RegexSplitter::split_one(const Pattern& pattern, std::string_view piece,
                              std::vector<std::string_view>& out) const {
    pcre2_match_data* match = pcre2_match_data_create(1, nullptr);
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
    size_t offset = 0, emitted = 0;
    while (offset < piece.size()) {
        int rc = pcre2_match(pattern.code, subject, piece.size(), offset, 0, match,
                             thread_match_context());
        if (rc < 0) break;  // no match (or a resource limit): the rest stays one piece
        const PCRE2_SIZE* span = pcre2_get_ovector_pointer(match);
        size_t begin = span[0], end = span[1];
        if (end == begin) {  // empty match: step over one byte and look again
            offset = begin + utf8::sequence_length(static_cast<unsigned char>(piece[begin]));
            continue;
        }
        if (begin > emitted) out.push_back(piece.substr(emitted, begin - emitted));
        out.push_back(piece.substr(begin, end - begin));
        emitted = offset = end;
    }
    if (emitted < piece.size()) out.push_back(piece.substr(emitted));
    pcre2_match_data_free(match);
}

std::vector<std::string_view> RegexSplitter::split(std::string_view text) const {
    std::vector<std::string_view> pieces;
    if (text.empty()) return pieces;
    pieces.push_back(text);
    std::vector<std::string_view> next;
    for (const auto& pattern : patterns_) {
        next.clear();
        for (std::string_view piece : pieces) split_one(*pattern, piece, next);
        pieces.swap(next);
    }
    return pieces;
}

}  // namespace hearth::tokenizer
