// The daemon's lifecycle: start (lock, sockets, readiness), wait for signals, reload on
// SIGHUP or `machnetctl reload`, stop cleanly on SIGTERM/SIGINT.
#pragma once

#include <signal.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "admin/snapshots.h"
#include "config/config.h"
#include "dpdk/eal.h"
#include "dpdk/port.h"
#include "engine/port_io.h"
#include "control/admin_protocol.h"
#include "control/control_plane.h"
#include "util/instance_lock.h"
#include "util/systemd_notifier.h"

namespace machnet {

namespace engine {
class Engine;
struct EngineShared;
}
namespace control {
class AppSessions;
class DetectRunner;
}  // namespace control

namespace nic { class NicManager; }

struct ReloadOutcome {
  bool ok = false;
  std::vector<std::string> errors;        // why the new file was refused
  std::vector<std::string> applied;       // keys now in effect
  std::vector<std::string> need_restart;  // keys that changed but take effect on restart
  nlohmann::json to_json() const;
};

class Daemon {
 public:
  Daemon(std::string config_path, Config config, std::optional<LogLevel> log_level_override);
  ~Daemon();

  // Runs until SIGTERM or SIGINT; returns the process exit code. The caller must have
  // blocked SIGTERM, SIGINT and SIGHUP in every thread (see main.cc).
  int run();

 private:
  Result<void> start();
  void stop();
  // SIGTERM's first step: the engines deliver what applications already sent, for up to
  // [daemon] stop_drain_ms (graceful_stop.cc), before stop() resets anything. Another
  // SIGTERM or SIGINT cuts it short.
  void drain_flows(const sigset_t& signals);
  ReloadOutcome reload();  // safe from any thread
  void register_admin_commands();
  nlohmann::json status_json() const;
  nlohmann::json stats_json() const;
  std::vector<admin::EngineRow> engine_rows() const;  // running engines
  Config current_config() const;
  std::string status_line() const;

  const std::string config_path_;
  const std::optional<LogLevel> log_level_override_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();

  mutable std::mutex config_mutex_;  // guards config_, never taken on a hot path
  Config config_;
  uint64_t reloads_ = 0;

  std::atomic<const char*> state_{"starting"};
  SystemdNotifier notifier_;
  std::vector<InstanceLock> locks_;
  std::optional<gid_t> group_;  // owner group of the sockets, when it exists
  std::unique_ptr<control::AdminCommands> admin_commands_;
  std::unique_ptr<control::ControlPlane> control_plane_;
  std::unique_ptr<control::DetectRunner> detect_runner_;  // `detect`, off the control thread
  // [nic] mode = "vdev" or "pci": the EAL, the port and the engine's side of it.
  // `detected_mtu`: the NIC's MTU as detection found it (mode "auto"), for [transport] mtu =
  // "auto".
  Result<void> start_port(const Config& c, std::optional<uint32_t> detected_mtu);
  nlohmann::json port_json() const;
  std::optional<dpdk::EalInfo> eal_;
  std::unique_ptr<dpdk::Port> port_;
  std::unique_ptr<nic::NicManager> nic_;  // [nic] mode = "auto": detection, binding, restore
  // The engines, one per [engine] cores entry, each with its queue pair of the port.
  Result<void> start_engines(const Config& c, uint32_t local_ip);
  std::unique_ptr<engine::EngineShared> engine_shared_;
  std::unique_ptr<engine::Neighbours> neighbours_;
  std::vector<std::unique_ptr<engine::PortIo>> port_ios_;
  std::vector<std::unique_ptr<engine::Engine>> engines_;
  std::unique_ptr<control::AppSessions> app_sessions_;  // the application socket's protocol
  // (when, loops) of each engine at the previous `status`/`stats`, for the loop rate.
  mutable std::mutex loop_rate_mutex_;
  mutable std::vector<std::pair<std::chrono::steady_clock::time_point, uint64_t>> loop_samples_;
};

}  // namespace machnet
