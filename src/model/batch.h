#pragma once
// The unit of work of a forward pass: a list of (token, sequence, position) rows, with a flag
// per row saying whether its logits are wanted. One sequence is a batch of one; continuous
// batching and prompt processing are scheduler policies over the same call.
#include <cstdint>
#include <vector>

namespace hearth::model {

struct Batch {
    std::vector<int32_t> tokens;
    std::vector<int32_t> seq_ids;
    std::vector<int32_t> positions;
    std::vector<uint8_t> want_logits;

    void add(int32_t token, int32_t seq_id, int32_t position, bool logits) {
        tokens.push_back(token);
        seq_ids.push_back(seq_id);
        positions.push_back(position);
        want_logits.push_back(logits ? 1 : 0);
    }
    void clear() {
        tokens.clear();
        seq_ids.clear();
        positions.clear();
        want_logits.clear();
    }
    size_t size() const { return tokens.size(); }
    size_t n_logit_rows() const {
        size_t n = 0;
        for (uint8_t w : want_logits) n += w;
        return n;
    }
};

}  // namespace hearth::model
