// The systemd watchdog, on a thread of its own. It pings while the daemon makes progress
// where it matters: every engine's loop went round (the engines' counters advance) and
// the control thread turned (a heartbeat it posts to itself). It does not ping because
// admin clients get answers, and nothing on the control thread can delay a ping: a
// sd_notify that blocks (the manager's socket full) blocks only this thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace machnet::control {

class Watchdog {
 public:
  // `healthy` runs on the watchdog thread before each ping; no ping when it says no.
  Watchdog(std::chrono::microseconds interval, std::function<bool()> healthy);
  ~Watchdog();  // stops the thread (within one interval at most, usually at once)

 private:
  void run();

  const std::chrono::microseconds interval_;
  std::function<bool()> healthy_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace machnet::control
