// The one list of configuration keys. Every reader and writer of the configuration (the
// TOML loader, the effective-config dump, the reload diff) walks this list, so a key added
// here is parsed, validated, shown by `machnetctl config` and diffed on reload at once.
// config/machnet.toml must document every key listed here (a unit test checks it).
#pragma once

#include <array>
#include <span>
#include <string_view>
#include <utility>

#include "config/config.h"

namespace machnet::config_schema {

template <typename E>
using NameTable = std::span<const std::pair<std::string_view, E>>;

inline constexpr std::array<std::pair<std::string_view, LogLevel>, 6> kLogLevels{{
    {"trace", LogLevel::kTrace},
    {"debug", LogLevel::kDebug},
    {"info", LogLevel::kInfo},
    {"warning", LogLevel::kWarning},
    {"error", LogLevel::kError},
    {"critical", LogLevel::kCritical},
}};
inline constexpr std::array<std::pair<std::string_view, NicMode>, 4> kNicModes{{
    {"auto", NicMode::kAuto},
    {"pci", NicMode::kPci},
    {"vdev", NicMode::kVdev},
    {"none", NicMode::kNone},
}};
inline constexpr std::array<std::pair<std::string_view, DriverPolicy>, 4> kDriverPolicies{{
    {"auto", DriverPolicy::kAuto},
    {"keep", DriverPolicy::kKeep},
    {"vfio-pci", DriverPolicy::kVfioPci},
    {"uio_hv_generic", DriverPolicy::kUioHvGeneric},
}};
inline constexpr std::array<std::pair<std::string_view, Polling>, 2> kPollings{{
    {"busy", Polling::kBusy},
    {"adaptive", Polling::kAdaptive},
}};
inline constexpr std::array<std::pair<std::string_view, Hugepages>, 3> kHugepages{{
    {"auto", Hugepages::kAuto},
    {"on", Hugepages::kOn},
    {"off", Hugepages::kOff},
}};
inline constexpr std::array<std::pair<std::string_view, CongestionControl>, 2> kCongestion{{
    {"swift", CongestionControl::kSwift},
    {"fixed", CongestionControl::kFixed},
}};
inline constexpr std::array<std::pair<std::string_view, UdpChecksum>, 2> kUdpChecksums{{
    {"auto", UdpChecksum::kAuto},
    {"always", UdpChecksum::kAlways},
}};
inline constexpr std::array<std::pair<std::string_view, CloudProvider>, 5> kProviders{{
    {"auto", CloudProvider::kAuto},
    {"azure", CloudProvider::kAzure},
    {"aws", CloudProvider::kAws},
    {"gcp", CloudProvider::kGcp},
    {"none", CloudProvider::kNone},
}};

// Text rules for string keys.
enum class Text { kAny, kAbsolutePath, kHttpUrl, kName };

// An optional address key: empty string in the file means "not set".
template <typename T>
struct OptionalAddress {
  std::string_view unset_text;  // the value that means "not set"
  std::string_view expected;    // what an error message says was expected
};
inline constexpr OptionalAddress<PciAddress> kPci{"", "\"\" or a PCI address like \"0000:00:08.0\""};
inline constexpr OptionalAddress<MacAddress> kMac{"", "\"\" or a MAC address like \"00:0d:3a:12:34:56\""};
inline constexpr OptionalAddress<Ipv4Prefix> kIp{
    "auto", "\"auto\" or an IPv4 address with prefix like \"10.0.0.4/24\""};

// Walks every key. `C` is `Config` for readers and `const Config` for writers.
template <typename V, typename C>
void visit(V& v, C& c) {
  v.section("daemon");
  v.choice("log_level", c.daemon.log_level, NameTable<LogLevel>(kLogLevels));
  v.text("app_socket", c.daemon.app_socket, Text::kAbsolutePath);
  v.text("admin_socket", c.daemon.admin_socket, Text::kAbsolutePath);
  v.text("group", c.daemon.group, Text::kName);
  v.text("state_dir", c.daemon.state_dir, Text::kAbsolutePath);
  v.integer("stop_drain_ms", c.daemon.stop_drain_ms, 0u, 60000u);

  v.section("nic");
  v.choice("mode", c.nic.mode, NameTable<NicMode>(kNicModes));
  v.address("pci", c.nic.pci, kPci);
  v.address("mac", c.nic.mac, kMac);
  v.text("vdev", c.nic.vdev, Text::kAny);
  v.address("ip", c.nic.ip, kIp);
  v.choice("driver", c.nic.driver, NameTable<DriverPolicy>(kDriverPolicies));
  v.boolean("restore_on_stop", c.nic.restore_on_stop);
  v.boolean("allow_noiommu", c.nic.allow_noiommu);

  v.section("engine");
  v.integer_list("cores", c.engine.cores, 0u, 4095u, 64u);
  v.choice("polling", c.engine.polling, NameTable<Polling>(kPollings));
  v.integer("adaptive_spin_us", c.engine.adaptive_spin_us, 0u, 1000000u);
  v.integer("adaptive_yield_us", c.engine.adaptive_yield_us, 0u, 1000000u);
  v.integer("adaptive_max_sleep_us", c.engine.adaptive_max_sleep_us, 1u, 100000u);

  v.section("dpdk");
  v.choice("hugepages", c.dpdk.hugepages, NameTable<Hugepages>(kHugepages));
  v.integer("memory_mb", c.dpdk.memory_mb, 64u, 65536u);
  v.integer("reserve_hugepages", c.dpdk.reserve_hugepages, 0u, 65536u);
  v.text_list("eal_args", c.dpdk.eal_args);

  v.section("channels");
  v.integer("max_channels", c.channels.max_channels, 1u, 4096u);
  v.integer("ring_slots", c.channels.ring_slots, 16u, 65536u);
  v.integer("buffer_size", c.channels.buffer_size, 512u, 65536u);
  v.integer("buffers_per_channel", c.channels.buffers_per_channel, 32u, 1048576u);
  v.integer("max_message_bytes", c.channels.max_message_bytes, 1u, 64u << 20);

  v.section("transport");
  v.integer_or_auto("mtu", c.transport.mtu, 576u, 9000u);
  v.choice("congestion_control", c.transport.congestion_control,
           NameTable<CongestionControl>(kCongestion));
  v.choice("udp_checksum", c.transport.udp_checksum, NameTable<UdpChecksum>(kUdpChecksums));
  v.integer("initial_window", c.transport.initial_window, 1u, 128u);
  v.integer("min_window", c.transport.min_window, 1u, 128u);
  v.integer("max_window", c.transport.max_window, 1u, 128u);
  v.integer("target_delay_us", c.transport.target_delay_us, 1u, 1000000u);
  v.integer("flow_scaling_range_us", c.transport.flow_scaling_range_us, 0u, 1000000u);
  v.integer("rto_min_us", c.transport.rto_min_us, 10u, 10000000u);
  v.integer("rto_max_us", c.transport.rto_max_us, 10u, 60000000u);
  v.integer("give_up_ms", c.transport.give_up_ms, 100u, 3600000u);
  v.integer("keepalive_ms", c.transport.keepalive_ms, 0u, 3600000u);
  v.integer("idle_timeout_ms", c.transport.idle_timeout_ms, 0u, 86400000u);
  v.integer("connect_timeout_ms", c.transport.connect_timeout_ms, 10u, 600000u);

  v.section("limits");
  v.integer("max_flows_per_engine", c.limits.max_flows_per_engine, 1u, 1u << 20);
  v.integer("max_flows_per_remote_ip", c.limits.max_flows_per_remote_ip, 1u, 1u << 20);
  v.integer("half_open_timeout_ms", c.limits.half_open_timeout_ms, 10u, 600000u);
  v.integer("reassembly_timeout_ms", c.limits.reassembly_timeout_ms, 10u, 600000u);
  v.integer("held_packet_buffers_percent", c.limits.held_packet_buffers_percent, 1u, 90u);
  v.integer("max_channels_per_user", c.limits.max_channels_per_user, 0u, 4096u);
  v.integer("max_listen_ports_per_user", c.limits.max_listen_ports_per_user, 0u, 65535u);
  v.integer("max_ephemeral_ports_per_user", c.limits.max_ephemeral_ports_per_user, 0u, 16384u);
  v.integer("max_app_connections_per_user", c.limits.max_app_connections_per_user, 0u, 1u << 20);

  v.section("cloud");
  v.choice("provider", c.cloud.provider, NameTable<CloudProvider>(kProviders));
  v.text("metadata_url", c.cloud.metadata_url, Text::kHttpUrl);
  v.integer("metadata_timeout_ms", c.cloud.metadata_timeout_ms, 10u, 60000u);

  v.section("testing");
  v.boolean("enabled", c.testing.enabled);
  v.text("sysfs_root", c.testing.sysfs_root, Text::kAbsolutePath);
  v.text("proc_root", c.testing.proc_root, Text::kAbsolutePath);
  v.integer("fault_seed", c.testing.fault_seed, 0u, 0xffffffffu);
  v.probability("rx_drop", c.testing.rx_drop);
  v.probability("tx_drop", c.testing.tx_drop);
  v.probability("tx_duplicate", c.testing.tx_duplicate);
  v.probability("tx_reorder", c.testing.tx_reorder);
  v.integer("tx_delay_us", c.testing.tx_delay_us, 0u, 1000000u);
}

}  // namespace machnet::config_schema
