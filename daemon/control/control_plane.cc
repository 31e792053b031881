#include "control/control_plane.h"

#include <pthread.h>

#include <spdlog/spdlog.h>

#include "control/unix_socket.h"
#include "util/logging.h"
#include "util/systemd_notifier.h"

namespace machnet::control {

ControlPlane::ControlPlane(const DaemonConfig& config, std::optional<gid_t> group,
                           const AdminCommands& commands, std::function<bool()> healthy)
    : config_(config),
      group_(group),
      admin_server_(io_, commands),
      app_server_(io_),
      healthy_(std::move(healthy)),
      watchdog_timer_(io_) {}

ControlPlane::~ControlPlane() { stop(); }

Result<void> ControlPlane::start() {
  if (auto r = app_server_.listen(config_.app_socket, group_); !r) return r;
  if (auto r = admin_server_.listen(config_.admin_socket, group_); !r) {
    app_server_.close();
    return r;
  }
  watchdog_interval_ = SystemdNotifier::watchdog_ping_interval();
  if (watchdog_interval_) {
    spdlog::info("systemd watchdog: pinging every {} ms", watchdog_interval_->count() / 1000);
    arm_watchdog();
  }
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "machnet-ctl");
    io_.run();
  });
  return {};
}

void ControlPlane::arm_watchdog() {
  watchdog_timer_.expires_after(*watchdog_interval_);
  watchdog_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    if (healthy_()) {
      SystemdNotifier().watchdog_ping();
    } else {
      MACHNET_LOG_RATE_LIMITED(spdlog::level::warn, "not healthy: withholding the watchdog ping");
    }
    arm_watchdog();
  });
}

void ControlPlane::stop() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
  admin_server_.close();
  app_server_.close();
}

}  // namespace machnet::control
