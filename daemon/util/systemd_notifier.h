// The daemon's side of the systemd notify protocol (sd_notify(3)): readiness, status text,
// reload and stop announcements, and watchdog pings. Every call is a no-op when the daemon
// does not run under systemd (no NOTIFY_SOCKET), so the daemon behaves the same either way.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace machnet {

class SystemdNotifier {
 public:
  void ready(std::string_view status);
  void status(std::string_view status);
  void reloading();
  void stopping();
  void watchdog_ping();

  // How often to ping: half of WATCHDOG_USEC, or nullopt when no watchdog is set for us.
  static std::optional<std::chrono::microseconds> watchdog_ping_interval();
};

}  // namespace machnet
