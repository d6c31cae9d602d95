#include "chat/sandbox.h"

#include <string>

#include "chat/errors.h"

namespace hearth::chat {

void Sandbox::count_step() {
    if (++steps_ > limits_.max_steps) {
        throw JinjaFailure("template ran for more than " + std::to_string(limits_.max_steps) +
                           " steps (sandbox limit; is there a runaway loop?)");
    }
}

void Sandbox::check_string_size(size_t bytes) const {
    if (bytes > limits_.max_string_bytes) {
        throw JinjaFailure("string value larger than " + std::to_string(limits_.max_string_bytes) +
                           " bytes (sandbox limit)");
    }
}

void Sandbox::check_array_size(size_t items) const {
    if (items > limits_.max_array_items) {
        throw JinjaFailure("list larger than " + std::to_string(limits_.max_array_items) +
                           " items (sandbox limit)");
    }
}

}  // namespace hearth::chat
