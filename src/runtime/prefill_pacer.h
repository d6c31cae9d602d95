#pragma once
// How many prompt tokens a scheduler step may evaluate. A long prompt must not stall the
// sequences already generating: while some decode, a step takes only as many prompt tokens as
// cost about one decode step's time, so their inter-token latency stays near twice its value
// alone; a prompt with nobody waiting on it goes at the full chunk size. The costs are learned
// from the steps as they run (moving averages), so the pace fits the model and the machine.
#include <cstddef>
#include <cstdint>

namespace hearth::runtime {

class PrefillPacer {
  public:
    // max_chunk: the most prompt tokens in a step; min_chunk: the fewest while others decode
    // (prompts still move forward however slow the machine).
    explicit PrefillPacer(int64_t max_chunk, int64_t min_chunk = 8)
        : max_chunk_(max_chunk), min_chunk_(min_chunk < max_chunk ? min_chunk : max_chunk) {}

    // The prompt-token budget of a step that also holds `decode_rows` generating sequences.
    int64_t budget(size_t decode_rows) const;
    // A step ran: `decode_rows` decode rows and `prompt_tokens` prompt tokens in `seconds`.
    void observe(size_t decode_rows, int64_t prompt_tokens, double seconds);

    double decode_step_seconds() const { return decode_seconds_; }
    double seconds_per_prompt_token() const { return prompt_token_seconds_; }

  private:
    int64_t max_chunk_, min_chunk_;
    double decode_seconds_ = 0;        // a step of decode rows only (0: not seen yet)
    double prompt_token_seconds_ = 0;  // what one more prompt token adds to a step (0: not seen)
};

}  // namespace hearth::runtime
