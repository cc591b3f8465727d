// Logging: spdlog to stderr, one format for the whole binary.
//
// Call init_logging once from main; elsewhere use spdlog::info/warn/error/debug.
// Never log a secret (credentials, tokens, environment values of the target).
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace rwd {

// level: "trace", "debug", "info", "warn", "error", "off".
void init_logging(std::string_view level);

}  // namespace rwd
