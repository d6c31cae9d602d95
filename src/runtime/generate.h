#pragma once
// Single-sequence text generation: evaluate the prompt, then sample, detokenize and stream
// text until a stop condition. Every command generates through the Scheduler (`hearth run` is
// a scheduler with one slot); this plain loop is its reference, as a scalar kernel is for a
// SIMD one: the tests check that the batched scheduler gives exactly its tokens.
#include <functional>
#include <string>
#include <vector>

#include "runtime/context.h"
#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"

namespace hearth::runtime {

enum class FinishReason { Stop, Length, Cancelled };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled"

struct GenerateRequest {
    std::vector<int32_t> prompt;
    SamplingParams sampling;
    int32_t max_tokens = 128;
    std::vector<std::string> stop;  // generation ends before any of these strings
    bool ignore_eos = false;
};

struct GenerateResult {
    std::vector<int32_t> tokens;  // generated ids
    std::string text;
    FinishReason finish = FinishReason::Length;
    int64_t prompt_tokens = 0;
    double prompt_seconds = 0;
    double generate_seconds = 0;
};

// Holds back text that might be the start of a stop string, so a stop string is never
// streamed. Shared by every generation loop.
class StopMatcher {
  public:
    explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}
    // Adds text; returns what is safe to emit now. Sets `stopped` when a stop string appeared
    // (the returned text then ends right before it).
    std::string push(const std::string& text, bool& stopped);
    std::string flush();  // at the end: whatever was held back
    // The stop string that appeared ("" while none has).
    const std::string& matched() const { return matched_; }

  private:
    std::vector<std::string> stops_;
    std::string held_;
    std::string matched_;
};

// on_text receives each chunk of new text; returning false cancels generation.
GenerateResult generate(Context& ctx, const tokenizer::Tokenizer& tok, const GenerateRequest& req,
                        const std::function<bool(const std::string&)>& on_text = {},
                        int32_t seq = 0);

}  // namespace hearth::runtime
