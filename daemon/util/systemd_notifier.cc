#include "util/systemd_notifier.h"

#include <ctime>
#include <string>

#include <fmt/format.h>
#include <systemd/sd-daemon.h>

namespace machnet {
namespace {

void notify(const std::string& text) {
  // unset_environment = 0: children (none today) and later calls still see NOTIFY_SOCKET.
  sd_notify(0, text.c_str());
}

}  // namespace

void SystemdNotifier::ready(std::string_view status) {
  notify(fmt::format("READY=1\nSTATUS={}", status));
}

void SystemdNotifier::status(std::string_view status) { notify(fmt::format("STATUS={}", status)); }

void SystemdNotifier::reloading() {
  // MONOTONIC_USEC lets systemd >= 253 (Type=notify-reload) match the reload; older ones ignore it.
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const uint64_t usec = static_cast<uint64_t>(now.tv_sec) * 1000000 + static_cast<uint64_t>(now.tv_nsec) / 1000;
  notify(fmt::format("RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=Reloading configuration", usec));
}

void SystemdNotifier::stopping() { notify("STOPPING=1\nSTATUS=Stopping"); }

void SystemdNotifier::watchdog_ping() { notify("WATCHDOG=1"); }

std::optional<std::chrono::microseconds> SystemdNotifier::watchdog_ping_interval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec / 2);
}

}  // namespace machnet
