#include "control/watchdog.h"

#include <pthread.h>

#include <spdlog/spdlog.h>

#include "util/logging.h"
#include "util/systemd_notifier.h"

namespace machnet::control {

Watchdog::Watchdog(std::chrono::microseconds interval, std::function<bool()> healthy)
    : interval_(interval), healthy_(std::move(healthy)), thread_([this] { run(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Watchdog::run() {
  pthread_setname_np(pthread_self(), "machnet-wdog");
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, interval_, [this] { return stop_; })) {
    lock.unlock();
    if (healthy_()) {
      SystemdNotifier().watchdog_ping();
    } else {
      MACHNET_LOG_RATE_LIMITED(spdlog::level::warn, "not healthy: withholding the watchdog ping");
    }
    lock.lock();
  }
}

}  // namespace machnet::control
