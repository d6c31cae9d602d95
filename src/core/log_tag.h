#pragma once
// Which process of several wrote a log line: under `serve --workers`, "supervisor" or "worker 2"
// (set in core/log.cpp, beside the logger's pattern).
#include <string>

namespace hearth::log {

// Starts every later line with "[tag] " (after the level). Call after init(), before other
// threads log.
void set_tag(const std::string& tag);

}  // namespace hearth::log
