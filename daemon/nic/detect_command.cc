#include "nic/detect_command.h"

#include "nic/binder.h"
#include "admin/detect_report.h"
#include "nic/detector.h"

namespace machnet::nic {

int detect_command(const Config& config, bool json, std::ostream& out) {
  RealEnv env(env_options(config));
  const Detection d = detect(env, config);
  const auto report = d.to_json();
  if (json) out << report.dump(2) << '\n';
  else admin::print_detection(out, report);
  return d.ok() ? 0 : 1;
}

int restore_command(const Config& config, std::ostream& out, std::ostream& err) {
  RealEnv env(env_options(config));
  auto r = restore_if_recorded(env, config.daemon.state_dir);
  if (!r) {
    err << "machnetd: " << r.error().message << '\n';
    return 1;
  }
  out << (r->empty() ? "nothing to restore" : *r) << '\n';
  return 0;
}

}  // namespace machnet::nic
