#include "runtime/prefill_pacer.h"

#include <algorithm>
#include <cmath>

namespace hearth::runtime {

namespace {

// Weight of the newest step in the moving averages: quick to follow a change of load, steady
// against one slow step.
constexpr double kNewest = 0.25;

void blend(double& average, double sample) {
    average = average == 0 ? sample : (1 - kNewest) * average + kNewest * sample;
}

}  // namespace

int64_t PrefillPacer::budget(size_t decode_rows) const {
    if (decode_rows == 0 || decode_seconds_ == 0 || prompt_token_seconds_ == 0) return max_chunk_;
    const double fits = std::floor(decode_seconds_ / prompt_token_seconds_);
    return std::clamp(static_cast<int64_t>(std::min(fits, 1e9)), min_chunk_, max_chunk_);
}

void PrefillPacer::observe(size_t decode_rows, int64_t prompt_tokens, double seconds) {
    if (seconds <= 0) return;
    if (prompt_tokens == 0) {
        if (decode_rows > 0) blend(decode_seconds_, seconds);
        return;
    }
    // The decode rows' share of a mixed step is what a decode step costs; the rest is the
    // prompt's. A step of prompt alone still pays for reading the weights once, which is
    // why a lone prompt's per-token cost is an overestimate only for tiny chunks.
    const double decode_part = decode_rows > 0 ? decode_seconds_ : 0;
    const double prompt_part = std::max(seconds - decode_part, seconds * 0.1);
    blend(prompt_token_seconds_, prompt_part / static_cast<double>(prompt_tokens));
}

}  // namespace hearth::runtime
