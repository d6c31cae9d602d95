#pragma once
// Loop skeleton shared by the SIMD tile kernels (prompt processing): each weight row is
// decoded once per pass over kTokens activation rows. Plain C++ (no intrinsics), so each SIMD
// file includes it and instantiates it with its own kernels.
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/quants.h"
#include "kernels/repack.h"

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

// The arguments of every packed kernel (repack.h): rows [row_begin, row_end) of a repacked
// matrix against n_tokens activation rows, into y[t * y_stride + r].
struct RepackedCall {
    const uint8_t* activations;
    size_t activation_row_bytes;
    int64_t n_tokens;
    float* y;
    size_t y_stride;
    int64_t row_begin;
    int64_t row_end;
};

// One pass of for_each_group_pass: tokens t0 .. t0+k-1 (k = 4, 2 or 1) against 16-row group
// `group`; a[t] holds token t0+t's activation blocks, out[t] its outputs for the group's first
// row.
template <typename Act>
struct GroupPass {
    int64_t group;
    int64_t t0;
    int k;
    const Act* a[4];
    float* out[4];
};

// The loop of the repacked kernels: each 16-row group of the call's rows against the tokens in
// passes of 4, 2 and 1, calling pass(const GroupPass<Act>&).
template <typename Act, typename Pass>
void for_each_group_pass(const RepackedCall& c, Pass pass) {
    for (int64_t r = c.row_begin; r < c.row_end; r += kRepackRows) {
        for_each_token_pass(c.n_tokens, [&](int k, int64_t t0) {
            GroupPass<Act> p{r / kRepackRows, t0, k, {}, {}};
            for (int t = 0; t < k; ++t) {
                p.a[t] =
                    reinterpret_cast<const Act*>(c.activations + (t0 + t) * c.activation_row_bytes);
                p.out[t] = c.y + (t0 + t) * c.y_stride + r;
            }
            pass(p);
        });
    }
}

// for_each_group_pass for the 32-column formats (Q8_0 activations), also giving each pass its
// tokens' Block32Terms: pass(const GroupPass<BlockQ8_0>&, const Block32Terms* const* terms).
template <typename Pass>
void for_each_block32_pass(const RepackedCall& c, int64_t n_blocks, Pass pass) {
    const Block32Terms* terms =
        block32_terms(c.activations, c.activation_row_bytes, c.n_tokens, n_blocks);
    for_each_group_pass<BlockQ8_0>(c, [&](const GroupPass<BlockQ8_0>& p) {
        const Block32Terms* token_terms[4];
        for (int t = 0; t < p.k; ++t) token_terms[t] = terms + (p.t0 + t) * n_blocks;
        pass(p, token_terms);
    });
}

// Calls fn(std::integral_constant<int, k>{}) for k = 4, 2 or 1: a pass's token count as a
// template argument, so each kernel keeps its per-token accumulators in registers.
template <typename Fn>
void with_token_count(int k, Fn fn) {
    if (k == 4)
        fn(std::integral_constant<int, 4>{});
    else if (k == 2)
        fn(std::integral_constant<int, 2>{});
    else
        fn(std::integral_constant<int, 1>{});
}

}  // namespace hearth::kernels::tile
