#pragma once
// Loop skeleton shared by the SIMD tile kernels (prompt processing): each weight row is
// decoded once per pass over kTokens activation rows. Plain C++ (no intrinsics), so each SIMD
// file includes it and instantiates it with its own kernels.
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/quants.h"

namespace hearth::kernels::tile {

struct TileArgs {
    int64_t n;
    const uint8_t* weights;
    size_t weight_row_bytes;
    int n_rows;
    const uint8_t* activations;
    size_t activation_row_bytes;
    int n_tokens;
    float* out;
    size_t out_stride;
};

// Runs pass(row, r, first_token) over groups of kTokens tokens and one(n, row, activation_row)
// for the tokens left over.
template <int kTokens, typename Pass, typename One>
void for_each_pass(const TileArgs& t, Pass pass, One one) {
    for (int r = 0; r < t.n_rows; ++r) {
        const uint8_t* row = t.weights + r * t.weight_row_bytes;
        int tok = 0;
        for (; tok + kTokens <= t.n_tokens; tok += kTokens) pass(row, r, tok);
        for (; tok < t.n_tokens; ++tok) {
            t.out[tok * t.out_stride + r] =
                one(t.n, row, t.activations + tok * t.activation_row_bytes);
        }
    }
}

static inline const BlockQ8_K* q8_k_blocks(const TileArgs& t, int tok) {
    return reinterpret_cast<const BlockQ8_K*>(t.activations + tok * t.activation_row_bytes);
}

static inline const BlockQ8_0* q8_0_blocks(const TileArgs& t, int tok) {
    return reinterpret_cast<const BlockQ8_0*>(t.activations + tok * t.activation_row_bytes);
}

// Like for_each_pass, but the tokens left over after the groups of kMaxTokens go through
// smaller passes (kMaxTokens / 2, / 4 ... down to 2) before one(): a batched decode step of
// 2 to 7 sequences still decodes each weight block once per pass, not once per token.
// pass(std::integral_constant<int, K>{}, row, r, first_token) handles K tokens.
template <int kMaxTokens, typename Pass, typename One>
void for_each_pass_halving(const TileArgs& t, Pass pass, One one) {
    for (int r = 0; r < t.n_rows; ++r) {
        const uint8_t* row = t.weights + r * t.weight_row_bytes;
        int tok = 0;
        for (; tok + kMaxTokens <= t.n_tokens; tok += kMaxTokens)
            pass(std::integral_constant<int, kMaxTokens>{}, row, r, tok);
        if constexpr (kMaxTokens >= 8) {
            if (tok + 4 <= t.n_tokens)
                pass(std::integral_constant<int, 4>{}, row, r, tok), tok += 4;
        }
        if constexpr (kMaxTokens >= 4) {
            if (tok + 2 <= t.n_tokens)
                pass(std::integral_constant<int, 2>{}, row, r, tok), tok += 2;
        }
        for (; tok < t.n_tokens; ++tok) {
            t.out[tok * t.out_stride + r] =
                one(t.n, row, t.activations + tok * t.activation_row_bytes);
        }
    }
}

// Tokens in passes of 4, 2 and 1 over one repacked row group (kernels/repack.h): calls
// pass(k, t0) for each, so each pass unpacks the weights once for its k tokens.
template <typename Pass>
void for_each_token_pass(int64_t n_tokens, Pass pass) {
    for (int64_t t0 = 0; t0 < n_tokens;) {
        const int64_t left = n_tokens - t0;
        const int k = left >= 4 ? 4 : left >= 2 ? 2 : 1;
        pass(k, t0);
        t0 += k;
    }
}

}  // namespace hearth::kernels::tile
