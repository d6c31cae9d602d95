// libFuzzer target: arbitrary bytes (invalid UTF-8 included) through every tokenizer family,
// with and without special-token parsing, then through decode and the streaming decoder.
// Crashes, sanitizer reports and a broken byte-level round trip are findings.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/utf8.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"

namespace {

using hearth::tokenizer::StreamDecoder;
using hearth::tokenizer::Tokenizer;

struct Loaded {
    std::unique_ptr<hearth::gguf::File> file;
    std::unique_ptr<Tokenizer> tokenizer;
};

// One vocabulary per family and per pre-tokenizer regex set.
std::vector<Loaded>& tokenizers() {
    static std::vector<Loaded> all = [] {
        std::vector<Loaded> out;
        for (const char* name : {"llama-spm", "phi-3", "bert-bge", "gpt-2", "falcon", "starcoder",
                                 "deepseek-coder", "deepseek-llm", "mpt"}) {
            std::string path =
                std::string(HEARTH_TEST_DATA) + "/vocab/ggml-vocab-" + name + ".gguf";
            Loaded l;
            l.file = std::make_unique<hearth::gguf::File>(hearth::gguf::File::open(path));
            l.tokenizer = Tokenizer::from_gguf(*l.file);
            out.push_back(std::move(l));
        }
        return out;
    }();
    return all;
}

// Falcon's vocabulary, for one, has no token for some control bytes (0x04...): those bytes are
// dropped, as the reference engine drops them, so only spellable texts must round-trip.
bool vocabulary_spells_every_byte(const Tokenizer& tok, std::string_view text) {
    for (unsigned char c : text) {
        if (tok.vocab().find(hearth::tokenizer::byte_level::encode_byte(c)) ==
            hearth::tokenizer::kNoToken)
            return false;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    auto& all = tokenizers();
    const Tokenizer& tok = *all[data[0] % all.size()].tokenizer;
    std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

    for (bool parse_special : {false, true}) {
        std::vector<int32_t> ids = tok.encode(text, parse_special, parse_special);
        std::string decoded = tok.decode(ids, parse_special);
        StreamDecoder stream(tok);
        std::string streamed;
        for (int32_t id : ids) streamed += stream.push(id);
        streamed += stream.flush();
        // Byte-level BPE must give back every byte of valid UTF-8 text. (Not of any bytes:
        // deepseek's vocabularies reuse the byte tokens of 0xC0, 0xC1 and 0xF5-0xFF, which never
        // occur in UTF-8, as the added words "À", "Á", "õ"... that decode as those characters.)
        if (!parse_special && tok.vocab().model == "gpt2" && hearth::utf8::is_valid(text) &&
            vocabulary_spells_every_byte(tok, text) && decoded != text) {
            __builtin_trap();
        }
    }
    return 0;
}
