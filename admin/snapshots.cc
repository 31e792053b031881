#include "admin/snapshots.h"

namespace machnet::admin {

void add(PortCounters& total, const PortCounters& part) {
  total.rx_frames += part.rx_frames;
  total.rx_bytes += part.rx_bytes;
  total.tx_frames += part.tx_frames;
  total.tx_bytes += part.tx_bytes;
  total.tx_full += part.tx_full;
  total.tx_zero_copy += part.tx_zero_copy;
  total.no_mbuf += part.no_mbuf;
  total.arp_requests_answered += part.arp_requests_answered;
  total.arp_requests_sent += part.arp_requests_sent;
  total.arp_replies_learned += part.arp_replies_learned;
  total.icmp_echo_answered += part.icmp_echo_answered;
  for (const auto& [reason, n] : part.drops) total.drops[reason] += n;
  if (part.faults) {
    FaultCounters& f = total.faults ? *total.faults : total.faults.emplace();
    f.dropped_rx += part.faults->dropped_rx;
    f.dropped_tx += part.faults->dropped_tx;
    f.duplicated += part.faults->duplicated;
    f.reordered += part.faults->reordered;
  }
}

}  // namespace machnet::admin
