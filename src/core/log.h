// Process log (not the access log): spdlog to stderr, with the level set by --log-level.
#pragma once

#include <spdlog/spdlog.h>

#define HOP_LOG_INFO(...) spdlog::info(__VA_ARGS__)
#define HOP_LOG_WARN(...) spdlog::warn(__VA_ARGS__)
#define HOP_LOG_ERROR(...) spdlog::error(__VA_ARGS__)
#define HOP_LOG_DEBUG(...) spdlog::debug(__VA_ARGS__)
