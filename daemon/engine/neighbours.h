// The ARP table of the port, shared by its engines: an answer may arrive on any queue, and
// every engine may connect to the same peer. Touched only on ARP frames, connects, the
// 10 ms ARP tick and `machnetctl arp` — never per Machnet packet — so a mutex is cheap here.
#pragma once

#include <mutex>
#include <optional>
#include <vector>

#include "net/arp_table.h"

namespace machnet::engine {

class Neighbours {
 public:
  explicit Neighbours(net::ArpTimers timers = {}) : table_(timers) {}

  std::optional<MacAddress> lookup(Ipv4Address ip) const {
    std::lock_guard lock(mutex_);
    return table_.lookup(ip);
  }
  bool resolve(Ipv4Address ip, uint64_t now_us) {
    std::lock_guard lock(mutex_);
    return table_.resolve(ip, now_us);
  }
  bool learn(Ipv4Address ip, const MacAddress& mac, uint64_t now_us, bool may_add = true) {
    std::lock_guard lock(mutex_);
    return table_.learn(ip, mac, now_us, may_add);
  }
  void on_timer(uint64_t now_us, std::vector<Ipv4Address>& retry, std::vector<Ipv4Address>& failed) {
    std::lock_guard lock(mutex_);
    table_.on_timer(now_us, retry, failed);
  }
  std::vector<net::ArpEntryView> entries(uint64_t now_us) const {
    std::lock_guard lock(mutex_);
    return table_.entries(now_us);
  }
  struct Usage {
    size_t entries = 0, capacity = 0;
    uint64_t evicted = 0;
  };
  Usage usage() const {
    std::lock_guard lock(mutex_);
    return {table_.size(), table_.capacity(), table_.evicted()};
  }

 private:
  mutable std::mutex mutex_;
  net::ArpTable table_;
};

}  // namespace machnet::engine
