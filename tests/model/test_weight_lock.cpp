// `mlock: true` locks the weights a forward pass reads: the repacked copies and the mapped
// file's tensors minus what repacking copied away. Locking the whole file (as before) read back
// every released page and held the repacked weights twice. Oracle: the kernel's own count of
// the file mapping's locked pages (/proc/self/smaps) against the file's size and the bytes the
// model says it copied.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "kernels/cpu.h"
#include "kernels/repack.h"
#include "model/model.h"
#include "tools/synthetic.h"

namespace hearth {
namespace {

struct MappingMemory {
    uint64_t rss_kib = 0, locked_kib = 0;
};

// The Rss and Locked lines of the mappings of `path` in /proc/self/smaps.
MappingMemory mapping_memory(const std::string& path) {
    std::ifstream smaps("/proc/self/smaps");
    MappingMemory m;
    bool inside = false;
    for (std::string line; std::getline(smaps, line);) {
        std::istringstream words(line);
        std::string first;
        words >> first;
        if (first.find('-') != std::string::npos && first.back() != ':') {  // a mapping's header
            inside = line.size() >= path.size() && line.compare(line.size() - path.size(), path.size(), path) == 0;
        } else if (inside && (first == "Rss:" || first == "Locked:")) {
            uint64_t kib = 0;
            words >> kib;
            (first == "Rss:" ? m.rss_kib : m.locked_kib) += kib;
        }
    }
    return m;
}

TEST(WeightLock, LocksTheRepackedCopiesNotTheFilePagesTheyReplace) {
    if (kernels::cpu_level() == kernels::CpuLevel::Scalar) GTEST_SKIP() << "no repacking at the scalar level";
    tools::SyntheticOptions options;
    options.shape.n_vocab = 512;
    options.shape.n_embd = 512;
    options.shape.n_ff = 1536;
    options.shape.n_layer = 4;
    options.shape.n_head = 8;
    options.shape.n_head_kv = 4;
    options.type = "Q4_0";
    const std::string path =
        (std::filesystem::temp_directory_path() / ("hearth-weight-lock-" + std::to_string(::getpid()) + ".gguf")).string();
    tools::write_synthetic_model(options, path);
    const uint64_t file_bytes = std::filesystem::file_size(path);

    // Private copies (test_repack_cache checks mlock with the shared cache file).
    auto model = model::Model::load(path, {.mlock = true, .repack_cache = "off"});
    std::filesystem::remove(path);  // the mapping stays valid
    const MappingMemory file = mapping_memory(path + " (deleted)");

    // What the model copied out of the file, from its own weights.
    uint64_t copied = 0, repacked = 0;
    auto count = [&](const kernels::WeightMatrix& w) {
        if (!w.data || !w.repacked) return;
        repacked += kernels::repacked_bytes(w);
        if (w.data != model->weights().token_embd.data) copied += uint64_t(w.rows) * w.row_bytes;
    };
    for (const auto& lw : model->weights().layers)
        for (const auto* w : {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.w_gate, &lw.w_up, &lw.w_down}) count(*w);
    count(model->weights().output);
    ASSERT_GT(copied, file_bytes / 2) << "the test needs a model whose matrices mostly repack";
    if (file.locked_kib == 0) GTEST_SKIP() << "the OS refused mlock (RLIMIT_MEMLOCK)";

    // None of the pages repacking released is locked: at most a page at each end of each kept
    // range beyond the tensors not copied. (The header's pages may be resident, not locked.)
    std::printf("file %lu KiB, copied away %lu KiB; its mapping: %lu KiB resident, %lu KiB locked\n",
                (unsigned long)(file_bytes / 1024), (unsigned long)(copied / 1024),
                (unsigned long)file.rss_kib, (unsigned long)file.locked_kib);
    const uint64_t slop = 2 * 4096 * (model->weight_ranges_in_use().size() + 1);
    EXPECT_LE(file.locked_kib * 1024, file_bytes - copied + slop)
        << "locked " << file.locked_kib << " KiB of a " << file_bytes / 1024 << " KiB file whose "
        << copied / 1024 << " KiB were copied away";
    // The copies themselves are locked: the process's locked total covers them too.
    std::ifstream status("/proc/self/status");
    uint64_t vm_lck_kib = 0;
    for (std::string line; std::getline(status, line);)
        if (line.rfind("VmLck:", 0) == 0) vm_lck_kib = std::stoull(line.substr(6));
    EXPECT_GE(vm_lck_kib * 1024, repacked + file.locked_kib * 1024);
}

}  // namespace
}  // namespace hearth
