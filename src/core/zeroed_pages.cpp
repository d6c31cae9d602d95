#include "core/zeroed_pages.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "core/error.h"
#include "core/format.h"

namespace hearth {

ZeroedPages::ZeroedPages(size_t bytes) : size_(bytes) {
    if (bytes == 0) return;
    // MAP_NORESERVE: no swap is set aside either, so a pool larger than RAM + swap can be
    // reserved as long as the part in use fits.
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        size_ = 0;
        throw Error("cannot reserve " + format_bytes(bytes) + " of memory: " +
                    std::strerror(errno));
    }
    data_ = static_cast<uint8_t*>(p);
}

ZeroedPages::~ZeroedPages() {
    if (data_ != nullptr) munmap(data_, size_);
}

ZeroedPages::ZeroedPages(ZeroedPages&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

ZeroedPages& ZeroedPages::operator=(ZeroedPages&& other) noexcept {
    if (this != &other) {
        if (data_ != nullptr) munmap(data_, size_);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

void ZeroedPages::discard(size_t offset, size_t n) {
    if (data_ == nullptr || offset >= size_) return;
    n = std::min(n, size_ - offset);
    const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const uintptr_t start = reinterpret_cast<uintptr_t>(data_) + offset;
    const uintptr_t begin = (start + page - 1) / page * page;
    const uintptr_t end = (start + n) / page * page;
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace hearth
