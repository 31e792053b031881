#include "nic/detector.h"

#include <fmt/format.h>

#include "nic/binder.h"
#include "nic/dmi.h"
#include "nic/state_record.h"

namespace machnet::nic {

RealEnvOptions env_options(const Config& config) {
  RealEnvOptions o;
  o.sysfs_root = config.testing.sysfs_root;
  o.proc_root = config.testing.proc_root;
  o.metadata_url = config.cloud.metadata_url;
  o.metadata_timeout = std::chrono::milliseconds(config.cloud.metadata_timeout_ms);
  // A fake sysfs tree means a test: never run modprobe or ip against the host.
  o.commands = config.testing.enabled && (o.sysfs_root != "/sys" || o.proc_root != "/proc") ? CommandMode::kRecordOnly
                                                                                          : CommandMode::kRun;
  return o;
}

namespace {

// [nic] ip; else ("auto") the metadata service's first private address for the NIC; else the
// address the interface has now (or had, per our record, before machnetd took it). Says where
// it came from, or why there is none, in ip_source.
void choose_address(Env& env, Detection& d, const Config& config, const std::optional<StateRecord>& record) {
  const NicVerdict& v = *d.chosen();
  if (config.nic.ip) {
    d.ip = config.nic.ip;
    d.ip_source = "[nic] ip";
    return;
  }
  if (v.metadata && !v.metadata->ipv4.empty()) {
    d.ip = Ipv4Prefix{v.metadata->ipv4.front(), v.metadata->prefix.value_or(32)};
    d.ip_source = "the metadata service";
    return;
  }
  std::vector<std::string> own;
  std::string from;
  if (!v.device.ifname.empty() && !(v.device.dpdk_bound() && v.device.recorded)) {
    own = interface_addresses(env, v.device.ifname);
    from = "interface " + v.device.ifname;
  }
  if (own.empty() && v.device.recorded && record) {
    own = record->addresses;
    from = "machnetd's state record";
  }
  for (const auto& text : own)
    if (auto prefix = Ipv4Prefix::parse(text)) {
      d.ip = prefix;
      d.ip_source = from;
      return;
    }
  const std::string md = d.metadata ? "the metadata service lists no IPv4 address for it"
                         : d.cloud == CloudProvider::kNone ? "no cloud, so no metadata service"
                                                           : "the metadata service failed";
  d.ip_source = fmt::format("none known: {}, and {} has no IPv4 address", md,
                            v.device.ifname.empty() ? "the device (no interface)" : "interface " + v.device.ifname);
}

}  // namespace

Detection detect(Env& env, const Config& config) {
  Detection d;
  // 1. The cloud: forced, or DMI confirmed by the metadata service.
  if (config.cloud.provider != CloudProvider::kAuto) {
    d.cloud = config.cloud.provider;
    d.cloud_reason = fmt::format("[cloud] provider = \"{}\"", to_string(config.cloud.provider));
  } else {
    CloudGuess guess = guess_cloud_from_dmi(env);
    d.cloud = guess.provider;
    d.cloud_reason = guess.reason;
  }
  if (d.cloud != CloudProvider::kNone) {
    const auto asked = env.now();
    auto md = fetch_metadata(env, d.cloud);
    d.metadata_time = std::chrono::duration_cast<std::chrono::milliseconds>(env.now() - asked);
    if (md) {
      d.metadata = std::move(*md);
      d.cloud_reason += fmt::format("; confirmed by the metadata service at {}", env.metadata_url());
    } else {
      d.metadata_error = md.error().message;
      d.cloud_reason += "; NOT confirmed: the metadata service failed";
    }
  }

  // 2. The NIC.
  auto record = read_state(env, config.daemon.state_dir);
  std::optional<StateRecord> known = record ? *record : std::nullopt;
  const auto devices = list_net_devices(env);
  const bool named = config.nic.mac || config.nic.pci;
  d.config_fallback = d.cloud != CloudProvider::kNone && !d.metadata && named;
  d.choice = choose_nic(d.cloud, devices, d.metadata ? &*d.metadata : nullptr, config.nic, known);
  if (!d.choice.chosen) {
    if (!d.metadata_error.empty())
      d.error = fmt::format("{}: {}; and [nic] names no NIC to fall back on (set [nic] mac or pci)",
                            to_string(d.cloud), d.metadata_error);
    else if (d.cloud == CloudProvider::kNone && !named)
      d.error = fmt::format("no cloud detected ({}) and [nic] names no NIC (set [nic] mac or pci, or mode = \"vdev\"/\"none\")",
                            d.cloud_reason);
    else
      d.error = d.choice.error;
    return d;
  }
  const NicVerdict& v = d.choice.nics[*d.choice.chosen];
  if (d.config_fallback) d.choice.nics[*d.choice.chosen].reason += fmt::format(" (metadata failed, fallback to [nic]: {})", d.metadata_error);
  d.mac = v.device.mac;
  choose_address(env, d, config, known);
  if (v.metadata && v.metadata->mtu) d.mtu = v.metadata->mtu;
  else if (v.device.mtu) d.mtu = v.device.mtu;

  // 3. The plan.
  d.plan = plan_binding(env, d.cloud, v.device, config.nic);
  if (!d.plan->usable()) d.error = fmt::format("{} {}: {}", v.device.bus, v.device.bus_address, d.plan->refusal);
  return d;
}

nlohmann::json Detection::to_json() const {
  nlohmann::json nics = nlohmann::json::array();
  for (size_t i = 0; i < choice.nics.size(); ++i) {
    const auto& v = choice.nics[i];
    auto j = nic::to_json(v.device);
    j["mac"] = v.device.mac ? nlohmann::json(v.device.mac->to_string()) : nlohmann::json();
    j["name"] = v.device.ifname.empty() ? nlohmann::json() : nlohmann::json(v.device.ifname);
    j["ip"] = nullptr;
    if (v.metadata && !v.metadata->ipv4.empty())
      j["ip"] = Ipv4Prefix{v.metadata->ipv4.front(), v.metadata->prefix.value_or(32)}.to_string();
    j["primary"] = v.metadata ? v.metadata->primary : v.device.primary_route;
    j["chosen"] = choice.chosen == i;
    j["reason"] = v.reason;
    nics.push_back(std::move(j));
  }
  nlohmann::json instance;
  if (metadata) instance = {{"id", metadata->instance_id}, {"type", metadata->instance_type}};
  nlohmann::json out = {
      {"cloud", to_string(cloud)},
      {"cloud_reason", cloud_reason},
      {"instance", instance},
      {"metadata_ok", metadata.has_value()},
      {"metadata_error", metadata_error.empty() ? nlohmann::json() : nlohmann::json(metadata_error)},
      {"metadata_ms", metadata_time.count()},
      {"config_fallback", config_fallback},
      {"nics", nics},
      {"chosen", nullptr},
      {"plan", plan ? plan->to_json() : nlohmann::json()},
      {"ok", ok()},
      {"error", error.empty() ? nlohmann::json() : nlohmann::json(error)},
  };
  if (const auto* v = chosen()) {
    out["chosen"] = {{"name", v->device.ifname.empty() ? nlohmann::json() : nlohmann::json(v->device.ifname)},
                     {"mac", mac ? nlohmann::json(mac->to_string()) : nlohmann::json()},
                     {"ip", ip ? nlohmann::json(ip->to_string()) : nlohmann::json()},
                     {"ip_source", ip_source},
                     {"mtu", mtu ? nlohmann::json(*mtu) : nlohmann::json()},
                     {"bus", v->device.bus},
                     {"bus_address", v->device.bus_address},
                     {"driver", v->device.driver}};
  }
  return out;
}

}  // namespace machnet::nic
