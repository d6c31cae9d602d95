#pragma once
// The sandbox of one template render: its limits and the running count against them. The
// interpreter is one; the builtins and native functions get only this view of it, so they can
// check sizes without depending on the evaluator.
#include <cstddef>
#include <cstdint>

namespace hearth::chat {

struct SandboxLimits {
    uint64_t max_steps = 5'000'000;       // statements, expressions, loop iterations
    size_t max_output_bytes = 64u << 20;  // rendered text
    size_t max_string_bytes = 64u << 20;  // any one string value
    size_t max_array_items = 1'000'000;   // any one list built by the template
    int max_call_depth = 200;             // nested macro calls
    int64_t max_range = 100'000;          // range() length, as jinja2's sandbox
};

class Sandbox {
  public:
    explicit Sandbox(SandboxLimits limits) : limits_(limits) {}

    const SandboxLimits& limits() const { return limits_; }
    // Each throws JinjaFailure when the limit is exceeded.
    void count_step();
    void check_string_size(size_t bytes) const;
    void check_array_size(size_t items) const;

  protected:
    SandboxLimits limits_;
    uint64_t steps_ = 0;
};

}  // namespace hearth::chat
