#include "nic/nic_manager.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "nic/binder.h"

namespace machnet::nic {

NicManager::NicManager(Config config) : NicManager(config, env_options(config)) {}

NicManager::NicManager(Config config, RealEnvOptions options)
    : config_(std::move(config)), options_(std::move(options)), env_(std::make_unique<RealEnv>(options_)) {}

Result<void> NicManager::start() {
  // A predecessor that crashed (or was killed) may have left the NIC on a DPDK driver: give it
  // back first, so detection sees the host as it was and applies the plan afresh.
  auto restored = restore_if_recorded(*env_, config_.daemon.state_dir);
  if (!restored) return make_error(fmt::format("cannot restore the NIC a previous run left bound: {}", restored.error().message));
  if (!restored->empty()) spdlog::warn("found a NIC state record from a previous run: {}", *restored);

  Detection d = detect(*env_, config_);
  const bool named = config_.nic.mac || config_.nic.pci;
  if (!d.metadata_error.empty())
    spdlog::warn("the metadata service at {} cost {} ms and gave no usable answer; every start waits as long. If it "
                 "is unreachable on purpose, set [cloud] provider = \"none\" and name the NIC with [nic] mac or pci "
                 "and [nic] ip", env_->metadata_url(), d.metadata_time.count());
  std::lock_guard lock(mutex_);
  if (!d.ok()) {
    if (d.cloud == CloudProvider::kNone && !named && !d.choice.chosen) {
      spdlog::warn("[nic] mode = \"auto\": {}; running without a NIC (applications on this host only)", d.error);
      note_ = "no cloud detected and no NIC named: running without a NIC";
      detection_ = std::move(d);
      return {};
    }
    std::string why = d.error;
    detection_ = std::move(d);
    return make_error(fmt::format("[nic] mode = \"auto\": {}", why));
  }
  const NicVerdict& v = *d.chosen();
  spdlog::info("cloud {} ({}); dedicated NIC {} mac {} ip {} at {} {} (driver {}): {}", to_string(d.cloud), d.cloud_reason,
               v.device.ifname.empty() ? "-" : v.device.ifname, d.mac ? d.mac->to_string() : "?",
               d.ip ? d.ip->to_string() : "?", v.device.bus, v.device.bus_address, v.device.driver, v.reason);
  for (const auto& step : d.plan->steps) spdlog::info("  plan: {}", step);
  for (const auto& note : d.plan->notes) spdlog::warn("  {}", note);
  // Every check before the first change: the address the port will serve, then (in
  // apply_plan) drivers, modules, sysfs files and no-IOMMU mode. A refusal changes nothing.
  if (auto target = nic::port_target(d); !target) {
    detection_ = std::move(d);
    return target.error();
  }
  const auto addresses = d.plan->kind == PlanKind::kRebind ? interface_addresses(*env_, v.device.ifname) : std::vector<std::string>();
  if (auto r = apply_plan(*env_, *d.plan, v.device, addresses, config_.daemon.state_dir); !r) {
    // A half-applied plan is put back at once rather than left for the next start.
    if (auto back = restore_if_recorded(*env_, config_.daemon.state_dir); !back)
      spdlog::error("and restoring {} failed too: {}", v.device.bus_address, back.error().message);
    detection_ = std::move(d);
    return make_error(fmt::format("applying the binding plan: {}", r.error().message));
  }
  applied_ = d.plan->kind == PlanKind::kRebind;
  note_ = applied_ ? fmt::format("bound to {}", d.plan->to_driver) : d.plan->steps.empty() ? "" : d.plan->steps.front();
  detection_ = std::move(d);
  return {};
}

Result<std::optional<PortTarget>> NicManager::port_target() const {
  std::lock_guard lock(mutex_);
  if (!detection_) return std::optional<PortTarget>{};
  return nic::port_target(*detection_);
}

void NicManager::stop() {
  std::lock_guard lock(mutex_);
  if (!applied_) return;
  if (!config_.nic.restore_on_stop) {
    spdlog::info("[nic] restore_on_stop = false: leaving the NIC on its DPDK driver (record kept in {})",
                 state_path(config_.daemon.state_dir));
    return;
  }
  if (auto r = restore_if_recorded(*env_, config_.daemon.state_dir); !r)
    spdlog::error("cannot give the NIC back to its kernel driver: {}", r.error().message);
  applied_ = false;
  note_ = "restored";
}

nlohmann::json NicManager::status() const {
  std::lock_guard lock(mutex_);
  nlohmann::json out = {{"cloud", nullptr}, {"nic", nullptr}, {"nic_note", note_}};
  if (!detection_) return out;
  auto full = detection_->to_json();
  out["cloud"] = full["cloud"];
  out["cloud_reason"] = full["cloud_reason"];
  out["instance"] = full["instance"];
  if (!full["chosen"].is_null()) {
    out["nic"] = full["chosen"];
    out["nic"]["plan"] = detection_->plan ? to_string(detection_->plan->kind) : "";
    out["nic"]["bound_by_daemon"] = applied_;
    // The driver in effect now (read from sysfs), and the one the NIC had before machnetd.
    const auto& device = detection_->chosen()->device;
    const std::string now = bound_driver(*env_, device.bus, device.bus_address);
    out["nic"]["driver"] = now.empty() ? nlohmann::json() : nlohmann::json(now);
    out["nic"]["original_driver"] = device.driver.empty() ? nlohmann::json() : nlohmann::json(device.driver);
    if (!device.vf_address.empty()) out["nic"]["vf"] = {{"pci", device.vf_address}, {"driver", device.vf_driver}};
  }
  return out;
}

nlohmann::json NicManager::detect_now() const {
  // Its own Env: detection only reads, and the control thread must not share the start-up
  // Env's journal.
  RealEnv env(options_);
  return detect(env, config_).to_json();
}

}  // namespace machnet::nic
