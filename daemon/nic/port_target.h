// What [nic] mode = "auto" hands the DPDK port once the NIC manager has applied its plan:
// the device EAL is to take (its PCI address or VMBus UUID, with the plan's device
// arguments) and the address the daemon serves on it. The daemon turns it into the same
// port configuration [nic] mode = "pci" would give.
#pragma once

#include <optional>
#include <string>

#include "config/config.h"
#include "nic/detector.h"
#include "util/result.h"

namespace machnet::nic {

struct PortTarget {
  std::string eal_device;  // for EAL's allow-list (-a): "0000:00:06.0" or a VMBus UUID, ",args"
  std::optional<MacAddress> mac;
  Ipv4Prefix ip;
  std::optional<uint32_t> mtu;  // from the metadata service or the interface, if known
};

// nullopt: detection chose no usable NIC (the daemon then runs without a port). An error:
// a NIC was chosen but the daemon cannot serve on it (no IPv4 address known).
Result<std::optional<PortTarget>> port_target(const Detection& d);

// The configuration the port is opened with: `config` with the target's device allowed in
// EAL (mode "pci", no vdev), its MAC to pick the port, and its address.
Config port_config(const Config& config, const PortTarget& target);

}  // namespace machnet::nic
