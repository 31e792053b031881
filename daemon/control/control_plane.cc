#include "control/control_plane.h"

#include <pthread.h>

#include <spdlog/spdlog.h>

#include "control/unix_socket.h"
#include "util/logging.h"
#include "util/systemd_notifier.h"

namespace machnet::control {
namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ControlPlane::ControlPlane(const DaemonConfig& config, std::optional<gid_t> group,
                           const AdminCommands& commands, std::function<bool()> healthy)
    : config_(config),
      group_(group),
      admin_server_(io_, commands),
      app_server_(io_),
      healthy_(std::move(healthy)),
      heartbeat_timer_(io_) {}

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
    heartbeat_ns_ = now_ns();
    arm_heartbeat();
    watchdog_ = std::make_unique<Watchdog>(*watchdog_interval_, [this] {
      const int64_t silent = now_ns() - heartbeat_ns_.load(std::memory_order_relaxed);
      const bool control_turned = silent < 2 * std::chrono::nanoseconds(*watchdog_interval_).count();
      if (!control_turned)
        MACHNET_LOG_RATE_LIMITED(spdlog::level::warn, "the control thread has not turned for {} ms", silent / 1'000'000);
      return healthy_() && control_turned;
    });
  }
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "machnet-ctl");
    io_.run();
  });
  return {};
}

// The control thread's sign of life for the watchdog: a timer it serves between
// everything else, four times per ping interval.
void ControlPlane::arm_heartbeat() {
  heartbeat_timer_.expires_after(*watchdog_interval_ / 4);
  heartbeat_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    heartbeat_ns_.store(now_ns(), std::memory_order_relaxed);
    arm_heartbeat();
  });
}

void ControlPlane::stop() {
  watchdog_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
  admin_server_.close();
  app_server_.close();
}

}  // namespace machnet::control
