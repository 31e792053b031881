// The ARP cache of one port: resolved neighbours, and resolutions under way with their
// retries. Pure logic driven by the engine's batch timestamp; the engine sends the requests
// this table asks for. Bounded: the oldest entry makes room for a new one.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "config/net_types.h"

namespace machnet::net {

struct ArpTimers {
  uint64_t retry_interval_us = 200'000;  // between the first fast_requests for an address
  uint32_t max_requests = 10;            // then the resolution fails
  uint64_t entry_lifetime_us = 300'000'000;  // a resolved entry is refreshed after this
  size_t capacity = 1024;
  // After the first fast_requests, one request every slow_interval_us (Linux's retrans_time):
  // a connect with a long timeout keeps asking without a broadcast every 200 ms.
  uint32_t fast_requests = 10;
  uint64_t slow_interval_us = 1'000'000;

  // Requests for as long as a connect waits ([transport] connect_timeout_ms): a fixed count
  // gave up after 1 s of a 2 s connect, so two lost frames in each of 5 exchanges failed
  // a connect on a lossy link that the remaining second would have carried.
  static ArpTimers for_connect_timeout(uint64_t connect_timeout_us);
};

struct ArpEntryView {
  Ipv4Address ip;
  std::optional<MacAddress> mac;  // nullopt while resolving
  uint64_t age_us = 0;            // since resolved (or since the first request)
};

class ArpTable {
 public:
  explicit ArpTable(ArpTimers timers = {}) : timers_(timers) {}

  // The MAC of `ip` if it is known.
  std::optional<MacAddress> lookup(Ipv4Address ip) const;

  // Starts resolving `ip` unless it is resolved or under way. True when the caller must
  // send an ARP request now.
  bool resolve(Ipv4Address ip, uint64_t now_us);

  // Records what an ARP packet told us. True when this completed a resolution under way
  // (the caller may now send what waited for it). `may_add`: the sender may become a new
  // entry (a request addressed to us, a peer opening a flow to us); otherwise (a reply)
  // only an address we asked for or already know is updated, so unsolicited replies
  // cannot fill the table or plant entries.
  bool learn(Ipv4Address ip, const MacAddress& mac, uint64_t now_us, bool may_add = true);

  // Advances time: fills `retry` with the addresses to request again now and `failed` with
  // those that ran out of requests (removed from the table).
  void on_timer(uint64_t now_us, std::vector<Ipv4Address>& retry, std::vector<Ipv4Address>& failed);

  std::vector<ArpEntryView> entries(uint64_t now_us) const;
  size_t size() const { return entries_.size(); }
  size_t capacity() const { return timers_.capacity; }
  // Entries pushed out to make room for a new one: the table was full (a busy subnet, or a
  // host sending ARP requests from many addresses).
  uint64_t evicted() const { return evicted_; }

 private:
  struct Entry {
    std::optional<MacAddress> mac;
    uint64_t since_us = 0;       // resolved at, or first requested at
    uint64_t next_retry_us = 0;  // while resolving
    uint32_t requests = 0;
  };
  void make_room();

  ArpTimers timers_;
  std::unordered_map<uint32_t, Entry> entries_;
  uint64_t evicted_ = 0;
};

}  // namespace machnet::net
