#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <mutex>

namespace hearth::log {

void init() {
    static std::once_flag once;
    std::call_once(once, [] {
        auto logger = spdlog::stderr_color_mt("hearth");
        logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
        spdlog::set_default_logger(logger);
        spdlog::set_level(spdlog::level::info);
        if (const char* level = std::getenv("HEARTH_LOG")) {
            spdlog::set_level(spdlog::level::from_str(level));
        }
    });
}

}  // namespace hearth::log
