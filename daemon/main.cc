// machnetd: the Machnet daemon. Parses flags, loads the configuration, then hands over to
// Daemon (daemon.h) for the lifecycle.
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include <boost/program_options.hpp>
#include <spdlog/spdlog.h>

#include "config/config_loader.h"
#include "daemon.h"
#include "nic/detect_command.h"
#include "machnet_build_config.h"
#include "util/logging.h"

namespace po = boost::program_options;

namespace {

int print_config_errors(const machnet::ConfigLoadResult& result) {
  for (const auto& e : result.errors) std::cerr << e.to_string() << '\n';
  std::cerr << result.errors.size() << (result.errors.size() == 1 ? " error" : " errors")
            << " in the configuration\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = machnet::kDefaultConfigPath;
  std::string log_level_text;
  po::options_description options("machnetd: the Machnet daemon\n\nUsage: machnetd [options]\n\nOptions");
  options.add_options()
      ("config,c", po::value(&config_path)->value_name("FILE"),
       "configuration file (default /etc/machnet/machnet.toml)")
      ("check-config", "validate the configuration, print \"configuration OK\" or the errors, and exit")
      ("detect", "detect the cloud, the NICs and the binding plan, print them and exit; changes nothing")
      ("json", "with --detect: print JSON")
      ("restore-nic", "give back a NIC that a stopped or crashed daemon left bound (for ExecStopPost=) and exit")
      ("log-level", po::value(&log_level_text)->value_name("LEVEL"),
       "trace, debug, info, warning, error or critical; overrides [daemon] log_level")
      ("version", "print the version and exit")
      ("help,h", "print this help and exit");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(options).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "machnetd: " << e.what() << "\nTry 'machnetd --help'.\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << options << '\n';
    return 0;
  }
  if (vm.count("version")) {
    std::cout << "machnetd " << MACHNET_VERSION << '\n';
    return 0;
  }
  std::optional<machnet::LogLevel> log_level_override;
  if (vm.count("log-level")) {
    log_level_override = machnet::parse_log_level(log_level_text);
    if (!log_level_override) {
      std::cerr << "machnetd: unknown log level \"" << log_level_text
                << "\" (trace, debug, info, warning, error, critical)\n";
      return 2;
    }
  }

  const auto loaded = machnet::load_config_file(config_path);
  if (vm.count("check-config")) {
    if (!loaded.config) return print_config_errors(loaded);
    std::cout << "configuration OK\n";
    return 0;
  }
  if (!loaded.config) return print_config_errors(loaded);

  machnet::logging::init(log_level_override.value_or(loaded.config->daemon.log_level));
  if (vm.count("detect")) return machnet::nic::detect_command(*loaded.config, vm.count("json") > 0, std::cout);
  if (vm.count("restore-nic")) return machnet::nic::restore_command(*loaded.config, std::cout, std::cerr);

  // Signals are taken synchronously by the main thread (sigwaitinfo in Daemon::run); block
  // them here, before any thread starts, so every thread inherits the mask. A client that
  // hangs up mid-answer must not kill the daemon with SIGPIPE.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Absolute, so `machnetctl status` says which file it is and a reload finds it again.
  std::error_code ec;
  const auto absolute_config = std::filesystem::absolute(config_path, ec);
  machnet::Daemon daemon(ec ? config_path : absolute_config.string(), *loaded.config, log_level_override);
  return daemon.run();
}
