// machnetctl: inspect and steer a running machnetd over its admin socket.
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <string>

#include <boost/program_options.hpp>

#include "admin/detect_report.h"  // header-only, shared with machnetd --detect
#include "admin_client.h"
#include "machnet_build_config.h"
#include "render.h"

namespace po = boost::program_options;

namespace {

// Exit codes, as documented in machnetctl(8).
constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNotRunning = 3;

struct Command {
  const char* summary;
  std::function<void(std::ostream&, const nlohmann::json&)> print;
};

const std::map<std::string, Command>& commands() {
  static const std::map<std::string, Command> kCommands = {
      {"status", {"daemon state, version, uptime, NIC and channels", machnetctl::print_status}},
      {"config", {"the configuration in effect", machnetctl::print_config}},
      {"reload", {"re-read the configuration file (root only)", machnetctl::print_reload}},
      {"channels", {"application channels: owner, rings, messages, drops by reason", machnetctl::print_channels}},
      {"stats", {"port counters and received frames dropped, by reason", machnetctl::print_stats}},
      {"detect", {"cloud, NICs and binding plan as detected now (changes nothing)", machnet::admin::print_detection}},
      {"flows", {"flows: addresses, state, owner, traffic, retransmissions, RTT, cwnd, rwnd", machnetctl::print_flows}},
      {"arp", {"the ARP table: resolved neighbours and pending requests", machnetctl::print_arp}},
  };
  return kCommands;
}

std::string usage() {
  std::string text = "Usage: machnetctl [--socket PATH] [--json] COMMAND\n"
                     "       machnetctl [--socket PATH] stats --prometheus\n\nCommands:\n";
  for (const auto& [name, command] : commands()) text += "  " + name + std::string(10 - name.size(), ' ') + command.summary + "\n";
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path = "/run/machnet/machnetctl.sock";
  if (const char* env = std::getenv("MACHNETCTL_SOCKET")) socket_path = env;
  std::string command_name;
  po::options_description visible("Options");
  visible.add_options()
      ("socket,s", po::value(&socket_path)->value_name("PATH"),
       "admin socket of the daemon (default /run/machnet/machnetctl.sock, or $MACHNETCTL_SOCKET)")
      ("json,j", "print the daemon's JSON answer instead of a table")
      ("prometheus", "with stats: print the counters in the Prometheus text format")
      ("version", "print the version and exit")
      ("help,h", "print this help and exit");
  po::options_description all;
  all.add(visible).add_options()("command", po::value(&command_name));
  po::positional_options_description positional;
  positional.add("command", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "machnetctl: " << e.what() << "\n" << usage();
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << usage() << '\n' << visible << '\n';
    return kExitOk;
  }
  if (vm.count("version")) {
    std::cout << "machnetctl " << MACHNET_VERSION << '\n';
    return kExitOk;
  }
  const auto it = commands().find(command_name);
  if (it == commands().end()) {
    if (command_name.empty()) std::cerr << "machnetctl: no command given\n";
    else std::cerr << "machnetctl: unknown command \"" << command_name << "\"\n";
    std::cerr << usage();
    return kExitUsage;
  }

  const bool prometheus = vm.count("prometheus") > 0;
  if (prometheus && (command_name != "stats" || vm.count("json"))) {
    std::cerr << "machnetctl: --prometheus goes with the stats command alone (not with --json)\n" << usage();
    return kExitUsage;
  }

  const auto result = machnetctl::request(socket_path, {{"cmd", command_name}});
  if (result.status == machnetctl::ClientStatus::kNotRunning) {
    std::cerr << result.error << '\n';
    return kExitNotRunning;
  }
  if (result.status != machnetctl::ClientStatus::kOk) {
    std::cerr << "machnetctl: " << result.error << '\n';
    return kExitError;
  }
  const auto& response = result.response;
  const bool ok = response.value("ok", false);
  if (vm.count("json")) {
    std::cout << (ok ? response.value("data", nlohmann::json::object()) : response).dump(2) << '\n';
    return ok ? kExitOk : kExitError;
  }
  if (!ok) {
    std::cerr << "machnetctl: " << response.value("error", std::string("the daemon reported an error")) << '\n';
    return kExitError;
  }
  const auto print = prometheus ? machnetctl::print_stats_prometheus : it->second.print;
  print(std::cout, response.value("data", nlohmann::json::object()));
  return kExitOk;
}
