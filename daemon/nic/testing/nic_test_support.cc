#include "nic/testing/nic_test_support.h"

// Beast's parser trips GCC's -Wmaybe-uninitialized (a false positive on boost::optional) in
// the ASan/UBSan build; the warning is issued inside Beast's own headers, for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "nic/nic_test_paths.h"

namespace machnet::nic::testing {
namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using boost::asio::ip::tcp;

MetadataServer::MetadataServer(Handler handler)
    : handler_(std::move(handler)),
      acceptor_(io_, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
  port_ = acceptor_.local_endpoint().port();
  thread_ = std::thread([this] { serve(); });
}

MetadataServer::~MetadataServer() {
  stopping_ = true;
  // Wake the blocking accept with one last connection.
  boost::system::error_code ec;
  tcp::socket poke(io_);
  poke.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_), ec);
  thread_.join();
}

std::string MetadataServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::vector<ServedRequest> MetadataServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

void MetadataServer::serve() {
  while (!stopping_) {
    boost::system::error_code ec;
    tcp::socket socket(io_);
    acceptor_.accept(socket, ec);
    if (ec || stopping_) continue;
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    http::read(socket, buffer, req, ec);
    if (ec) continue;
    ServedRequest served;
    served.method = std::string(req.method_string());
    served.target = std::string(req.target());
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      served.headers[name] = std::string(f.value());
    }
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(served);
    }
    HttpResponse answer = handler_(served);
    http::response<http::string_body> res{static_cast<http::status>(answer.status), 11};
    for (const auto& [name, value] : answer.headers) res.set(name, value);
    res.body() = answer.body;
    res.prepare_payload();
    http::write(socket, res, ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }
}

std::string read_fixture(const std::string& name) {
  std::ifstream in(std::string(MACHNET_NIC_FIXTURES) + "/" + name);
  if (!in) throw std::runtime_error("missing fixture " + name);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

MetadataServer::Handler azure_handler(std::string fixture) {
  std::string body = read_fixture(fixture);
  return [body](const ServedRequest& r) -> HttpResponse {
    if (r.headers.count("metadata") == 0 || r.headers.at("metadata") != "true") return {400, {}, "Bad request: missing Metadata header"};
    if (r.target != "/metadata/instance?api-version=2021-02-01") return {404, {}, "not found"};
    return {200, {{"Content-Type", "application/json; charset=utf-8"}}, body};
  };
}

MetadataServer::Handler gcp_handler(std::string fixture) {
  std::string body = read_fixture(fixture);
  return [body](const ServedRequest& r) -> HttpResponse {
    if (r.headers.count("metadata-flavor") == 0 || r.headers.at("metadata-flavor") != "Google") return {403, {}, "missing flavor"};
    std::map<std::string, std::string> h{{"Metadata-Flavor", "Google"}};
    if (r.target == "/computeMetadata/v1/instance/network-interfaces/?recursive=true") return {200, h, body};
    if (r.target == "/computeMetadata/v1/instance/id") return {200, h, "4567890123456789012"};
    return {404, h, "not found"};
  };
}

MetadataServer::Handler aws_handler(std::string fixture, bool expire_first_token) {
  auto paths = std::make_shared<nlohmann::json>(nlohmann::json::parse(read_fixture(fixture)));
  auto tokens = std::make_shared<int>(0);
  auto expired = std::make_shared<bool>(false);
  return [=](const ServedRequest& r) -> HttpResponse {
    if (r.method == "PUT" && r.target == "/latest/api/token") {
      if (r.headers.count("x-aws-ec2-metadata-token-ttl-seconds") == 0) return {400, {}, "missing TTL"};
      return {200, {}, "token-" + std::to_string(++*tokens)};
    }
    if (r.method != "GET") return {405, {}, ""};
    auto token = r.headers.find("x-aws-ec2-metadata-token");
    if (token == r.headers.end() || token->second != "token-" + std::to_string(*tokens)) return {401, {}, ""};
    if (expire_first_token && !*expired) {
      *expired = true;
      return {401, {}, ""};
    }
    if (!paths->contains(r.target)) return {404, {}, ""};
    return {200, {{"Content-Type", "text/plain"}}, (*paths)[r.target].get<std::string>()};
  };
}

namespace {

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

void link(const std::string& target, const std::string& at) {
  fs::create_directories(fs::path(at).parent_path());
  fs::remove(at);
  fs::create_symlink(target, at);
}

}  // namespace

FakeSysfs::FakeSysfs() {
  std::string tmpl = (fs::temp_directory_path() / "machnet-nic-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  root_ = tmpl;
  fs::create_directories(sys() + "/class/net");
  fs::create_directories(sys() + "/class/dmi/id");
  write(proc() + "/net/route", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n");
  fs::create_directories(state_dir());
}

FakeSysfs::~FakeSysfs() {
  std::error_code ec;
  if (!std::getenv("MACHNET_KEEP_TEST_DIRS")) fs::remove_all(root_, ec);
}

void FakeSysfs::dmi(const std::map<std::string, std::string>& fields) {
  for (const auto& [k, v] : fields) write(sys() + "/class/dmi/id/" + k, v + "\n");
}
void FakeSysfs::azure_dmi() {
  dmi({{"sys_vendor", "Microsoft Corporation"}, {"product_name", "Virtual Machine"},
       {"chassis_asset_tag", "7783-7084-3265-9085-8269-3286-77"}, {"bios_vendor", "Microsoft Corporation"}});
}
void FakeSysfs::aws_dmi() {
  dmi({{"sys_vendor", "Amazon EC2"}, {"bios_vendor", "Amazon EC2"}, {"product_name", "c5n.xlarge"},
       {"board_asset_tag", "i-0abc1234def567890"}});
}
void FakeSysfs::gcp_dmi() {
  dmi({{"sys_vendor", "Google"}, {"product_name", "Google Compute Engine"}, {"bios_vendor", "Google"}});
}

void FakeSysfs::driver(const std::string& bus, const std::string& name) {
  const std::string dir = sys() + "/bus/" + bus + "/drivers/" + name;
  fs::create_directories(dir);
  for (const char* f : {"bind", "unbind", "new_id"})
    if (!fs::exists(dir + "/" + f)) write(dir + "/" + f, "");
}

void FakeSysfs::net_dir(const std::string& device_dir, const std::string& ifname, const std::string& mac, uint32_t mtu) {
  const std::string dir = device_dir + "/net/" + ifname;
  write(dir + "/address", mac + "\n");
  write(dir + "/mtu", std::to_string(mtu) + "\n");
  write(dir + "/flags", "0x1003\n");
  write(dir + "/operstate", "up\n");
  link(device_dir, dir + "/device");
  link(dir, sys() + "/class/net/" + ifname);
}

void FakeSysfs::pci_nic(const std::string& address, const std::string& ifname, const std::string& mac,
                        const std::string& drv, uint32_t mtu) {
  pci_device(address, drv);
  net_dir(sys() + "/devices/pci0000:00/" + address, ifname, mac, mtu);
  kernel_driver_[address] = drv;
}

void FakeSysfs::pci_device(const std::string& address, const std::string& drv) {
  const std::string dir = sys() + "/devices/pci0000:00/" + address;
  write(dir + "/class", "0x020000\n");
  write(dir + "/driver_override", "(null)\n");
  fs::create_directories(sys() + "/bus/pci/devices");
  link(sys() + "/bus/pci", dir + "/subsystem");
  link(dir, sys() + "/bus/pci/devices/" + address);
  if (!drv.empty()) {
    driver("pci", drv);
    link(sys() + "/bus/pci/drivers/" + drv, dir + "/driver");
  }
}

void FakeSysfs::pci_id(const std::string& address, const std::string& vendor, const std::string& device) {
  const std::string dir = sys() + "/devices/pci0000:00/" + address;
  write(dir + "/vendor", vendor + "\n");
  write(dir + "/device", device + "\n");
}

void FakeSysfs::enslave(const std::string& vf_if, const std::string& synthetic_if) {
  enslaved_[vf_if] = synthetic_if;
  const std::string vf = fs::canonical(sys() + "/class/net/" + vf_if).string();
  const std::string synthetic = fs::canonical(sys() + "/class/net/" + synthetic_if).string();
  link(synthetic, vf + "/master");
  link(synthetic, vf + "/upper_" + synthetic_if);
  link(vf, synthetic + "/lower_" + vf_if);
}

void FakeSysfs::virtio_nic(const std::string& address, const std::string& virtio, const std::string& ifname,
                           const std::string& mac) {
  pci_device(address, "virtio-pci");
  const std::string vdev = sys() + "/devices/pci0000:00/" + address + "/" + virtio;
  fs::create_directories(sys() + "/bus/virtio/drivers/virtio_net");
  link(sys() + "/bus/virtio", vdev + "/subsystem");
  link(sys() + "/bus/virtio/drivers/virtio_net", vdev + "/driver");
  net_dir(vdev, ifname, mac, 1460);
  kernel_driver_[address] = "virtio-pci";
}

void FakeSysfs::vmbus_nic(const std::string& guid, const std::string& ifname, const std::string& mac, const std::string& drv) {
  const std::string dir = sys() + "/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0004:00/VMBUS:00/" + guid;
  write(dir + "/class_id", "{f8615163-df3e-46c5-913f-f2d2f965ed0e}\n");
  write(dir + "/driver_override", "(null)\n");
  link(sys() + "/bus/vmbus", dir + "/subsystem");
  link(dir, sys() + "/bus/vmbus/devices/" + guid);
  driver("vmbus", drv);
  link(sys() + "/bus/vmbus/drivers/" + drv, dir + "/driver");
  net_dir(dir, ifname, mac, 1500);
  kernel_driver_[guid] = drv;
}

void FakeSysfs::vmbus_device(const std::string& guid, const std::string& drv) {
  const std::string dir = sys() + "/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0004:00/VMBUS:00/" + guid;
  write(dir + "/class_id", "{f8615163-df3e-46c5-913f-f2d2f965ed0e}\n");
  write(dir + "/driver_override", drv + "\n");
  link(sys() + "/bus/vmbus", dir + "/subsystem");
  link(dir, sys() + "/bus/vmbus/devices/" + guid);
  driver("vmbus", drv);
  link(sys() + "/bus/vmbus/drivers/" + drv, dir + "/driver");
}

void FakeSysfs::virtual_if(const std::string& ifname, const std::string& mac) {
  const std::string dir = sys() + "/devices/virtual/net/" + ifname;
  write(dir + "/address", mac + "\n");
  write(dir + "/mtu", "65536\n");
  write(dir + "/flags", "0x9\n");
  link(dir, sys() + "/class/net/" + ifname);
}

void FakeSysfs::default_route(const std::string& ifname, uint32_t metric, const std::string& gateway) {
  // /proc/net/route prints the network-order address as a host integer: 10.0.0.1 is 0100000A.
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (std::sscanf(gateway.c_str(), "%u.%u.%u.%u", &a, &b, &c, &d) != 4) throw std::runtime_error("bad gateway " + gateway);
  char gw[9], net[9];
  std::snprintf(gw, sizeof gw, "%02X%02X%02X%02X", d, c, b, a);
  std::snprintf(net, sizeof net, "%02X%02X%02X%02X", 0u, c, b, a);
  std::ofstream(proc() + "/net/route", std::ios::app)
      << ifname << "\t00000000\t" << gw << "\t0003\t0\t0\t" << metric << "\t00000000\t0\t0\t0\n"
      << ifname << "\t" << net << "\t00000000\t0001\t0\t0\t" << metric << "\t00FFFFFF\t0\t0\t0\n";
}

void FakeSysfs::ipv4(const std::string& ifname, const std::string& prefix) { ipv4_[ifname] = prefix; }

void FakeSysfs::dpdk_driver(const std::string& library) { write(root_ + "/dpdk-drivers/" + library, ""); }

void FakeSysfs::iommu() { fs::create_directories(sys() + "/class/iommu/dmar0"); }

void FakeSysfs::vfio_noiommu_param() { write(sys() + "/module/vfio/parameters/enable_unsafe_noiommu_mode", "N\n"); }

std::string FakeSysfs::driver_of(const std::string& bus, const std::string& address) const {
  std::error_code ec;
  auto target = fs::read_symlink(sys() + "/bus/" + bus + "/devices/" + address + "/driver", ec);
  return ec ? "" : target.filename().string();
}

bool FakeSysfs::has_interface(const std::string& ifname) const {
  std::error_code ec;
  return fs::exists(sys() + "/class/net/" + ifname, ec);
}

std::string FakeSysfs::read(const std::string& rel) const {
  std::ifstream in(sys() + "/" + rel);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void FakeSysfs::on_write(const std::string& path, std::string_view data) {
  std::string logged = "write " + path + " = " + std::string(data);
  if (logged.find(root_ + "/") != std::string::npos) logged.erase(logged.find(root_ + "/"), root_.size() + 1);
  kernel_writes_.push_back(logged);
  // PATH = SYS/bus/BUS/drivers/DRIVER/(bind|unbind)
  const fs::path p(path);
  const std::string op = p.filename().string();
  if (op != "bind" && op != "unbind") return;
  const std::string drv = p.parent_path().filename().string();
  const std::string bus = p.parent_path().parent_path().parent_path().filename().string();
  const std::string address(data);
  const std::string dev = fs::canonical(sys() + "/bus/" + bus + "/devices/" + address).string();
  // The interface lives in DEV/net, or one level down for virtio-net (DEV/virtioN/net).
  std::vector<std::string> parents{dev};
  for (const auto& entry : fs::directory_iterator(dev))
    if (entry.is_directory() && !entry.is_symlink() && entry.path().filename().string().rfind("virtio", 0) == 0)
      parents.push_back(entry.path().string());
  if (op == "unbind") {
    fs::remove(dev + "/driver");
    // The kernel driver's interface goes with it; keep its files aside to bring it back.
    for (const auto& parent : parents) {
      if (!fs::exists(parent + "/net")) continue;
      for (const auto& entry : fs::directory_iterator(parent + "/net")) fs::remove(sys() + "/class/net/" + entry.path().filename().string());
      fs::rename(parent + "/net", parent + "/.net-detached");
    }
    relink_vfs();
  } else {
    link(sys() + "/bus/" + bus + "/drivers/" + drv, dev + "/driver");
    if (kernel_driver_[address] != drv) return;
    for (const auto& parent : parents) {
      if (!fs::exists(parent + "/.net-detached")) continue;
      fs::rename(parent + "/.net-detached", parent + "/net");
      for (const auto& entry : fs::directory_iterator(parent + "/net"))
        link(entry.path().string(), sys() + "/class/net/" + entry.path().filename().string());
    }
    relink_vfs();
  }
}

// netvsc enslaves its VF while its interface exists and lets go when it goes (unbind).
void FakeSysfs::relink_vfs() {
  for (const auto& [vf_if, synthetic_if] : enslaved_) {
    if (!has_interface(vf_if)) continue;
    const std::string vf = fs::canonical(sys() + "/class/net/" + vf_if).string();
    if (has_interface(synthetic_if)) {
      enslave(vf_if, synthetic_if);
    } else {
      fs::remove(vf + "/master");
      fs::remove(vf + "/upper_" + synthetic_if);
    }
  }
}

RealEnvOptions FakeSysfs::env_options(const std::string& metadata_url, std::chrono::milliseconds timeout) {
  RealEnvOptions o;
  o.sysfs_root = sys();
  o.proc_root = proc();
  o.metadata_url = metadata_url;
  o.metadata_timeout = timeout;
  o.commands = CommandMode::kRecordOnly;
  o.after_write = [this](const std::string& path, std::string_view data) { on_write(path, data); };
  o.dpdk_driver_dir = root_ + "/dpdk-drivers";
  o.fake_query = [this](const std::vector<std::string>& argv) -> Result<std::string> {
    // ip -o -4 addr show dev IF
    if (argv.size() == 7 && argv[0] == "ip" && argv[3] == "addr" && argv[5] == "dev") {
      auto it = ipv4_.find(argv[6]);
      if (it == ipv4_.end()) return text_value("");
      return text_value(fmt::format("2: {}    inet {} brd + scope global {}\\       valid_lft forever preferred_lft forever\n",
                                    argv[6], it->second, argv[6]));
    }
    return make_error("fake query: unknown command " + command_text(argv));
  };
  return o;
}

std::vector<std::string> FakeSysfs::writes(const RealEnv& env) const {
  std::vector<std::string> out;
  for (std::string entry : env.journal()) {
    const std::string prefix = root_ + "/";
    for (size_t at; (at = entry.find(prefix)) != std::string::npos;) entry.erase(at, prefix.size());
    out.push_back(entry);
  }
  return out;
}

Config test_config(const FakeSysfs& fake, const std::string& metadata_url) {
  Config c;
  c.testing.enabled = true;
  c.testing.sysfs_root = fake.sys();
  c.testing.proc_root = fake.proc();
  c.daemon.state_dir = fake.state_dir();
  c.cloud.metadata_url = metadata_url;
  c.cloud.metadata_timeout_ms = 300;
  return c;
}

}  // namespace machnet::nic::testing
