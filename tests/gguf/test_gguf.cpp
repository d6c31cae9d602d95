// GGUF reader/writer tests. Oracles: the facts the shared data README lists for each file
// (counts, keys, values), hand-built malformed files with the error each must produce, and
// reader(writer(x)) == x.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/reader.h"
#include "gguf/writer.h"

using namespace hearth::gguf;

namespace {

std::string data_path(const std::string& rel) {
    return std::string(HEARTH_TEST_DATA) + "/" + rel;
}

TEST(GgufReader, Stories260KFacts) {
    File f = File::open(data_path("models/stories260K.gguf"));
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.metadata().size(), 19u);
    EXPECT_EQ(f.tensors().size(), 48u);
    EXPECT_EQ(f.alignment(), 32u);
    EXPECT_EQ(f.data_offset(), 14176u);
    EXPECT_EQ(f.get_string("general.architecture"), "llama");
    EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");
    EXPECT_EQ(f.get_u64("llama.context_length"), 2048u);
    EXPECT_EQ(f.get_u64("llama.embedding_length"), 64u);
    EXPECT_EQ(f.get_u64("llama.feed_forward_length"), 172u);
    EXPECT_EQ(f.get_u64("llama.attention.head_count"), 8u);
    EXPECT_EQ(f.get_u64("llama.attention.head_count_kv"), 4u);
    EXPECT_EQ(f.get_u64("llama.block_count"), 5u);
    EXPECT_EQ(f.get_u64("llama.rope.dimension_count"), 8u);
    EXPECT_FLOAT_EQ(static_cast<float>(f.get_f64("llama.attention.layer_norm_rms_epsilon", 0)),
                    1e-5f);
    EXPECT_EQ(f.get_u64("tokenizer.ggml.seperator_token_id"), 4294967295u);
    const Array& tokens = f.find("tokenizer.ggml.tokens")->as_array();
    ASSERT_EQ(tokens.items.size(), 512u);
    EXPECT_EQ(tokens.items[0].as_string(), "<unk>");
    EXPECT_EQ(tokens.items[3].as_string(), "<0x00>");
    const Array& scores = f.find("tokenizer.ggml.scores")->as_array();
    EXPECT_EQ(scores.element_type, ValueType::F32);
    EXPECT_EQ(scores.items[261].as_f64(), -2.0);  // 0 for specials/bytes, then -0, -1, -2, ...
    EXPECT_FALSE(f.has("tokenizer.chat_template"));

    uint64_t params = 0;
    for (const auto& t : f.tensors()) {
        EXPECT_EQ(t.type, TensorType::F32) << t.name;
        params += static_cast<uint64_t>(t.n_elements());
    }
    EXPECT_EQ(params, 292800u);
    const TensorInfo& embd = f.tensor("token_embd.weight");
    EXPECT_EQ(embd.ne[0], 64);
    EXPECT_EQ(embd.ne[1], 512);
    EXPECT_EQ(f.tensor("blk.0.ffn_down.weight").shape_string(), "[172, 64]");
    // The last tensor ends exactly at the end of the file.
    const TensorInfo& last = f.tensors().back();
    EXPECT_EQ(f.data_offset() + last.offset + last.n_bytes, f.file_size());
}

struct VocabFacts {
    const char* file;
    const char* model;
    const char* pre;  // "" when the key is absent
    size_t n_vocab;
    size_t n_merges;
};

class VocabFiles : public ::testing::TestWithParam<VocabFacts> {};

TEST_P(VocabFiles, ParseWithListedFacts) {
    const VocabFacts& v = GetParam();
    File f = File::open(data_path(std::string("vocab/") + v.file));
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.tensors().size(), 0u);
    EXPECT_EQ(f.get_string("tokenizer.ggml.model"), v.model);
    EXPECT_EQ(f.get_string("tokenizer.ggml.pre", ""), v.pre);
    EXPECT_EQ(f.find("tokenizer.ggml.tokens")->as_array().items.size(), v.n_vocab);
    const Value* merges = f.find("tokenizer.ggml.merges");
    EXPECT_EQ(merges ? merges->as_array().items.size() : 0u, v.n_merges);
}

// Figures from shared/data/README.md, section 2.
INSTANTIATE_TEST_SUITE_P(
    SharedData, VocabFiles,
    ::testing::Values(
        VocabFacts{"ggml-vocab-baichuan.gguf", "llama", "", 64000, 0},
        VocabFacts{"ggml-vocab-bert-bge.gguf", "bert", "bert-bge", 30522, 0},
        VocabFacts{"ggml-vocab-deepseek-coder.gguf", "gpt2", "deepseek-coder", 32256, 31757},
        VocabFacts{"ggml-vocab-deepseek-llm.gguf", "gpt2", "deepseek-llm", 102400, 99757},
        VocabFacts{"ggml-vocab-falcon.gguf", "gpt2", "falcon", 65024, 64784},
        VocabFacts{"ggml-vocab-gpt-2.gguf", "gpt2", "gpt-2", 50257, 50000},
        VocabFacts{"ggml-vocab-gpt-neox.gguf", "gpt2", "", 50432, 50009},
        VocabFacts{"ggml-vocab-llama-spm.gguf", "llama", "default", 32000, 0},
        VocabFacts{"ggml-vocab-mpt.gguf", "gpt2", "mpt", 50432, 50009},
        VocabFacts{"ggml-vocab-phi-3.gguf", "llama", "default", 32064, 0},
        VocabFacts{"ggml-vocab-refact.gguf", "gpt2", "refact", 49216, 48891},
        VocabFacts{"ggml-vocab-starcoder.gguf", "gpt2", "starcoder", 49152, 48872}),
    [](const auto& info) {
        std::string name = info.param.file;
        name = name.substr(11, name.size() - 16);  // strip "ggml-vocab-" and ".gguf"
        for (char& c : name)
            if (!isalnum(static_cast<unsigned char>(c))) c = '_';
        return name;
    });

TEST(GgufReader, Phi3CarriesChatTemplate) {
    File f = File::open(data_path("vocab/ggml-vocab-phi-3.gguf"));
    EXPECT_EQ(f.get_string("tokenizer.chat_template").size(), 269u);
    EXPECT_EQ(f.get_u64("tokenizer.ggml.eos_token_id"), 32000u);
}

// ---- hand-made files -------------------------------------------------------------------------

// Builds GGUF bytes field by field so each test can break exactly one thing.
class Bytes {
  public:
    Bytes& u32(uint32_t v) { return raw(&v, 4); }
    Bytes& u64(uint64_t v) { return raw(&v, 8); }
    Bytes& u8(uint8_t v) { return raw(&v, 1); }
    Bytes& f32(float v) { return raw(&v, 4); }
    Bytes& str(const std::string& s) {
        u64(s.size());
        return raw(s.data(), s.size());
    }
    Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
        return u32(0x46554747).u32(version).u64(n_tensors).u64(n_kv);
    }
    Bytes& kv_u32(const std::string& key, uint32_t v) { return str(key).u32(4).u32(v); }
    Bytes& tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type,
                  uint64_t offset) {
        str(name).u32(static_cast<uint32_t>(dims.size()));
        for (uint64_t d : dims) u64(d);
        return u32(type).u64(offset);
    }
    Bytes& pad(size_t alignment) {
        while (data.size() % alignment) data.push_back(0);
        return *this;
    }
    Bytes& zeros(size_t n) {
        data.insert(data.end(), n, 0);
        return *this;
    }
    Bytes& raw(const void* p, size_t n) {
        const uint8_t* b = static_cast<const uint8_t*>(p);
        data.insert(data.end(), b, b + n);
        return *this;
    }
    std::vector<uint8_t> data;
};

std::string parse_error(const std::vector<uint8_t>& bytes) {
    try {
        File::parse(bytes.data(), bytes.size(), "case.gguf");
    } catch (const hearth::Error& e) {
        return e.what();
    }
    return "";
}

struct MalformedCase {
    std::string name;
    std::vector<uint8_t> bytes;
    std::string expected;  // substring of the error message
};

std::vector<MalformedCase> malformed_cases() {
    std::vector<MalformedCase> cases;
    auto add = [&](std::string name, Bytes b, std::string expected) {
        cases.push_back({std::move(name), std::move(b.data), std::move(expected)});
    };
    add("empty", Bytes(), "too small");
    add("bad_magic", Bytes().u32(0x4C4C4747).u32(3).u64(0).u64(0), "bad magic");
    add("version_1", Bytes().header(0, 0, 1), "version 1 is obsolete");
    add("version_4", Bytes().header(0, 0, 4), "unsupported GGUF version 4");
    add("big_endian", Bytes().u32(0x46554747).u32(0x03000000).u64(0).u64(0), "big-endian");
    add("truncated_header", Bytes().u32(0x46554747).u32(3).u32(0), "truncated");
    add("absurd_kv_count", Bytes().header(0, uint64_t{1} << 60), "metadata count");
    add("absurd_tensor_count", Bytes().header(uint64_t{1} << 60, 0), "tensor count");
    add("key_length_past_end", Bytes().header(0, 1).u64(1000).raw("abc", 3).zeros(10),
        "runs past the end");
    add("key_length_2_60", Bytes().header(0, 1).u64(uint64_t{1} << 60).zeros(16),
        "runs past the end");
    add("string_value_2_60", Bytes().header(0, 1).str("k").u32(8).u64(uint64_t{1} << 60).zeros(8),
        "runs past the end");
    add("array_length_2_60",
        Bytes().header(0, 1).str("k").u32(9).u32(4).u64(uint64_t{1} << 60).zeros(8),
        "runs past the end");
    add("array_of_strings_truncated",
        Bytes().header(0, 1).str("k").u32(9).u32(8).u64(2).str("a").u64(50).raw("xy", 2),
        "runs past the end");
    add("unknown_value_type", Bytes().header(0, 1).str("k").u32(13).u32(0),
        "unknown metadata value type 13");
    add("unknown_array_element_type", Bytes().header(0, 1).str("k").u32(9).u32(99).u64(0),
        "unknown metadata value type 99");
    add("bad_bool", Bytes().header(0, 1).str("k").u32(7).u8(2).zeros(8), "bool value 2");
    add("duplicate_key", Bytes().header(0, 2).kv_u32("a.b", 1).kv_u32("a.b", 2),
        "duplicate metadata key 'a.b'");
    add("empty_key", Bytes().header(0, 1).str("").u32(4).u32(1), "is empty");
    add("truncated_value", Bytes().header(0, 1).str("k").u32(10).u32(1), "truncated");
    {
        Bytes b;
        b.header(0, 1).str("deep").u32(9);
        for (int i = 0; i < 20; ++i) b.u32(9).u64(1);
        b.u32(4).u64(1).u32(0);
        add("arrays_nested_too_deep", b, "nested deeper");
    }
    add("alignment_not_power_of_two", Bytes().header(0, 1).kv_u32("general.alignment", 48),
        "not a power of two");
    add("alignment_wrong_type", Bytes().header(0, 1).str("general.alignment").u32(10).u64(32),
        "must be a u32");
    add("zero_dims", Bytes().header(1, 0).str("t").u32(0).u32(0).u64(0), "0 dimensions");
    add("five_dims", Bytes().header(1, 0).str("t").u32(5).zeros(48), "5 dimensions");
    add("zero_dimension", Bytes().header(1, 0).tensor("t", {4, 0}, 0, 0), "invalid dimension 0");
    add("dims_overflow",
        Bytes().header(1, 0).tensor("t", {uint64_t{1} << 40, uint64_t{1} << 40}, 0, 0),
        "overflows");
    add("unknown_tensor_type", Bytes().header(1, 0).tensor("t", {32}, 77, 0).pad(32).zeros(128),
        "unknown type id 77");
    add("retired_tensor_type", Bytes().header(1, 0).tensor("t", {32}, 4, 0).pad(32).zeros(128),
        "unknown type id 4");
    add("row_not_block_multiple", Bytes().header(1, 0).tensor("t", {33}, 8, 0).pad(32).zeros(64),
        "not a multiple of the Q8_0 block size");
    add("misaligned_offset", Bytes().header(1, 0).tensor("t", {4}, 0, 8).pad(32).zeros(64),
        "not aligned");
    add("data_out_of_range", Bytes().header(1, 0).tensor("t", {64}, 0, 0).pad(32).zeros(100),
        "runs past the end of the file");
    add("offset_out_of_range",
        Bytes().header(1, 0).tensor("t", {4}, 0, uint64_t{1} << 62).pad(32).zeros(16),
        "runs past the end of the file");
    add("duplicate_tensor",
        Bytes().header(2, 0).tensor("t", {4}, 0, 0).tensor("t", {4}, 0, 32).pad(32).zeros(64),
        "duplicate tensor name 't'");
    add("truncated_tensor_info", Bytes().header(1, 0).str("t").u32(2).u64(4).u32(0), "truncated");
    add("no_data_section", Bytes().header(1, 0).tensor("t", {4}, 0, 0),
        "truncated before its tensor data");
    return cases;
}

TEST(GgufReader, MalformedFilesGetClearErrors) {
    for (const MalformedCase& c : malformed_cases()) {
        std::string error = parse_error(c.bytes);
        EXPECT_NE(error.find(c.expected), std::string::npos)
            << "case " << c.name << ": expected an error containing '" << c.expected << "', got '"
            << error << "'";
        EXPECT_NE(error.find("case.gguf"), std::string::npos)
            << "case " << c.name << ": error does not name the file";
    }
}

TEST(GgufReader, EveryTruncationOfARealFileIsRefused) {
    std::ifstream in(data_path("models/stories260K.gguf"), std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
    // Cut at every point of the header and at a spread of points in the data.
    for (size_t cut = 0; cut < bytes.size(); cut += (cut < 14200 ? 1 : 4099)) {
        std::vector<uint8_t> part(bytes.begin(), bytes.begin() + cut);
        EXPECT_FALSE(parse_error(part).empty()) << "a file cut at byte " << cut << " was accepted";
    }
}

TEST(GgufReader, MissingFileSaysSo) {
    try {
        File::open("/nonexistent/model.gguf");
        FAIL();
    } catch (const hearth::Error& e) {
        EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos);
    }
}

TEST(GgufTypes, BlockTable) {
    // Sizes from the published block layouts.
    EXPECT_EQ(type_info(TensorType::Q4_K).bytes_per_block, 144u);
    EXPECT_EQ(type_info(TensorType::Q6_K).bytes_per_block, 210u);
    EXPECT_EQ(type_info(TensorType::Q8_0).bytes_per_block, 34u);
    EXPECT_EQ(type_info(TensorType::IQ4_XS).bytes_per_block, 136u);
    EXPECT_EQ(bytes_for(TensorType::Q4_0, 4096), 4096u / 32 * 18);
    EXPECT_FALSE(type_info(4).has_value());
    EXPECT_FALSE(type_info(31).has_value());
    EXPECT_FALSE(type_info(40).has_value());
    EXPECT_EQ(type_from_name("q4_k"), TensorType::Q4_K);
    for (uint32_t id = 0; id < kTensorTypeIdLimit; ++id) {
        if (auto info = type_info(id)) {
            EXPECT_EQ(static_cast<uint32_t>(info->type), id);
        }
    }
}

// ---- writer -----------------------------------------------------------------------------------

TEST(GgufWriter, RoundTripsEveryValueTypeAndTensors) {
    std::string path = ::testing::TempDir() + "/roundtrip.gguf";
    Writer w(64);
    std::vector<std::pair<std::string, Value>> values = {
        {"u8", Value::u8(200)},
        {"i8", Value::i8(-100)},
        {"u16", Value::u16(60000)},
        {"i16", Value::i16(-30000)},
        {"u32", Value::u32(4000000000u)},
        {"i32", Value::i32(-2000000000)},
        {"u64", Value::u64(uint64_t{1} << 62)},
        {"i64", Value::i64(-(int64_t{1} << 62))},
        {"f32", Value::f32(1.5f)},
        {"f64", Value::f64(-2.25)},
        {"bool", Value::boolean(true)},
        {"string", Value::string("héllo\n\0x")},
        {"strings", Value::array(ValueType::String,
                                 {Value::string("a"), Value::string(""), Value::string("ccc")})},
        {"nested", Value::array(ValueType::Array,
                                {Value::array(ValueType::I32, {Value::i32(1), Value::i32(-2)}),
                                 Value::array(ValueType::I32, {})})},
    };
    for (const auto& [k, v] : values) w.set(k, v);
    std::vector<float> weights(96);
    for (size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<float>(i) * 0.5f - 3.0f;
    std::vector<uint8_t> bytes(weights.size() * 4);
    std::memcpy(bytes.data(), weights.data(), bytes.size());
    w.add_tensor("w", TensorType::F32, {32, 3}, bytes);
    w.add_tensor("q", TensorType::Q8_0, {64}, std::vector<uint8_t>(68, 7));
    w.write(path);

    File f = File::open(path);
    EXPECT_EQ(f.alignment(), 64u);
    EXPECT_EQ(f.data_offset() % 64, 0u);
    for (const auto& [k, v] : values) {
        ASSERT_NE(f.find(k), nullptr) << k;
        EXPECT_TRUE(*f.find(k) == v) << k;
    }
    const TensorInfo& t = f.tensor("w");
    EXPECT_EQ(t.shape_string(), "[32, 3]");
    EXPECT_EQ(std::memcmp(t.data, bytes.data(), bytes.size()), 0);
    const TensorInfo& q = f.tensor("q");
    EXPECT_EQ(q.type, TensorType::Q8_0);
    EXPECT_EQ(q.n_bytes, 68u);
    EXPECT_EQ(q.offset % 64, 0u);
    EXPECT_EQ(q.data[67], 7);
    EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
}

TEST(GgufWriter, RewritingARealFileKeepsEverything) {
    File original = File::open(data_path("models/stories260K.gguf"));
    Writer w;
    for (const auto& kv : original.metadata()) w.set(kv.key, kv.value);
    for (const auto& t : original.tensors()) {
        w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims),
                     std::vector<uint8_t>(t.data, t.data + t.n_bytes));
    }
    std::string path = ::testing::TempDir() + "/stories-copy.gguf";
    w.write(path);
    File copy = File::open(path);
    ASSERT_EQ(copy.metadata().size(), original.metadata().size());
    for (size_t i = 0; i < copy.metadata().size(); ++i) {
        EXPECT_EQ(copy.metadata()[i].key, original.metadata()[i].key);
        EXPECT_TRUE(copy.metadata()[i].value == original.metadata()[i].value)
            << copy.metadata()[i].key;
    }
    ASSERT_EQ(copy.tensors().size(), original.tensors().size());
    for (size_t i = 0; i < copy.tensors().size(); ++i) {
        const auto& a = copy.tensors()[i];
        const auto& b = original.tensors()[i];
        EXPECT_EQ(a.name, b.name);
        EXPECT_EQ(a.ne, b.ne);
        EXPECT_EQ(std::memcmp(a.data, b.data, a.n_bytes), 0) << a.name;
    }
    // The reference converter lays the file out the same way, so the bytes are identical.
    EXPECT_EQ(copy.file_size(), original.file_size());
}

TEST(GgufWriter, RefusesBadTensors) {
    Writer w;
    EXPECT_THROW(w.add_tensor("x", TensorType::Q4_0, {31}, std::vector<uint8_t>()), hearth::Error);
    w.add_tensor("x", TensorType::F32, {1}, std::vector<uint8_t>(4));
    EXPECT_THROW(w.add_tensor("x", TensorType::F32, {1}, std::vector<uint8_t>(4)), hearth::Error);
}

}  // namespace
