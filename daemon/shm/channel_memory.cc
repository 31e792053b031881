#include "shm/channel_memory.h"

#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "channel/channel_view.h"
#include "channel/spsc_ring.h"
#include "shm/sigbus_guard.h"

namespace machnet::shm {

// The channel ABI (lib/channel/) this file reads and writes.
using namespace machnet::channel;

namespace {

constexpr uint64_t kHugePage = 2ull << 20;

std::string errno_text() { return std::strerror(errno); }

// One attempt: a memfd of the geometry's size, mapped. Returns false (fds closed) on failure.
bool make_mapping(const std::string& name, unsigned flags, const ChannelGeometry& g, int* fd_out, uint8_t** base_out,
                  std::string* why) {
  const int fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING | flags);
  if (fd < 0) {
    *why = "memfd_create: " + errno_text();
    return false;
  }
  if (ftruncate(fd, static_cast<off_t>(g.total_size)) != 0) {
    *why = fmt::format("ftruncate to {} bytes: {}", g.total_size, errno_text());
    close(fd);
    return false;
  }
  void* p = mmap(nullptr, g.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    *why = "mmap: " + errno_text();
    close(fd);
    return false;
  }
  *fd_out = fd;
  *base_out = static_cast<uint8_t*>(p);
  return true;
}

}  // namespace

Result<ChannelMemory> ChannelMemory::create(uint32_t channel_id, const channel::ChannelParams& params, bool try_hugetlb) {
  ChannelMemory m;
  const std::string name = fmt::format("machnet-channel-{}", channel_id);
  std::string why;
  if (try_hugetlb) {
    m.geometry_ = compute_geometry(params, kHugePage);
    m.hugetlb_ = make_mapping(name, MFD_HUGETLB | MFD_HUGE_2MB, m.geometry_, &m.memfd_, &m.base_, &why);
  }
  if (!m.hugetlb_) {
    m.geometry_ = compute_geometry(params);
    if (!make_mapping(name, 0, m.geometry_, &m.memfd_, &m.base_, &why))
      return make_error(fmt::format("channel {}: cannot create its memory: {}", channel_id, why));
  }
  // The application must not be able to shrink the file under the daemon's mapping (that
  // would turn the daemon's next access into SIGBUS), nor change the seals back.
  if (fcntl(m.memfd_, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
    return make_error(fmt::format("channel {}: cannot seal its memfd: {}", channel_id, errno_text()));
  // Holes it punches are another matter (shm/sigbus_guard.h).
  install_sigbus_guard();
  m.guard_slot_ = sigbus_guard_add(m.base_, m.geometry_.total_size,
                                   m.hugetlb_ ? kHugePage : static_cast<size_t>(sysconf(_SC_PAGESIZE)));
  if (m.guard_slot_ < 0) return make_error(fmt::format("channel {}: no room to guard its memory", channel_id));

  const ChannelGeometry& g = m.geometry_;
  write_header(reinterpret_cast<ChannelHeader*>(m.base_), g, channel_id);
  for (const RingRef* r : {&g.ctrl_submit, &g.ctrl_complete, &g.to_daemon, &g.to_app, &g.daemon_free})
    ring_format(m.base_ + r->offset);
  // Every app-pool buffer starts in the application's hands, via its free ring.
  uint8_t* app_free = m.base_ + g.app_free.offset;
  for (uint32_t i = 0; i < g.app_pool_count; ++i) ring_fill_slot(app_free, g.app_free.slots, i, g.app_pool_first + i);
  ring_format(app_free, g.app_pool_count);
  return m;
}

ChannelMemory& ChannelMemory::operator=(ChannelMemory&& o) noexcept {
  if (this != &o) {
    release();
    memfd_ = std::exchange(o.memfd_, -1);
    base_ = std::exchange(o.base_, nullptr);
    guard_slot_ = std::exchange(o.guard_slot_, -1);
    geometry_ = o.geometry_;
    hugetlb_ = o.hugetlb_;
  }
  return *this;
}

ChannelMemory::~ChannelMemory() { release(); }

uint64_t ChannelMemory::memory_faults() const { return sigbus_guard_faults(guard_slot_); }

void ChannelMemory::release() {
  // An application may keep the memfd (or its mapping) after the channel is gone; freeing the
  // pages here keeps what it holds from counting against the daemon (issue 15, row 8): what
  // it touches afterwards is new memory of its own.
  if (memfd_ >= 0 && base_)
    fallocate(memfd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(geometry_.total_size));
  if (base_) munmap(base_, geometry_.total_size);
  sigbus_guard_remove(guard_slot_);
  guard_slot_ = -1;
  if (memfd_ >= 0) close(memfd_);
  base_ = nullptr;
  memfd_ = -1;
}

}  // namespace machnet::shm
