#pragma once
// Anonymous memory that reads as zeros and costs nothing until written: the OS commits a page
// (4 KiB) when it is first touched, so a large reservation (a KV pool sized for the worst case)
// uses RAM only for the part actually in use.
#include <cstddef>
#include <cstdint>

namespace hearth {

class ZeroedPages {
  public:
    ZeroedPages() = default;
    // Throws hearth::Error when the address space cannot be reserved.
    explicit ZeroedPages(size_t bytes);
    ~ZeroedPages();
    ZeroedPages(ZeroedPages&& other) noexcept;
    ZeroedPages& operator=(ZeroedPages&& other) noexcept;
    ZeroedPages(const ZeroedPages&) = delete;
    ZeroedPages& operator=(const ZeroedPages&) = delete;

    uint8_t* data() { return data_; }
    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }

    // Gives the whole pages inside [offset, offset + n) back to the OS: they read as zeros
    // again and no longer count in the process's resident memory.
    void discard(size_t offset, size_t n);

  private:
    uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace hearth
