// Test support for daemon/nic: the data the real code runs against, nothing that replaces
// the code. MetadataServer is a real HTTP server on 127.0.0.1 (ephemeral port) that answers
// with recorded metadata; FakeSysfs builds a sysfs/procfs tree in a temp directory and plays
// the kernel's part when bind/unbind files are written (moves `driver` links, makes the
// interface disappear and reappear). Covers: the request/response shapes and the files the
// code reads and writes. Leaves out: real kernel semantics (driver_override matching, probe
// failures), which only a VM can show.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "config/config.h"
#include "nic/env.h"

namespace machnet::nic::testing {

struct ServedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // lower-case names
};

class MetadataServer {
 public:
  using Handler = std::function<HttpResponse(const ServedRequest&)>;
  explicit MetadataServer(Handler handler);
  ~MetadataServer();

  std::string url() const;  // "http://127.0.0.1:PORT"
  std::vector<ServedRequest> requests() const;

 private:
  void serve();

  Handler handler_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::vector<ServedRequest> requests_;
  std::thread thread_;
};

// Handlers for the three clouds, serving a fixture file from tests/nic/fixtures.
std::string read_fixture(const std::string& name);
MetadataServer::Handler azure_handler(std::string fixture);
MetadataServer::Handler gcp_handler(std::string fixture);
// `expire_first_token`: the first token is answered with 401 once, as after its expiry.
MetadataServer::Handler aws_handler(std::string fixture, bool expire_first_token = false);

class FakeSysfs {
 public:
  FakeSysfs();
  ~FakeSysfs();

  std::string root() const { return root_; }
  std::string sys() const { return root_ + "/sys"; }
  std::string proc() const { return root_ + "/proc"; }
  std::string state_dir() const { return root_ + "/state"; }

  void dmi(const std::map<std::string, std::string>& fields);
  void azure_dmi();
  void aws_dmi();
  void gcp_dmi();
  void driver(const std::string& bus, const std::string& name);
  void pci_nic(const std::string& address, const std::string& ifname, const std::string& mac, const std::string& driver,
               uint32_t mtu = 1500);
  void pci_device(const std::string& address, const std::string& driver);  // no interface (DPDK-bound)
  void pci_id(const std::string& address, const std::string& vendor, const std::string& device);  // "0x1414", "0x00ba"
  // Azure accelerated networking: the VF interface `vf_if` enslaved to `synthetic_if` (the
  // sysfs master link and the synthetic side's lower_ link, as netvsc makes them).
  void enslave(const std::string& vf_if, const std::string& synthetic_if);
  // A virtio-net interface: PCI device (virtio-pci) -> virtio device -> interface.
  void virtio_nic(const std::string& address, const std::string& virtio, const std::string& ifname, const std::string& mac);
  void vmbus_nic(const std::string& guid, const std::string& ifname, const std::string& mac, const std::string& driver);
  // A synthetic device on a DPDK driver already (dpdk.service, driverctl): no interface.
  void vmbus_device(const std::string& guid, const std::string& driver);
  void virtual_if(const std::string& ifname, const std::string& mac);
  // A default route via `gateway` (dotted) with `metric`, and the interface's subnet route.
  void default_route(const std::string& ifname, uint32_t metric = 100, const std::string& gateway = "10.0.0.1");
  // What `ip -o -4 addr show dev IF` answers (RealEnv::query through env_options()).
  void ipv4(const std::string& ifname, const std::string& prefix);
  // A DPDK driver folder with these libraries ("librte_net_mana.so"); env_options() points
  // there, empty until a library is added.
  void dpdk_driver(const std::string& library);
  void iommu();
  void vfio_noiommu_param();  // module/vfio/parameters/enable_unsafe_noiommu_mode = N

  std::string driver_of(const std::string& bus, const std::string& address) const;
  bool has_interface(const std::string& ifname) const;
  std::string read(const std::string& rel) const;  // a file under sys/

  // Plays the kernel: RealEnvOptions::after_write.
  void on_write(const std::string& path, std::string_view data);
  // RealEnv options against this tree and a metadata URL.
  RealEnvOptions env_options(const std::string& metadata_url, std::chrono::milliseconds timeout = std::chrono::milliseconds(300));
  // The journal of `env` with this tree's root cut off: "write sys/bus/pci/... = vfio-pci".
  std::vector<std::string> writes(const RealEnv& env) const;
  // Every sysfs write any Env made through env_options() of this tree, in the same spelling:
  // for NicManager, whose Env is its own.
  std::vector<std::string> kernel_writes() const { return kernel_writes_; }
  void clear_kernel_writes() { kernel_writes_.clear(); }

 private:
  void net_dir(const std::string& device_dir, const std::string& ifname, const std::string& mac, uint32_t mtu);
  std::string root_;
  std::map<std::string, std::string> kernel_driver_;  // bus address -> driver that creates the interface
  std::map<std::string, std::string> ipv4_;           // ifname -> "10.0.1.5/24"
  std::vector<std::string> kernel_writes_;
  std::map<std::string, std::string> enslaved_;       // VF ifname -> synthetic ifname
  void relink_vfs();
};

// A Config for detection against `fake` and `metadata_url`.
Config test_config(const FakeSysfs& fake, const std::string& metadata_url);

}  // namespace machnet::nic::testing
