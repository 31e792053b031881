// A drop-tail bottleneck for the simulated wire: one FIFO queue with a finite capacity in
// packets, served at a fixed rate. A packet that finds the queue full is dropped (that is
// all a switch port without AQM does); one that fits leaves when the packets ahead of it
// and its own serialisation are done. Arrivals must come in time order (the simulation
// delivers them so). Records how long packets waited, for the tests' queueing bounds.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <optional>

namespace machnet::transport::sim {

class DropTailQueue {
 public:
  // 10 us buckets up to 40 ms: enough for any target the tests use, and no allocation per
  // packet (a sample past the last bucket lands in it).
  static constexpr uint32_t kBucketUs = 10;
  static constexpr uint32_t kBuckets = 4000;

  DropTailQueue(double bytes_per_us, uint32_t capacity_packets)
      : ns_per_byte_(1000.0 / bytes_per_us), capacity_(capacity_packets) {}

  // A packet of `bytes` (on the wire) arrives at now_us: when its last bit leaves, in
  // microseconds, or nothing when the queue is full and it is dropped.
  std::optional<uint64_t> enqueue(uint64_t now_us, uint32_t bytes) {
    const double now_ns = double(now_us) * 1000.0;
    while (!departures_.empty() && departures_.front() <= now_ns) departures_.pop_front();
    ++arrived_;
    if (departures_.size() >= capacity_) {
      ++dropped_;
      return std::nullopt;
    }
    const double start_ns = std::max(now_ns, free_at_ns_);
    const double wait_us = (start_ns - now_ns) / 1000.0;
    free_at_ns_ = start_ns + bytes * ns_per_byte_;
    departures_.push_back(free_at_ns_);
    max_packets_ = std::max<uint64_t>(max_packets_, departures_.size());
    ++waits_[std::min<uint64_t>(static_cast<uint64_t>(wait_us / kBucketUs), kBuckets - 1)];
    wait_sum_us_ += wait_us;
    ++waited_;
    return static_cast<uint64_t>(free_at_ns_ / 1000.0) + 1;  // whole microseconds, never early
  }

  // Forgets the waiting times recorded so far (a test measures after convergence).
  void reset_stats() {
    waits_.fill(0);
    wait_sum_us_ = 0;
    waited_ = 0;
    max_packets_ = departures_.size();
    arrived_ = dropped_ = 0;
  }

  double mean_wait_us() const { return waited_ ? wait_sum_us_ / double(waited_) : 0; }
  // The waiting time `q` (0..1) of the packets recorded were at most, to a bucket.
  uint32_t wait_quantile_us(double q) const {
    const uint64_t want = static_cast<uint64_t>(q * double(waited_));
    uint64_t seen = 0;
    for (uint32_t b = 0; b < kBuckets; ++b)
      if ((seen += waits_[b]) > want) return (b + 1) * kBucketUs;
    return kBuckets * kBucketUs;
  }
  uint64_t arrived() const { return arrived_; }
  uint64_t dropped() const { return dropped_; }
  uint64_t max_packets() const { return max_packets_; }
  uint32_t capacity() const { return capacity_; }

 private:
  double ns_per_byte_;
  uint32_t capacity_;
  double free_at_ns_ = 0;
  std::deque<double> departures_;  // of the packets in the queue (and the one in service)
  std::array<uint64_t, kBuckets> waits_{};
  double wait_sum_us_ = 0;
  uint64_t waited_ = 0, arrived_ = 0, dropped_ = 0, max_packets_ = 0;
};

}  // namespace machnet::transport::sim
