// The record of what the daemon changed on the host, written to STATE_DIR/nic-state.json
// BEFORE the first change, so that a stop, a crash followed by a restart, or
// `machnetd --restore-nic` (ExecStopPost=) can give the NIC back to its kernel driver.
//
// Format (JSON object, version 1):
//   version          1
//   bus, bus_address "pci" + "0000:00:06.0", or "vmbus" + device GUID
//   original_driver  driver bound before the change ("ena", "hv_netvsc", ...)
//   target_driver    driver the daemon bound ("vfio-pci", "uio_hv_generic")
//   ifname, mac, mtu, up   the kernel interface as it was
//   addresses        ["10.0.1.5/24", ...] IPv4 addresses it had
//   routes           [{"gateway": "10.0.1.1", "metric": 200}, ...] its default routes (they go
//                    with the interface when it is unbound); optional, [] when absent
//   noiommu          the daemon turned on vfio's no-IOMMU mode
// A file that does not parse is reported and left in place for a human; it is never guessed at.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nic/env.h"
#include "util/result.h"

namespace machnet::nic {

inline constexpr const char* kStateFileName = "nic-state.json";

struct RecordedRoute {
  std::string gateway;  // "10.0.1.1"
  uint32_t metric = 0;
  bool operator==(const RecordedRoute&) const = default;
};

struct StateRecord {
  std::string bus;
  std::string bus_address;
  std::string original_driver;
  std::string target_driver;
  std::string ifname;
  std::string mac;
  uint32_t mtu = 0;
  bool up = false;
  std::vector<std::string> addresses;
  std::vector<RecordedRoute> routes;
  bool noiommu = false;

  nlohmann::json to_json() const;
  static Result<StateRecord> from_json(const nlohmann::json& json);
};

std::string state_path(const std::string& state_dir);
Result<void> write_state(Env& env, const std::string& state_dir, const StateRecord& record);
// nullopt when there is no record; an error when there is one that cannot be read.
Result<std::optional<StateRecord>> read_state(Env& env, const std::string& state_dir);
Result<void> remove_state(Env& env, const std::string& state_dir);

}  // namespace machnet::nic
