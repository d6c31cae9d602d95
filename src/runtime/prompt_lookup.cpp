#include "runtime/prompt_lookup.h"

#include <algorithm>

namespace hearth::runtime {

std::vector<int32_t> lookup_draft(const std::vector<int32_t>& history, int max_ngram,
                                  int min_ngram, int max_draft) {
    const size_t size = history.size();
    if (max_draft <= 0) return {};
    for (int n = max_ngram; n >= std::max(min_ngram, 1); --n) {
        const size_t len = static_cast<size_t>(n);
        if (size < len + 1) continue;
        const auto key = history.end() - static_cast<std::ptrdiff_t>(len);
        // Earlier occurrences, most recent first; one ending at the last token is the key.
        for (size_t start = size - len; start-- > 0;) {
            if (!std::equal(key, history.end(), history.begin() + static_cast<std::ptrdiff_t>(start)))
                continue;
            const size_t from = start + len;
            const size_t count = std::min(static_cast<size_t>(max_draft), size - from);
            return {history.begin() + static_cast<std::ptrdiff_t>(from),
                    history.begin() + static_cast<std::ptrdiff_t>(from + count)};
        }
    }
    return {};
}

}  // namespace hearth::runtime
