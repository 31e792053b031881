#include "util/instance_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

namespace machnet {

Result<InstanceLock> InstanceLock::acquire(const std::string& socket_path) {
  std::string path = socket_path + ".lock";
  // The socket's directory (/run/machnet) may not exist yet when the daemon runs outside
  // systemd, which would have made it (RuntimeDirectory=).
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::filesystem::create_directories(parent, ec);  // nothing to do when it exists
    if (ec) return make_error(fmt::format("cannot create directory {}: {}", parent.string(), ec.message()));
  }
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_error(fmt::format("cannot create lock file {}: {}", path, std::strerror(errno)));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    close(fd);
    if (err == EWOULDBLOCK)
      return make_error(fmt::format(
          "another machnetd is already serving {} (lock {} is held); stop it first or "
          "configure other socket paths",
          socket_path, path));
    return make_error(fmt::format("cannot lock {}: {}", path, std::strerror(err)));
  }
  return InstanceLock(fd, std::move(path));
}

InstanceLock::InstanceLock(InstanceLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

InstanceLock::~InstanceLock() {
  if (fd_ < 0) return;
  // Unlink while still holding the lock, so no new daemon can lock the old inode after we
  // let go of it.
  unlink(path_.c_str());
  close(fd_);
}

}  // namespace machnet
