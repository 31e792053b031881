#include "daemon.h"

#include <algorithm>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "admin/snapshots_json.h"
#include "config/config_loader.h"
#include "config/config_writer.h"
#include "control/app_sessions.h"
#include "control/detect_runner.h"
#include "control/unix_socket.h"
#include "dpdk/frame_limit.h"
#include "dpdk/link_mtu.h"
#include "nic/nic_manager.h"
#include "engine/engine.h"
#include "engine/neighbours.h"
#include "machnet_build_config.h"
#include "util/logging.h"

namespace machnet {
namespace {

// Packet buffers of the port, from [dpdk] memory_mb: an eighth of it in mbufs of
// `buffer_bytes` and their 128-byte headers (RX and TX rings, out-of-order segments held by
// flows, frames in flight), at least 4095 and at most 262143 (2^n - 1 suits the mempool's
// ring). 32767 of 2.3 KB at 1500 and the shipped 512 MiB, 8191 of 9.4 KB at 9000.
uint32_t port_mbufs(uint32_t memory_mb, uint32_t buffer_bytes) {
  const uint64_t n = uint64_t{memory_mb} * (1u << 20) / 8 / (buffer_bytes + 128);
  uint32_t size = 4096;
  while (size < n && size < (1u << 18)) size <<= 1;
  return size - 1;
}

constexpr std::chrono::milliseconds kEngineDeadline = engine::kCommandDeadline;  // admin commands

// Keys that a reload applies to the running daemon; every other change waits for a restart.
constexpr std::string_view kLiveKeys[] = {"daemon.log_level"};

bool is_live(const std::string& key) {
  for (auto live : kLiveKeys)
    if (key == live) return true;
  return false;
}

// Every CPU in [engine] cores must be one this process may run on. Checked before the EAL
// starts: it pins the main thread, whose affinity we would read.
Result<void> check_engine_cores(const Config& c) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return {};
  for (uint32_t core : c.engine.cores) {
    if (core >= CPU_SETSIZE || !CPU_ISSET(core, &allowed))
      return make_error(fmt::format("[engine] cores: CPU {} does not exist or is not available to machnetd "
                                    "(it may use {} CPU(s); see `nproc`)",
                                    core, CPU_COUNT(&allowed)));
  }
  return {};
}

// How many application connections the daemon takes at once, from its open-file limit
// (raised to the hard limit first; the unit sets LimitNOFILE): each connection holds one
// descriptor and each channel two (memory, doorbell); DPDK, the port, the sockets and
// logs keep a reserve. Past it, connections are refused and counted, never left to fail
// in accept() with EMFILE.
size_t app_connection_limit(uint32_t max_channels) {
  constexpr rlim_t kReserve = 256;
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 1024;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  const rlim_t for_channels = 2 * rlim_t{max_channels};
  const rlim_t left = lim.rlim_cur > kReserve + for_channels ? lim.rlim_cur - kReserve - for_channels : 0;
  const size_t limit = std::max<size_t>(16, static_cast<size_t>(std::min<rlim_t>(left, 1 << 20)));
  spdlog::info("open-file limit {}: up to {} application connections and {} channels ([channels] max_channels)",
               lim.rlim_cur, limit, max_channels);
  return limit;
}

}  // namespace

nlohmann::json ReloadOutcome::to_json() const {
  return {{"ok", ok}, {"errors", errors}, {"applied", applied}, {"need_restart", need_restart}};
}

Daemon::Daemon(std::string config_path, Config config, std::optional<LogLevel> log_level_override)
    : config_path_(std::move(config_path)),
      log_level_override_(log_level_override),
      config_(std::move(config)) {
  if (log_level_override_) config_.daemon.log_level = *log_level_override_;
}

Daemon::~Daemon() { stop(); }

Config Daemon::current_config() const {
  std::lock_guard lock(config_mutex_);
  return config_;
}

std::string Daemon::status_line() const {
  const Config c = current_config();
  return fmt::format("Serving: NIC mode {}, {} channels", to_string(c.nic.mode),
                     app_sessions_ ? app_sessions_->channel_count() : 0);
}

Result<void> Daemon::start() {
  const Config c = current_config();
  notifier_.status("Starting control plane");
  // One daemon per socket path: lock both before touching either.
  for (const auto* path : {&c.daemon.app_socket, &c.daemon.admin_socket}) {
    auto lock = InstanceLock::acquire(*path);
    if (!lock) return lock.error();
    locks_.push_back(std::move(*lock));
  }
  group_ = control::lookup_group(c.daemon.group);
  register_admin_commands();
  // The port's configuration: as written for modes "pci" and "vdev"; for "auto", the NIC
  // that detection chose and the binding plan prepared, opened as mode "pci" would.
  Config port_config = c;
  std::optional<uint32_t> detected_mtu;
  if (c.nic.mode == NicMode::kAuto) {
    // After the socket locks, so a second daemon never touches the NIC of the first.
    notifier_.status("Detecting the cloud and the NIC");
    nic_ = std::make_unique<nic::NicManager>(c);
    if (auto r = nic_->start(); !r) return r;
    auto target = nic_->port_target();
    if (!target) return target.error();
    if (*target && c.testing.enabled && c.testing.sysfs_root != TestingConfig{}.sysfs_root) {
      // A fake sysfs tree has no device behind it for DPDK to open.
      spdlog::warn("[testing] sysfs_root is a fake tree: not opening the DPDK port on {} ({})", (*target)->eal_device,
                   (*target)->ip.to_string());
    } else if (*target) {
      port_config = nic::port_config(c, **target);
      detected_mtu = (*target)->mtu;
    }
  }
  if (auto r = check_engine_cores(c); !r) return r;
  // With a port (mode "vdev"/"pci", or "auto" with a NIC) flows reach other daemons;
  // without one the daemon's address is the configured one or 127.0.0.1 and channels
  // connect to it only, delivered locally.
  if (auto r = start_port(port_config, detected_mtu); !r) return r;
  const uint32_t local_ip = port_config.nic.ip ? port_config.nic.ip->address.value : 0x7f000001u;
  if (auto r = start_engines(port_config, local_ip); !r) return r;
  std::vector<engine::Engine*> engines;
  for (auto& e : engines_) engines.push_back(e.get());
  app_sessions_ = std::make_unique<control::AppSessions>(c.channels, c.dpdk.hugepages != Hugepages::kOff, engines,
                                                         c.limits.max_channels_per_user,
                                                         c.limits.max_app_connections_per_user);
  // Healthy = every engine loop went round since the last watchdog ping. An engine stuck
  // in a loop iteration (a bug, a hung device) stops the pings and systemd restarts us.
  control_plane_ = std::make_unique<control::ControlPlane>(c.daemon, group_, *admin_commands_,
                                                           [this, last = std::vector<uint64_t>()]() mutable {
                                                             last.resize(engines_.size(), 0);
                                                             bool progressed = true;
                                                             for (size_t i = 0; i < engines_.size(); ++i) {
                                                               const uint64_t now = engines_[i]->loops();
                                                               progressed = progressed && now != last[i];
                                                               last[i] = now;
                                                             }
                                                             return progressed;
                                                           });
  // Detection owns a copy of the configuration: its thread may outlive the daemon's objects.
  detect_runner_ = std::make_unique<control::DetectRunner>(
      control_plane_->io_context().get_executor(), [c] { return nic::NicManager(c).detect_now(); });
  control_plane_->app_server().set_connection_handler(
      [this](control::AppServer::Socket socket) { app_sessions_->on_connection(std::move(socket)); });
  const size_t max_apps = app_connection_limit(c.channels.max_channels);
  control_plane_->app_server().set_connection_limit(max_apps, [this] { return app_sessions_->app_count(); });
  if (auto r = control_plane_->start(); !r) return r;
  spdlog::info("machnetd {} ready: admin socket {}, application socket {}, NIC mode {}",
               MACHNET_VERSION, c.daemon.admin_socket, c.daemon.app_socket, to_string(c.nic.mode));
  return {};
}

void Daemon::stop() {
  if (control_plane_) control_plane_->stop();
  detect_runner_.reset();  // a detection still running is left to finish on its own
  app_sessions_.reset();  // control thread stopped; the engines still answer its removals
  for (auto& e : engines_) e->stop();
  engines_.clear();
  port_ios_.clear();  // after the engines, their only users, stopped
  engine_shared_.reset();  // the steering rings, after every engine let go of them
  port_.reset();
  if (eal_) dpdk::cleanup_eal();
  eal_.reset();
  control_plane_.reset();
  if (nic_) nic_->stop();  // gives the NIC back when [nic] restore_on_stop
  nic_.reset();
  locks_.clear();  // after the sockets are gone, so a successor never sees ours
}

int Daemon::run() {
  if (auto r = start(); !r) {
    spdlog::critical("cannot start: {}", r.error().message);
    stop();
    return 1;
  }
  state_ = "running";
  notifier_.ready(status_line());

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  for (;;) {
    siginfo_t info{};
    const int sig = sigwaitinfo(&signals, &info);
    if (sig == SIGHUP) {
      spdlog::info("SIGHUP: reloading {}", config_path_);
      reload();
      continue;
    }
    if (sig == SIGTERM || sig == SIGINT) {
      spdlog::info("{}: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
  }
  state_ = "stopping";
  notifier_.stopping();
  drain_flows(signals);
  stop();
  spdlog::info("stopped");
  return 0;
}

void Daemon::drain_flows(const sigset_t& signals) {
  const uint32_t drain_ms = current_config().daemon.stop_drain_ms;
  if (drain_ms == 0 || engines_.empty()) return;
  notifier_.status(fmt::format("Stopping: delivering what applications sent, for up to {} ms", drain_ms));
  const auto began = std::chrono::steady_clock::now();
  for (auto& e : engines_) e->begin_stop(std::chrono::milliseconds(drain_ms));
  // The engines keep their own deadline; ours adds a margin for one that does not answer
  // (stuck), so a stop never waits past the drain time by much.
  const auto until = began + std::chrono::milliseconds(drain_ms) + std::chrono::milliseconds(500);
  auto all_done = [this] {
    return std::all_of(engines_.begin(), engines_.end(), [](const auto& e) { return e->stop_drained(); });
  };
  while (!all_done()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) {
      spdlog::warn("stop: an engine did not finish its drain within {} ms; resetting its flows", drain_ms);
      break;
    }
    // Waits in short steps, listening for an impatient second signal.
    const timespec step{0, 2'000'000};
    siginfo_t info{};
    const int sig = sigtimedwait(&signals, &info, &step);
    if (sig == SIGTERM || sig == SIGINT) {
      spdlog::warn("{} again: not waiting for flows to deliver; resetting them", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
  }
  spdlog::info("stop: the drain took {} ms",
               std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began).count());
}

ReloadOutcome Daemon::reload() {
  ReloadOutcome outcome;
  notifier_.reloading();
  state_ = "reloading";
  auto loaded = load_config_file(config_path_);
  if (!loaded.config) {
    for (const auto& e : loaded.errors) outcome.errors.push_back(e.to_string());
    spdlog::error("reload refused, still running on the previous configuration: {} error(s) in {}",
                  loaded.errors.size(), config_path_);
    for (const auto& e : outcome.errors) spdlog::error("  {}", e);
  } else {
    Config next = *loaded.config;
    if (log_level_override_) next.daemon.log_level = *log_level_override_;
    std::lock_guard lock(config_mutex_);
    for (const auto& key : changed_keys(config_, next)) {
      (is_live(key) ? outcome.applied : outcome.need_restart).push_back(key);
    }
    // Take over only the live keys; the rest stays as the running daemon was started.
    config_.daemon.log_level = next.daemon.log_level;
    logging::set_level(config_.daemon.log_level);
    ++reloads_;
    outcome.ok = true;
    spdlog::info("configuration reloaded: {} applied, {} need a restart", outcome.applied.size(),
                 outcome.need_restart.size());
    for (const auto& key : outcome.applied) spdlog::info("  applied: {}", key);
    for (const auto& key : outcome.need_restart)
      spdlog::warn("  {} changed: takes effect after a restart (systemctl restart machnet)", key);
  }
  state_ = "running";
  notifier_.ready(status_line());
  return outcome;
}

nlohmann::json Daemon::status_json() const {
  const Config c = current_config();
  const auto uptime = std::chrono::steady_clock::now() - started_;
  uint64_t reloads = 0;
  {
    std::lock_guard lock(config_mutex_);
    reloads = reloads_;
  }
  const nlohmann::json nic_status = nic_ ? nic_->status() : nlohmann::json();
  return {
      {"version", MACHNET_VERSION},
      {"pid", getpid()},
      {"uptime_s", std::chrono::duration_cast<std::chrono::milliseconds>(uptime).count() / 1000.0},
      {"state", state_.load()},
      {"config_path", config_path_},
      {"log_level", to_string(c.daemon.log_level)},
      {"nic_mode", to_string(c.nic.mode)},
      {"cloud", nic_status.is_object() ? nic_status["cloud"] : nlohmann::json()},
      {"nic", nic_status.is_object() ? nic_status["nic"] : nlohmann::json()},
      {"port", port_json()},
      {"engines", engine_rows()},
      {"channels", app_sessions_ ? app_sessions_->channel_count() : 0},
      {"applications", app_sessions_ ? app_sessions_->app_count() : 0},
      {"reloads", reloads},
      {"admin_socket", c.daemon.admin_socket},
      {"app_socket", c.daemon.app_socket},
  };
}

std::vector<admin::EngineRow> Daemon::engine_rows() const {
  std::vector<admin::EngineRow> rows;
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(loop_rate_mutex_);
  loop_samples_.resize(engines_.size());
  for (size_t i = 0; i < engines_.size(); ++i) {
    const engine::Engine& e = *engines_[i];
    if (!e.running()) continue;
    const auto& k = e.counters();
    auto get = [](const auto& c) { return c.load(std::memory_order_relaxed); };
    admin::EngineRow& r = rows.emplace_back();
    r.id = e.id();
    r.core = e.core();
    r.queue = e.id();  // engine i polls queue pair i
    r.loops = e.loops();
    r.busy_loops = e.busy_loops();
    r.busy_fraction = r.loops ? double(r.busy_loops) / double(r.loops) : 0.0;
    r.flows = get(k.flows);
    r.channels = get(k.channels);
    r.steered_in = get(k.steered_in);
    r.steered_out = get(k.steered_out);
    r.steer_drops = get(k.steer_drops);
    r.loopback = get(k.loopback);
    r.spins_caught = get(k.spins_caught);
    r.spins_expired = get(k.spins_expired);
    // Loops per second since the previous look (since start the first time): how hard the
    // engine polls now, which the lifetime average hides.
    auto& [at, loops] = loop_samples_[i];
    const double seconds = std::chrono::duration<double>(now - (loops ? at : started_)).count();
    r.loops_per_s = seconds > 0 ? double(r.loops - loops) / seconds : 0.0;
    at = now;
    loops = r.loops;
  }
  return rows;
}

nlohmann::json Daemon::stats_json() const {
  nlohmann::json out = nlohmann::json::object();
  if (!port_ios_.empty()) {
    admin::PortCounters port;
    for (const auto& io : port_ios_) admin::add(port, io->stats());
    const auto eth = port_->stats();
    port.device = admin::DeviceCounters{.ipackets = eth.ipackets, .opackets = eth.opackets, .ibytes = eth.ibytes,
                                        .obytes = eth.obytes,     .imissed = eth.imissed,   .ierrors = eth.ierrors,
                                        .oerrors = eth.oerrors,   .rx_nombuf = eth.rx_nombuf};
    port.mempool_free = rte_mempool_avail_count(port_->pool());
    port.mempool_in_use = rte_mempool_in_use_count(port_->pool());
    out["port"] = port;
  }
  if (!engines_.empty()) out["engines"] = engine_rows();
  // Every [limits] cap, and how often it was hit since start (docs/security.md).
  uint64_t syn_engine_cap = 0, syn_remote_ip_cap = 0, half_open_timeouts = 0, reassembly_timeouts = 0;
  uint64_t held = 0, held_cap = 0, held_refused = 0;
  for (const auto& e : engines_) {
    const auto& k = e->counters();
    syn_engine_cap += k.syn_engine_cap.load(std::memory_order_relaxed);
    syn_remote_ip_cap += k.syn_remote_ip_cap.load(std::memory_order_relaxed);
    half_open_timeouts += k.half_open_timeouts.load(std::memory_order_relaxed);
    reassembly_timeouts += k.reassembly_timeouts.load(std::memory_order_relaxed);
    const auto& h = e->held_buffers();
    held += h.count.load(std::memory_order_relaxed);
    held_cap += h.cap;
    held_refused += h.refused.load(std::memory_order_relaxed);
  }
  out["limits"] = {{"syn_dropped_max_flows_per_engine", syn_engine_cap},
                   {"syn_dropped_max_flows_per_remote_ip", syn_remote_ip_cap},
                   {"half_open_timeouts", half_open_timeouts},
                   {"reassembly_timeouts", reassembly_timeouts},
                   {"held_packet_buffers", held},
                   {"held_packet_buffers_cap", held_cap},
                   {"packets_not_kept_held_packet_buffers", held_refused},
                   {"attach_refused_max_channels_per_user", app_sessions_ ? app_sessions_->refused_per_user() : 0},
                   {"connection_refused_max_app_connections_per_user",
                    app_sessions_ ? app_sessions_->connections_refused_per_user() : 0},
                   {"listen_refused_max_listen_ports_per_user",
                    engine_shared_ ? engine_shared_->user_ports.refused(engine::UserPorts::kListen) : 0},
                   {"connect_refused_max_ephemeral_ports_per_user",
                    engine_shared_ ? engine_shared_->user_ports.refused(engine::UserPorts::kEphemeral) : 0}};
  if (neighbours_) {
    const auto arp = neighbours_->usage();
    out["limits"]["arp_table_entries"] = arp.entries;
    out["limits"]["arp_table_cap"] = arp.capacity;
    out["limits"]["arp_entries_evicted_arp_table_cap"] = arp.evicted;
  }
  if (app_sessions_) {
    const admin::ChannelTable table = app_sessions_->channels();
    uint64_t msgs_in = 0, msgs_out = 0, bytes_in = 0, bytes_out = 0, drops = 0;
    for (const admin::ChannelRow& c : table.channels) {
      msgs_in += c.msgs_in;
      msgs_out += c.msgs_out;
      bytes_in += c.bytes_in;
      bytes_out += c.bytes_out;
      drops += c.drops_total;
    }
    out["channels"] = {{"count", table.channels.size()}, {"msgs_in", msgs_in},   {"msgs_out", msgs_out},
                       {"bytes_in", bytes_in},           {"bytes_out", bytes_out}, {"drops", drops}};
  }
  return out;
}

Result<void> Daemon::start_port(const Config& config, std::optional<uint32_t> detected_mtu) {
  if (config.nic.mode != NicMode::kVdev && config.nic.mode != NicMode::kPci) return {};
  if (!config.nic.ip)
    return make_error(fmt::format("[nic] ip must be an address like \"10.0.0.4/24\" with mode = \"{}\"",
                                  to_string(config.nic.mode)));
  auto link = dpdk::resolve_link_mtu(config.transport.mtu, config.nic.mode, config.nic.vdev, detected_mtu);
  if (!link) return link.error();
  if (config.transport.mtu && link->mtu < *config.transport.mtu) spdlog::warn("MTU {} ({})", link->mtu, link->source);
  else
    spdlog::info("MTU {} ({}{})", link->mtu, link->source, link->vdev != config.nic.vdev ? "; vdev " + link->vdev : "");
  Config c = config;
  c.nic.vdev = link->vdev;
  notifier_.status("Initialising DPDK");
  auto eal = dpdk::init_eal(c);
  if (!eal) return eal.error();
  eal_ = *eal;
  const auto queues = static_cast<uint16_t>(std::max<size_t>(1, c.engine.cores.size()));
  const uint32_t buffer = dpdk::Port::buffer_bytes(link->mtu, link->rx_frame_bytes);
  auto port = dpdk::Port::open_single(link->mtu, link->rx_frame_bytes, port_mbufs(c.dpdk.memory_mb, buffer), c.nic.mac,
                                      queues, engine::RssSteering::kKey.data(),
                                      static_cast<uint8_t>(engine::RssSteering::kKey.size()), c.transport.udp_checksum);
  if (!port) return port.error();
  // A port that would drop every full-size frame is a configuration error, said at once, not
  // a silent loss of every message over one segment. Checked against the MTU the port runs
  // at: a configured MTU the port does not take was capped to what it does.
  if (c.nic.mode == NicMode::kVdev)
    if (auto error = dpdk::check_vdev_frame_fits(c.nic.vdev, (*port)->info().mtu)) return make_error(*error);
  port_ = std::move(*port);
  neighbours_ = std::make_unique<engine::Neighbours>(
      net::ArpTimers::for_connect_timeout(uint64_t{c.transport.connect_timeout_ms} * 1000));
  for (uint16_t q = 0; q < queues; ++q)
    port_ios_.push_back(std::make_unique<engine::PortIo>(*port_, q, *neighbours_,
                                                         net::Interface{port_->info().mac, c.nic.ip->address}, c.testing));
  if (c.testing.enabled && c.testing.faults())
    spdlog::warn("[testing] fault injection is ON: rx_drop {} tx_drop {} tx_duplicate {} tx_reorder {} tx_delay_us {}",
                 c.testing.rx_drop, c.testing.tx_drop, c.testing.tx_duplicate, c.testing.tx_reorder, c.testing.tx_delay_us);
  spdlog::info("port {} serves {} at {}", port_->info().name, c.nic.ip->to_string(), port_->info().mac.to_string());
  return {};
}

// One engine per [engine] cores entry (one unpinned engine when the list is empty), each
// with its queue pair; without a port (mode "none") one engine serves every channel.
Result<void> Daemon::start_engines(const Config& c, uint32_t local_ip) {
  std::vector<int> cores(c.engine.cores.begin(), c.engine.cores.end());
  if (cores.empty()) cores.push_back(-1);
  if (!port_ && cores.size() > 1) {
    spdlog::warn("[engine] cores lists {} cores, but without a port (nic mode \"{}\") one engine serves all "
                 "channels: on CPU {}",
                 cores.size(), to_string(c.nic.mode), cores.front());
    cores.resize(1);
  }
  engine_shared_ = std::make_unique<engine::EngineShared>();
  engine_shared_->user_ports.configure(c.limits.max_listen_ports_per_user, c.limits.max_ephemeral_ports_per_user);
  if (port_ && cores.size() > 1) {
    auto steering = engine::Steering::create(static_cast<uint32_t>(cores.size()));
    if (!steering) return steering.error();
    engine_shared_->steering = std::move(*steering);
    if (!port_->info().reta.empty()) engine_shared_->rss.emplace(port_->info().reta);
  }
  for (uint32_t i = 0; i < cores.size(); ++i) {
    engines_.push_back(std::make_unique<engine::Engine>(i, cores[i], *engine_shared_, c.engine, c.transport,
                                                        c.channels.max_message_bytes, local_ip, c.limits));
    if (port_) engines_.back()->attach_port(port_ios_[i].get());
  }
  for (auto& e : engines_) e->start();
  if (engines_.size() > 1)
    spdlog::info("{} engines on CPUs {}; packets for another engine's flows go through the steering rings{}",
                 engines_.size(), fmt::join(c.engine.cores, ", "),
                 engine_shared_->rss ? " (the port's RSS steers most flows directly)" : "");
  return {};
}

nlohmann::json Daemon::port_json() const {
  if (!port_) return nullptr;
  const auto& info = port_->info();
  const auto link = port_->link();
  const Config c = current_config();
  return {{"name", info.name},
          {"driver", info.driver},
          {"mac", info.mac.to_string()},
          {"ip", c.nic.ip ? c.nic.ip->to_string() : ""},
          {"mtu", info.mtu},
          {"link_up", link.up},
          {"link_speed_mbps", link.speed_mbps},
          {"hugepages", eal_ && eal_->hugepages},
          {"checksum_offload", {{"tx", info.tx_udp_checksum}, {"rx", info.rx_checksum}}},
          // Who takes care of UDP checksums on this port: "offload" (the NIC), "software" (the
          // engine), "none" (a memory link with [transport] udp_checksum = "auto").
          {"udp_checksum", info.tx_udp_checksum && info.rx_checksum ? "offload"
                           : info.udp_checksum_skipped                ? "none"
                                                                      : "software"}};
}

void Daemon::register_admin_commands() {
  const Config c = current_config();
  admin_commands_ = std::make_unique<control::AdminCommands>(geteuid(), group_);
  using control::Access;
  admin_commands_->add("status", Access::kRead, "daemon state, version, uptime, NIC and channels",
                       [this](const nlohmann::json&) { return status_json(); });
  admin_commands_->add("stats", Access::kRead, "port counters and drops by reason",
                       [this](const nlohmann::json&) { return stats_json(); });
  admin_commands_->add("flows", Access::kRead, "flows: addresses, state, owner, counters, RTT, window",
                       [this](const nlohmann::json&) {
                         admin::FlowTable table;
                         for (auto& e : engines_) {
                           // The rows live in the command's own object: an engine that answers
                           // after the deadline writes into memory it still holds.
                           struct Query {
                             engine::Command cmd;
                             std::vector<admin::FlowRow> rows;
                           };
                           auto q = std::make_shared<Query>();
                           q->cmd.kind = engine::Command::Kind::kFlows;
                           q->cmd.flows_out = &q->rows;
                           if (auto r = e->execute_within(std::shared_ptr<engine::Command>(q, &q->cmd), kEngineDeadline); !r)
                             throw control::CommandError(r.error().message);
                           for (auto& row : q->rows) table.flows.push_back(std::move(row));
                         }
                         if (app_sessions_) app_sessions_->add_owners(table.flows);
                         return nlohmann::json(table);
                       });
  admin_commands_->add("arp", Access::kRead, "the port's ARP table", [this](const nlohmann::json&) {
    // One port, one ARP table, kept by the engine that polls the port's first queue.
    if (engines_.empty()) return nlohmann::json(admin::ArpSnapshot{});
    struct Query {
      engine::Command cmd;
      admin::ArpSnapshot arp;
    };
    auto q = std::make_shared<Query>();
    q->cmd.kind = engine::Command::Kind::kArp;
    q->cmd.arp_out = &q->arp;
    if (auto r = engines_.front()->execute_within(std::shared_ptr<engine::Command>(q, &q->cmd), kEngineDeadline); !r)
      throw control::CommandError(r.error().message);
    return nlohmann::json(q->arp);
  });
  admin_commands_->add("channels", Access::kRead, "channels: owner, rings, messages, drops by reason",
                       [this](const nlohmann::json&) {
                         return app_sessions_ ? nlohmann::json(app_sessions_->channels()) : nlohmann::json::object();
                       });
  // Off the control thread (the metadata service may hang), one at a time, cached for
  // DetectRunner::kCacheFor.
  admin_commands_->add_async("detect", Access::kRead,
                             "cloud and NIC detection with the binding plan (changes nothing)",
                             [this](const nlohmann::json&, control::AdminCommands::Reply reply) {
                               if (!detect_runner_) return reply(nullptr, "the daemon is not serving yet");
                               detect_runner_->request([reply](nlohmann::json report) { reply(std::move(report), {}); });
                             });
  admin_commands_->add("config", Access::kRead, "the configuration in effect",
                       [this](const nlohmann::json&) { return config_to_json(current_config()); });
  admin_commands_->add("reload", Access::kAdmin, "re-read the configuration file", [this](const nlohmann::json&) {
    ReloadOutcome outcome = reload();
    if (!outcome.ok) {
      std::string why = "configuration refused, the daemon keeps the running one:";
      for (const auto& e : outcome.errors) why += "\n  " + e;
      throw control::CommandError(why);
    }
    return outcome.to_json();
  });
}

}  // namespace machnet
