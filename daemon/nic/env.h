// The one door between NIC detection/binding and the outside world: sysfs and /proc (under
// configurable roots), the state directory, the cloud metadata service (HTTP against a
// configurable base URL), the clock and process spawning (modprobe, ip). Everything in
// daemon/nic/ goes through it, so tests run the real implementation against a temp-dir tree
// and a 127.0.0.1 HTTP server instead of the host.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.h"

namespace machnet::nic {

// Result<std::string> cannot be built implicitly from a string: under C++20 the aggregate
// Error is constructible from one too, which makes the conversion ambiguous.
inline Result<std::string> text_value(std::string text) {
  return Result<std::string>(boost::system::in_place_value, std::move(text));
}

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // path and query, appended to the base URL's path
  std::vector<std::pair<std::string, std::string>> headers;
};

struct HttpResponse {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

class Env {
 public:
  virtual ~Env() = default;

  // Absolute paths of `rel` under the sysfs and procfs roots ("class/net" -> "/sys/class/net").
  virtual std::string sysfs(std::string_view rel) const = 0;
  virtual std::string procfs(std::string_view rel) const = 0;

  virtual Result<std::string> read_file(const std::string& path) = 0;
  // Writes `data` in one write(2), as sysfs attributes need.
  virtual Result<void> write_file(const std::string& path, std::string_view data) = 0;
  // Writes a whole file atomically (temporary file, fsync, rename): for the state record.
  virtual Result<void> replace_file(const std::string& path, std::string_view data) = 0;
  virtual Result<void> remove_file(const std::string& path) = 0;
  virtual Result<std::string> read_link(const std::string& path) = 0;
  // The path with every symlink resolved; an error if it does not exist.
  virtual Result<std::string> resolve(const std::string& path) = 0;
  // Entry names of a directory, sorted; empty when it does not exist.
  virtual std::vector<std::string> list_dir(const std::string& path) = 0;
  virtual bool exists(const std::string& path) = 0;

  // One HTTP request to the metadata service, with the configured connect+read timeout.
  // A transport failure (refused, timeout, reset) is an error; any HTTP status is a response.
  virtual Result<HttpResponse> http(const HttpRequest& request) = 0;
  virtual std::string metadata_url() const = 0;
  virtual std::chrono::milliseconds metadata_timeout() const = 0;  // per request

  virtual std::chrono::steady_clock::time_point now() = 0;
  virtual void sleep_for(std::chrono::milliseconds duration) = 0;

  // Runs a program (argv[0] looked up in PATH) and returns its stdout; an error on a
  // non-zero exit.
  virtual Result<std::string> run(const std::vector<std::string>& argv) = 0;
  // Runs a program that only reads ("ip -o -4 addr show dev IF"): the same as run(), but not
  // a change, so it is not journaled, and detection may use it.
  virtual Result<std::string> query(const std::vector<std::string>& argv) = 0;

  // The folder DPDK loads its drivers from (RTE_EAL_PMD_PATH of the DPDK we link):
  // "librte_net_mana.so" there means the MANA driver is available.
  virtual std::string dpdk_driver_dir() const = 0;
};

// Whether RealEnv::run really starts programs. kRecordOnly journals the command line and
// reports success: the daemon uses it when [testing] points sysfs at a fake tree, so a test
// never changes the host's interfaces or modules.
enum class CommandMode { kRun, kRecordOnly };

// RTE_EAL_PMD_PATH of the DPDK machnetd is built with.
std::string default_dpdk_driver_dir();

struct RealEnvOptions {
  std::string sysfs_root = "/sys";
  std::string proc_root = "/proc";
  std::string metadata_url = "http://169.254.169.254";
  std::chrono::milliseconds metadata_timeout{2000};
  CommandMode commands = CommandMode::kRun;
  // The longest a helper program (modprobe, ip) may run before it is killed.
  std::chrono::milliseconds command_timeout{10000};
  // kRecordOnly: what query() answers instead of running the program (tests play `ip`).
  std::function<Result<std::string>(const std::vector<std::string>& argv)> fake_query;
  std::string dpdk_driver_dir = default_dpdk_driver_dir();
  // Called after every successful write_file. Tests use it to play the kernel's part on a
  // fake sysfs tree (moving `driver` links on bind/unbind); the daemon leaves it empty.
  std::function<void(const std::string& path, std::string_view data)> after_write;
};

class RealEnv : public Env {
 public:
  explicit RealEnv(RealEnvOptions options);

  std::string sysfs(std::string_view rel) const override;
  std::string procfs(std::string_view rel) const override;
  Result<std::string> read_file(const std::string& path) override;
  Result<void> write_file(const std::string& path, std::string_view data) override;
  Result<void> replace_file(const std::string& path, std::string_view data) override;
  Result<void> remove_file(const std::string& path) override;
  Result<std::string> read_link(const std::string& path) override;
  Result<std::string> resolve(const std::string& path) override;
  std::vector<std::string> list_dir(const std::string& path) override;
  bool exists(const std::string& path) override;
  Result<HttpResponse> http(const HttpRequest& request) override;
  std::string metadata_url() const override { return options_.metadata_url; }
  std::chrono::milliseconds metadata_timeout() const override { return options_.metadata_timeout; }
  std::chrono::steady_clock::time_point now() override;
  void sleep_for(std::chrono::milliseconds duration) override;
  Result<std::string> run(const std::vector<std::string>& argv) override;
  Result<std::string> query(const std::vector<std::string>& argv) override;
  std::string dpdk_driver_dir() const override { return options_.dpdk_driver_dir; }

  // Every write_file ("write PATH = DATA") and run ("run ARGV...") in order: the log of what
  // this Env changed on the host, and what tests compare with the expected sequence.
  const std::vector<std::string>& journal() const { return journal_; }
  void clear_journal() { journal_.clear(); }

 private:
  Result<std::string> spawn(const std::vector<std::string>& argv);

  RealEnvOptions options_;
  std::vector<std::string> journal_;
};

// "a b c" -> the journal's spelling of a command line.
std::string command_text(const std::vector<std::string>& argv);

}  // namespace machnet::nic
