// The host's NICs as sysfs and /proc show them: every interface under /sys/class/net (name,
// MAC, MTU, link state, bus address, driver), plus network devices on the PCI and VMBus buses
// that are bound to a DPDK driver and so have no interface, and the interface that holds the
// default route (/proc/net/route).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/net_types.h"
#include "nic/env.h"

namespace machnet::nic {

// The VMBus class GUID of Hyper-V synthetic network devices.
inline constexpr const char* kVmbusNetworkClass = "f8615163-df3e-46c5-913f-f2d2f965ed0e";

struct NetDevice {
  std::string ifname;              // "" when no kernel interface (DPDK-bound device)
  std::optional<MacAddress> mac;   // unknown for DPDK-bound devices
  std::string bus;                 // "pci", "vmbus", or "" for virtual interfaces
  std::string bus_address;         // "0000:00:06.0" or the VMBus device GUID
  std::string driver;              // bound driver, "" when none
  uint32_t mtu = 0;
  bool up = false;                 // IFF_UP in /sys/class/net/IF/flags
  bool default_route = false;      // holds a default route in /proc/net/route
  bool dpdk_bound() const;         // driver is vfio-pci, uio_pci_generic, igb_uio, uio_hv_generic
};

bool is_dpdk_driver(const std::string& driver);
bool is_bifurcated_driver(const std::string& driver);  // mlx4_core, mlx5_core

// Interfaces with a default route ("eth0"), from PROC/net/route.
std::vector<std::string> default_route_interfaces(Env& env);

std::vector<NetDevice> list_net_devices(Env& env);

// sysfs directory of a bus device: SYSFS/bus/BUS/devices/ADDRESS.
std::string device_dir(Env& env, const std::string& bus, const std::string& address);
// The driver bound to a bus device, "" when none.
std::string bound_driver(Env& env, const std::string& bus, const std::string& address);

nlohmann::json to_json(const NetDevice& device);

}  // namespace machnet::nic
