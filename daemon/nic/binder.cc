#include "nic/binder.h"

#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace machnet::nic {
namespace {

constexpr const char* kNoIommuParameter = "module/vfio/parameters/enable_unsafe_noiommu_mode";

// The kernel module behind a driver name, for modprobe.
std::string module_of(const std::string& driver) {
  return driver == "vfio-pci" ? "vfio-pci" : driver;
}

// Loads the driver's module unless its sysfs driver folder is there already.
Result<void> ensure_driver(Env& env, const std::string& bus, const std::string& driver) {
  const std::string dir = env.sysfs(fmt::format("bus/{}/drivers/{}", bus, driver));
  if (env.exists(dir)) return {};
  if (auto r = env.run({"modprobe", module_of(driver)}); !r)
    return make_error(fmt::format("driver {} is not loaded and modprobe failed: {}", driver, r.error().message));
  if (!env.exists(dir) && env.exists(env.sysfs("bus/" + bus))) {
    // modprobe returned but the driver did not register (or commands are only recorded).
    return make_error(fmt::format("driver {} is not available: {} does not exist after modprobe", driver, dir));
  }
  return {};
}

Result<void> wait_for_driver(Env& env, const std::string& bus, const std::string& address, const std::string& driver) {
  const auto deadline = env.now() + kBindWait;
  for (;;) {
    const std::string now_bound = bound_driver(env, bus, address);
    if (now_bound == driver) return {};
    if (env.now() >= deadline)
      return make_error(fmt::format("{} is bound to {} instead of {} after {} ms", address,
                                    now_bound.empty() ? "no driver" : now_bound, driver.empty() ? "no driver" : driver,
                                    kBindWait.count()));
    env.sleep_for(std::chrono::milliseconds(20));
  }
}

Result<void> unbind(Env& env, const std::string& bus, const std::string& address, const std::string& driver) {
  if (driver.empty()) return {};
  if (auto r = env.write_file(env.sysfs(fmt::format("bus/{}/drivers/{}/unbind", bus, driver)), address); !r) return r;
  return wait_for_driver(env, bus, address, "");
}

Result<void> bind(Env& env, const std::string& bus, const std::string& address, const std::string& driver) {
  if (auto r = env.write_file(env.sysfs(fmt::format("bus/{}/drivers/{}/bind", bus, driver)), address); !r) return r;
  return wait_for_driver(env, bus, address, driver);
}

// The interface name the device has now. By recorded name first, then by recorded MAC (the
// kernel may pick a new name on rebind, and a virtio-net interface hangs one level below the
// PCI device), then whatever the device itself lists.
std::string current_ifname(Env& env, const StateRecord& r) {
  const auto mac = MacAddress::parse(r.mac);
  auto mac_of = [&](const std::string& name) {
    auto text = env.read_file(env.sysfs("class/net/" + name + "/address"));
    if (!text) return std::optional<MacAddress>();
    std::string t = *text;
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
    return MacAddress::parse(t);
  };
  if (!r.ifname.empty() && env.exists(env.sysfs("class/net/" + r.ifname)) && (!mac || mac_of(r.ifname) == mac))
    return r.ifname;
  if (mac)
    for (const auto& name : env.list_dir(env.sysfs("class/net")))
      if (mac_of(name) == mac) return name;
  auto names = env.list_dir(device_dir(env, r.bus, r.bus_address) + "/net");
  return names.empty() ? "" : names.front();
}

}  // namespace

std::vector<std::string> interface_addresses(Env& env, const std::string& ifname) {
  std::vector<std::string> out;
  if (ifname.empty()) return out;
  auto text = env.query({"ip", "-o", "-4", "addr", "show", "dev", ifname});
  if (!text) return out;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    for (std::string w; words >> w;)
      if (w == "inet" && (words >> w)) out.push_back(w);
  }
  return out;
}

Result<void> check_plan(Env& env, const BindingPlan& plan) {
  if (!plan.usable()) return make_error(plan.refusal);
  if (plan.kind != PlanKind::kRebind) return {};
  const std::string where = fmt::format("{} {}", plan.bus, plan.bus_address);
  if (plan.from_driver.empty()) return make_error(fmt::format("{} has no driver bound; nothing to record for restore", where));
  // Loading the DPDK driver's module binds no device (driver_override decides that), so it is
  // done here, among the checks, before the first change.
  if (auto r = ensure_driver(env, plan.bus, plan.to_driver); !r) return make_error(fmt::format("{}: {}", where, r.error().message));
  const std::string dev = device_dir(env, plan.bus, plan.bus_address);
  for (const std::string& file : {dev + "/driver_override",
                                 env.sysfs(fmt::format("bus/{}/drivers/{}/unbind", plan.bus, plan.from_driver)),
                                 env.sysfs(fmt::format("bus/{}/drivers/{}/bind", plan.bus, plan.to_driver))})
    if (!env.exists(file)) return make_error(fmt::format("{}: {} does not exist; the kernel cannot rebind this device", where, file));
  if (plan.noiommu && !env.exists(env.sysfs(kNoIommuParameter)))
    return make_error(fmt::format("{}: vfio has no no-IOMMU mode ({} does not exist; the kernel needs "
                                  "CONFIG_VFIO_NOIOMMU)", where, env.sysfs(kNoIommuParameter)));
  return {};
}

Result<void> apply_plan(Env& env, const BindingPlan& plan, const NetDevice& device,
                        const std::vector<std::string>& addresses, const std::string& state_dir) {
  // Every check before the first change: a refusal leaves the host as it was.
  if (auto r = check_plan(env, plan); !r) return r;
  if (plan.kind != PlanKind::kRebind) return {};  // nothing to change on the host
  StateRecord record;
  record.bus = plan.bus;
  record.bus_address = plan.bus_address;
  record.original_driver = plan.from_driver;
  record.target_driver = plan.to_driver;
  record.ifname = device.ifname;
  record.mac = device.mac ? device.mac->to_string() : "";
  record.mtu = device.mtu;
  record.up = device.up;
  record.addresses = addresses;
  // Its default routes (cloud-init gives every NIC one) vanish with the interface; they are
  // put back on restore.
  for (const auto& route : default_routes(env))
    if (!device.ifname.empty() && route.ifname == device.ifname)
      record.routes.push_back({route.gateway.to_string(), route.metric});
  record.noiommu = plan.noiommu;
  // The record first: from here on a crash leaves enough behind to put everything back.
  if (auto r = write_state(env, state_dir, record); !r)
    return make_error(fmt::format("not touching {}: cannot record its state: {}", plan.bus_address, r.error().message));

  const std::string where = fmt::format("{} {}", plan.bus, plan.bus_address);
  if (plan.noiommu) {
    spdlog::warn("enabling vfio no-IOMMU mode for {}: this taints the kernel", where);
    if (auto r = env.write_file(env.sysfs(kNoIommuParameter), "Y"); !r)
      return make_error(fmt::format("{}: cannot enable vfio no-IOMMU mode: {}", where, r.error().message));
  }
  if (auto r = env.write_file(device_dir(env, plan.bus, plan.bus_address) + "/driver_override", plan.to_driver); !r)
    return make_error(fmt::format("{}: {}", where, r.error().message));
  if (auto r = unbind(env, plan.bus, plan.bus_address, plan.from_driver); !r)
    return make_error(fmt::format("{}: unbinding from {}: {}", where, plan.from_driver, r.error().message));
  if (auto r = bind(env, plan.bus, plan.bus_address, plan.to_driver); !r)
    return make_error(fmt::format("{}: binding to {}: {}", where, plan.to_driver, r.error().message));
  spdlog::info("{} ({}) moved from {} to {}; the state is recorded in {}", where, device.ifname, plan.from_driver,
               plan.to_driver, state_path(state_dir));
  return {};
}

Result<void> restore_from_record(Env& env, const StateRecord& r, const std::string& state_dir) {
  const std::string where = fmt::format("{} {}", r.bus, r.bus_address);
  const std::string dir = device_dir(env, r.bus, r.bus_address);
  if (!env.exists(dir)) {
    // The device is gone (detached from the VM, or the record is from before a reboot that
    // renumbered it): nothing to give back.
    spdlog::warn("{} no longer exists; dropping the NIC state record", where);
    return remove_state(env, state_dir);
  }
  // An empty line clears driver_override (the kernel takes "\n" as "no override").
  if (auto w = env.write_file(dir + "/driver_override", "\n"); !w)
    return make_error(fmt::format("{}: clearing driver_override: {}", where, w.error().message));
  const std::string now_bound = bound_driver(env, r.bus, r.bus_address);
  if (now_bound != r.original_driver) {
    if (auto u = unbind(env, r.bus, r.bus_address, now_bound); !u)
      return make_error(fmt::format("{}: unbinding from {}: {}", where, now_bound, u.error().message));
    if (auto e = ensure_driver(env, r.bus, r.original_driver); !e) return make_error(fmt::format("{}: {}", where, e.error().message));
    if (auto b = bind(env, r.bus, r.bus_address, r.original_driver); !b)
      return make_error(fmt::format("{}: binding back to {}: {}", where, r.original_driver, b.error().message));
  }
  // The kernel driver creates the interface again; wait for it before restoring its settings.
  std::string ifname;
  const auto deadline = env.now() + kBindWait;
  while ((ifname = current_ifname(env, r)).empty() && env.now() < deadline) env.sleep_for(std::chrono::milliseconds(20));
  if (ifname.empty()) {
    spdlog::warn("{} is back on {} but no interface appeared; MTU, addresses and link state not restored", where, r.original_driver);
  } else {
    if (r.mtu != 0)
      if (auto m = env.write_file(env.sysfs("class/net/" + ifname + "/mtu"), std::to_string(r.mtu)); !m)
        spdlog::warn("{}: cannot restore MTU {}: {}", ifname, r.mtu, m.error().message);
    for (const auto& address : r.addresses)
      if (auto a = env.run({"ip", "addr", "replace", address, "dev", ifname}); !a)
        spdlog::warn("{}: cannot restore address {}: {}", ifname, address, a.error().message);
    if (r.up)
      if (auto u = env.run({"ip", "link", "set", "dev", ifname, "up"}); !u)
        spdlog::warn("{}: cannot set the link up: {}", ifname, u.error().message);
    // After the link is up and has its address, or the kernel refuses the gateway.
    for (const auto& route : r.routes)
      if (auto a = env.run({"ip", "route", "replace", "default", "via", route.gateway, "dev", ifname, "metric",
                            std::to_string(route.metric)});
          !a)
        spdlog::warn("{}: cannot restore the default route via {}: {}", ifname, route.gateway, a.error().message);
  }
  if (r.noiommu) spdlog::info("vfio no-IOMMU mode stays on until reboot (the kernel is tainted already)");
  spdlog::info("{} given back to {}{}", where, r.original_driver, ifname.empty() ? "" : " as " + ifname);
  return remove_state(env, state_dir);
}

Result<std::string> restore_if_recorded(Env& env, const std::string& state_dir) {
  auto record = read_state(env, state_dir);
  if (!record) return record.error();
  if (!*record) return text_value("");
  if (auto r = restore_from_record(env, **record, state_dir); !r) return r.error();
  return text_value(fmt::format("{} {} restored to {}", (*record)->bus, (*record)->bus_address, (*record)->original_driver));
}

}  // namespace machnet::nic
