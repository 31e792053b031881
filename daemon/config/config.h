// The daemon's typed configuration: what /etc/machnet/machnet.toml says once it has been
// parsed and validated. Every key, its default and its range is listed once, in
// config_schema.h; config/machnet.toml documents the same keys for users.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/net_types.h"

namespace machnet {

inline constexpr const char* kDefaultConfigPath = "/etc/machnet/machnet.toml";

enum class LogLevel { kTrace, kDebug, kInfo, kWarning, kError, kCritical };
enum class NicMode { kAuto, kPci, kVdev, kNone };
// How the daemon may change the NIC's driver binding: "auto" picks the plan from the cloud
// and the current driver; "keep" never rebinds (the NIC must already suit DPDK).
enum class DriverPolicy { kAuto, kKeep, kVfioPci, kUioHvGeneric };
enum class Polling { kBusy, kAdaptive };
enum class Hugepages { kAuto, kOn, kOff };
enum class CongestionControl { kSwift, kFixed };
// UDP checksums where the port cannot compute them: "auto" skips them on a link whose frames
// never leave memory (net_memif), "always" computes and checks them on every port.
enum class UdpChecksum { kAuto, kAlways };
enum class CloudProvider { kAuto, kAzure, kAws, kGcp, kNone };

struct DaemonConfig {
  LogLevel log_level = LogLevel::kInfo;
  std::string app_socket = "/run/machnet/machnet.sock";
  std::string admin_socket = "/run/machnet/machnetctl.sock";
  std::string group = "machnet";
  std::string state_dir = "/var/lib/machnet";
  // On SIGTERM, how long flows may take to deliver what applications already sent before
  // what is left is reset (docs/wire-protocol.md "Stop"). Well under the unit's
  // TimeoutStopSec (15 s), which must also cover the EAL and NIC teardown. 0: reset at once.
  uint32_t stop_drain_ms = 5000;
};

struct NicConfig {
  NicMode mode = NicMode::kAuto;
  std::optional<PciAddress> pci;
  std::optional<MacAddress> mac;
  std::string vdev;
  std::optional<Ipv4Prefix> ip;  // nullopt means "auto": from the metadata service or the NIC
  DriverPolicy driver = DriverPolicy::kAuto;
  bool restore_on_stop = true;
  bool allow_noiommu = false;
};

struct EngineConfig {
  std::vector<uint32_t> cores;  // CPU ids, one engine each; empty: one engine, not pinned
  Polling polling = Polling::kAdaptive;
  uint32_t adaptive_spin_us = 15;      // poll this long without work before yielding, unless an app has unread messages
  uint32_t adaptive_yield_us = 5000;   // then poll, yielding the core, this long after the last work
  uint32_t adaptive_max_sleep_us = 1000;  // longest single sleep when idle
};

struct DpdkConfig {
  Hugepages hugepages = Hugepages::kAuto;
  uint32_t memory_mb = 512;
  uint32_t reserve_hugepages = 0;  // 2 MiB pages to reserve at start; 0 leaves the system alone
  std::vector<std::string> eal_args;
};

struct ChannelsConfig {
  uint32_t max_channels = 32;
  uint32_t ring_slots = 1024;
  uint32_t buffer_size = 4096;
  uint32_t buffers_per_channel = 4096;
  uint32_t max_message_bytes = 8u << 20;
};

struct TransportConfig {
  // IP MTU; nullopt is "auto": what the link carries (dpdk/link_mtu.h resolves it at start).
  std::optional<uint32_t> mtu;
  CongestionControl congestion_control = CongestionControl::kSwift;
  UdpChecksum udp_checksum = UdpChecksum::kAuto;
  uint32_t initial_window = 32;  // packets
  uint32_t min_window = 2;
  uint32_t max_window = 128;  // the SACK bitmap's reach
  uint32_t target_delay_us = 2000;  // round trip; see config/machnet.toml for why this high
  uint32_t flow_scaling_range_us = 1000;  // Swift's flow-based scaling: added to the target at min_window
  uint32_t rto_min_us = 1000;
  uint32_t rto_max_us = 200000;
  uint32_t give_up_ms = 30000;  // survives VM pauses and live migration blackouts
  uint32_t keepalive_ms = 15000;  // 0: never
  uint32_t idle_timeout_ms = 0;   // 0: never
  uint32_t connect_timeout_ms = 2000;
};

// Caps that keep a hostile peer or application from exhausting the daemon (issue 15;
// docs/security.md). Counted when hit (`machnetctl stats`).
struct LimitsConfig {
  uint32_t max_flows_per_engine = 16384;    // flows to other machines, per engine
  uint32_t max_flows_per_remote_ip = 1024;  // of those, per remote IPv4 address
  uint32_t half_open_timeout_ms = 3000;     // an accepted flow must hear from its peer again within this
  // A message being reassembled holds every receive buffer it will need: if it makes no
  // progress for this long while another flow waits for its channel's room, it is dropped
  // and its flow reset (a peer that announces a large message and goes silent).
  uint32_t reassembly_timeout_ms = 2000;
  // The share of the port's packet buffers flows may hold (reorder buffers, receivers
  // without room), over all engines; the rest keeps receive rings, ARP, ICMP and ACKs going.
  uint32_t held_packet_buffers_percent = 50;
  // Per user (SO_PEERCRED of the app socket; root is never capped); 0: no cap.
  uint32_t max_channels_per_user = 16;
  uint32_t max_listen_ports_per_user = 64;
  uint32_t max_ephemeral_ports_per_user = 4096;
  uint32_t max_app_connections_per_user = 256;  // libmachnet holds one per process
};

struct CloudConfig {
  CloudProvider provider = CloudProvider::kAuto;
  std::string metadata_url = "http://169.254.169.254";
  uint32_t metadata_timeout_ms = 2000;
};

// Test-only knobs. Refused unless `enabled = true`, so a production file cannot set them by
// accident.
struct TestingConfig {
  bool enabled = false;
  std::string sysfs_root = "/sys";
  std::string proc_root = "/proc";
  // Fault injection on the port, deterministic for a given seed (probabilities 0.0-1.0).
  uint32_t fault_seed = 1;
  double rx_drop = 0;
  double tx_drop = 0;
  double tx_duplicate = 0;
  double tx_reorder = 0;      // a reordered frame leaves after the next burst
  uint32_t tx_delay_us = 0;   // every frame is held this long before it leaves
  bool faults() const { return rx_drop > 0 || tx_drop > 0 || tx_duplicate > 0 || tx_reorder > 0 || tx_delay_us > 0; }
};

struct Config {
  DaemonConfig daemon;
  NicConfig nic;
  EngineConfig engine;
  DpdkConfig dpdk;
  ChannelsConfig channels;
  TransportConfig transport;
  LimitsConfig limits;
  CloudConfig cloud;
  TestingConfig testing;
};

const char* to_string(LogLevel level);
std::optional<LogLevel> parse_log_level(std::string_view text);
const char* to_string(NicMode mode);
const char* to_string(Polling polling);
const char* to_string(Hugepages hugepages);
const char* to_string(CloudProvider provider);

}  // namespace machnet
