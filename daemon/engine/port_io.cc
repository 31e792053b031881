#include "engine/port_io.h"

#include <rte_mbuf.h>
#include <rte_prefetch.h>

namespace machnet::engine {

namespace {
net::TxChecksum checksum_mode(const dpdk::PortInfo& info) {
  if (info.tx_ip_checksum && info.tx_udp_checksum) return net::TxChecksum::kOffload;
  return info.udp_checksum_skipped ? net::TxChecksum::kNone : net::TxChecksum::kSoftware;
}
}  // namespace

PortIo::PortIo(dpdk::Port& port, uint16_t queue, Neighbours& neighbours, net::Interface me, const TestingConfig& testing)
    : port_(port), queue_(queue), me_(me), tx_checksum_(checksum_mode(port.info())),
      rx_udp_unchecked_(port.info().udp_checksum_skipped), arp_(neighbours), faults_(testing),
      zero_copy_(port.info().driver == "net_memif" && tx_checksum_ == net::TxChecksum::kNone && !faults_.active()) {
  fault_out_.reserve(4 * kBurst);
  external_.free_cb = [](void*, void*) {};
  rte_mbuf_ext_refcnt_set(&external_, 1);
}

PortIo::~PortIo() {
  for (uint16_t i = 0; i < tx_count_; ++i) rte_pktmbuf_free(tx_[i]);
}

rte_mbuf* PortIo::alloc_st() {
  rte_mbuf* m = rte_pktmbuf_alloc(port_.pool());
  if (m == nullptr) [[unlikely]] add(counters_.no_mbuf);
  return m;
}

void PortIo::announce_st() {
  rte_mbuf* m = alloc_st();
  if (m == nullptr) return;
  auto* data = rte_pktmbuf_mtod(m, uint8_t*);
  m->data_len = m->pkt_len = net::build_gratuitous_arp(data, me_.mac, me_.ip);
  queue_tx_st(m);
  flush_tx_st();
}

void PortIo::send_arp_request_st(Ipv4Address ip) {
  rte_mbuf* m = alloc_st();
  if (m == nullptr) return;
  m->data_len = m->pkt_len = net::build_arp_request(rte_pktmbuf_mtod(m, uint8_t*), me_.mac, me_.ip, ip);
  add(counters_.arp_requests_sent);
  queue_tx_st(m);
}

std::optional<MacAddress> PortIo::resolve_st(Ipv4Address ip, uint64_t now_us) {
  if (auto mac = arp_.lookup(ip)) return mac;
  if (arp_.resolve(ip, now_us)) send_arp_request_st(ip);
  return std::nullopt;
}

void PortIo::arp_tick_st(uint64_t now_us) {
  arp_retry_.clear();
  arp_failed_.clear();
  arp_.on_timer(now_us, arp_retry_, arp_failed_);
  for (auto ip : arp_retry_) send_arp_request_st(ip);
  for (auto ip : arp_failed_)
    if (sink_) sink_->on_arp_failed_st(ip);
}

admin::ArpSnapshot PortIo::arp_snapshot_st(uint64_t now_us) const {
  admin::ArpSnapshot out;
  for (const auto& e : arp_.entries(now_us)) {
    if (e.mac) out.entries.push_back({e.ip.to_string(), e.mac->to_string(), e.age_us / 1000});
    else out.pending.push_back({e.ip.to_string(), e.age_us / 1000});
  }
  return out;
}

namespace {
// Asks for every cache line of a received frame. Issued for the next frame while this one
// is handled, so that frame's checksum pass and copy into the channel do not stall on a
// miss at each line (a NIC's DMA leaves the frame in memory, not in this core's cache).
// Into L2, not L1: the frame being copied keeps L1 (engine_bench: faster with T1 than T0).
inline void prefetch_frame(const rte_mbuf* m) {
  const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
  for (uint32_t off = 0; off < m->data_len; off += RTE_CACHE_LINE_SIZE) rte_prefetch1(p + off);
}
}  // namespace

bool PortIo::poll_st(uint64_t now_us) {
  now_us_ = now_us;
  if (faults_.active() && faults_.holding()) {
    fault_out_.clear();
    faults_.due(fault_out_, now_us);  // already through the injector: straight out
    if (!fault_out_.empty()) transmit_now_st(fault_out_.data(), static_cast<uint16_t>(fault_out_.size()));
  }
  std::array<rte_mbuf*, kBurst> rx;
  const uint16_t n = port_.rx_burst_st(queue_, rx.data(), kBurst);
  if (n > 0) add(counters_.rx_frames, n);
  uint64_t bytes = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (i + 1 < n) prefetch_frame(rx[i + 1]);
    bytes += rx[i]->pkt_len;
    if (faults_.active() && faults_.drop_rx()) {
      rte_pktmbuf_free(rx[i]);
      continue;
    }
    handle_frame_st(rx[i], now_us, false);
  }
  if (bytes) add(counters_.rx_bytes, bytes);
  return n > 0;
}

void PortIo::handle_steered_st(rte_mbuf* m, uint64_t now_us) { handle_frame_st(m, now_us, true); }

void PortIo::handle_frame_st(rte_mbuf* m, uint64_t now_us, bool steered) {
  // Frames we parse must be whole in the first segment; a chained frame is too long for us.
  if (m->nb_segs != 1) [[unlikely]] {
    add(counters_.drops[static_cast<size_t>(net::DropReason::kChainedFrame)]);
    rte_pktmbuf_free(m);
    return;
  }
  auto* data = rte_pktmbuf_mtod(m, uint8_t*);
  net::RxOffloads offloads;
  offloads.ip_checksum_good = (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD;
  offloads.l4_checksum_good = rx_udp_unchecked_ || (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD;
  const net::ParsedFrame frame = net::parse_frame(data, m->data_len, me_, offloads);
  switch (frame.kind) {
    case net::FrameKind::kArp: {
      // A request for our address (the parser drops the others) means the sender is about
      // to talk to us: learn it. A reply only answers a question we asked, or refreshes a
      // neighbour we know; an unsolicited one plants nothing.
      const bool completed = arp_.learn(frame.arp.sender_ip, frame.arp.sender_mac, now_us, frame.arp.opcode == 1);
      if (completed && sink_) sink_->on_arp_resolved_st(frame.arp.sender_ip, frame.arp.sender_mac);
      if (frame.arp.opcode == 1) {
        m->data_len = m->pkt_len =
            net::build_arp_reply(data, me_.mac, me_.ip, frame.arp.sender_mac, frame.arp.sender_ip);
        m->ol_flags = 0;
        add(counters_.arp_requests_answered);
        queue_tx_st(m);
        return;
      }
      add(counters_.arp_replies_learned);
      break;
    }
    case net::FrameKind::kIcmpEcho:
      net::make_icmp_echo_reply(data, frame.l3_offset, me_.mac);
      m->ol_flags = 0;
      add(counters_.icmp_echo_answered);
      queue_tx_st(m);
      return;
    case net::FrameKind::kMachnet:
      if (sink_ && sink_->on_machnet_st(m, frame.machnet, steered)) return;  // kept
      break;
    case net::FrameKind::kDrop:
      add(counters_.drops[static_cast<size_t>(frame.drop)]);
      break;
  }
  rte_pktmbuf_free(m);
}

// An IPv4 frame addressed to our own address: it must not go out on the wire.
bool PortIo::to_self(const rte_mbuf* m) const {
  const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
  if (m->data_len < net::kEthernetHeaderSize + net::kIpv4HeaderSize || d[12] != 0x08 || d[13] != 0x00) return false;
  const uint32_t dst = uint32_t{d[30]} << 24 | uint32_t{d[31]} << 16 | uint32_t{d[32]} << 8 | d[33];
  return dst == me_.ip.value;
}

void PortIo::finish_machnet_frame(rte_mbuf* m, uint32_t payload_len, uint16_t payload_sum) {
  m->data_len = m->pkt_len = static_cast<uint32_t>(net::kFrameOverhead + payload_len);
  if (tx_checksum_ == net::TxChecksum::kOffload) {
    m->l2_len = net::kEthernetHeaderSize;
    m->l3_len = net::kIpv4HeaderSize;
    m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM;
  } else {
    m->ol_flags = 0;
    if (tx_checksum_ == net::TxChecksum::kSoftware) net::finish_udp_checksum(rte_pktmbuf_mtod(m, uint8_t*), payload_sum);
  }
}

bool PortIo::append_external_st(rte_mbuf* head, rte_mbuf*& tail, uint8_t* data, uint16_t len) {
  rte_mbuf* seg = alloc_st();
  if (seg == nullptr) [[unlikely]] return false;
  rte_mbuf_ext_refcnt_update(&external_, 1);
  // The driver reads by virtual address only: no IOVA is needed (RTE_BAD_IOVA).
  rte_pktmbuf_attach_extbuf(seg, data, RTE_BAD_IOVA, len, &external_);
  seg->data_len = len;
  tail->next = seg;
  tail = seg;
  ++head->nb_segs;
  head->pkt_len += len;
  return true;
}

void PortIo::queue_tx_st(rte_mbuf* m) {
  if (to_self(m)) [[unlikely]] {
    m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
    if (sink_) sink_->on_loopback_st(m);
    else rte_pktmbuf_free(m);
    return;
  }
  if (tx_count_ == kBurst) flush_tx_st();
  tx_[tx_count_++] = m;
}

void PortIo::flush_tx_st() {
  if (tx_count_ == 0) return;
  const uint16_t n = tx_count_;
  tx_count_ = 0;
  if (faults_.active()) {
    fault_out_.clear();
    faults_.on_tx(tx_.data(), n, fault_out_, now_us_);
    if (!fault_out_.empty()) transmit_now_st(fault_out_.data(), static_cast<uint16_t>(fault_out_.size()));
    return;
  }
  transmit_now_st(tx_.data(), n);
}

void PortIo::transmit_now_st(rte_mbuf** frames, uint16_t count) {
  uint64_t bytes = 0;  // counted before the PMD owns (and may free) the frames
  for (uint16_t i = 0; i < count; ++i) bytes += frames[i]->pkt_len;
  uint16_t sent = 0;
  // A full TX queue usually drains within a few tries; beyond that, drop (the transport
  // retransmits) rather than stall the loop.
  for (int tries = 0; sent < count && tries < 4; ++tries) sent += port_.tx_burst_st(queue_, frames + sent, count - sent);
  if (sent < count) {
    add(counters_.tx_full, count - sent);
    for (uint16_t i = sent; i < count; ++i) {
      bytes -= frames[i]->pkt_len;
      rte_pktmbuf_free(frames[i]);
    }
  }
  add(counters_.tx_frames, sent);
  add(counters_.tx_bytes, bytes);
}

admin::PortCounters PortIo::stats() const {
  auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  admin::PortCounters out;
  out.rx_frames = get(counters_.rx_frames);
  out.rx_bytes = get(counters_.rx_bytes);
  out.tx_frames = get(counters_.tx_frames);
  out.tx_bytes = get(counters_.tx_bytes);
  out.tx_full = get(counters_.tx_full);
  out.tx_zero_copy = get(counters_.tx_zero_copy);
  out.no_mbuf = get(counters_.no_mbuf);
  out.arp_requests_answered = get(counters_.arp_requests_answered);
  out.arp_requests_sent = get(counters_.arp_requests_sent);
  out.arp_replies_learned = get(counters_.arp_replies_learned);
  out.icmp_echo_answered = get(counters_.icmp_echo_answered);
  for (size_t i = 0; i < counters_.drops.size(); ++i)
    out.drops[std::string(net::kDropReasonNames[i])] = get(counters_.drops[i]);
  if (faults_.active()) out.faults = faults_.counters();
  return out;
}

uint32_t PortIo::held_buffer_share(uint32_t percent) const {
  const uint64_t pool = port_.pool() ? port_.pool()->size : 0;
  return static_cast<uint32_t>(pool * percent / 100 / std::max<uint16_t>(port_.info().queues, 1));
}

}  // namespace machnet::engine
