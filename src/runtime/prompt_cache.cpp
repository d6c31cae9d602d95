#include "runtime/prompt_cache.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/checksum.h"
#include "core/error.h"
#include "core/log.h"

namespace hearth::runtime {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'H', 'E', 'A', 'R', 'T', 'H', 'P', 'C'};
constexpr uint32_t kVersion = 1;
// Saves copy the rows on the scheduler thread and wait for the writer: bounded in number and
// bytes (an 8k-token prompt of an 8B model holds 1 GiB of F16 keys and values).
constexpr size_t kWaitingSaves = 2;
constexpr uint64_t kWaitingBytes = 1ull << 30;

struct FileHeader {
    char magic[8];
    uint32_t version;
    uint32_t kv_type;
    uint64_t model_id;
    uint32_t n_layer;
    uint32_t kv_dim;
    uint32_t block_size;
    uint32_t n_blocks;
    uint64_t row_bytes;
    uint32_t crc;  // of the 48 bytes above and the token ids
    uint32_t reserved;
};
static_assert(sizeof(FileHeader) == 56);
constexpr size_t kCheckedHeaderBytes = offsetof(FileHeader, crc);

uint32_t crc32_of(const void* data, size_t n, uint32_t crc = 0) {
    const auto* p = static_cast<const Bytef*>(data);
    while (n > 0) {  // zlib takes uInt lengths
        const uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
        crc = static_cast<uint32_t>(::crc32(crc, p, chunk));
        p += chunk;
        n -= chunk;
    }
    return crc;
}

struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

bool read_exact(std::FILE* f, void* out, size_t n) { return std::fread(out, 1, n, f) == n; }

// A file's header and token ids, checked against its size and checksum. `error` says why not.
struct Opened {
    FilePtr file;
    FileHeader header{};
    std::vector<int32_t> tokens;
    uint64_t block_bytes = 0;  // one block's rows and its CRC
};

bool open_checked(const std::string& path, Opened& out, std::string& error) {
    out.file.reset(std::fopen(path.c_str(), "rb"));
    if (!out.file) {
        error = "cannot be opened";
        return false;
    }
    std::error_code ec;
    const uint64_t size = fs::file_size(path, ec);
    if (ec || !read_exact(out.file.get(), &out.header, sizeof(FileHeader))) {
        error = "is shorter than its header";
        return false;
    }
    const FileHeader& h = out.header;
    if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) {
        error = "is not a prompt cache file";
        return false;
    }
    if (h.version != kVersion) {
        error = "has format version " + std::to_string(h.version);
        return false;
    }
    // Bounds first, so the size arithmetic below cannot overflow.
    if (h.n_layer == 0 || h.n_layer > 65536 || h.block_size == 0 || h.block_size > 65536 ||
        h.row_bytes == 0 || h.row_bytes > (1u << 26) || h.n_blocks == 0) {
        error = "has an impossible layout";
        return false;
    }
    out.block_bytes = 2ull * h.n_layer * h.block_size * h.row_bytes + sizeof(uint32_t);
    const uint64_t token_bytes = uint64_t{h.n_blocks} * h.block_size * sizeof(int32_t);
    if (h.n_blocks > size / out.block_bytes ||
        size != sizeof(FileHeader) + token_bytes + h.n_blocks * out.block_bytes) {
        error = "has " + std::to_string(size) + " bytes, not what its header says (truncated?)";
        return false;
    }
    out.tokens.resize(static_cast<size_t>(token_bytes / sizeof(int32_t)));
    if (!read_exact(out.file.get(), out.tokens.data(), token_bytes)) {
        error = "cannot be read";
        return false;
    }
    const uint32_t crc = crc32_of(out.tokens.data(), token_bytes,
                                  crc32_of(&out.header, kCheckedHeaderBytes));
    if (crc != h.crc) {
        error = "fails its header checksum";
        return false;
    }
    return true;
}

std::string hex(uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace

PromptCache::PromptCache(PromptCacheParams params, uint64_t model_id, const model::KvCache& cache)
    : params_(std::move(params)),
      model_id_(model_id),
      kv_type_(cache.type()),
      n_layer_(cache.n_layer()),
      kv_dim_(cache.kv_dim()),
      block_size_(cache.block_size()),
      row_bytes_(cache.row_bytes()) {
    std::error_code ec;
    fs::create_directories(params_.dir, ec);
    if (ec || !fs::is_directory(params_.dir))
        throw Error("cannot use '" + params_.dir + "' as the prompt cache directory: " +
                    (ec ? ec.message() : "not a directory"));
    const uint64_t layout[] = {model_id_,
                               static_cast<uint64_t>(kv_type_),
                               static_cast<uint64_t>(n_layer_),
                               static_cast<uint64_t>(kv_dim_),
                               static_cast<uint64_t>(block_size_),
                               row_bytes_,
                               kVersion};
    seed_ = fnv1a(layout, sizeof layout);
    scan();
    writer_ = std::thread([this] { run(); });
}

PromptCache::~PromptCache() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    writer_.join();
}

std::vector<uint64_t> PromptCache::chain(std::span<const int32_t> tokens, int64_t blocks) const {
    std::vector<uint64_t> hashes;
    uint64_t h = seed_;
    for (int64_t b = 0; b < blocks; ++b) {
        h = fnv1a(tokens.data() + b * block_size_, static_cast<size_t>(block_size_) * sizeof(int32_t), h);
        hashes.push_back(h);
    }
    return hashes;
}

std::string PromptCache::path_of(uint64_t file) const {
    return (fs::path(params_.dir) / (hex(file) + kExtension)).string();
}

PromptCache::Match PromptCache::lookup(std::span<const int32_t> prompt, int64_t limit) const {
    limit = std::min<int64_t>(limit, static_cast<int64_t>(prompt.size()));
    const std::vector<uint64_t> hashes = chain(prompt, limit / block_size_);
    std::lock_guard lock(mutex_);
    for (size_t k = hashes.size(); k > 0; --k) {
        auto it = prefixes_.find(hashes[k - 1]);
        if (it != prefixes_.end()) return {it->second.first, static_cast<int64_t>(k) * block_size_};
    }
    return {};
}

int64_t PromptCache::load(const Match& match, std::span<const int32_t> prompt, int64_t from,
                          model::KvCache& cache, int32_t seq) {
    if (match.tokens <= from) return from;
    const std::string path = path_of(match.file);
    try {
        Opened f;
        std::string error;
        const FileHeader& h = f.header;
        if (open_checked(path, f, error) &&
            (h.model_id != model_id_ || h.kv_type != static_cast<uint32_t>(kv_type_) ||
             h.n_layer != n_layer_ || h.kv_dim != kv_dim_ || h.block_size != block_size_ ||
             h.row_bytes != row_bytes_))
            error = "was made for another model or KV cache layout";
        if (error.empty() && static_cast<int64_t>(f.tokens.size()) < match.tokens)
            error = "holds fewer tokens than its name says";
        if (!error.empty()) {
            std::lock_guard lock(mutex_);
            drop(match.file, error);
            return from;
        }
        if (!std::equal(prompt.begin(), prompt.begin() + match.tokens, f.tokens.begin())) {
            log::debug("prompt cache: {} starts with other tokens (a hash collision)", path);
            return from;
        }
        const uint64_t token_bytes = f.tokens.size() * sizeof(int32_t);
        const int64_t first = from / block_size_;
        if (std::fseek(f.file.get(),
                       static_cast<long>(sizeof(FileHeader) + token_bytes + first * f.block_bytes),
                       SEEK_SET) != 0) {
            std::lock_guard lock(mutex_);
            drop(match.file, "cannot be read");
            return from;
        }
        const size_t rows_bytes = static_cast<size_t>(block_size_) * row_bytes_;
        std::vector<uint8_t> block(f.block_bytes);
        int64_t held = from;
        for (int64_t b = first; b < match.tokens / block_size_; ++b) {
            std::string why;
            uint32_t crc = 0;
            if (!read_exact(f.file.get(), block.data(), block.size())) {
                why = "ends inside block " + std::to_string(b);
            } else {
                std::memcpy(&crc, block.data() + block.size() - sizeof crc, sizeof crc);
                if (crc32_of(block.data(), block.size() - sizeof crc) != crc)
                    why = "fails the checksum of block " + std::to_string(b);
            }
            if (!why.empty()) {  // the blocks before it were checked: keep them
                std::lock_guard lock(mutex_);
                drop(match.file, why);
                return held;
            }
            for (int64_t l = 0; l < n_layer_; ++l) {
                const uint8_t* keys = block.data() + 2 * l * rows_bytes;
                const uint8_t* values = keys + rows_bytes;
                for (int64_t i = 0; i < block_size_; ++i) {
                    cache.store_rows(l, seq, b * block_size_ + i, keys + i * row_bytes_,
                                     values + i * row_bytes_);
                }
            }
            held = (b + 1) * block_size_;
        }
        // Least recently used goes first: a load counts as a use.
        std::error_code ec;
        fs::last_write_time(path, fs::file_time_type::clock::now(), ec);
        return held;
    } catch (const std::exception& e) {
        log::warn("prompt cache: cannot load {}: {}", path, e.what());
        return from;
    }
}

void PromptCache::save(std::span<const int32_t> tokens, const model::KvCache& cache, int32_t seq) {
    const int64_t blocks = static_cast<int64_t>(tokens.size()) / block_size_;
    if (blocks * block_size_ < std::max<int64_t>(params_.min_tokens, 1)) return;
    const uint64_t bytes = sizeof(FileHeader) + blocks * block_size_ * sizeof(int32_t) +
                           blocks * (2 * n_layer_ * block_size_ * row_bytes_ + sizeof(uint32_t));
    if (bytes > params_.max_bytes) return;
    const uint64_t file = chain(tokens, blocks).back();
    {
        std::lock_guard lock(mutex_);
        if (prefixes_.count(file) || queue_.size() >= kWaitingSaves) return;
        uint64_t waiting = bytes;
        for (const Pending& p : queue_) {
            if (p.file == file) return;
            waiting += p.blocks.size();
        }
        if (waiting > kWaitingBytes) {
            log::debug("prompt cache: not saving a prompt of {} tokens ({} bytes wait already)",
                       tokens.size(), waiting - bytes);
            return;
        }
    }
    Pending p;
    p.file = file;
    p.tokens.assign(tokens.begin(), tokens.begin() + blocks * block_size_);
    p.blocks.resize(static_cast<size_t>(blocks * 2 * n_layer_ * block_size_) * row_bytes_);
    uint8_t* out = p.blocks.data();
    for (int64_t b = 0; b < blocks; ++b) {
        for (int64_t l = 0; l < n_layer_; ++l) {
            for (const bool keys : {true, false}) {
                for (int64_t i = 0; i < block_size_; ++i) {
                    const int64_t pos = b * block_size_ + i;
                    std::memcpy(out, keys ? cache.key(l, seq, pos) : cache.value(l, seq, pos),
                                row_bytes_);
                    out += row_bytes_;
                }
            }
        }
    }
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(p));
    }
    wake_.notify_all();
}

void PromptCache::flush() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return queue_.empty() && !writing_; });
}

void PromptCache::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping with nothing left to write
        Pending p = std::move(queue_.front());
        queue_.pop_front();
        writing_ = true;
        lock.unlock();
        try {
            write(p);
            evict();
        } catch (const std::exception& e) {
            log::warn("prompt cache: cannot save a prompt of {} tokens in {}: {}", p.tokens.size(),
                      params_.dir, e.what());
        }
        lock.lock();
        writing_ = false;
        idle_.notify_all();
    }
}

// Indexes this model's files; deletes broken ones and temporary files a crash left behind.
void PromptCache::scan() {
    std::error_code ec;
    const auto stale = fs::file_time_type::clock::now() - std::chrono::hours(1);
    for (const auto& entry : fs::directory_iterator(params_.dir, ec)) {
        std::error_code e;
        if (!entry.is_regular_file(e)) continue;
        const std::string name = entry.path().filename().string();
        if (name.starts_with(".") && name.find(".tmp") != std::string::npos) {
            if (entry.last_write_time(e) < stale) fs::remove(entry.path(), e);
            continue;
        }
        if (entry.path().extension() != kExtension) continue;
        try {
            Opened f;
            std::string error;
            if (!open_checked(entry.path().string(), f, error)) {
                if (f.file && error.find("version") == std::string::npos) {
                    log::warn("prompt cache: deleting {}: it {}", entry.path().string(), error);
                    fs::remove(entry.path(), e);
                }
                continue;
            }
            const FileHeader& h = f.header;
            if (h.model_id != model_id_ || h.kv_type != static_cast<uint32_t>(kv_type_) ||
                h.n_layer != n_layer_ || h.kv_dim != kv_dim_ || h.block_size != block_size_ ||
                h.row_bytes != row_bytes_)
                continue;  // another model's or another KV type's
            const uint64_t file = chain(f.tokens, h.n_blocks).back();
            if (entry.path().filename().string() != hex(file) + kExtension) continue;
            std::lock_guard lock(mutex_);
            index(file, std::move(f.tokens));
        } catch (const std::exception& err) {
            log::warn("prompt cache: cannot read {}: {}", entry.path().string(), err.what());
        }
    }
    if (ec) log::warn("prompt cache: cannot list {}: {}", params_.dir, ec.message());
}

void PromptCache::write(const Pending& p) {
    const int64_t blocks = static_cast<int64_t>(p.tokens.size()) / block_size_;
    FileHeader h{};
    std::memcpy(h.magic, kMagic, sizeof kMagic);
    h.version = kVersion;
    h.kv_type = static_cast<uint32_t>(kv_type_);
    h.model_id = model_id_;
    h.n_layer = static_cast<uint32_t>(n_layer_);
    h.kv_dim = static_cast<uint32_t>(kv_dim_);
    h.block_size = static_cast<uint32_t>(block_size_);
    h.n_blocks = static_cast<uint32_t>(blocks);
    h.row_bytes = row_bytes_;
    const size_t token_bytes = p.tokens.size() * sizeof(int32_t);
    h.crc = crc32_of(p.tokens.data(), token_bytes, crc32_of(&h, kCheckedHeaderBytes));

    const std::string path = path_of(p.file);
    const std::string tmp = (fs::path(params_.dir) / ("." + hex(p.file) + ".tmp" +
                                                      std::to_string(::getpid())))
                                .string();
    {
        FilePtr f(std::fopen(tmp.c_str(), "wb"));
        if (!f) throw Error("cannot create " + tmp + ": " + std::strerror(errno));
        bool ok = std::fwrite(&h, sizeof h, 1, f.get()) == 1 &&
                  std::fwrite(p.tokens.data(), 1, token_bytes, f.get()) == token_bytes;
        const size_t rows = p.blocks.size() / static_cast<size_t>(blocks);
        for (int64_t b = 0; ok && b < blocks; ++b) {
            const uint8_t* data = p.blocks.data() + b * rows;
            const uint32_t crc = crc32_of(data, rows);
            ok = std::fwrite(data, 1, rows, f.get()) == rows &&
                 std::fwrite(&crc, sizeof crc, 1, f.get()) == 1;
        }
        ok = std::fflush(f.get()) == 0 && ok;
        if (!ok) {
            const std::string why = std::strerror(errno);
            f.reset();
            std::error_code ec;
            fs::remove(tmp, ec);
            throw Error("cannot write " + tmp + ": " + why);
        }
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        fs::remove(tmp, ec);
        throw Error("cannot rename " + tmp + ": " + ec.message());
    }
    log::debug("prompt cache: saved {} tokens in {}", p.tokens.size(), path);
    std::lock_guard lock(mutex_);
    index(p.file, p.tokens);
}

// Deletes the least recently used files (of any model) until the directory fits max_bytes.
void PromptCache::evict() {
    struct Entry {
        fs::path path;
        uint64_t size;
        fs::file_time_type used;
    };
    std::vector<Entry> entries;
    uint64_t total = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(params_.dir, ec)) {
        std::error_code e;
        if (!entry.is_regular_file(e) || entry.path().extension() != kExtension) continue;
        const uint64_t size = entry.file_size(e);
        if (e) continue;
        const auto used = entry.last_write_time(e);
        if (e) continue;
        entries.push_back({entry.path(), size, used});
        total += size;
    }
    if (total <= params_.max_bytes) return;
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.used < b.used; });
    for (const Entry& e : entries) {
        if (total <= params_.max_bytes) break;
        std::error_code err;
        if (!fs::remove(e.path, err)) continue;
        total -= e.size;
        log::debug("prompt cache: evicted {} ({} bytes)", e.path.string(), e.size);
        unsigned long long file = 0;
        if (std::sscanf(e.path.stem().string().c_str(), "%16llx", &file) == 1) {
            std::lock_guard lock(mutex_);
            forget(file);
        }
    }
}

void PromptCache::index(uint64_t file, std::vector<int32_t> tokens) {
    const std::vector<uint64_t> hashes =
        chain(tokens, static_cast<int64_t>(tokens.size()) / block_size_);
    for (size_t k = 0; k < hashes.size(); ++k)
        prefixes_[hashes[k]] = {file, static_cast<int64_t>(k + 1)};
    files_[file] = {std::move(tokens)};
}

// Removes a file from the index; prefixes it shared with other files point at those again.
void PromptCache::forget(uint64_t file) {
    if (files_.erase(file) == 0) return;
    prefixes_.clear();
    auto files = std::move(files_);
    files_.clear();
    for (auto& [f, indexed] : files) index(f, std::move(indexed.tokens));
}

void PromptCache::drop(uint64_t file, const std::string& why) {
    const std::string path = path_of(file);
    log::warn("prompt cache: ignoring and deleting {}: it {}", path, why);
    std::error_code ec;
    fs::remove(path, ec);
    forget(file);
}

}  // namespace hearth::runtime
