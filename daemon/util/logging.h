// Logging for people: spdlog to stderr. Under journald each line starts with a syslog
// "<N>" priority so the journal keeps the level; on a terminal lines carry a timestamp.
// Per-event counters, not logs, record anything that can happen per packet; for the rest,
// MACHNET_LOG_RATE_LIMITED keeps a repeating warning from flooding the journal.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

#include <spdlog/spdlog.h>

#include "config/config.h"

namespace machnet::logging {

// Installs the stderr logger. Call once, before any thread starts.
void init(LogLevel level);
void set_level(LogLevel level);
spdlog::level::level_enum to_spdlog(LogLevel level);

// Allows `burst` messages per `window`; counts what it suppresses.
class RateLimiter {
 public:
  RateLimiter(uint32_t burst, std::chrono::steady_clock::duration window)
      : burst_(burst), window_(window) {}

  // True when a message may be logged now; `suppressed` receives how many were dropped
  // since the last one that was allowed.
  bool allow(uint64_t& suppressed);

 private:
  std::mutex mutex_;
  const uint32_t burst_;
  const std::chrono::steady_clock::duration window_;
  std::chrono::steady_clock::time_point window_start_{};
  uint32_t in_window_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace machnet::logging

// Logs at most 5 messages per 10 s from this call site, then says how many it skipped.
#define MACHNET_LOG_RATE_LIMITED(level, ...)                                               \
  do {                                                                                      \
    static ::machnet::logging::RateLimiter machnet_rate_limiter_(5, std::chrono::seconds(10)); \
    uint64_t machnet_suppressed_ = 0;                                                       \
    if (machnet_rate_limiter_.allow(machnet_suppressed_)) {                                 \
      if (machnet_suppressed_ > 0)                                                          \
        spdlog::log(level, "({} similar messages suppressed)", machnet_suppressed_);        \
      spdlog::log(level, __VA_ARGS__);                                                      \
    }                                                                                       \
  } while (0)
