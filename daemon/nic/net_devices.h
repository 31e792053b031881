// The host's NICs as sysfs and /proc show them: every interface under /sys/class/net (name,
// MAC, MTU, link state, bus address, driver, PCI id, the interface it is enslaved to), plus
// network devices on the PCI and VMBus buses that are bound to a DPDK driver and so have no
// interface, and the default routes with their metrics (/proc/net/route).
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
  std::string pci_id;              // "1414:00ba" (vendor:device) for PCI devices, else ""
  std::string upper;               // interface this one is enslaved to (sysfs master link), or ""
  bool default_route = false;      // holds a default route in /proc/net/route
  std::optional<uint32_t> route_metric;  // metric of its lowest default route
  // Holds the host's lowest-metric default route: the NIC the host is reached by. cloud-init
  // gives every NIC a default route (metric 100, 200, ...); only the lowest one is primary.
  bool primary_route = false;
  bool recorded = false;           // our state record names this device (machnetd bound it)
  // Azure accelerated networking, filled by pair_accelerated_vfs() (vf_pairing.h):
  std::string vf_of;               // on a VF: ifname (or bus address) of its synthetic NIC
  std::string vf_address;          // on a synthetic NIC: its VF's PCI address
  std::string vf_driver;           // on a synthetic NIC: its VF's driver (mlx5_core, mana)
  std::string vf_pairing;          // how the pair was found, for people
  bool dpdk_bound() const;         // driver is vfio-pci, uio_pci_generic, igb_uio, uio_hv_generic
};

// PCI ids that decide plans: Microsoft's MANA VF and Amazon's ENA.
inline constexpr const char* kManaPciId = "1414:00ba";
inline constexpr const char* kAmazonPciVendor = "1d0f";
bool is_mana(const NetDevice& device);  // driver mana, or PCI id 1414:00ba
bool is_ena(const NetDevice& device);   // driver ena, or an Amazon PCI device

struct DefaultRoute {
  std::string ifname;
  Ipv4Address gateway;
  uint32_t metric = 0;
};

bool is_dpdk_driver(const std::string& driver);
bool is_bifurcated_driver(const std::string& driver);  // mlx4_core, mlx5_core

// Every default route in PROC/net/route, in file order.
std::vector<DefaultRoute> default_routes(Env& env);

std::vector<NetDevice> list_net_devices(Env& env);

// sysfs directory of a bus device: SYSFS/bus/BUS/devices/ADDRESS.
std::string device_dir(Env& env, const std::string& bus, const std::string& address);
// The driver bound to a bus device, "" when none.
std::string bound_driver(Env& env, const std::string& bus, const std::string& address);

nlohmann::json to_json(const NetDevice& device);

}  // namespace machnet::nic
