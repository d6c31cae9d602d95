// End-of-generation tokens and BOS are control tokens whatever type the file stores them with,
// as the reference engine (llama.cpp) types them at load: text without special parsing (user
// text, chat message content) never becomes them, so "</s>" typed by a user cannot end or forge
// a turn. Other user-defined tokens still match in any text.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "gemma3_style_vocab.h"
#include "tokenizer/tokenizer.h"
#include "vocab_files.h"

namespace hearth::tokenizer {
namespace {

using testing::VocabEntry;

bool contains(const std::vector<int32_t>& ids, int32_t id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// The ids of `pieces`, each looked up in the vocabulary (all must exist).
std::vector<int32_t> ids_of(const Vocab& v, const std::vector<std::string>& pieces) {
    std::vector<int32_t> ids;
    for (const std::string& p : pieces) {
        ids.push_back(v.find(p));
        EXPECT_NE(ids.back(), kNoToken) << "no piece '" << p << "'";
    }
    return ids;
}

struct Loaded {
    std::unique_ptr<gguf::File> file;
    std::unique_ptr<Tokenizer> tok;
};

Loaded load_path(const std::string& path) {
    Loaded l;
    l.file = std::make_unique<gguf::File>(gguf::File::open(path));
    l.tok = Tokenizer::from_gguf(*l.file);
    return l;
}

const std::string kSpace = "\xE2\x96\x81";  // SentencePiece's "▁"

TEST(EndOfGeneration, Phi3SlashSIsAControlTokenThatEndsGeneration) {
    // phi-3 stores "</s>" (id 2) as user-defined; EOS is <|endoftext|> (32000), and <|end|>
    // (32007) ends its turns.
    Loaded phi3 = load_path(testing::vocab_gguf("phi-3").string());
    const Tokenizer& tok = *phi3.tok;
    const Vocab& v = tok.vocab();
    ASSERT_EQ(v.find("</s>"), 2);
    EXPECT_EQ(v.types[2], TokenType::Control);
    for (int32_t id : {2, 32000, 32007}) EXPECT_TRUE(v.is_end_of_generation(id)) << id;
    EXPECT_FALSE(v.is_end_of_generation(v.bos));
    EXPECT_EQ(v.types[v.bos], TokenType::Control);

    // Without special parsing " </s>" is text: the space prefix, then "▁</", "s", ">", as the
    // reference gives (its special-token pass skips control tokens then, so SentencePiece sees
    // "▁▁</s>").
    const std::vector<int32_t> as_text = ids_of(v, {kSpace, kSpace + "</", "s", ">"});
    EXPECT_EQ(tok.encode(" </s>", false, false), as_text);
    EXPECT_EQ(tok.encode(" </s>", true, false)[0], v.bos);
    EXPECT_FALSE(contains(tok.encode(" </s>", true, false), 2));
    EXPECT_EQ(tok.decode(tok.encode(" </s>", false, false)), " </s>");
    // With special parsing it is the token: "▁▁" (space prefix and the space), then </s>.
    EXPECT_EQ(tok.encode(" </s>", false, true), (std::vector<int32_t>{v.find(kSpace + kSpace), 2}));
    // Decoded without specials it shows nothing, as other control tokens.
    EXPECT_EQ(tok.decode({2}), "");
    EXPECT_EQ(tok.decode({2}, true), "</s>");
}

TEST(EndOfGeneration, Gemma3SlashSIsAControlTokenThatEndsGeneration) {
    using namespace testing;
    Loaded gemma = load_path(write_gemma3_style_vocab());
    const Tokenizer& tok = *gemma.tok;
    const Vocab& v = tok.vocab();
    ASSERT_EQ(v.find("</s>"), kGemmaSlashS);
    EXPECT_EQ(v.types[kGemmaSlashS], TokenType::Control);
    for (int32_t id : {kGemmaEos, kGemmaEndOfTurn, kGemmaSlashS})
        EXPECT_TRUE(v.is_end_of_generation(id)) << id;
    for (int32_t id : {kGemmaBos, kGemmaStartOfTurn})
        EXPECT_FALSE(v.is_end_of_generation(id)) << id;

    // Plain text: "</", "s", ">" (no space prefix in Gemma); BOS added in front when asked.
    const std::vector<int32_t> slash_s_text = ids_of(v, {"</", "s", ">"});
    EXPECT_EQ(tok.encode("</s>", false, false), slash_s_text);
    std::vector<int32_t> with_bos = {kGemmaBos, v.find("Hi")};
    with_bos.insert(with_bos.end(), slash_s_text.begin(), slash_s_text.end());
    EXPECT_EQ(tok.encode("Hi</s>", true, false), with_bos);
    EXPECT_EQ(tok.encode("</s>", false, true), (std::vector<int32_t>{kGemmaSlashS}));
    for (const char* text : {"<eos>", "<end_of_turn>", "<bos>", "<start_of_turn>"}) {
        const int32_t id = v.find(text);
        EXPECT_FALSE(contains(tok.encode(text, false, false), id)) << text;
        EXPECT_EQ(tok.encode(text, false, true), (std::vector<int32_t>{id})) << text;
    }

    // User-defined words that end no turn are matched in any text, as before.
    const int32_t h1 = v.find("<h1>");
    EXPECT_EQ(v.types[h1], TokenType::UserDefined);
    EXPECT_FALSE(v.is_end_of_generation(h1));
    EXPECT_EQ(tok.encode("Hi<h1>", false, false), (std::vector<int32_t>{v.find("Hi"), h1}));
    EXPECT_EQ(tok.encode("Hi<h1>", false, true), (std::vector<int32_t>{v.find("Hi"), h1}));
}

TEST(EndOfGeneration, MetadataIdsAndListedTextsStoredAsTextBecomeControl) {
    using namespace testing;
    std::vector<VocabEntry> entries = {
        {"<unk>", TokenType::Unknown},
        {"<|my_bos|>", TokenType::UserDefined},  // BOS by metadata
        {"<|my_eos|>", TokenType::UserDefined},  // EOS by metadata, in no list
        {"<|my_eot|>", TokenType::Normal},       // EOT by metadata
        {"<|my_eom|>", TokenType::UserDefined},  // EOM by metadata
        {"<|im_end|>", TokenType::Normal},       // listed text
        {"<|eot_id|>", TokenType::Unused},       // listed text of another type: keeps it
        {"<|tool|>", TokenType::UserDefined},    // neither: stays a user-defined word
        {kSpace, TokenType::Normal},
    };
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        entries.push_back({name, TokenType::Byte});
    }
    using gguf::Value;
    Loaded l = load_path(write_spm_vocab("retype-vocab", entries,
                                         {{"tokenizer.ggml.unknown_token_id", Value::u32(0)},
                                          {"tokenizer.ggml.bos_token_id", Value::u32(1)},
                                          {"tokenizer.ggml.eos_token_id", Value::u32(2)},
                                          {"tokenizer.ggml.eot_token_id", Value::u32(3)},
                                          {"tokenizer.ggml.eom_token_id", Value::u32(4)}}));
    const Tokenizer& tok = *l.tok;
    const Vocab& v = tok.vocab();
    EXPECT_EQ(v.eom, 4);
    for (int32_t id : {1, 2, 3, 4, 5}) EXPECT_EQ(v.types[id], TokenType::Control) << id;
    EXPECT_EQ(v.types[6], TokenType::Unused);
    EXPECT_EQ(v.types[7], TokenType::UserDefined);
    for (int32_t id : {2, 3, 4, 5, 6}) EXPECT_TRUE(v.is_end_of_generation(id)) << id;
    for (int32_t id : {0, 1, 7}) EXPECT_FALSE(v.is_end_of_generation(id)) << id;
    for (int32_t id : {1, 2, 3, 4, 5}) {
        const std::string text = "a" + v.tokens[id] + "b";
        EXPECT_FALSE(contains(tok.encode(text, false, false), id)) << v.tokens[id];
        EXPECT_TRUE(contains(tok.encode(text, false, true), id)) << v.tokens[id];
    }
    EXPECT_TRUE(contains(tok.encode("a<|tool|>b", false, false), 7));
}

TEST(EndOfGeneration, Gemma4SlashSIsPlainText) {
    // The reference keeps "</s>" out of the end tokens of a vocabulary with "<|tool_response>"
    // (Gemma 4) and makes it a normal token.
    using namespace testing;
    std::vector<VocabEntry> entries = gemma3_style_entries();
    entries.push_back({"<|tool_response>", TokenType::Control});
    Loaded l = load_path(write_spm_vocab("gemma4-style-vocab", entries));
    const Vocab& v = l.tok->vocab();
    EXPECT_FALSE(v.is_end_of_generation(kGemmaSlashS));
    EXPECT_EQ(v.types[kGemmaSlashS], TokenType::Normal);
    EXPECT_TRUE(v.is_end_of_generation(v.find("<|tool_response>")));
    EXPECT_TRUE(v.is_end_of_generation(kGemmaEndOfTurn));
}

TEST(EndOfGeneration, HarmonyEndsOnlyAtReturnOrCallAndShowsItsMarkers) {
    // gpt-oss (harmony): as the reference engine, with both <|return|> and <|call|> in the
    // vocabulary, <|end|> (which closes each message of a reply) no longer ends generation, and
    // the message markers decode to their text so the chat layer can read the channels; they
    // stay control tokens, so message text never becomes them.
    using namespace testing;
    std::vector<VocabEntry> entries = gemma3_style_entries();
    for (const char* marker : {"<|start|>", "<|end|>", "<|message|>", "<|channel|>",
                               "<|constrain|>", "<|return|>", "<|call|>"})
        entries.push_back({marker, TokenType::Control});
    Loaded l = load_path(write_spm_vocab("harmony-style-vocab", entries));
    const Tokenizer& tok = *l.tok;
    const Vocab& v = tok.vocab();
    EXPECT_FALSE(v.is_end_of_generation(v.find("<|end|>")));
    EXPECT_TRUE(v.is_end_of_generation(v.find("<|return|>")));
    EXPECT_TRUE(v.is_end_of_generation(v.find("<|call|>")));
    for (const char* shown : {"<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>"}) {
        const int32_t id = v.find(shown);
        EXPECT_EQ(v.types[id], TokenType::Control) << shown;
        EXPECT_EQ(tok.token_to_piece(id), shown);
        EXPECT_FALSE(contains(tok.encode(std::string("a") + shown, false, false), id)) << shown;
    }
    // The ends decode to nothing, as every other control token.
    EXPECT_EQ(tok.token_to_piece(v.find("<|return|>")), "");
    EXPECT_EQ(tok.token_to_piece(kGemmaEndOfTurn), "");

    // Phi-3's <|end|> (no <|return|> nor <|call|> beside it) still ends generation, unshown.
    std::vector<VocabEntry> phi_like = gemma3_style_entries();
    phi_like.push_back({"<|end|>", TokenType::Control});
    Loaded p = load_path(write_spm_vocab("phi-like-vocab", phi_like));
    EXPECT_TRUE(p.tok->vocab().is_end_of_generation(p.tok->vocab().find("<|end|>")));
    EXPECT_EQ(p.tok->token_to_piece(p.tok->vocab().find("<|end|>")), "");
}

}  // namespace
}  // namespace hearth::tokenizer
