#include "kernels/matmul.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/cpu.h"
#include "kernels/repack.h"
#include "kernels/type_traits.h"

namespace hearth::kernels {

namespace {

// Rows handed to a tile kernel per call: enough to amortize the call, few enough to keep the
// output rows of the tile in L1.
constexpr int64_t kRowTile = 16;
// Below this many multiply-adds a matmul runs on one thread (about 20 microseconds of work).
constexpr int64_t kMinParallelMacs = 1 << 17;

struct Activations {
    const uint8_t* data;
    size_t row_bytes;
};

// Converts the activation rows to the weight type's vec_dot_type once per matmul (threads
// split the tokens); F32 activations are used as they are.
Activations convert_activations(const TypeTraits& tt, const float* x, int64_t cols,
                                int64_t n_tokens, ThreadPool& pool, MatmulScratch& scratch) {
    if (tt.vec_dot_type == gguf::TensorType::F32) {
        return {reinterpret_cast<const uint8_t*>(x), static_cast<size_t>(cols) * sizeof(float)};
    }
    const TypeTraits& at = traits(tt.vec_dot_type);
    size_t row_bytes = gguf::bytes_for(tt.vec_dot_type, static_cast<uint64_t>(cols));
    if (scratch.converted.size() < row_bytes * n_tokens)
        scratch.converted.resize(row_bytes * n_tokens);
    uint8_t* out = scratch.converted.data();
    auto convert = [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t)
            at.from_float(x + t * cols, out + t * row_bytes, cols);
    };
    if (n_tokens == 1) {
        convert(0, 1);  // waking the pool costs more than one row
    } else {
        // Chunks of 8 tokens claimed by whichever threads are running (see run_chunks).
        const int64_t per_chunk = 8;
        pool.run_chunks((n_tokens + per_chunk - 1) / per_chunk, [&](int64_t c) {
            convert(c * per_chunk, std::min(n_tokens, (c + 1) * per_chunk));
        });
    }
    return {out, row_bytes};
}

void tile_with_vec_dot(const TypeTraits& tt, const WeightMatrix& w, int64_t r0, int64_t r1,
                       const Activations& act, int64_t t0, int64_t t1, float* y) {
    for (int64_t r = r0; r < r1; ++r) {
        for (int64_t t = t0; t < t1; ++t)
            y[t * w.rows + r] = tt.vec_dot(w.cols, w.row(r), act.data + t * act.row_bytes);
    }
}

// Rows [begin, end) through the row's packed kernel: AMX for whole groups of 16 tokens of each
// token tile when the row has AMX kernels and AMX is in use, the level's kernel for the rest
// (and for everything otherwise).
void matmul_packed(const TypeTraits& tt, const WeightMatrix& w, const Activations& act,
                   int64_t n_tokens, float* y, int64_t begin, int64_t end) {
    const PackedMatmulFn amx = amx_enabled() ? tt.packed_matmul_amx : nullptr;
    if (!amx) {
        tt.packed_matmul(w, act.data, act.row_bytes, n_tokens, y, w.rows, begin, end);
        return;
    }
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenTile) {
        const int64_t t1 = std::min(n_tokens, t0 + kTokenTile);
        const int64_t t_amx = t0 + (t1 - t0) / 16 * 16;
        if (t_amx > t0)
            amx(w, act.data + t0 * act.row_bytes, act.row_bytes, t_amx - t0, y + t0 * w.rows,
                w.rows, begin, end);
        if (t1 > t_amx)
            tt.packed_matmul(w, act.data + t_amx * act.row_bytes, act.row_bytes, t1 - t_amx,
                             y + t_amx * w.rows, w.rows, begin, end);
    }
}

void matmul_rows(const TypeTraits& tt, const WeightMatrix& w, const Activations& act,
                 int64_t n_tokens, float* y, int64_t begin, int64_t end) {
    // Row ranges come in whole row tiles (16), so they match the repacked row groups; a range
    // that does not (a group behind a matrix of odd size) takes the plain path, as does a
    // repacked matrix at a level without a kernel for its layout (HEARTH_CPU, tests).
    if (w.repacked && tt.packed_matmul && begin % kRepackRows == 0 && end % kRepackRows == 0) {
        matmul_packed(tt, w, act, n_tokens, y, begin, end);
        return;
    }
    if (n_tokens == 1) {
        for (int64_t r = begin; r < end; ++r) y[r] = tt.vec_dot(w.cols, w.row(r), act.data);
        return;
    }
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenTile) {
        int64_t t1 = std::min(n_tokens, t0 + kTokenTile);
        for (int64_t r0 = begin; r0 < end; r0 += kRowTile) {
            int64_t r1 = std::min(end, r0 + kRowTile);
            if (tt.vec_dot_tile) {
                tt.vec_dot_tile(w.cols, w.row(r0), w.row_bytes, static_cast<int>(r1 - r0),
                                act.data + t0 * act.row_bytes, act.row_bytes,
                                static_cast<int>(t1 - t0), y + t0 * w.rows + r0, w.rows);
            } else {
                tile_with_vec_dot(tt, w, r0, r1, act, t0, t1, y);
            }
        }
    }
}

// Splits [0, n_rows) into chunks that running threads claim (ThreadPool::run_chunks) rather
// than one fixed share per thread: when another process preempts one of our threads (a server
// shares its CPU), the others take over its rows instead of waiting for it at a barrier.
template <typename Body>
void for_each_row_chunk(int64_t n_rows, int64_t macs_per_row, ThreadPool& pool, Body body) {
    const int64_t n_threads = pool.size();
    if (n_threads == 1 || n_rows * macs_per_row < kMinParallelMacs) {
        body(0, n_rows);  // waking workers costs more than tiny jobs take
        return;
    }
    // About 8 chunks per thread, in whole row tiles, so the tile kernels get full tiles.
    int64_t chunk = (n_rows + 8 * n_threads - 1) / (8 * n_threads);
    chunk = std::max<int64_t>(kRowTile, (chunk + kRowTile - 1) / kRowTile * kRowTile);
    const int64_t n_chunks = (n_rows + chunk - 1) / chunk;
    pool.run_chunks(n_chunks,
                    [&](int64_t c) { body(c * chunk, std::min(n_rows, (c + 1) * chunk)); });
}

}  // namespace

WeightMatrix WeightMatrix::from_tensor(const gguf::TensorInfo& t) {
    if (t.n_dims > 2)
        throw Error("tensor '" + t.name + "' has " + std::to_string(t.n_dims) +
                    " dimensions; a 2-D weight was expected");
    WeightMatrix w;
    w.type = t.type;
    w.data = t.data;
    w.cols = t.ne[0];
    w.rows = t.ne[1];
    w.row_bytes = gguf::bytes_for(t.type, static_cast<uint64_t>(t.ne[0]));
    return w;
}

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch) {
    const TypeTraits& tt = traits(w.type);
    if (!tt.vec_dot) {
        throw Error("tensor type " + std::string(gguf::type_name(w.type)) +
                    " cannot be used as a weight matrix");
    }
    Activations act = convert_activations(tt, x, w.cols, n_tokens, pool, scratch);
    for_each_row_chunk(w.rows, w.cols * n_tokens, pool, [&](int64_t begin, int64_t end) {
        matmul_rows(tt, w, act, n_tokens, y, begin, end);
    });
}

void matmul_group(std::span<const MatmulOutput> outputs, const float* x, int64_t n_tokens,
                  ThreadPool& pool, MatmulScratch& scratch) {
    if (outputs.empty()) return;
    const TypeTraits& first = traits(outputs[0].w->type);
    int64_t total_rows = 0;
    bool shareable = first.vec_dot != nullptr;
    for (const MatmulOutput& o : outputs) {
        if (o.w->cols != outputs[0].w->cols)
            throw Error("matmul_group: matrices with different row lengths");
        const TypeTraits& tt = traits(o.w->type);
        shareable = shareable && tt.vec_dot && tt.vec_dot_type == first.vec_dot_type;
        total_rows += o.w->rows;
    }
    if (!shareable) {
        for (const MatmulOutput& o : outputs) matmul(*o.w, x, n_tokens, o.y, pool, scratch);
        return;
    }
    Activations act = convert_activations(first, x, outputs[0].w->cols, n_tokens, pool, scratch);
    for_each_row_chunk(
        total_rows, outputs[0].w->cols * n_tokens, pool, [&](int64_t begin, int64_t end) {
            // [begin, end) indexes the matrices' rows laid end to end.
            int64_t offset = 0;
            for (const MatmulOutput& o : outputs) {
                int64_t lo = std::max(begin, offset), hi = std::min(end, offset + o.w->rows);
                if (lo < hi)
                    matmul_rows(traits(o.w->type), *o.w, act, n_tokens, o.y, lo - offset,
                                hi - offset);
                offset += o.w->rows;
            }
        });
}

void dequantize_row(const WeightMatrix& w, int64_t row, float* out) {
    if (row < 0 || row >= w.rows) throw Error("row " + std::to_string(row) + " out of range");
    traits(w.type).to_float(w.row(row), out, w.cols);
}

}  // namespace hearth::kernels
