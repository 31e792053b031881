#include "net/arp_table.h"

#include <algorithm>

namespace machnet::net {

ArpTimers ArpTimers::for_connect_timeout(uint64_t connect_timeout_us) {
  ArpTimers t;
  const uint64_t fast_span_us = t.retry_interval_us * t.fast_requests;
  uint64_t requests = (std::min(connect_timeout_us, fast_span_us) + t.retry_interval_us - 1) / t.retry_interval_us;
  if (connect_timeout_us > fast_span_us)
    requests += (connect_timeout_us - fast_span_us + t.slow_interval_us - 1) / t.slow_interval_us;
  t.max_requests = static_cast<uint32_t>(std::clamp<uint64_t>(requests, 1, UINT32_MAX));
  return t;
}

std::optional<MacAddress> ArpTable::lookup(Ipv4Address ip) const {
  const auto it = entries_.find(ip.value);
  if (it == entries_.end()) return std::nullopt;
  return it->second.mac;
}

bool ArpTable::resolve(Ipv4Address ip, uint64_t now_us) {
  if (entries_.count(ip.value)) return false;
  make_room();
  entries_[ip.value] = Entry{std::nullopt, now_us, now_us + timers_.retry_interval_us, 1};
  return true;
}

bool ArpTable::learn(Ipv4Address ip, const MacAddress& mac, uint64_t now_us, bool may_add) {
  auto it = entries_.find(ip.value);
  if (it == entries_.end()) {
    if (!may_add) return false;
    make_room();
    entries_[ip.value] = Entry{mac, now_us, 0, 0};
    return false;
  }
  const bool completed = !it->second.mac.has_value();
  it->second = Entry{mac, now_us, 0, 0};
  return completed;
}

void ArpTable::on_timer(uint64_t now_us, std::vector<Ipv4Address>& retry, std::vector<Ipv4Address>& failed) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& e = it->second;
    if (e.mac) {
      // Stale entries are forgotten; the next send resolves afresh.
      if (now_us - e.since_us > timers_.entry_lifetime_us) {
        it = entries_.erase(it);
        continue;
      }
    } else if (now_us >= e.next_retry_us) {
      if (e.requests >= timers_.max_requests) {
        failed.push_back(Ipv4Address{it->first});
        it = entries_.erase(it);
        continue;
      }
      ++e.requests;
      // The last request, like the fast ones, waits retry_interval_us for its answer.
      const bool fast = e.requests < timers_.fast_requests || e.requests >= timers_.max_requests;
      e.next_retry_us = now_us + (fast ? timers_.retry_interval_us : timers_.slow_interval_us);
      retry.push_back(Ipv4Address{it->first});
    }
    ++it;
  }
}

std::vector<ArpEntryView> ArpTable::entries(uint64_t now_us) const {
  std::vector<ArpEntryView> out;
  out.reserve(entries_.size());
  for (const auto& [ip, e] : entries_) out.push_back({Ipv4Address{ip}, e.mac, now_us - e.since_us});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.ip < b.ip; });
  return out;
}

void ArpTable::make_room() {
  if (entries_.size() < timers_.capacity) return;
  // Evict the oldest resolved entry; resolutions under way are kept (someone waits on them).
  auto oldest = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->second.mac && (oldest == entries_.end() || it->second.since_us < oldest->second.since_us)) oldest = it;
  }
  if (oldest == entries_.end()) oldest = entries_.begin();
  entries_.erase(oldest);
  ++evicted_;
}

}  // namespace machnet::net
