#pragma once
// Attention of a tile of queries that share one KV head of one sequence (the query heads of a
// GQA group, for one or more batch rows): scores against blocks of keys, an online softmax,
// and the weighted sum of values, all vectorized across the tile's queries. Dispatched on
// cpu_level(); the scalar path is the same algorithm, one lane at a time. Keys and values are
// read in the type the KV cache stores them in (F32, F16, Q8_0, Q4_0), each block of keys
// widened to floats as the tile reaches it.
#include <cstdint>

#include "gguf/types.h"

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
    // Key and value rows by key index, in kv_type: the head's head_dim elements start
    // kv_offset elements into each row, and each row starts at a block of its type.
    const void* const* k;
    const void* const* v;
    float scale;            // multiplies q.k
    float softcap;          // score = softcap * tanh(score / softcap); 0: off
    // Attention sinks (gpt-oss): [n_queries] logits that join each query's softmax
    // denominator without a value, so a query may attend to "nothing"; null: none.
    const float* sinks = nullptr;
    gguf::TensorType kv_type = gguf::TensorType::F32;
    int64_t kv_offset = 0;
};

// Queries one attention_tile call handles at the current level.
// Keys scored per step of the tile loop (attention_simd.h); the scratch holds one block.
constexpr int kAttentionKeyBlock = 8;
// Floats of one widened key or value row in the scratch: the head's elements and the rest of
// the blocks (at most 32 elements) it starts and ends inside.
constexpr int64_t attention_kv_row_floats(int64_t head_dim) {
    return head_dim + 64;
}

// Where one head sits in a stored KV row of `type`: F32 rows are read in place (at `offset`
// floats); other types widen n elements (whole blocks) starting skip_bytes into the row, and
// the head starts `skip` floats into what they give.
struct KvSpan {
    bool in_place;
    int64_t skip_bytes, skip, n;
};
KvSpan kv_span(gguf::TensorType type, int64_t offset, int64_t head_dim);
// Widens the head_dim elements of one head (`offset` elements into a stored row) to floats at
// the current level; `tmp` holds attention_kv_row_floats(head_dim) floats.
void widen_kv_head(gguf::TensorType type, const void* row, int64_t offset, int64_t head_dim,
                   float* dst, float* tmp);

int attention_tile_width();
// Floats of scratch attention_tile needs for this head size (any KV type).
int64_t attention_scratch_floats(int64_t head_dim);
void attention_tile(const AttentionTile& tile, float* scratch);

// The widening of n stored KV elements (whole blocks) to floats that attention_tile uses at
// each level; the SIMD ones give exactly the scalar level's values (the type-traits table's
// to_float).
namespace scalar {
void attention_tile(const AttentionTile& tile, float* scratch);
void kv_to_float(gguf::TensorType type, const void* src, float* dst, int64_t n);
}  // namespace scalar
namespace avx2 {
void attention_tile(const AttentionTile& tile, float* scratch);
void kv_to_float(gguf::TensorType type, const void* src, float* dst, int64_t n);
}  // namespace avx2
namespace avx512 {
void attention_tile(const AttentionTile& tile, float* scratch);
void kv_to_float(gguf::TensorType type, const void* src, float* dst, int64_t n);
}  // namespace avx512

}  // namespace hearth::kernels
