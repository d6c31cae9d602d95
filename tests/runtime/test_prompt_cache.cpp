// The prompt cache on disk: a scheduler that loads a prompt's keys and values from a file must
// answer exactly as the single-sequence loop (runtime::generate) does without it; files that
// are corrupt, truncated or another model's are never loaded.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>

#include "runtime/prompt_cache.h"
#include "runtime/scheduler.h"
#include "test_helpers.h"

namespace hearth::runtime {
namespace {

namespace fs = std::filesystem;

struct TempDir {
    fs::path path;
    TempDir() {
        static int counter = 0;
        path = fs::temp_directory_path() /
               ("hearth-prompt-cache-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
        fs::remove_all(path);
    }
    ~TempDir() { fs::remove_all(path); }
    std::vector<fs::path> files() const {
        std::vector<fs::path> out;
        if (!fs::exists(path)) return out;
        for (const auto& e : fs::directory_iterator(path)) {
            if (e.path().extension() == PromptCache::kExtension) out.push_back(e.path());
        }
        std::sort(out.begin(), out.end());
        return out;
    }
};

std::vector<uint8_t> read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}
void write_bytes(const fs::path& p, const std::vector<uint8_t>& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Collects warnings while alive.
struct LogCapture {
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink =
        std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
    LogCapture() { spdlog::default_logger()->sinks().push_back(sink); }
    ~LogCapture() {
        auto& sinks = spdlog::default_logger()->sinks();
        sinks.erase(std::remove(sinks.begin(), sinks.end(), sink), sinks.end());
    }
    bool contains(const std::string& text) const {
        for (const std::string& line : sink->last_formatted())
            if (line.find(text) != std::string::npos) return true;
        return false;
    }
};

struct Answer {
    std::string text;
    int64_t cached = 0;
};

Answer ask(Scheduler& scheduler, const std::vector<int32_t>& prompt, int32_t max_tokens) {
    auto answer = std::make_shared<Answer>();
    auto done = std::make_shared<std::promise<void>>();
    SequenceRequest r;
    r.prompt = prompt;
    r.sampling = testing::Oracle::greedy();
    r.max_tokens = max_tokens;
    r.on_event = [answer, done](SequenceEvent&& ev) {
        answer->text += ev.text;
        if (!ev.finished) return;
        answer->cached = ev.cached_prompt_tokens;
        done->set_value();
    };
    auto finished = done->get_future();
    EXPECT_FALSE(scheduler.submit({std::move(r)}).empty());
    finished.wait();
    return *answer;
}

// A prompt of about 200 tokens (several whole 32-token blocks) on the bundled model.
std::string long_text(const std::string& ending) {
    std::string text;
    for (int i = 0; i < 8; ++i)
        text += "Once upon a time, there was a little girl named Lily who loved to play in the park. ";
    return text + ending;
}

SchedulerParams cached_params(const fs::path& dir, gguf::TensorType kv = gguf::TensorType::F16) {
    SchedulerParams p{.ctx_per_seq = 512, .parallel = 2, .threads = 1, .kv_type = kv};
    p.prompt_cache = {.dir = dir.string(), .max_bytes = 1ull << 30, .min_tokens = 64};
    return p;
}

constexpr int32_t kMaxTokens = 24;

TEST(PromptCache, SurvivesARestartAndAnswersAsWithoutIt) {
    testing::Oracle oracle;
    TempDir dir;
    const auto prompt = oracle.tok->encode(long_text("She saw a"), true, false);
    ASSERT_GT(prompt.size(), 160u);
    const std::string want = oracle.run(prompt, kMaxTokens).text;
    {
        Scheduler first(oracle.model, *oracle.tok, cached_params(dir.path));
        const Answer a = ask(first, prompt, kMaxTokens);
        EXPECT_EQ(a.text, want);
        EXPECT_EQ(a.cached, 0);
        first.prompt_cache()->flush();
    }
    ASSERT_EQ(dir.files().size(), 1u);
    // A new scheduler (as after a restart) on the same directory.
    Scheduler second(oracle.model, *oracle.tok, cached_params(dir.path));
    second.prompt_cache()->flush();
    const Answer b = ask(second, prompt, kMaxTokens);
    EXPECT_EQ(b.text, want);
    const int64_t whole_blocks = static_cast<int64_t>(prompt.size() - 1) / 32 * 32;
    EXPECT_EQ(b.cached, whole_blocks);
    EXPECT_EQ(second.stats().prompt_tokens_loaded, static_cast<uint64_t>(whole_blocks));
}

TEST(PromptCache, APromptSharingTheFirstBlocksLoadsThem) {
    testing::Oracle oracle;
    TempDir dir;
    const auto first_prompt = oracle.tok->encode(long_text("She saw a big dog."), true, false);
    const auto prompt = oracle.tok->encode(long_text("Tom had a red ball and"), true, false);
    size_t shared = 0;
    while (first_prompt[shared] == prompt[shared]) ++shared;
    {
        Scheduler first(oracle.model, *oracle.tok, cached_params(dir.path));
        ask(first, first_prompt, 4);
        first.prompt_cache()->flush();
    }
    Scheduler second(oracle.model, *oracle.tok, cached_params(dir.path));
    second.prompt_cache()->flush();
    const Answer b = ask(second, prompt, kMaxTokens);
    EXPECT_EQ(b.text, oracle.run(prompt, kMaxTokens).text);
    EXPECT_EQ(b.cached, static_cast<int64_t>(shared) / 32 * 32);
    EXPECT_GT(b.cached, 0);
}

// Flipped bytes in a block: the blocks before it load, the rest is evaluated, the file goes.
TEST(PromptCache, ACorruptBlockIsIgnoredWithAWarning) {
    testing::Oracle oracle;
    TempDir dir;
    const auto prompt = oracle.tok->encode(long_text("She saw a"), true, false);
    const std::string want = oracle.run(prompt, kMaxTokens).text;
    {
        Scheduler first(oracle.model, *oracle.tok, cached_params(dir.path));
        ask(first, prompt, 1);
    }
    ASSERT_EQ(dir.files().size(), 1u);
    const fs::path file = dir.files()[0];
    std::vector<uint8_t> bytes = read_bytes(file);
    bytes[bytes.size() * 3 / 4] ^= 0x40;  // in the rows of a late block
    write_bytes(file, bytes);

    LogCapture log;
    Scheduler second(oracle.model, *oracle.tok, cached_params(dir.path));
    second.prompt_cache()->flush();
    const Answer b = ask(second, prompt, kMaxTokens);
    EXPECT_EQ(b.text, want);
    EXPECT_LT(b.cached, static_cast<int64_t>(prompt.size() - 1) / 32 * 32);
    EXPECT_EQ(b.cached % 32, 0);
    EXPECT_TRUE(log.contains("fails the checksum"));
    second.prompt_cache()->flush();
    // Deleted, then saved again by the full evaluation.
    ASSERT_EQ(dir.files().size(), 1u);
    Scheduler third(oracle.model, *oracle.tok, cached_params(dir.path));
    third.prompt_cache()->flush();
    EXPECT_EQ(ask(third, prompt, kMaxTokens).text, want);
}

TEST(PromptCache, ATruncatedFileIsDeletedWithAWarning) {
    testing::Oracle oracle;
    TempDir dir;
    const auto prompt = oracle.tok->encode(long_text("She saw a"), true, false);
    {
        Scheduler first(oracle.model, *oracle.tok, cached_params(dir.path));
        ask(first, prompt, 1);
    }
    ASSERT_EQ(dir.files().size(), 1u);
    const fs::path file = dir.files()[0];
    fs::resize_file(file, fs::file_size(file) - 100);

    LogCapture log;
    Scheduler second(oracle.model, *oracle.tok, cached_params(dir.path));
    second.prompt_cache()->flush();
    EXPECT_TRUE(log.contains("truncated"));
    EXPECT_FALSE(fs::exists(file));
    const Answer b = ask(second, prompt, kMaxTokens);
    EXPECT_EQ(b.text, oracle.run(prompt, kMaxTokens).text);
    EXPECT_EQ(b.cached, 0);
}

TEST(PromptCache, AnotherKvTypeDoesNotLoadTheFiles) {
    testing::Oracle oracle;
    TempDir dir;
    const auto prompt = oracle.tok->encode(long_text("She saw a"), true, false);
    {
        Scheduler f16(oracle.model, *oracle.tok, cached_params(dir.path));
        ask(f16, prompt, 1);
    }
    Scheduler f32(oracle.model, *oracle.tok, cached_params(dir.path, gguf::TensorType::F32));
    f32.prompt_cache()->flush();
    EXPECT_EQ(ask(f32, prompt, kMaxTokens).cached, 0);
    f32.prompt_cache()->flush();
    // Both files now: the F16 one was left alone for F16 schedulers.
    EXPECT_EQ(dir.files().size(), 2u);
}

TEST(PromptCache, ShortPromptsAreNotSaved) {
    testing::Oracle oracle;
    TempDir dir;
    Scheduler s(oracle.model, *oracle.tok, cached_params(dir.path));
    ask(s, oracle.tok->encode("Once upon a time, there was a little girl", true, false), 4);
    s.prompt_cache()->flush();
    EXPECT_TRUE(dir.files().empty());
}

// --- PromptCache alone, on a KV cache filled with known rows -------------------------------

constexpr int64_t kLayers = 2, kDim = 64, kBlock = 32;

struct Filled {
    model::KvCache cache{kLayers, kDim, 32, kBlock, 2, gguf::TensorType::F16};
    std::vector<int32_t> tokens;
    explicit Filled(int64_t n, uint32_t seed = 1) {
        std::mt19937 rng(seed);
        std::uniform_real_distribution<float> value(-2, 2);
        EXPECT_TRUE(cache.reserve(0, n));
        std::vector<float> k(kDim), v(kDim);
        for (int64_t pos = 0; pos < n; ++pos) {
            tokens.push_back(static_cast<int32_t>(rng() % 1000));
            for (int64_t l = 0; l < kLayers; ++l) {
                for (auto& x : k) x = value(rng);
                for (auto& x : v) x = value(rng);
                cache.store(l, 0, pos, k.data(), v.data());
            }
        }
    }
    // Whether sequence 1 holds sequence 0's rows at [0, n).
    bool same_rows(int64_t n) const {
        for (int64_t pos = 0; pos < n; ++pos) {
            for (int64_t l = 0; l < kLayers; ++l) {
                if (std::memcmp(cache.key(l, 0, pos), cache.key(l, 1, pos), cache.row_bytes()) ||
                    std::memcmp(cache.value(l, 0, pos), cache.value(l, 1, pos), cache.row_bytes()))
                    return false;
            }
        }
        return true;
    }
};

PromptCacheParams small(const fs::path& dir, uint64_t max_bytes = 1ull << 30) {
    return {.dir = dir.string(), .max_bytes = max_bytes, .min_tokens = 32};
}

TEST(PromptCache, LoadsTheRowsItSaved) {
    TempDir dir;
    Filled f(130);
    {
        PromptCache pc(small(dir.path), 42, f.cache);
        pc.save(f.tokens, f.cache, 0);
    }
    PromptCache pc(small(dir.path), 42, f.cache);
    pc.flush();
    const auto match = pc.lookup(f.tokens, 129);
    EXPECT_EQ(match.tokens, 128);
    ASSERT_TRUE(f.cache.reserve(1, 128));
    EXPECT_EQ(pc.load(match, f.tokens, 0, f.cache, 1), 128);
    EXPECT_TRUE(f.same_rows(128));
    // Another prompt: nothing; another model's identity: nothing, and the file stays.
    auto other = f.tokens;
    other[0] += 1;
    EXPECT_EQ(pc.lookup(other, 129).tokens, 0);
    PromptCache another_model(small(dir.path), 43, f.cache);
    another_model.flush();
    EXPECT_EQ(another_model.lookup(f.tokens, 129).tokens, 0);
    EXPECT_EQ(dir.files().size(), 1u);
}

TEST(PromptCache, KeepsTheDirectoryUnderItsSizeBound) {
    TempDir dir;
    Filled a(96, 1), b(96, 2);
    uint64_t one_file = 0;
    {
        PromptCache pc(small(dir.path), 42, a.cache);
        pc.save(a.tokens, a.cache, 0);
        pc.flush();
        ASSERT_EQ(dir.files().size(), 1u);
        one_file = fs::file_size(dir.files()[0]);
        // Older than any file written next, whatever the file system's time resolution.
        fs::last_write_time(dir.files()[0], fs::file_time_type::clock::now() - std::chrono::hours(1));
    }
    PromptCache pc(small(dir.path, one_file * 3 / 2), 42, a.cache);
    pc.flush();
    EXPECT_EQ(pc.lookup(a.tokens, 96).tokens, 96);
    pc.save(b.tokens, b.cache, 0);
    pc.flush();
    // Only the newer file fits; the index forgot the evicted one.
    EXPECT_EQ(dir.files().size(), 1u);
    EXPECT_EQ(pc.lookup(a.tokens, 96).tokens, 0);
    EXPECT_EQ(pc.lookup(b.tokens, 96).tokens, 96);
}

// Whatever bytes a file holds, loading never crashes and never stores a row that differs
// from what was saved (checked blocks only).
TEST(PromptCache, DamagedFilesNeverLoadGarbage) {
    TempDir dir;
    Filled f(128);
    {
        PromptCache pc(small(dir.path), 7, f.cache);
        pc.save(f.tokens, f.cache, 0);
    }
    ASSERT_EQ(dir.files().size(), 1u);
    const fs::path file = dir.files()[0];
    const std::vector<uint8_t> good = read_bytes(file);
    std::mt19937 rng(1234);
    for (int round = 0; round < 150; ++round) {
        write_bytes(file, good);
        PromptCache pc(small(dir.path), 7, f.cache);
        pc.flush();
        const auto match = pc.lookup(f.tokens, 128);
        ASSERT_EQ(match.tokens, 128);
        std::vector<uint8_t> bad = good;
        switch (round % 3) {
            case 0:  // flipped bits anywhere
                for (int i = 0; i < 1 + round % 5; ++i) bad[rng() % bad.size()] ^= 1u << (rng() % 8);
                break;
            case 1:  // cut anywhere
                bad.resize(rng() % bad.size());
                break;
            default:  // random bytes after a valid-looking start
                for (size_t i = 8 + rng() % 64; i < bad.size(); ++i) bad[i] = static_cast<uint8_t>(rng());
                break;
        }
        write_bytes(file, bad);
        f.cache.clear(1);
        ASSERT_TRUE(f.cache.reserve(1, 128));
        const int64_t held = pc.load(match, f.tokens, 0, f.cache, 1);
        EXPECT_EQ(held % kBlock, 0);
        EXPECT_TRUE(f.same_rows(held)) << "round " << round;
    }
    // Random files at the directory's scan: all refused, none crashes.
    for (int round = 0; round < 50; ++round) {
        std::vector<uint8_t> junk(rng() % 4096);
        for (auto& x : junk) x = static_cast<uint8_t>(rng());
        if (round % 2 && junk.size() > 8) std::memcpy(junk.data(), good.data(), 8 + rng() % 48);
        write_bytes(dir.path / ("junk" + std::to_string(round) + PromptCache::kExtension), junk);
    }
    PromptCache pc(small(dir.path), 7, f.cache);
    pc.flush();
    EXPECT_EQ(pc.lookup(f.tokens, 128).tokens, 0);
}

}  // namespace
}  // namespace hearth::runtime
