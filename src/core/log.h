#pragma once
// Human-readable logs on stderr. Level from HEARTH_LOG (trace|debug|info|warn|error|off).
#include <spdlog/spdlog.h>

namespace hearth::log {

// Configures the default logger once; safe to call more than once.
void init();

using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::warn;

}  // namespace hearth::log
