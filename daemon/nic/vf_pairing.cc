#include "nic/vf_pairing.h"

#include <fmt/format.h>

namespace machnet::nic {
namespace {

bool is_synthetic(const NetDevice& d) { return d.bus == "vmbus"; }

std::string name_of(const NetDevice& d) { return d.ifname.empty() ? d.bus_address : d.ifname; }

void pair(NetDevice& vf, NetDevice& synthetic, std::string how) {
  vf.vf_of = name_of(synthetic);
  vf.vf_pairing = how;
  synthetic.vf_address = vf.bus_address;
  synthetic.vf_driver = vf.driver;
  synthetic.vf_pairing = std::move(how);
  if (!synthetic.mac) synthetic.mac = vf.mac;
}

bool paired(const NetDevice& d) { return !d.vf_of.empty() || !d.vf_address.empty(); }

}  // namespace

bool is_accelerated_vf(const NetDevice& d) {
  if (d.bus != "pci") return false;
  return is_bifurcated_driver(d.driver) || is_mana(d) || d.pci_id.rfind("15b3:", 0) == 0;
}

void pair_accelerated_vfs(std::vector<NetDevice>& devices) {
  // 1. sysfs master link.
  for (auto& vf : devices) {
    if (!is_accelerated_vf(vf) || vf.upper.empty()) continue;
    for (auto& s : devices)
      if (is_synthetic(s) && !paired(s) && s.ifname == vf.upper)
        pair(vf, s, fmt::format("sysfs: {} is enslaved to {}", vf.ifname, s.ifname));
  }
  // 2. Same MAC.
  for (auto& vf : devices) {
    if (!is_accelerated_vf(vf) || paired(vf) || !vf.mac) continue;
    for (auto& s : devices)
      if (is_synthetic(s) && !paired(s) && s.mac == vf.mac) {
        pair(vf, s, fmt::format("same MAC {}{}", vf.mac->to_string(), s.ifname.empty() ? " (from machnetd's state record)" : ""));
        break;
      }
  }
  // 3. By elimination: one VF without a master, one synthetic device without an interface.
  std::vector<NetDevice*> lone_vfs, bare_synthetics;
  for (auto& d : devices) {
    if (paired(d)) continue;
    if (is_accelerated_vf(d) && d.upper.empty()) lone_vfs.push_back(&d);
    if (is_synthetic(d) && d.ifname.empty()) bare_synthetics.push_back(&d);
  }
  if (lone_vfs.size() == 1 && bare_synthetics.size() == 1)
    pair(*lone_vfs[0], *bare_synthetics[0],
         fmt::format("the only VF without a master and the only synthetic device without an interface (on {})",
                     bare_synthetics[0]->driver.empty() ? "no driver" : bare_synthetics[0]->driver));
}

}  // namespace machnet::nic
