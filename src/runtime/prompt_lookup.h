#pragma once
// Prompt-lookup drafting for speculative decoding: text that quotes its input (code edits,
// summaries, extraction) repeats token runs already in the sequence, so the tokens that
// followed the last occurrence of the sequence's final n-gram are a cheap guess of what comes
// next. The scheduler evaluates the guess in the same forward pass as the real next token and
// keeps the longest prefix the sampler agrees with, so output is exactly what plain decoding
// gives (verification, not approximation).
#include <cstdint>
#include <vector>

namespace hearth::runtime {

// Up to `max_draft` tokens that followed the most recent earlier occurrence of the last n
// tokens of `history`, trying n = max_ngram down to min_ngram; empty when none occurs.
std::vector<int32_t> lookup_draft(const std::vector<int32_t>& history, int max_ngram,
                                  int min_ngram, int max_draft);

}  // namespace hearth::runtime
