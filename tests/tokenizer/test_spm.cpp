// SentencePiece tokenizer against the reference test vectors (expected ids computed by the
// Hugging Face tokenizer), plus special-token and streaming-decoder behaviour.
#include <gtest/gtest.h>

#include "core/utf8.h"
#include "gguf/reader.h"
#include "tokenizer/tokenizer.h"

using namespace hearth::tokenizer;

namespace {

std::string vocab_path(const std::string& name) {
    return std::string(HEARTH_TEST_DATA) + "/vocab/ggml-vocab-" + name + ".gguf";
}

TEST(Spm, BosAndControlTokens) {
    auto file = hearth::gguf::File::open(vocab_path("llama-spm"));
    auto tok = Tokenizer::from_gguf(file);
    EXPECT_EQ(tok->vocab().bos, 1);
    EXPECT_EQ(tok->vocab().eos, 2);
    auto with_bos = tok->encode("Hello world", true, false);
    EXPECT_EQ(with_bos, (std::vector<int32_t>{1, 15043, 3186}));
    // Control tokens written in user text stay text unless special parsing is asked for.
    auto as_text = tok->encode("</s>", false, false);
    EXPECT_TRUE(std::find(as_text.begin(), as_text.end(), 2) == as_text.end());
    auto as_token = tok->encode("Hello</s>", false, true);
    EXPECT_EQ(as_token, (std::vector<int32_t>{15043, 2}));
    EXPECT_EQ(tok->token_to_piece(2), "");
    EXPECT_EQ(tok->token_to_piece(2, true), "</s>");
}

TEST(Spm, StreamDecoderNeverSplitsACharacter) {
    auto file = hearth::gguf::File::open(vocab_path("llama-spm"));
    auto tok = Tokenizer::from_gguf(file);
    // A llama emoji is not in the vocabulary: it becomes 4 byte tokens.
    auto ids = tok->encode("a 🦙 b", false, false);
    StreamDecoder decoder(*tok);
    std::string all;
    for (int32_t id : ids) {
        std::string chunk = decoder.push(id);
        EXPECT_TRUE(hearth::utf8::is_valid(chunk)) << "a chunk ends inside a character";
        all += chunk;
    }
    all += decoder.flush();
    EXPECT_EQ(all, " a 🦙 b");
}

TEST(Spm, Stories260KPrompt) {
    auto file =
        hearth::gguf::File::open(std::string(HEARTH_TEST_DATA) + "/models/stories260K.gguf");
    auto tok = Tokenizer::from_gguf(file);
    // From the reference run (reference/stories260K-once-upon-a-time.json).
    EXPECT_EQ(tok->encode("Once upon a time", true, false),
              (std::vector<int32_t>{1, 403, 407, 261, 378}));
}

uint64_t next_random(uint64_t& state) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
}

TEST(Spm, RandomBytesNeverCrash) {
    auto file = hearth::gguf::File::open(vocab_path("llama-spm"));
    auto tok = Tokenizer::from_gguf(file);
    uint64_t state = 12345;
    for (int round = 0; round < 300; ++round) {
        std::string text;
        for (int i = 0; i < round; ++i) text += static_cast<char>(next_random(state));
        auto ids = tok->encode(text, true, true);
        for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok->vocab().size());
        // Invalid UTF-8 cannot round-trip (a space next to a broken sequence becomes bytes of
        // U+2581, as in the reference), but the byte count is bounded by that expansion.
        EXPECT_LE(tok->decode(ids).size(), 3 * text.size());
    }
}

TEST(Spm, RandomValidUtf8RoundTrips) {
    auto file = hearth::gguf::File::open(vocab_path("llama-spm"));
    auto tok = Tokenizer::from_gguf(file);
    const char32_t ranges[][2] = {
        {0x21, 0x7E}, {0xA0, 0x24F}, {0x400, 0x4FF}, {0x4E00, 0x4FFF}, {0x1F300, 0x1F64F}};
    uint64_t state = 99;
    for (int round = 0; round < 300; ++round) {
        std::string text = "x";
        for (int i = 0; i < round % 40; ++i) {
            const auto& r = ranges[next_random(state) % 5];
            char32_t cp = r[0] + static_cast<char32_t>(next_random(state) % (r[1] - r[0] + 1));
            if (next_random(state) % 4 == 0) cp = ' ';
            if (cp < 0x80) {
                text += static_cast<char>(cp);
            } else if (cp < 0x800) {
                text += static_cast<char>(0xC0 | (cp >> 6));
                text += static_cast<char>(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                text += static_cast<char>(0xE0 | (cp >> 12));
                text += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
                text += static_cast<char>(0x80 | (cp & 0x3F));
            } else {
                text += static_cast<char>(0xF0 | (cp >> 18));
                text += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
                text += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
                text += static_cast<char>(0x80 | (cp & 0x3F));
            }
        }
        EXPECT_EQ(tok->decode(tok->encode(text, true, false)), text);
    }
}

}  // namespace
