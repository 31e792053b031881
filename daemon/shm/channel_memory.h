// The memory of one channel: a sealed memfd (hugetlb when the system has free huge pages,
// normal pages otherwise) mapped into the daemon, formatted per channel_layout.h. Owned by the control thread (control/app_sessions.h).
#pragma once

#include <cstdint>
#include <string>

#include "channel/channel_layout.h"
#include "util/result.h"

namespace machnet::shm {

class ChannelMemory {
 public:
  // Creates, sizes, seals, maps and formats a channel. `try_hugetlb` asks for 2 MiB pages
  // first and falls back to normal pages when that fails.
  static Result<ChannelMemory> create(uint32_t channel_id, const channel::ChannelParams& params, bool try_hugetlb);

  ChannelMemory() = default;
  ChannelMemory(ChannelMemory&& other) noexcept { *this = std::move(other); }
  ChannelMemory& operator=(ChannelMemory&& other) noexcept;
  ChannelMemory(const ChannelMemory&) = delete;
  ChannelMemory& operator=(const ChannelMemory&) = delete;
  ~ChannelMemory();

  int memfd() const { return memfd_; }
  uint8_t* base() const { return base_; }
  const channel::ChannelGeometry& geometry() const { return geometry_; }
  bool hugetlb() const { return hugetlb_; }
  // Pages the application removed (punched) that the daemon then touched and got zeros for.
  uint64_t memory_faults() const;

 private:
  void release();

  int memfd_ = -1;
  uint8_t* base_ = nullptr;
  channel::ChannelGeometry geometry_{};
  bool hugetlb_ = false;
  int guard_slot_ = -1;  // shm/sigbus_guard.h
};

}  // namespace machnet::shm
