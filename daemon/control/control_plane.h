// The control thread: a Boost.Asio io_context that owns the application socket, the admin
// socket and the systemd watchdog. It never touches engine data; it asks engines through
// their command queues and reads the counters they publish.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/config.h"
#include "control/admin_protocol.h"
#include "control/admin_server.h"
#include "control/app_server.h"
#include "control/watchdog.h"
#include "util/result.h"

namespace machnet::control {

class ControlPlane {
 public:
  // `healthy` is asked before every watchdog ping (on the watchdog's own thread, so it
  // reads only what other threads publish); when it says no, or when the control thread
  // has not turned for two ping intervals, the ping is withheld and systemd restarts the
  // daemon once WATCHDOG_USEC passes.
  // `group` owns both sockets (nullopt: the daemon's own group).
  ControlPlane(const DaemonConfig& config, std::optional<gid_t> group, const AdminCommands& commands,
               std::function<bool()> healthy);
  ~ControlPlane();

  // Creates both sockets (errors name the path) and starts the control thread.
  Result<void> start();

  // Stops the thread, closes both sockets and removes their files. Idempotent.
  void stop();

  boost::asio::io_context& io_context() { return io_; }
  AppServer& app_server() { return app_server_; }

 private:
  void arm_heartbeat();

  DaemonConfig config_;
  std::optional<gid_t> group_;
  boost::asio::io_context io_;
  AdminServer admin_server_;
  AppServer app_server_;
  std::function<bool()> healthy_;
  boost::asio::steady_timer heartbeat_timer_;
  std::optional<std::chrono::microseconds> watchdog_interval_;
  std::atomic<int64_t> heartbeat_ns_{0};  // steady clock, when the control thread last turned
  std::unique_ptr<Watchdog> watchdog_;
  std::thread thread_;
};

}  // namespace machnet::control
