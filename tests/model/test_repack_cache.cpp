// The repacked-weights cache (model/repack_cache.h). Oracles: the private copies the loader
// makes without a cache (the path every other test checks against the reference engine and
// the numpy references), compared byte for byte and through the logits; the kernel's own
// accounting of shared and locked pages (/proc/PID/smaps) for a second real process mapping
// the file; damaged, truncated and stale files made by hand.
#include <gtest/gtest.h>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "core/log.h"
#include "kernels/cpu.h"
#include "kernels/repack.h"
#include "model/model.h"
#include "model/repack_cache.h"
#include "runtime/context.h"
#include "tools/synthetic.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

struct TempDir {
    fs::path path;
    TempDir() {
        char pattern[] = "/tmp/hearth-repack-cache-XXXXXX";
        path = ::mkdtemp(pattern);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::string write_model(const fs::path& path, const std::string& preset, const std::string& type,
                        uint64_t seed = 42) {
    tools::SyntheticOptions options;
    options.shape = tools::synthetic_shape(preset);
    if (const std::string& arch = tools::synthetic_preset(preset).architecture; !arch.empty())
        options.architecture = arch;
    options.type = type;
    options.seed = seed;
    tools::write_synthetic_model(options, path.string());
    return path.string();
}

std::shared_ptr<model::Model> load(const std::string& path, const std::string& cache,
                                   bool mlock = false) {
    return model::Model::load(path, {.mlock = mlock, .threads = 2, .repack_cache = cache});
}

std::vector<float> logits_of(std::shared_ptr<const model::Model> model) {
    runtime::ContextParams params;
    params.n_ctx = 64;
    params.threads = 2;
    runtime::Context ctx(model, params);
    const float* logits = ctx.append(0, {1, 17, 33, 250, 9, 100, 77, 5});
    return {logits, logits + model->hparams().n_vocab};
}

// Warnings logged while it lives.
class LogCapture {
  public:
    LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256)) {
        log::init();
        spdlog::default_logger()->sinks().push_back(sink_);
    }
    ~LogCapture() {
        auto& sinks = spdlog::default_logger()->sinks();
        sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
    }
    std::string text() const {
        std::string all;
        for (const std::string& line : sink_->last_formatted()) all += line;
        return all;
    }

  private:
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

model::RepackCacheKey key_of(const model::Model& m) {
    return {m.identity(), model::repack_cache_stamp(m.file()), kernels::cpu_level()};
}

// Whether `path` is a valid cache of `m`'s repacked matrices now.
bool valid_cache(const std::string& path, const model::Model& m, std::string& why) {
    kernels::ThreadPool pool(1);
    return model::RepackCache::open(path, m.file(), key_of(m), m.repacked_matrices(), pool, why) !=
           nullptr;
}

struct Mapping {
    uint64_t inode = 0;
    uint64_t rss_kib = 0, pss_kib = 0, shared_kib = 0, locked_kib = 0;
};

// The memory of the mappings of `path` in /proc/PID/smaps, as the kernel counts it.
Mapping mapping_of(const std::string& pid, const std::string& path) {
    std::ifstream smaps("/proc/" + pid + "/smaps");
    Mapping m;
    bool inside = false;
    for (std::string line; std::getline(smaps, line);) {
        std::istringstream words(line);
        std::string first;
        words >> first;
        if (first.find('-') != std::string::npos && first.back() != ':') {  // a mapping's header
            std::string perms, offset, device;
            uint64_t inode = 0;
            words >> perms >> offset >> device >> inode;
            inside = line.size() >= path.size() &&
                     line.compare(line.size() - path.size(), path.size(), path) == 0;
            if (inside) m.inode = inode;
            continue;
        }
        if (!inside) continue;
        uint64_t kib = 0;
        words >> kib;
        if (first == "Rss:") m.rss_kib += kib;
        if (first == "Pss:") m.pss_kib += kib;
        if (first == "Shared_Clean:" || first == "Shared_Dirty:") m.shared_kib += kib;
        if (first == "Locked:") m.locked_kib += kib;
    }
    return m;
}

uint64_t inode_of(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

#define SKIP_WITHOUT_REPACKING()                           \
    if (kernels::cpu_level() == kernels::CpuLevel::Scalar) \
    GTEST_SKIP() << "no repacking at the scalar level"

TEST(RepackCache, PathsFollowTheSetting) {
    using kernels::CpuLevel;
    ::unsetenv("HEARTH_REPACK_CACHE");
    ::setenv("XDG_CACHE_HOME", "/var/cache/x", 1);
    EXPECT_TRUE(model::repack_cache_paths("/models/a.gguf", CpuLevel::Avx2, "off").empty());

    const auto defaults = model::repack_cache_paths("/models/a.gguf", CpuLevel::Avx2, "");
    ASSERT_EQ(defaults.size(), 2u);
    EXPECT_EQ(defaults[0], "/models/a.gguf.hearth-repack-avx2");
    EXPECT_TRUE(defaults[1].starts_with("/var/cache/x/hearth/repack/a.gguf-")) << defaults[1];
    EXPECT_TRUE(defaults[1].ends_with(".hearth-repack-avx2")) << defaults[1];

    const auto folder = model::repack_cache_paths("/models/a.gguf", CpuLevel::Avx512, "/c");
    ASSERT_EQ(folder.size(), 1u);
    EXPECT_TRUE(folder[0].starts_with("/c/a.gguf-")) << folder[0];
    EXPECT_TRUE(folder[0].ends_with(".hearth-repack-avx512")) << folder[0];
    // Two models of one file name in a shared folder get two files.
    EXPECT_NE(model::repack_cache_paths("/other/a.gguf", CpuLevel::Avx512, "/c")[0], folder[0]);

    ::setenv("HEARTH_REPACK_CACHE", "off", 1);
    EXPECT_TRUE(model::repack_cache_paths("/models/a.gguf", CpuLevel::Avx2, "").empty());
    ::setenv("HEARTH_REPACK_CACHE", "/d", 1);
    EXPECT_TRUE(
        model::repack_cache_paths("/models/a.gguf", CpuLevel::Avx2, "")[0].starts_with("/d/"));
    // The explicit setting (the --repack-cache flag) wins over the environment.
    EXPECT_TRUE(model::repack_cache_paths("/models/a.gguf", CpuLevel::Avx2, "off").empty());
    ::unsetenv("HEARTH_REPACK_CACHE");
}

class ColdWarmPrivate : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(ColdWarmPrivate, GiveTheSameBytesAndLogits) {
    SKIP_WITHOUT_REPACKING();
    const auto [preset, type] = GetParam();
    TempDir dir;
    const std::string path = write_model(dir.path / "model.gguf", preset, type);
    const std::string cache_dir = (dir.path / "cache").string();

    auto reference = load(path, "off");
    ASSERT_TRUE(reference->repack_cache_path().empty());
    const auto want_matrices = reference->repacked_matrices();
    ASSERT_GT(want_matrices.size(), 2u) << "the test needs a model whose matrices repack";
    const std::vector<float> want = logits_of(reference);

    auto cold = load(path, cache_dir);
    const std::string cache = cold->repack_cache_path();
    ASSERT_FALSE(cache.empty()) << "no cache file was written";
    EXPECT_EQ(fs::path(cache).parent_path(), fs::path(cache_dir));
    const auto matrices = cold->repacked_matrices();
    ASSERT_EQ(matrices.size(), want_matrices.size());
    for (size_t i = 0; i < matrices.size(); ++i) {
        EXPECT_EQ(std::memcmp(matrices[i]->repacked, want_matrices[i]->repacked,
                              kernels::repacked_bytes(*matrices[i])),
                  0)
            << "matrix " << i << " differs from its private copy";
    }
    EXPECT_EQ(logits_of(cold), want);
    const uint64_t inode = inode_of(cache);
    cold.reset();

    LogCapture log;
    auto warm = load(path, cache_dir);
    EXPECT_EQ(warm->repack_cache_path(), cache);
    EXPECT_EQ(inode_of(cache), inode) << "a valid cache was written again";
    EXPECT_EQ(log.text().find("repacking again"), std::string::npos) << log.text();
    EXPECT_EQ(logits_of(warm), want);
}

// A dense model in the Q4_K_M mix (Q4_K and Q6_K matrices), and experts as views into 3-D
// tensors (each view's offset in its tensor is part of the index).
INSTANTIATE_TEST_SUITE_P(Models, ColdWarmPrivate,
                         ::testing::Values(std::make_pair("tiny", "Q4_K_M"),
                                           std::make_pair("mixtral-tiny", "Q8_0")),
                         [](const auto& info) {
                             std::string name =
                                 std::string(info.param.first) + "_" + info.param.second;
                             std::replace(name.begin(), name.end(), '-', '_');
                             return name;
                         });

TEST(RepackCache, DamagedTruncatedAndStaleFilesAreRebuiltWithAWarning) {
    SKIP_WITHOUT_REPACKING();
    TempDir dir;
    const std::string path = write_model(dir.path / "model.gguf", "tiny", "Q4_K_M");
    const std::string cache_dir = (dir.path / "cache").string();
    const std::vector<float> want = logits_of(load(path, "off"));
    const std::string cache = load(path, cache_dir)->repack_cache_path();
    ASSERT_FALSE(cache.empty());
    const uint64_t size = fs::file_size(cache);

    auto flip_byte = [&](uint64_t offset) {
        std::fstream f(cache, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(static_cast<std::streamoff>(offset));
        const char byte = static_cast<char>(f.get() ^ 0x5A);
        f.seekp(static_cast<std::streamoff>(offset));
        f.put(byte);
    };
    const kernels::CpuLevel other = kernels::cpu_level() == kernels::CpuLevel::Avx512
                                        ? kernels::CpuLevel::Avx2
                                        : kernels::CpuLevel::Avx512;
    struct Case {
        const char* name;
        std::function<void()> spoil;
        std::string warning;
    };
    const std::vector<Case> cases = {
        {"a byte of the last copy", [&] { flip_byte(size - 100); },
         "fails the checksum of its bytes"},
        {"a byte of the index", [&] { flip_byte(72 + 8); }, "fails its header checksum"},
        {"a byte of the model identity", [&] { flip_byte(24); }, "fails its header checksum"},
        {"half the file", [&] { fs::resize_file(cache, size / 2); }, "truncated"},
        {"a header only", [&] { fs::resize_file(cache, 40); }, "shorter than its header"},
        {"another file", [&] { std::ofstream(cache, std::ios::binary) << std::string(4096, 'x'); },
         "is not a repacked-weights cache"},
        {"another CPU level's file",
         [&] {
             auto m = load(path, "off");
             kernels::ThreadPool pool(2);
             model::RepackCacheKey key = key_of(*m);
             key.level = other;
             model::RepackCache::build(cache, m->file(), key, m->repacked_matrices(), pool);
         },
         "was built for the " + std::string(kernels::cpu_level_name(other)) + " level"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        c.spoil();
        LogCapture log;
        auto m = load(path, cache_dir);
        EXPECT_NE(log.text().find(c.warning), std::string::npos) << log.text();
        EXPECT_NE(log.text().find(cache), std::string::npos) << "the warning names the file";
        EXPECT_EQ(m->repack_cache_path(), cache);
        EXPECT_EQ(logits_of(m), want);
        std::string why;
        EXPECT_TRUE(valid_cache(cache, *m, why)) << "not rebuilt: " << why;
        EXPECT_EQ(fs::file_size(cache), size);
    }
}

TEST(RepackCache, AChangedModelIsRepackedAgain) {
    SKIP_WITHOUT_REPACKING();
    TempDir dir;
    const fs::path path = dir.path / "model.gguf";
    const std::string cache_dir = (dir.path / "cache").string();
    write_model(path, "tiny", "Q4_K_M", 42);
    const std::vector<float> first = logits_of(load(path, cache_dir));

    // Another model under the same name: other weights, same header.
    write_model(path, "tiny", "Q4_K_M", 43);
    const std::vector<float> want = logits_of(load(path, "off"));
    ASSERT_NE(want, first);
    {
        LogCapture log;
        auto m = load(path, cache_dir);
        EXPECT_NE(log.text().find("another version of the model file"), std::string::npos)
            << log.text();
        EXPECT_EQ(logits_of(m), want);
    }
    // The same bytes with a new modification time (copied over, touched): rebuilt too, since
    // the identity reads only the first bytes of each tensor.
    fs::last_write_time(path, fs::last_write_time(path) + std::chrono::seconds(5));
    LogCapture log;
    auto m = load(path, cache_dir);
    EXPECT_NE(log.text().find("another version of the model file"), std::string::npos)
        << log.text();
    EXPECT_EQ(logits_of(m), want);
    std::string why;
    EXPECT_TRUE(valid_cache(m->repack_cache_path(), *m, why)) << why;
}

// The second process of TwoProcessesShareOnePageCacheCopy: loads the model named by
// HEARTH_TEST_REPACK_CHILD ("MODEL|CACHE_DIR"), prints the cache file it maps, waits for
// stdin's end.
TEST(RepackCacheChild, HoldsTheModel) {
    const char* spec = std::getenv("HEARTH_TEST_REPACK_CHILD");
    if (!spec) GTEST_SKIP() << "run by RepackCache.TwoProcessesShareOnePageCacheCopy";
    const std::string s = spec;
    const size_t bar = s.find('|');
    auto m = load(s.substr(0, bar), s.substr(bar + 1));
    std::printf("child maps: %s\n", m->repack_cache_path().c_str());
    std::fflush(stdout);
    char byte;
    while (::read(STDIN_FILENO, &byte, 1) > 0) {
    }
}

TEST(RepackCache, TwoProcessesShareOnePageCacheCopy) {
    SKIP_WITHOUT_REPACKING();
    TempDir dir;
    const std::string path = write_model(dir.path / "model.gguf", "tiny", "Q4_K_M");
    const std::string cache_dir = (dir.path / "cache").string();
    auto m = load(path, cache_dir);
    const std::string cache = m->repack_cache_path();
    ASSERT_FALSE(cache.empty());
    const Mapping alone = mapping_of("self", cache);
    ASSERT_GT(alone.rss_kib, 0u);

    int to_child[2], from_child[2];
    ASSERT_EQ(::pipe(to_child), 0);
    ASSERT_EQ(::pipe(from_child), 0);
    // Everything the child needs is made before fork: it only redirects and execs.
    std::string spec = "HEARTH_TEST_REPACK_CHILD=" + path + "|" + cache_dir;
    std::string filter = "--gtest_filter=RepackCacheChild.HoldsTheModel";
    std::string self = fs::read_symlink("/proc/self/exe").string();
    std::vector<char*> env;
    for (char** e = environ; *e; ++e) env.push_back(*e);
    env.push_back(spec.data());
    env.push_back(nullptr);
    char* argv[] = {self.data(), filter.data(), nullptr};
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::dup2(to_child[0], STDIN_FILENO);
        ::dup2(from_child[1], STDOUT_FILENO);
        ::close(to_child[1]);
        ::close(from_child[0]);
        ::execve(self.c_str(), argv, env.data());
        ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    std::string output;
    char buf[256];
    for (ssize_t n; output.find("child maps: ") == std::string::npos ||
                    output.find('\n', output.find("child maps: ")) == std::string::npos;) {
        n = ::read(from_child[0], buf, sizeof buf);
        if (n <= 0) break;
        output.append(buf, static_cast<size_t>(n));
    }
    const Mapping shared = mapping_of("self", cache);
    const Mapping in_child = mapping_of(std::to_string(child), cache);
    ::close(to_child[1]);
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(from_child[0]);

    EXPECT_NE(output.find("child maps: " + cache + "\n"), std::string::npos) << output;
    EXPECT_EQ(in_child.inode, inode_of(cache)) << "the child maps another file";
    EXPECT_GT(in_child.rss_kib, 0u);
    std::printf(
        "cache mapping: alone Rss %lu Pss %lu KiB; with the child Rss %lu Pss %lu shared %lu KiB\n",
        (unsigned long)alone.rss_kib, (unsigned long)alone.pss_kib, (unsigned long)shared.rss_kib,
        (unsigned long)shared.pss_kib, (unsigned long)shared.shared_kib);
    // Both processes map the same page-cache pages: each is charged half of them.
    EXPECT_GE(shared.shared_kib * 10, shared.rss_kib * 9);
    EXPECT_LE(shared.pss_kib * 10, shared.rss_kib * 6);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
}

TEST(RepackCache, MlockLocksTheMappedCopiesNotTheFilePagesTheyReplace) {
    SKIP_WITHOUT_REPACKING();
    TempDir dir;
    const std::string path = write_model(dir.path / "model.gguf", "tiny", "Q4_K_M");
    auto m = load(path, (dir.path / "cache").string(), /*mlock=*/true);
    const std::string cache = m->repack_cache_path();
    ASSERT_FALSE(cache.empty());
    const Mapping copies = mapping_of("self", cache);
    const Mapping file = mapping_of("self", path);
    if (copies.locked_kib == 0) GTEST_SKIP() << "the OS refused mlock (RLIMIT_MEMLOCK)";

    uint64_t copied = 0, repacked = 0;
    for (const kernels::WeightMatrix* w : m->repacked_matrices()) {
        repacked += kernels::repacked_bytes(*w);
        if (w->data != m->weights().token_embd.data) copied += uint64_t(w->rows) * w->row_bytes;
    }
    EXPECT_GE(copies.locked_kib * 1024, repacked);
    const uint64_t file_bytes = fs::file_size(path);
    const uint64_t slop = 2 * 4096 * (m->weight_ranges_in_use().size() + 1);
    EXPECT_LE(file.locked_kib * 1024, file_bytes - copied + slop)
        << "locked " << file.locked_kib << " KiB of the model file, whose " << copied / 1024
        << " KiB are in the cache";
}

}  // namespace
}  // namespace hearth
