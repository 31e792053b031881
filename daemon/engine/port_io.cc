#include "engine/port_io.h"

#include <rte_mbuf.h>

#include "net/packet_builder.h"

namespace machnet::engine {

PortIo::PortIo(dpdk::Port& port, net::Interface me) : port_(port), me_(me) {}

PortIo::~PortIo() {
  for (uint16_t i = 0; i < tx_count_; ++i) rte_pktmbuf_free(tx_[i]);
}

void PortIo::announce_st() {
  rte_mbuf* m = rte_pktmbuf_alloc(port_.pool());
  if (m == nullptr) {
    add(counters_.no_mbuf);
    return;
  }
  auto* data = rte_pktmbuf_mtod(m, uint8_t*);
  m->data_len = m->pkt_len = net::build_gratuitous_arp(data, me_.mac, me_.ip);
  queue_tx_st(m);
  flush_tx_st();
}

bool PortIo::poll_st(uint64_t now_us) {
  std::array<rte_mbuf*, kBurst> rx;
  const uint16_t n = port_.rx_burst_st(rx.data(), kBurst);
  if (n > 0) add(counters_.rx_frames, n);
  for (uint16_t i = 0; i < n; ++i) handle_frame_st(rx[i], now_us);
  flush_tx_st();
  return n > 0;
}

void PortIo::handle_frame_st(rte_mbuf* m, uint64_t now_us) {
  // Frames we parse must be whole in the first segment; a chained frame is too long for us.
  if (m->nb_segs != 1) [[unlikely]] {
    add(counters_.drops[static_cast<size_t>(net::DropReason::kBadIpHeader)]);
    rte_pktmbuf_free(m);
    return;
  }
  auto* data = rte_pktmbuf_mtod(m, uint8_t*);
  net::RxOffloads offloads;
  offloads.ip_checksum_good = (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD;
  offloads.l4_checksum_good = (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD;
  const net::ParsedFrame frame = net::parse_frame(data, m->data_len, me_, offloads);
  switch (frame.kind) {
    case net::FrameKind::kArp:
      if (frame.arp.opcode == 1) {
        // Learn the asker (it is about to talk to us) and answer in the same buffer.
        arp_.learn(frame.arp.sender_ip, frame.arp.sender_mac, now_us);
        m->data_len = m->pkt_len =
            net::build_arp_reply(data, me_.mac, me_.ip, frame.arp.sender_mac, frame.arp.sender_ip);
        add(counters_.arp_requests_answered);
        queue_tx_st(m);
        return;
      }
      arp_.learn(frame.arp.sender_ip, frame.arp.sender_mac, now_us);
      add(counters_.arp_replies_learned);
      break;
    case net::FrameKind::kIcmpEcho:
      net::make_icmp_echo_reply(data, frame.l3_offset);
      m->ol_flags = 0;
      add(counters_.icmp_echo_answered);
      queue_tx_st(m);
      return;
    case net::FrameKind::kMachnet:
      // No flow crosses the wire yet: every Machnet packet is for an unknown flow.
      add(counters_.drops[static_cast<size_t>(net::DropReason::kUnknownFlow)]);
      break;
    case net::FrameKind::kDrop:
      add(counters_.drops[static_cast<size_t>(frame.drop)]);
      break;
  }
  rte_pktmbuf_free(m);
}

void PortIo::queue_tx_st(rte_mbuf* m) {
  if (tx_count_ == kBurst) flush_tx_st();
  tx_[tx_count_++] = m;
}

void PortIo::flush_tx_st() {
  if (tx_count_ == 0) return;
  const uint16_t sent = port_.tx_burst_st(tx_.data(), tx_count_);
  add(counters_.tx_frames, sent);
  if (sent < tx_count_) {
    // Replies are best effort: ARP and ping retry by themselves.
    add(counters_.tx_full, tx_count_ - sent);
    for (uint16_t i = sent; i < tx_count_; ++i) rte_pktmbuf_free(tx_[i]);
  }
  tx_count_ = 0;
}

nlohmann::json PortIo::stats_json() const {
  auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  nlohmann::json drops = nlohmann::json::object();
  for (size_t i = 0; i < counters_.drops.size(); ++i)
    drops[std::string(net::kDropReasonNames[i])] = get(counters_.drops[i]);
  return {{"rx_frames", get(counters_.rx_frames)},
          {"tx_frames", get(counters_.tx_frames)},
          {"tx_full", get(counters_.tx_full)},
          {"no_mbuf", get(counters_.no_mbuf)},
          {"arp_requests_answered", get(counters_.arp_requests_answered)},
          {"arp_replies_learned", get(counters_.arp_replies_learned)},
          {"icmp_echo_answered", get(counters_.icmp_echo_answered)},
          {"drops", drops}};
}

}  // namespace machnet::engine
