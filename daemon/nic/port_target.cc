#include "nic/port_target.h"

#include <fmt/format.h>

namespace machnet::nic {

Result<std::optional<PortTarget>> port_target(const Detection& d) {
  if (!d.ok()) return std::optional<PortTarget>{};
  const NicVerdict& v = *d.chosen();
  if (!d.ip)
    return make_error(fmt::format("[nic] mode = \"auto\": no IPv4 address is known for {} ({}); "
                                  "set [nic] ip, e.g. ip = \"10.0.1.4/24\"",
                                  v.device.ifname.empty() ? v.device.bus_address : v.device.ifname, d.ip_source));
  PortTarget t;
  t.eal_device = d.plan->dpdk_device;
  for (const auto& arg : d.plan->dpdk_args) t.eal_device += "," + arg;
  t.mac = d.mac;
  t.ip = *d.ip;
  t.mtu = d.mtu;
  return std::optional<PortTarget>{std::move(t)};
}

Config port_config(const Config& config, const PortTarget& target) {
  Config c = config;
  c.nic.mode = NicMode::kPci;
  c.nic.pci.reset();  // the allow-list entry below names the device, whatever its bus
  c.nic.vdev.clear();
  c.nic.mac = target.mac;
  c.nic.ip = target.ip;
  c.dpdk.eal_args.insert(c.dpdk.eal_args.begin(), {"-a", target.eal_device});
  return c;
}

}  // namespace machnet::nic
