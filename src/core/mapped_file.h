#pragma once
// A read-only memory map of a whole file. Weights are used in place from these pages, so several
// processes serving one model share them through the page cache.
#include <cstddef>
#include <cstdint>
#include <string>

namespace hearth {

class MappedFile {
  public:
    // Throws hearth::Error naming the path and the OS reason when the file cannot be mapped.
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    const std::string& path() const { return path_; }

    // Unmaps the whole pages inside [p, p + n) from this process (they stay in the page cache
    // and come back on the next read): for data copied elsewhere, such as repacked weights, so
    // the process does not hold the same bytes twice.
    void release_pages(const void* p, size_t n) const;

  private:
    std::string path_;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

// Locks the whole pages holding [p, p + n) in RAM (mlock); false when the OS refuses (usually
// RLIMIT_MEMLOCK: `ulimit -l`, or LimitMEMLOCK= in a systemd unit).
bool lock_in_ram(const void* p, size_t n);

}  // namespace hearth
