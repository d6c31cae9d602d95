#include "model/repack_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/checksum.h"
#include "core/error.h"
#include "core/format.h"
#include "core/log.h"
#include "gguf/split.h"
#include "kernels/repack.h"
#include "kernels/type_traits.h"

namespace hearth::model {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'H', 'E', 'A', 'R', 'T', 'H', 'R', 'W'};
constexpr uint32_t kFormatVersion = 1;
constexpr uint64_t kChunkBytes = uint64_t{8} << 20;  // checked in parallel, chunk by chunk
constexpr uint64_t kCopyAlignment = 64;              // what the packed kernels' loads want
// The copies start on a 2 MiB boundary of the file, so that the kernel can map them with huge
// pages where it keeps the file's page cache in such folios (fewer TLB misses when decode
// streams through the weights, as the private copies' MADV_HUGEPAGE buffers get).
constexpr uint64_t kDataAlignment = uint64_t{2} << 20;
constexpr const char* kCacheSuffix = ".hearth-repack-";  // then the CPU level's name

struct Header {
    char magic[8];
    uint32_t format_version;
    uint32_t layout_version;  // kernels::kRepackLayoutVersion
    uint32_t cpu_level;
    uint32_t n_entries;
    uint64_t model_identity;
    uint64_t model_stamp;
    uint64_t data_offset;  // page aligned
    uint64_t file_bytes;
    uint64_t chunk_bytes;
    uint64_t checksum;  // hash64 of the bytes above, then of the index and chunk checksums
};
static_assert(sizeof(Header) == 72);
constexpr size_t kCheckedHeaderBytes = offsetof(Header, checksum);

// One repacked matrix: where its rows are in the model, what they are, where the copy is.
struct Entry {
    uint32_t type;
    uint32_t tensor;         // index in the model's tensor list
    uint64_t tensor_offset;  // of the matrix's first row in that tensor (expert views)
    int64_t rows;
    int64_t cols;
    uint64_t packed_block_bytes;  // the packed layout's block size, as this hearth builds it
    uint64_t offset;              // of the copy, from data_offset
    uint64_t bytes;
};
static_assert(sizeof(Entry) == 56);

uint64_t align_up(uint64_t n, uint64_t to) {
    return (n + to - 1) / to * to;
}

// What a valid file for these matrices holds, but for its checksums.
struct Plan {
    Header header{};
    std::vector<Entry> entries;
    uint64_t n_chunks = 0;

    uint64_t index_bytes() const { return entries.size() * sizeof(Entry) + n_chunks * 8; }
    uint64_t data_bytes() const { return header.file_bytes - header.data_offset; }
};

Plan plan_cache(const gguf::File& file, const RepackCacheKey& key,
                std::span<const kernels::WeightMatrix* const> matrices) {
    std::vector<std::pair<const uint8_t*, uint32_t>> starts;  // tensors by data address
    for (size_t i = 0; i < file.tensors().size(); ++i)
        if (file.tensors()[i].data)
            starts.emplace_back(file.tensors()[i].data, static_cast<uint32_t>(i));
    std::sort(starts.begin(), starts.end());

    Plan plan;
    uint64_t offset = 0;
    for (const kernels::WeightMatrix* w : matrices) {
        auto it =
            std::upper_bound(starts.begin(), starts.end(), std::make_pair(w->data, UINT32_MAX));
        if (it == starts.begin()) throw Error("a repacked matrix lies outside the model's tensors");
        const auto& [start, tensor] = *--it;
        Entry e{};
        e.type = static_cast<uint32_t>(w->type);
        e.tensor = tensor;
        e.tensor_offset = static_cast<uint64_t>(w->data - start);
        e.rows = w->rows;
        e.cols = w->cols;
        e.packed_block_bytes = kernels::traits(w->type).packed.bytes;
        e.offset = offset;
        e.bytes = kernels::repacked_bytes(*w);
        plan.entries.push_back(e);
        offset = align_up(offset + e.bytes, kCopyAlignment);
    }
    plan.n_chunks = (offset + kChunkBytes - 1) / kChunkBytes;
    Header& h = plan.header;
    std::memcpy(h.magic, kMagic, sizeof kMagic);
    h.format_version = kFormatVersion;
    h.layout_version = kernels::kRepackLayoutVersion;
    h.cpu_level = static_cast<uint32_t>(key.level);
    h.n_entries = static_cast<uint32_t>(plan.entries.size());
    h.model_identity = key.model_identity;
    h.model_stamp = key.model_stamp;
    h.data_offset = align_up(sizeof(Header) + plan.index_bytes(), kDataAlignment);
    h.file_bytes = h.data_offset + offset;
    h.chunk_bytes = kChunkBytes;
    return plan;
}

// The header checksum of the file at `p`: its header up to the checksum, then the index and
// chunk checksums (`index_bytes` of them) that follow the header.
uint64_t header_checksum(const uint8_t* p, uint64_t index_bytes) {
    return hash64(p + sizeof(Header), index_bytes, hash64(p, kCheckedHeaderBytes));
}

// The chunk checksums of the data region [data, data + n), on the pool.
void chunk_checksums(const uint8_t* data, uint64_t n, uint64_t* out, kernels::ThreadPool& pool) {
    const int64_t n_chunks = static_cast<int64_t>((n + kChunkBytes - 1) / kChunkBytes);
    pool.parallel_for(n_chunks, [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end; ++c) {
            const uint64_t at = static_cast<uint64_t>(c) * kChunkBytes;
            out[c] = hash64(data + at, std::min(kChunkBytes, n - at));
        }
    });
}

std::string hex(uint64_t v, int digits) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return std::string(buf + 16 - digits);
}

// A new file at `path`, its blocks reserved (so writes through the mapping cannot meet a full
// disk, which would be a SIGBUS) and mapped for writing. Removed again unless committed.
class NewMappedFile {
  public:
    NewMappedFile(const std::string& path, uint64_t bytes) : path_(path), size_(bytes) {
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd_ < 0) throw Error("cannot create '" + path + "': " + std::strerror(errno));
        if (const int err = ::posix_fallocate(fd_, 0, static_cast<off_t>(bytes)); err != 0) {
            discard();
            fail("cannot reserve " + format_bytes(bytes) + ": " + std::strerror(err));
        }
        void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            discard();
            fail(std::string("cannot map it: ") + std::strerror(err));
        }
        data_ = static_cast<uint8_t*>(p);
    }
    ~NewMappedFile() { discard(); }
    NewMappedFile(const NewMappedFile&) = delete;
    NewMappedFile& operator=(const NewMappedFile&) = delete;

    uint8_t* data() const { return data_; }

    // Flushes the bytes to disk and renames the file to `target` (replacing what is there),
    // then makes the rename itself durable.
    void commit(const std::string& target) {
        if (::msync(data_, size_, MS_SYNC) != 0 || ::fsync(fd_) != 0) {
            const int err = errno;
            discard();
            fail(std::string("cannot write it to disk: ") + std::strerror(err));
        }
        ::munmap(data_, size_);
        data_ = nullptr;
        if (::rename(path_.c_str(), target.c_str()) != 0) {
            const int err = errno;
            discard();
            fail("cannot rename it to '" + target + "': " + std::strerror(err));
        }
        ::close(fd_);
        fd_ = -1;
        const int dir =
            ::open(fs::path(target).parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir >= 0) {
            ::fsync(dir);
            ::close(dir);
        }
    }

  private:
    [[noreturn]] void fail(const std::string& why) { throw Error("'" + path_ + "': " + why); }
    // Unmaps, closes and removes the file unless it was committed.
    void discard() {
        if (data_) ::munmap(data_, size_);
        data_ = nullptr;
        if (fd_ >= 0) {
            ::close(fd_);
            ::unlink(path_.c_str());
        }
        fd_ = -1;
    }

    std::string path_;
    uint64_t size_;
    int fd_ = -1;
    uint8_t* data_ = nullptr;
};

// An exclusive flock on a folder while a cache is built in it: processes that start together
// wait for the first one's file instead of each repacking. Without flock support (some network
// file systems) the builds race; each file is still written whole.
class FolderLock {
  public:
    explicit FolderLock(const std::string& dir) {
        fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd_ < 0) return;
        if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
        if (errno == EWOULDBLOCK) {
            log::info("waiting for another process that writes repacked weights into '{}'", dir);
            if (::flock(fd_, LOCK_EX) == 0) return;
        }
        ::close(fd_);
        fd_ = -1;
    }
    ~FolderLock() {
        if (fd_ >= 0) ::close(fd_);  // releases the lock
    }
    FolderLock(const FolderLock&) = delete;
    FolderLock& operator=(const FolderLock&) = delete;
    bool held() const { return fd_ >= 0; }

  private:
    int fd_ = -1;
};

std::string temporary_name(const fs::path& target) {
    return "." + target.filename().string() + "." + std::to_string(::getpid()) + ".tmp";
}

// Temporary files of `target` left by a process that died while writing it. Only called with
// the folder locked: a live writer would hold the lock.
void remove_abandoned_temporaries(const fs::path& target) {
    const std::string prefix = "." + target.filename().string() + ".";
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(target.parent_path(), ec)) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with(prefix) && name.ends_with(".tmp")) fs::remove(entry.path(), ec);
    }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

uint64_t repack_cache_stamp(const gguf::File& file) {
    std::vector<std::string> parts = {file.name()};  // File::open names a file by its path
    gguf::SplitName split;
    if (file.n_parts() > 1 && gguf::parse_split_name(file.name(), split)) {
        for (int i = 2; i <= split.count; ++i)
            parts.push_back(gguf::split_part_path(split.stem, i, split.count));
    }
    uint64_t h = kFnvOffset;
    for (const std::string& path : parts) {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) continue;
        const int64_t fields[] = {static_cast<int64_t>(st.st_size), st.st_mtim.tv_sec,
                                  st.st_mtim.tv_nsec};
        h = fnv1a(fields, sizeof fields, h);
    }
    return h;
}

std::vector<std::string> repack_cache_paths(const std::string& model_path, kernels::CpuLevel level,
                                            const std::string& setting) {
    std::string where = setting;
    if (where.empty())
        if (const char* env = std::getenv("HEARTH_REPACK_CACHE")) where = env;
    if (where == "off") return {};
    std::error_code ec;
    fs::path model = fs::absolute(model_path, ec);
    if (ec) model = model_path;
    const std::string suffix = kCacheSuffix + std::string(kernels::cpu_level_name(level));
    // In a shared folder, two models of the same file name differ by their folder's hash.
    const std::string shared_name = model.filename().string() + "-" +
                                    hex(fnv1a(model.string().data(), model.string().size()), 8) +
                                    suffix;
    if (!where.empty()) return {(fs::path(where) / shared_name).string()};

    std::vector<std::string> paths = {model.string() + suffix};
    fs::path cache_home;
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
        cache_home = xdg;
    } else if (const char* home = std::getenv("HOME"); home && *home) {
        cache_home = fs::path(home) / ".cache";
    }
    if (!cache_home.empty())
        paths.push_back((cache_home / "hearth" / "repack" / shared_name).string());
    return paths;
}

std::vector<std::string> repack_caches_beside(const std::string& model_path) {
    std::vector<std::string> found;
    for (const kernels::CpuLevel level :
         {kernels::CpuLevel::Scalar, kernels::CpuLevel::Avx2, kernels::CpuLevel::Avx512}) {
        const std::string path =
            model_path + kCacheSuffix + std::string(kernels::cpu_level_name(level));
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0) found.push_back(path);
    }
    return found;
}

std::unique_ptr<RepackCache> RepackCache::open(
    const std::string& path, const gguf::File& file, const RepackCacheKey& key,
    std::span<const kernels::WeightMatrix* const> matrices, kernels::ThreadPool& pool,
    std::string& why) {
    why.clear();
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return nullptr;
    std::unique_ptr<RepackCache> cache;
    try {
        cache.reset(new RepackCache(path));
    } catch (const Error& e) {
        why = std::string("cannot be read (") + e.what() + ")";
        return nullptr;
    }
    const uint8_t* p = cache->file_.data();
    const uint64_t size = cache->file_.size();
    Header h{};
    if (size < sizeof(Header)) {
        why = "is shorter than its header (truncated)";
        return nullptr;
    }
    std::memcpy(&h, p, sizeof h);
    if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) {
        why = "is not a repacked-weights cache";
        return nullptr;
    }
    if (h.format_version != kFormatVersion) {
        why = "has format version " + std::to_string(h.format_version) + " (this hearth writes " +
              std::to_string(kFormatVersion) + ")";
        return nullptr;
    }
    // Sizes first, so that the checksum reads only bytes the file has.
    const uint64_t n_chunks =
        h.chunk_bytes == 0 || h.data_offset > h.file_bytes
            ? 0
            : (h.file_bytes - h.data_offset + h.chunk_bytes - 1) / h.chunk_bytes;
    const uint64_t index_bytes = uint64_t{h.n_entries} * sizeof(Entry) + n_chunks * 8;
    if (h.file_bytes != size || h.chunk_bytes == 0 || h.data_offset > size ||
        h.n_entries > size / sizeof(Entry) || sizeof(Header) + index_bytes > h.data_offset) {
        why = "has " + std::to_string(size) + " bytes, not what its header says (" +
              std::to_string(h.file_bytes) + "; truncated?)";
        return nullptr;
    }
    if (header_checksum(p, index_bytes) != h.checksum) {
        why = "fails its header checksum (damaged)";
        return nullptr;
    }

    // A sound file: is it the one these weights need?
    const Plan plan = plan_cache(file, key, matrices);
    if (h.layout_version != plan.header.layout_version) {
        why = "holds repacked layout version " + std::to_string(h.layout_version) +
              " (this hearth uses " + std::to_string(plan.header.layout_version) + ")";
        return nullptr;
    }
    if (h.cpu_level != plan.header.cpu_level) {
        why = "was built for the " +
              std::string(kernels::cpu_level_name(static_cast<kernels::CpuLevel>(h.cpu_level))) +
              " level (this process runs at " + std::string(kernels::cpu_level_name(key.level)) +
              ")";
        return nullptr;
    }
    if (h.model_identity != key.model_identity || h.model_stamp != key.model_stamp) {
        why = "was built from another version of the model file (changed since)";
        return nullptr;
    }
    if (std::memcmp(&h, &plan.header, kCheckedHeaderBytes) != 0 ||
        std::memcmp(p + sizeof(Header), plan.entries.data(), plan.entries.size() * sizeof(Entry)) !=
            0) {
        why = "lists other matrices than this hearth repacks for the model";
        return nullptr;
    }

    // A hint, before the checksums fault the pages in; failure is fine.
    ::madvise(const_cast<uint8_t*>(p) + h.data_offset, size - h.data_offset, MADV_HUGEPAGE);
    std::vector<uint64_t> stored(n_chunks), computed(n_chunks);
    std::memcpy(stored.data(), p + sizeof(Header) + plan.entries.size() * sizeof(Entry),
                n_chunks * 8);
    chunk_checksums(p + h.data_offset, size - h.data_offset, computed.data(), pool);
    for (uint64_t c = 0; c < n_chunks; ++c) {
        if (stored[c] != computed[c]) {
            why = "fails the checksum of its bytes from offset " +
                  std::to_string(h.data_offset + c * h.chunk_bytes) + " (damaged)";
            return nullptr;
        }
    }
    cache->data_offset_ = h.data_offset;
    for (const Entry& e : plan.entries) cache->copies_.push_back(h.data_offset + e.offset);
    return cache;
}

void RepackCache::build(const std::string& path, const gguf::File& file, const RepackCacheKey& key,
                        std::span<const kernels::WeightMatrix* const> matrices,
                        kernels::ThreadPool& pool) {
    const Plan plan = plan_cache(file, key, matrices);
    const fs::path target(path);
    NewMappedFile out((target.parent_path() / temporary_name(target)).string(),
                      plan.header.file_bytes);
    uint8_t* const data = out.data() + plan.header.data_offset;
    for (size_t i = 0; i < matrices.size(); ++i) {
        const kernels::WeightMatrix& w = *matrices[i];
        uint8_t* copy = data + plan.entries[i].offset;
        pool.parallel_for(w.rows / kernels::kRepackRows, [&](int64_t begin, int64_t end) {
            kernels::repack(w, copy, begin, end);
        });
    }
    uint8_t* index = out.data() + sizeof(Header);
    std::memcpy(index, plan.entries.data(), plan.entries.size() * sizeof(Entry));
    chunk_checksums(data, plan.data_bytes(),
                    reinterpret_cast<uint64_t*>(index + plan.entries.size() * sizeof(Entry)), pool);
    Header h = plan.header;
    std::memcpy(out.data(), &h, sizeof h);
    h.checksum = header_checksum(out.data(), plan.index_bytes());
    std::memcpy(out.data(), &h, sizeof h);
    out.commit(path);
}

std::pair<const uint8_t*, size_t> RepackCache::copies_range() const {
    return {file_.data() + data_offset_, file_.size() - data_offset_};
}

std::shared_ptr<const RepackCache> open_repack_cache(
    const gguf::File& file, const RepackCacheKey& key,
    std::span<const kernels::WeightMatrix* const> matrices, const std::string& setting,
    kernels::ThreadPool& pool) {
    const std::vector<std::string> paths = repack_cache_paths(file.name(), key.level, setting);
    if (paths.empty() || matrices.empty()) return nullptr;
    std::string why;
    for (const std::string& path : paths) {
        const auto start = std::chrono::steady_clock::now();
        if (auto cache = RepackCache::open(path, file, key, matrices, pool, why)) {
            log::info("mapped the repacked weights of '{}' from '{}' ({:.2f} s)", file.name(), path,
                      seconds_since(start));
            return cache;
        }
        if (!why.empty()) log::warn("repacked-weights cache '{}' {}: repacking again", path, why);
    }
    for (const std::string& path : paths) {
        const fs::path dir = fs::path(path).parent_path();
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (::access(dir.c_str(), W_OK) != 0) continue;  // read-only: the next place
        try {
            FolderLock lock(dir.string());
            // The process that held the lock may have just written it.
            if (auto cache = RepackCache::open(path, file, key, matrices, pool, why)) return cache;
            if (lock.held()) remove_abandoned_temporaries(path);
            const auto start = std::chrono::steady_clock::now();
            RepackCache::build(path, file, key, matrices, pool);
            auto cache = RepackCache::open(path, file, key, matrices, pool, why);
            if (!cache) throw Error("the file just written " + (why.empty() ? "is gone" : why));
            log::info(
                "repacked the weights of '{}' into '{}' ({}, {:.1f} s); processes serving "
                "this model share its pages",
                file.name(), path, format_bytes(cache->copies_range().second),
                seconds_since(start));
            return cache;
        } catch (const Error& e) {
            log::warn("cannot write the repacked-weights cache: {}", e.what());
        }
    }
    log::warn(
        "no folder takes the repacked-weights cache of '{}' (tried '{}'{}): this process "
        "keeps its own copy; give a writable folder with --repack-cache or "
        "HEARTH_REPACK_CACHE",
        file.name(), paths.front(), paths.size() > 1 ? " and '" + paths.back() + "'" : "");
    return nullptr;
}

}  // namespace hearth::model
