#include "core/log.h"
#include "core/log_tag.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <mutex>

namespace hearth::log {

namespace {
const char* const kPattern = "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ ";
}

void init() {
    static std::once_flag once;
    std::call_once(once, [] {
        auto logger = spdlog::stderr_color_mt("hearth");
        logger->set_pattern(kPattern + std::string("%v"));
        spdlog::set_default_logger(logger);
        spdlog::set_level(spdlog::level::info);
        if (const char* level = std::getenv("HEARTH_LOG")) {
            spdlog::set_level(spdlog::level::from_str(level));
        }
    });
}

void set_tag(const std::string& tag) {
    // The tag is text, not a pattern: a '%' in it must not be read as a flag.
    std::string literal;
    for (char c : tag) literal += c == '%' ? std::string("%%") : std::string(1, c);
    spdlog::default_logger()->set_pattern(kPattern + ("[" + literal + "] %v"));
}

}  // namespace hearth::log
