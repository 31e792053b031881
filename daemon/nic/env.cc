#include "nic/env.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <rte_build_config.h>

#include "nic/http_client.h"

namespace machnet::nic {
namespace fs = std::filesystem;

namespace {

std::string join(const std::string& root, std::string_view rel) {
  if (rel.empty()) return root;
  if (!root.empty() && root.back() == '/') return root + std::string(rel);
  return root + "/" + std::string(rel);
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

std::string command_text(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& a : argv) text += (text.empty() ? "" : " ") + a;
  return text;
}

RealEnv::RealEnv(RealEnvOptions options) : options_(std::move(options)) {}

std::string RealEnv::sysfs(std::string_view rel) const { return join(options_.sysfs_root, rel); }
std::string RealEnv::procfs(std::string_view rel) const { return join(options_.proc_root, rel); }

Result<std::string> RealEnv::read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(fmt::format("cannot read {}: {}", path, errno_text()));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error(fmt::format("cannot read {}", path));
  return text_value(text.str());
}

Result<void> RealEnv::write_file(const std::string& path, std::string_view data) {
  // No O_CREAT: a sysfs attribute that does not exist means the kernel lacks the feature
  // (or the driver is not loaded), and creating a regular file would hide that.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return make_error(fmt::format("cannot open {} for writing: {}", path, errno_text()));
  const ssize_t n = ::write(fd, data.data(), data.size());
  const int saved = errno;
  ::close(fd);
  if (n < 0 || static_cast<size_t>(n) != data.size()) {
    errno = saved;
    return make_error(fmt::format("cannot write \"{}\" to {}: {}", data, path,
                                  n < 0 ? errno_text() : std::string("short write")));
  }
  journal_.push_back(fmt::format("write {} = {}", path, data));
  if (options_.after_write) options_.after_write(path, data);
  return {};
}

Result<void> RealEnv::replace_file(const std::string& path, std::string_view data) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return make_error(fmt::format("cannot create directory for {}: {}", path, ec.message()));
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(fmt::format("cannot create {}: {}", tmp, errno_text()));
  const ssize_t n = ::write(fd, data.data(), data.size());
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (n < 0 || static_cast<size_t>(n) != data.size() || !synced) {
    ::unlink(tmp.c_str());
    return make_error(fmt::format("cannot write {}: {}", tmp, errno_text()));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return make_error(fmt::format("cannot rename {} to {}: {}", tmp, path, errno_text()));
  return {};
}

Result<void> RealEnv::remove_file(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) return make_error(fmt::format("cannot remove {}: {}", path, ec.message()));
  return {};
}

Result<std::string> RealEnv::read_link(const std::string& path) {
  std::error_code ec;
  auto target = fs::read_symlink(path, ec);
  if (ec) return make_error(fmt::format("cannot read link {}: {}", path, ec.message()));
  return text_value(target.string());
}

Result<std::string> RealEnv::resolve(const std::string& path) {
  std::error_code ec;
  auto p = fs::canonical(path, ec);
  if (ec) return make_error(fmt::format("cannot resolve {}: {}", path, ec.message()));
  return text_value(p.string());
}

std::vector<std::string> RealEnv::list_dir(const std::string& path) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec))
    names.push_back(it->path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

bool RealEnv::exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(path, ec)) && !ec;
}

Result<HttpResponse> RealEnv::http(const HttpRequest& request) {
  return http_request(options_.metadata_url, request, options_.metadata_timeout);
}

std::chrono::steady_clock::time_point RealEnv::now() { return std::chrono::steady_clock::now(); }

void RealEnv::sleep_for(std::chrono::milliseconds duration) { std::this_thread::sleep_for(duration); }

std::string default_dpdk_driver_dir() {
#ifdef RTE_EAL_PMD_PATH
  return RTE_EAL_PMD_PATH;
#else
  return "";
#endif
}

Result<std::string> RealEnv::run(const std::vector<std::string>& argv) {
  if (argv.empty()) return make_error("run: empty command line");
  journal_.push_back("run " + command_text(argv));
  if (options_.commands == CommandMode::kRecordOnly) return text_value("");
  return spawn(argv);
}

Result<std::string> RealEnv::query(const std::vector<std::string>& argv) {
  if (argv.empty()) return make_error("query: empty command line");
  if (options_.commands == CommandMode::kRecordOnly)
    return options_.fake_query ? options_.fake_query(argv) : text_value("");
  return spawn(argv);
}

// Runs a helper program (modprobe, ip) with its output captured, for at most
// options_.command_timeout: a program that hangs (a wedged driver under modprobe, an `ip`
// stuck on the netlink lock) is killed and reported instead of holding the daemon's start
// or stop for good (issue 15, row 11). Output beyond 1 MiB is not kept.
Result<std::string> RealEnv::spawn(const std::vector<std::string>& argv) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return make_error(fmt::format("{}: pipe: {}", argv[0], errno_text()));
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out[0]);
    ::close(out[1]);
    return make_error(fmt::format("{}: fork: {}", argv[0], errno_text()));
  }
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::execvp(args[0], args.data());
    _exit(127);
  }
  ::close(out[1]);
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + options_.command_timeout;
  std::string output;
  bool timed_out = false;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;  // a timeout is caught at the top
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the program closed its output (normally: it exited)
    if (output.size() < (1u << 20)) output.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  // A program that closed its output but does not exit counts against the same deadline.
  for (;;) {
    if (timed_out) ::kill(pid, SIGKILL);  // then the blocking wait below returns at once
    const pid_t w = ::waitpid(pid, &status, timed_out ? 0 : WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
    if (w == 0 && Clock::now() >= deadline) timed_out = true;
    else if (w == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (timed_out)
    return make_error(fmt::format("\"{}\" did not finish within {} ms and was killed", command_text(argv),
                                  options_.command_timeout.count()));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return make_error(fmt::format("\"{}\" failed (exit status {})", command_text(argv),
                                  WIFEXITED(status) ? WEXITSTATUS(status) : -1));
  return text_value(std::move(output));
}

}  // namespace machnet::nic
