#pragma once
// Attention of a tile of queries that share one KV head of one sequence (the query heads of a
// GQA group, for one or more batch rows): scores against blocks of keys, an online softmax,
// and the weighted sum of values, all vectorized across the tile's queries. Dispatched on
// cpu_level(); the scalar path is the same algorithm, one lane at a time.
#include <cstdint>

namespace hearth::kernels {

struct AttentionTile {
    int64_t head_dim;
    int n_queries;          // at most attention_tile_width()
    const float* const* q;  // [n_queries] query vectors of head_dim floats
    float* const* out;      // [n_queries] outputs of head_dim floats
    // Each query attends to keys first[i]..last[i] (inclusive, at least one key), indexes into
    // k and v below.
    const int64_t* first;
    const int64_t* last;
    const float* const* k;  // key rows of head_dim floats, by key index
    const float* const* v;  // value rows, by key index
    float scale;            // multiplies q.k
    float softcap;          // score = softcap * tanh(score / softcap); 0: off
    // Attention sinks (gpt-oss): [n_queries] logits that join each query's softmax
    // denominator without a value, so a query may attend to "nothing"; null: none.
    const float* sinks = nullptr;
};

// Queries one attention_tile call handles at the current level.
// Keys scored per step of the tile loop (attention_simd.h); the scratch holds one block.
constexpr int kAttentionKeyBlock = 8;

int attention_tile_width();
// Floats of scratch attention_tile needs for this head size.
int64_t attention_scratch_floats(int64_t head_dim);
void attention_tile(const AttentionTile& tile, float* scratch);

namespace scalar {
void attention_tile(const AttentionTile& tile, float* scratch);
}
namespace avx2 {
void attention_tile(const AttentionTile& tile, float* scratch);
}
namespace avx512 {
void attention_tile(const AttentionTile& tile, float* scratch);
}

}  // namespace hearth::kernels
