#include "nic/net_devices.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include <arpa/inet.h>

namespace machnet::nic {
namespace {

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\0')) text.pop_back();
  return text;
}

std::string basename_of(const std::string& path) { return std::filesystem::path(path).filename().string(); }

std::string link_basename(Env& env, const std::string& path) {
  auto target = env.read_link(path);
  return target ? basename_of(*target) : "";
}

// PCI class 0x02xxxx is "network controller".
bool is_pci_network(Env& env, const std::string& dir) {
  auto cls = env.read_file(dir + "/class");
  return cls && trimmed(*cls).rfind("0x02", 0) == 0;
}

}  // namespace

bool is_dpdk_driver(const std::string& driver) {
  return driver == "vfio-pci" || driver == "uio_pci_generic" || driver == "igb_uio" || driver == "uio_hv_generic";
}

bool is_bifurcated_driver(const std::string& driver) { return driver == "mlx4_core" || driver == "mlx5_core"; }

bool NetDevice::dpdk_bound() const { return is_dpdk_driver(driver); }

std::vector<DefaultRoute> default_routes(Env& env) {
  std::vector<DefaultRoute> out;
  auto text = env.read_file(env.procfs("net/route"));
  if (!text) return out;
  std::istringstream in(*text);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string iface, destination, gateway, flags, refcnt, use, metric, mask;
    if (!(fields >> iface >> destination >> gateway >> flags >> refcnt >> use >> metric >> mask)) continue;
    if (destination != "00000000" || mask != "00000000") continue;
    DefaultRoute route;
    route.ifname = iface;
    // The kernel prints the network-order address as a host integer ("0100000A" is 10.0.0.1
    // on a little-endian host); ntohl turns it into the host-order value on either kind.
    route.gateway.value = ntohl(static_cast<uint32_t>(std::strtoul(gateway.c_str(), nullptr, 16)));
    route.metric = static_cast<uint32_t>(std::strtoul(metric.c_str(), nullptr, 10));
    out.push_back(route);
  }
  return out;
}

bool is_mana(const NetDevice& d) { return d.driver == "mana" || d.pci_id == kManaPciId; }

bool is_ena(const NetDevice& d) { return d.driver == "ena" || d.pci_id.rfind(kAmazonPciVendor, 0) == 0; }

std::string device_dir(Env& env, const std::string& bus, const std::string& address) {
  return env.sysfs("bus/" + bus + "/devices/" + address);
}

std::string bound_driver(Env& env, const std::string& bus, const std::string& address) {
  return link_basename(env, device_dir(env, bus, address) + "/driver");
}

// "0x1414" + "0x00ba" -> "1414:00ba".
static std::string pci_id_of(Env& env, const std::string& dir) {
  auto vendor = env.read_file(dir + "/vendor");
  auto device = env.read_file(dir + "/device");
  if (!vendor || !device) return "";
  auto hex = [](std::string t) {
    t = trimmed(std::move(t));
    return t.rfind("0x", 0) == 0 ? t.substr(2) : t;
  };
  return hex(*vendor) + ":" + hex(*device);
}

// Marks the default routes on the devices; the lowest metric of all is the primary route.
static void mark_routes(Env& env, std::vector<NetDevice>& devices) {
  const auto routes = default_routes(env);
  std::optional<uint32_t> lowest;
  for (const auto& r : routes)
    if (!lowest || r.metric < *lowest) lowest = r.metric;
  for (auto& d : devices) {
    for (const auto& r : routes) {
      if (d.ifname.empty() || r.ifname != d.ifname) continue;
      d.default_route = true;
      if (!d.route_metric || r.metric < *d.route_metric) d.route_metric = r.metric;
    }
    d.primary_route = d.route_metric && d.route_metric == lowest;
  }
}

std::vector<NetDevice> list_net_devices(Env& env) {
  std::vector<NetDevice> out;
  std::vector<std::string> seen_addresses;
  for (const auto& name : env.list_dir(env.sysfs("class/net"))) {
    const std::string dir = env.sysfs("class/net/" + name);
    NetDevice d;
    d.ifname = name;
    if (auto mac = env.read_file(dir + "/address")) d.mac = MacAddress::parse(trimmed(*mac));
    if (auto mtu = env.read_file(dir + "/mtu")) d.mtu = static_cast<uint32_t>(std::strtoul(mtu->c_str(), nullptr, 10));
    if (auto flags = env.read_file(dir + "/flags")) d.up = (std::strtoul(flags->c_str(), nullptr, 16) & 0x1) != 0;
    // The synthetic NIC is the VF's master (netvsc enslaves its VF, as a bond would).
    d.upper = link_basename(env, dir + "/master");
    if (env.exists(dir + "/device")) {
      d.bus = link_basename(env, dir + "/device/subsystem");
      if (auto device = env.resolve(dir + "/device")) d.bus_address = basename_of(*device);
      d.driver = link_basename(env, dir + "/device/driver");
      // virtio-net interfaces hang off a virtio device ("virtio2"); the device to rebind is
      // its parent on the PCI bus, driven by virtio-pci.
      if (d.bus == "virtio") {
        if (auto parent = env.resolve(dir + "/device/..")) {
          d.bus = link_basename(env, *parent + "/subsystem");
          d.bus_address = basename_of(*parent);
          d.driver = link_basename(env, *parent + "/driver");
        }
      }
      if (d.bus == "pci") d.pci_id = pci_id_of(env, device_dir(env, "pci", d.bus_address));
      seen_addresses.push_back(d.bus_address);
    }
    out.push_back(std::move(d));
  }
  // Network devices without an interface: bound to a DPDK driver (or to nothing).
  for (const std::string bus : {"pci", "vmbus"}) {
    for (const auto& address : env.list_dir(env.sysfs("bus/" + bus + "/devices"))) {
      if (std::find(seen_addresses.begin(), seen_addresses.end(), address) != seen_addresses.end()) continue;
      const std::string dir = device_dir(env, bus, address);
      if (bus == "pci" && !is_pci_network(env, dir)) continue;
      if (bus == "vmbus") {
        auto cls = env.read_file(dir + "/class_id");
        if (!cls || trimmed(*cls).find(kVmbusNetworkClass) == std::string::npos) continue;
      }
      NetDevice d;
      d.bus = bus;
      d.bus_address = address;
      d.driver = bound_driver(env, bus, address);
      if (bus == "pci") d.pci_id = pci_id_of(env, dir);
      out.push_back(std::move(d));
    }
  }
  mark_routes(env, out);
  return out;
}

nlohmann::json to_json(const NetDevice& d) {
  return {{"name", d.ifname.empty() ? nlohmann::json() : nlohmann::json(d.ifname)},
          {"mac", d.mac ? nlohmann::json(d.mac->to_string()) : nlohmann::json()},
          {"bus", d.bus.empty() ? nlohmann::json() : nlohmann::json(d.bus)},
          {"bus_address", d.bus_address.empty() ? nlohmann::json() : nlohmann::json(d.bus_address)},
          {"driver", d.driver.empty() ? nlohmann::json() : nlohmann::json(d.driver)},
          {"mtu", d.mtu},
          {"up", d.up},
          {"default_route", d.default_route},
          {"route_metric", d.route_metric ? nlohmann::json(*d.route_metric) : nlohmann::json()},
          {"pci_id", d.pci_id.empty() ? nlohmann::json() : nlohmann::json(d.pci_id)},
          {"vf_of", d.vf_of.empty() ? nlohmann::json() : nlohmann::json(d.vf_of)},
          {"vf", d.vf_address.empty() ? nlohmann::json() : nlohmann::json(d.vf_address)},
          {"dpdk_bound", d.dpdk_bound()}};
}

}  // namespace machnet::nic
