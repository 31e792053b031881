#include "nic/nic_choice.h"

#include <fmt/format.h>

#include "nic/vf_pairing.h"

namespace machnet::nic {
namespace {

std::string describe(const NetDevice& d) {
  return fmt::format("{} (mac {}, {} {}, driver {})", d.ifname.empty() ? "<no interface>" : d.ifname,
                     d.mac ? d.mac->to_string() : "?", d.bus.empty() ? "virtual" : d.bus,
                     d.bus_address.empty() ? "-" : d.bus_address, d.driver.empty() ? "none" : d.driver);
}

}  // namespace

NicChoice choose_nic(CloudProvider cloud, const std::vector<NetDevice>& devices,
                     const InstanceMetadata* metadata, const NicConfig& config,
                     const std::optional<StateRecord>& record) {
  NicChoice out;
  std::vector<NetDevice> known = devices;
  for (auto& device : known) {
    // A device the daemon bound earlier has no interface any more; the record knows its MAC.
    if (record && record->bus == device.bus && record->bus_address == device.bus_address) {
      device.recorded = true;
      if (!device.mac) device.mac = MacAddress::parse(record->mac);
      if (device.ifname.empty()) device.ifname = record->ifname;
    }
  }
  pair_accelerated_vfs(known);
  for (const auto& device : known) {
    NicVerdict v;
    v.device = device;
    if (metadata && v.device.mac)
      for (const auto& m : metadata->nics)
        if (m.mac == *v.device.mac) v.metadata = m;
    out.nics.push_back(std::move(v));
  }

  const bool named = config.mac || config.pci;
  for (auto& v : out.nics) {
    const NetDevice& d = v.device;
    if (d.bus.empty()) { v.reason = "virtual interface (no bus device)"; continue; }
    if (d.primary_route) {
      v.reason = fmt::format("holds the default route (metric {}, the host's lowest)", *d.route_metric);
      continue;
    }
    if (v.metadata && v.metadata->primary) { v.reason = "primary NIC per the metadata service (the host is reached by it)"; continue; }
    if (!d.vf_of.empty()) {
      v.reason = fmt::format("accelerated-networking VF of {} ({}); chosen with it, never alone", d.vf_of, d.vf_pairing);
      continue;
    }
    if (cloud == CloudProvider::kAzure && is_accelerated_vf(d)) {
      // On Azure every Mellanox/MANA device is some synthetic NIC's VF; alone it is the wrong
      // device for DPDK (the netvsc or MANA plan goes through the synthetic NIC).
      v.reason = "accelerated-networking VF whose synthetic NIC cannot be told (several are bound to DPDK drivers "
                 "without a record of ours); bind them with machnetd, or unbind all but one";
      continue;
    }
    if (config.mac && (!d.mac || *d.mac != *config.mac)) { v.reason = fmt::format("MAC is not [nic] mac {}", config.mac->to_string()); continue; }
    if (config.pci && (d.bus != "pci" || d.bus_address != config.pci->to_string())) {
      v.reason = fmt::format("bus address is not [nic] pci {}", config.pci->to_string());
      continue;
    }
    if (!named) {
      if (!metadata) { v.reason = "no metadata to confirm it and [nic] names no NIC"; continue; }
      if (!d.mac) { v.reason = "bound to a DPDK driver with unknown MAC; name it with [nic] pci"; continue; }
      if (!v.metadata) { v.reason = "MAC not listed by the metadata service"; continue; }
    }
    v.candidate = true;
  }

  std::vector<size_t> candidates;
  for (size_t i = 0; i < out.nics.size(); ++i)
    if (out.nics[i].candidate) candidates.push_back(i);
  std::string seen;
  for (const auto& v : out.nics)
    seen += fmt::format("\n  {}: {}", describe(v.device), v.candidate ? "candidate" : v.reason);
  if (seen.empty()) seen = "\n  (no network devices found)";
  if (candidates.size() == 1) {
    out.chosen = candidates[0];
    auto& v = out.nics[candidates[0]];
    v.reason = named ? (config.mac ? "matches [nic] mac" : "matches [nic] pci")
                     : "the only secondary NIC listed by the metadata service";
    if (v.device.default_route)
      v.reason += fmt::format("; its own default route (metric {}) is not the host's lowest", *v.device.route_metric);
    if (!v.device.vf_address.empty())
      v.reason += fmt::format("; VF {} ({}, {})", v.device.vf_address, v.device.vf_driver, v.device.vf_pairing);
    return out;
  }
  if (candidates.empty()) {
    out.error = "no NIC qualifies as the dedicated NIC";
    if (!named && metadata) out.error += " (attach a secondary NIC to the VM)";
    out.error += "; seen:" + seen;
  } else {
    out.error = fmt::format("{} NICs qualify as the dedicated NIC; name one with [nic] mac or pci; seen:{}",
                            candidates.size(), seen);
    for (size_t i : candidates) out.nics[i].reason = "candidate, but not the only one";
    for (size_t i : candidates) out.nics[i].candidate = false;
  }
  return out;
}

}  // namespace machnet::nic
