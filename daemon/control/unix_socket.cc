#include "control/unix_socket.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace machnet::control {

std::optional<gid_t> lookup_group(const std::string& name) {
  std::vector<char> buffer(4096);
  group entry{};
  group* found = nullptr;
  while (getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) == ERANGE)
    buffer.resize(buffer.size() * 2);
  if (found == nullptr) {
    spdlog::warn("group \"{}\" does not exist: the sockets are open to root and the daemon's user only", name);
    return std::nullopt;
  }
  return found->gr_gid;
}

Result<int> listen_unix(const std::string& path, int type, std::optional<gid_t> group) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path))
    return make_error(fmt::format("socket path {} is too long", path));
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);

  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  std::filesystem::create_directories(parent, ec);
  if (ec) return make_error(fmt::format("cannot create directory {}: {}", parent.string(), ec.message()));

  // Binding, chmod and chown go by path: only safe when nobody but us can replace what the
  // path names between those steps. A directory others may write to (and that is not
  // sticky) would let them (issue 15, row 11).
  struct stat dir {};
  if (stat(parent.empty() ? "." : parent.c_str(), &dir) != 0)
    return make_error(fmt::format("cannot stat directory {}: {}", parent.string(), std::strerror(errno)));
  if ((dir.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (dir.st_mode & S_ISVTX) == 0)
    return make_error(fmt::format("directory {} is writable by others (mode {:o}); the socket could be replaced "
                                  "under the daemon: make it writable by its owner only", parent.string(),
                                  dir.st_mode & 07777));
  if (dir.st_uid != geteuid() && dir.st_uid != 0)
    return make_error(fmt::format("directory {} belongs to uid {}, not to the daemon's user or root", parent.string(),
                                  dir.st_uid));

  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    // We hold the instance lock, so a socket here is a leftover of a daemon that crashed.
    if (!S_ISSOCK(st.st_mode))
      return make_error(fmt::format("{} exists and is not a socket; refusing to replace it", path));
    if (unlink(path.c_str()) != 0)
      return make_error(fmt::format("cannot remove stale socket {}: {}", path, std::strerror(errno)));
    spdlog::info("removed stale socket {}", path);
  }

  const int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return make_error(fmt::format("socket(): {}", std::strerror(errno)));
  auto fail = [&](std::string_view what) {
    const int err = errno;
    close(fd);
    return make_error(fmt::format("{} {}: {}", what, path, std::strerror(err)));
  };
  // The umask makes the socket 0660 from birth; chmod below makes it independent of the
  // caller's umask. There is no window in which the socket is wider open.
  const mode_t old_umask = umask(0117);
  const int bound = bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  umask(old_umask);
  if (bound != 0) return fail("cannot bind");
  // What we bound must be what we change: a socket, not a link planted in its place.
  if (lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return fail("not our socket after bind:");
  if (chmod(path.c_str(), 0660) != 0) return fail("cannot chmod");
  if (group && lchown(path.c_str(), static_cast<uid_t>(-1), *group) != 0) return fail("cannot chown");
  if (listen(fd, 64) != 0) return fail("cannot listen on");
  return fd;
}

PeerCredentials peer_credentials(int fd) {
  PeerCredentials peer;
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    peer.pid = cred.pid;
    peer.uid = cred.uid;
    peer.gid = cred.gid;
  } else {
    // Unknown peer: treat as the least privileged user.
    peer.uid = static_cast<uid_t>(-1);
    peer.gid = static_cast<gid_t>(-1);
  }
  std::vector<gid_t> groups(64);
  socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) != 0) {
    // ERANGE tells the size needed; any other failure leaves the list empty.
    const bool retry = (errno == ERANGE);
    if (retry) groups.resize(glen / sizeof(gid_t));
    if (!retry || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) != 0) glen = 0;
  }
  groups.resize(glen / sizeof(gid_t));
  peer.groups = std::move(groups);
  return peer;
}

}  // namespace machnet::control
