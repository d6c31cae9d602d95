#pragma once
// Small UTF-8 helpers shared by tokenizers, detokenizers and the server.
#include <cstddef>
#include <string>
#include <string_view>

namespace hearth::utf8 {

// Length in bytes of the UTF-8 sequence that starts with `lead` (1 for invalid lead bytes, so
// callers always advance).
size_t sequence_length(unsigned char lead);

// Number of bytes at the end of `s` that form an incomplete (so far) UTF-8 sequence. Streaming
// output holds these back until the rest arrives.
size_t incomplete_tail(std::string_view s);

// True when `s` is entirely valid UTF-8.
bool is_valid(std::string_view s);

// Length of the valid UTF-8 sequence at the start of `s`, or 0 when it is not one.
size_t valid_prefix_length(std::string_view s);

// `s` made safe for one log line: control characters, quotes, backslashes and bytes that are not
// valid UTF-8 become \xNN escapes (\n, \r, \t by name), so client-sent text cannot forge lines
// or break a terminal. Valid non-ASCII characters are kept.
std::string escape_for_log(std::string_view s);

}  // namespace hearth::utf8
