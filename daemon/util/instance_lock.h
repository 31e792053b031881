// One daemon per set of socket paths. The guard is an flock(2) on "<socket>.lock": the kernel
// drops it when the holder exits, however it exits, so it does not depend on pid files and a
// crash never blocks the next start.
#pragma once

#include <string>

#include "util/result.h"

namespace machnet {

class InstanceLock {
 public:
  // Takes the lock for `socket_path`, or says who holds it.
  static Result<InstanceLock> acquire(const std::string& socket_path);

  InstanceLock(InstanceLock&& other) noexcept;
  InstanceLock& operator=(InstanceLock&&) = delete;
  InstanceLock(const InstanceLock&) = delete;
  ~InstanceLock();

 private:
  InstanceLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

}  // namespace machnet
