#include "engine_rig.h"

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <spdlog/spdlog.h>

#include "channel/channel_layout.h"
#include "net/wire_format.h"

namespace machnet::bench {
namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "engine_bench: %s\n", why.c_str());
  std::exit(1);
}

// Ring sizes: the RX ring holds a whole pre-built batch, the TX ring a whole window of
// segments plus ACKs between two drains.
constexpr unsigned kRingSlots = 8192;
// mbufs: an RX batch in the ring, the engine's transmissions, the per-core cache.
constexpr uint32_t kPoolMbufs = 32768;

const MacAddress kEngineMac{{0x02, 0, 0, 0, 0, 0x01}};
const MacAddress kPeerMac{{0x02, 0, 0, 0, 0, 0x02}};

// The EAL as the daemon starts it without hugepages (dpdk/eal.cc), minus PCI, with a file
// prefix of its own. The main lcore may run on either CPU (the bench shares a 2-core
// machine and must not be pinned behind a compiler).
void init_eal() {
  const std::string prefix = "engine_bench_" + std::to_string(getpid());
  const char* args[] = {"engine_bench", "--no-huge", "--no-pci", "--no-shconf", "--file-prefix", prefix.c_str(),
                        "-m", "512", "--lcores", "0@(0-1)", "--log-level", "*:error"};
  int argc = sizeof(args) / sizeof(args[0]);
  if (rte_eal_init(argc, const_cast<char**>(args)) < 0) die("rte_eal_init failed (see DPDK's messages above)");
}

net::MachnetHeader decode(const rte_mbuf* m) {
  return net::decode_machnet_header(rte_pktmbuf_mtod(m, const uint8_t*) + net::kEthernetHeaderSize +
                                    net::kIpv4HeaderSize + net::kUdpHeaderSize);
}

}  // namespace

EngineRig& EngineRig::get() {
  // Never destroyed: DPDK's state outlives main, and tearing the port down under a
  // stopped engine at exit only adds noise.
  static EngineRig* rig = new EngineRig();
  return *rig;
}

EngineRig::EngineRig() {
  init_eal();
  rx_ = rte_ring_create("bench_rx", kRingSlots, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  tx_ = rte_ring_create("bench_tx", kRingSlots, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (!rx_ || !tx_) die("cannot create the port's rings");
  if (rte_eth_from_rings("net_ring_bench", &rx_, 1, &tx_, 1, SOCKET_ID_ANY) < 0) die("rte_eth_from_rings failed");
  // The daemon's own port code, as [nic] mode = "vdev" opens a port. Its log lines (the
  // ring PMD keeps its own MAC, all zeros, which the parser accepts like any other) would
  // only clutter the benchmark's table.
  spdlog::set_level(spdlog::level::err);
  auto port = dpdk::Port::open_single(1500, 0, kPoolMbufs, kEngineMac, 1, nullptr, 0, UdpChecksum::kAlways);
  if (!port) die("Port::open_single: " + port.error().message);
  port_ = std::move(port.value());
  io_ = std::make_unique<engine::PortIo>(*port_, 0, neighbours_, net::Interface{port_->info().mac, Ipv4Address{kIp}},
                                         testing_);
  engine_ = std::make_unique<engine::Engine>(0, -1, shared_, config_, TransportConfig{}, 8u << 20, kIp);
  engine_->attach_port(io_.get());

  channel::ChannelParams params;  // the shipped geometry: 4 KiB buffers, 4096 of them
  auto mem = shm::ChannelMemory::create(1, params, false);
  if (!mem) die("channel memory: " + mem.error().message);
  mem_ = std::move(mem.value());
  const auto& g = mem_.geometry();
  ch_ = std::make_unique<engine::EngineChannel>(1, mem_.base(), g, -1 /* no doorbell */);
  to_app_ = std::make_unique<channel::RingConsumer>(ch_->view.ring(g.to_app), g.to_app.slots, 0);
  daemon_free_ = std::make_unique<channel::RingProducer>(ch_->view.ring(g.daemon_free), g.daemon_free.slots, 0);
  to_daemon_ = std::make_unique<channel::RingProducer>(ch_->view.ring(g.to_daemon), g.to_daemon.slots, 0);
  // The engine's app_free producer starts full (every app-pool buffer is the app's).
  app_free_ = std::make_unique<channel::RingConsumer>(ch_->view.ring(g.app_free), g.app_free.slots, 0);
  scratch_.resize(std::max(g.max_chain, g.daemon_pool_count));

  engine::Command add{.kind = engine::Command::Kind::kAddChannel, .channel = ch_.get()};
  engine_->execute(add);
  engine::Command listen{.kind = engine::Command::Kind::kListen, .channel = ch_.get(), .local_ip = kIp,
                         .local_port = kListenPort};
  engine_->execute(listen);
  if (listen.error) die("listen: " + listen.reason);
  // The peer is a known neighbour, as after its first packet.
  io_->learn_st(Ipv4Address{kPeerIp}, kPeerMac, now_us());
}

// The engine's clock while its thread is not started (engine.cc: the steady clock).
uint64_t EngineRig::now_us() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void EngineRig::write_frame(const PeerFlow& f, rte_mbuf* m, const net::MachnetHeader& h, uint32_t payload, bool offload) {
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  net::write_machnet_headers(frame, f.addr, h, payload, net::TxChecksum::kSoftware);
  std::memset(frame + net::kFrameOverhead, 0x5a, payload);
  net::finish_udp_checksum(frame);
  m->data_len = m->pkt_len = static_cast<uint32_t>(net::kFrameOverhead + payload);
  // A NIC with receive checksum offload says so in the flags; the ring PMD (like memif and
  // af_packet) says nothing and the parser sums in software.
  m->ol_flags = offload ? RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD : 0;
}

PeerFlow EngineRig::connect() {
  PeerFlow f;
  f.addr = {kPeerMac, port_->info().mac, Ipv4Address{kPeerIp}, Ipv4Address{kIp}, next_peer_port_++, kListenPort};
  f.conn_id = next_conn_id_++;
  f.next_seq = 1000;
  f.key = {kIp, kPeerIp, kListenPort, f.addr.src_port};
  net::MachnetHeader syn;
  syn.flags = net::kFlagSyn;
  syn.conn_id = f.conn_id;
  syn.seq = f.next_seq;  // a SYN takes no sequence number: the first data carries it
  syn.tsval = static_cast<uint32_t>(now_us());
  syn.window = net::kSackBits;
  rte_mbuf* m = rte_pktmbuf_alloc(port_->pool());
  write_frame(f, m, syn, 0, false);
  inject(&m, 1);
  engine_->poll_once_st();
  // The SYN-ACK carries the engine's initial sequence number, which is what it expects
  // acknowledged next (its SYN-ACK takes none either).
  uint16_t port = 0;
  const net::MachnetHeader h = take_control(net::kFlagSynAck, &port);
  if (port != kListenPort) die("no SYN-ACK from the engine");
  f.ack = h.seq;
  return f;
}

PeerFlow EngineRig::connect_out() {
  PeerFlow f;
  // The engine's connect completes when the SYN-ACK arrives (on the poll below).
  auto cmd = std::make_unique<engine::Command>();
  cmd->kind = engine::Command::Kind::kConnect;
  cmd->channel = ch_.get();
  cmd->local_ip = kIp;
  cmd->remote_ip = kPeerIp;
  cmd->remote_port = next_peer_port_++;
  engine_->execute(*cmd);
  engine_->poll_once_st();  // the SYN leaves
  uint16_t engine_port = 0;
  const net::MachnetHeader syn = take_control(net::kFlagSyn, &engine_port);
  if (engine_port == 0) die("no SYN from the engine: " + cmd->reason);
  f.addr = {kPeerMac, port_->info().mac, Ipv4Address{kPeerIp}, Ipv4Address{kIp}, cmd->remote_port, engine_port};
  f.conn_id = syn.conn_id;
  f.next_seq = 5000;
  f.ack = syn.seq;
  f.key = {kIp, kPeerIp, engine_port, cmd->remote_port};
  net::MachnetHeader sa;
  sa.flags = net::kFlagSynAck | net::kFlagAck;
  sa.conn_id = f.conn_id;
  sa.seq = f.next_seq;
  sa.ack = f.ack;
  sa.tsval = static_cast<uint32_t>(now_us());
  sa.tsecr = syn.tsval;
  sa.window = net::kSackBits;
  rte_mbuf* m = rte_pktmbuf_alloc(port_->pool());
  write_frame(f, m, sa, 0, false);
  inject(&m, 1);
  engine_->poll_once_st();
  drain_tx(nullptr);  // its ACK
  if (cmd->done.load() == 0 || cmd->error) die("connect did not complete: " + cmd->reason);
  return f;
}

void EngineRig::build_data(PeerFlow& f, rte_mbuf** out, uint32_t n, uint32_t payload, uint32_t per_message,
                           bool offload) {
  if (rte_pktmbuf_alloc_bulk(port_->pool(), out, n) != 0) die("mbuf pool exhausted");
  const auto ts = static_cast<uint32_t>(now_us());
  for (uint32_t i = 0; i < n; ++i) {
    net::MachnetHeader h;
    const uint32_t k = f.msg_pos;  // place in its message
    f.msg_pos = k + 1 == per_message ? 0 : k + 1;
    h.flags = net::kFlagData | net::kFlagAck;
    if (k == 0) h.flags |= net::kFlagFirst;
    if (k + 1 == per_message) h.flags |= net::kFlagLast;
    h.conn_id = f.conn_id;
    h.seq = f.next_seq++;
    h.ack = f.ack;
    h.tsval = ts;
    h.window = net::kSackBits;
    h.msg_len = k == 0 ? payload * per_message : 0;  // a message length only on a first segment
    write_frame(f, out[i], h, payload, offload);
  }
}

rte_mbuf* EngineRig::build_ack(const PeerFlow& f) {
  rte_mbuf* m = rte_pktmbuf_alloc(port_->pool());
  if (m == nullptr) die("mbuf pool exhausted");
  net::MachnetHeader h;
  h.flags = net::kFlagAck;
  h.conn_id = f.conn_id;
  h.seq = f.next_seq;
  h.ack = f.ack;
  h.tsval = static_cast<uint32_t>(now_us());
  h.window = net::kSackBits;
  write_frame(f, m, h, 0, false);
  return m;
}

void EngineRig::inject(rte_mbuf** frames, uint32_t n) {
  if (rte_ring_enqueue_bulk(rx_, reinterpret_cast<void**>(frames), n, nullptr) != n) die("RX ring full");
}

net::MachnetHeader EngineRig::take_control(uint8_t flag, uint16_t* src_port) {
  net::MachnetHeader found{};
  rte_mbuf* out[256];
  unsigned n;
  // Everything the engine sent: flows of earlier runs may have sent frames too.
  while ((n = rte_ring_dequeue_burst(tx_, reinterpret_cast<void**>(out), 256, nullptr)) > 0) {
    for (unsigned i = 0; i < n; ++i) {
      const net::MachnetHeader h = decode(out[i]);
      if (!(h.flags & flag) || *src_port != 0) continue;
      found = h;
      const auto* d = rte_pktmbuf_mtod(out[i], const uint8_t*);
      *src_port = static_cast<uint16_t>(d[34] << 8 | d[35]);  // UDP source port
    }
    rte_pktmbuf_free_bulk(out, n);
  }
  return found;
}

EngineRig::Drained EngineRig::drain_tx(PeerFlow* f) {
  Drained d;
  rte_mbuf* out[256];
  unsigned n;
  while ((n = rte_ring_dequeue_burst(tx_, reinterpret_cast<void**>(out), 256, nullptr)) > 0) {
    d.frames += n;
    for (unsigned i = 0; i < n; ++i) {
      // The two fields the peer needs, read in place: decoding the whole header cost the
      // rig 14 % of BM_EngineTx/64's time.
      const auto* b = rte_pktmbuf_mtod(out[i], const uint8_t*);
      const uint8_t* mh = b + net::kEthernetHeaderSize + net::kIpv4HeaderSize + net::kUdpHeaderSize;
      if (!(mh[net::wire_offset::kFlags] & net::kFlagData)) continue;
      // Only f's own frames: flows of earlier runs may still send (timers, keepalives).
      if (f && static_cast<uint16_t>(b[34] << 8 | b[35]) != f->addr.dst_port) continue;
      ++d.data;
      const uint8_t* q = mh + net::wire_offset::kSeq;
      const uint32_t seq = uint32_t{q[0]} << 24 | uint32_t{q[1]} << 16 | uint32_t{q[2]} << 8 | q[3];
      if (f && static_cast<int32_t>(seq + 1 - f->ack) > 0) f->ack = seq + 1;
    }
    rte_pktmbuf_free_bulk(out, n);
  }
  return d;
}

uint32_t EngineRig::app_read() {
  const uint32_t n = to_app_->available();
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t k = 0;
    for (uint32_t b = to_app_->peek(i); b != channel::kNoBuffer; b = ch_->view.desc(b)->next) scratch_[k++] = b;
    daemon_free_->enqueue_burst(scratch_.data(), k);
  }
  to_app_->advance(n);
  return n;
}

uint32_t EngineRig::app_send(const PeerFlow& f, uint32_t len, uint32_t count) {
  const channel::ChannelView& v = ch_->view;
  const uint32_t bs = v.geometry().buffer_size;
  const uint32_t need = channel::buffers_for(len, bs);
  uint32_t sent = 0;
  for (; sent < count; ++sent) {
    if (app_free_->available(need) < need || to_daemon_->free_space(1) < 1) break;
    uint32_t idx[64];  // the bench's messages stay far below 64 buffers
    app_free_->dequeue_burst(idx, need);
    // channel::fill_chain without its copy: the application's copy into the channel is not
    // the engine's work, and the bytes the buffers already hold serve as well.
    for (uint32_t k = 0, left = len; k < need; ++k, left -= bs) {
      channel::BufferDesc* d = v.desc(idx[k]);
      d->len = std::min(left, bs);
      d->next = k + 1 < need ? idx[k + 1] : channel::kNoBuffer;
    }
    channel::BufferDesc* h = v.desc(idx[0]);
    h->msg_len = len;
    h->flags = 0;
    h->reserved = 0;
    h->src_ip = f.key.src_ip;
    h->dst_ip = f.key.dst_ip;
    h->src_port = f.key.src_port;
    h->dst_port = f.key.dst_port;
    to_daemon_->enqueue(idx[0]);
  }
  return sent;
}

admin::FlowRow EngineRig::row(const PeerFlow& f) {
  std::vector<admin::FlowRow> rows;
  engine::Command c{.kind = engine::Command::Kind::kFlows, .flows_out = &rows};
  engine_->execute(c);
  for (auto& r : rows)
    if (r.local_port == f.key.src_port && r.remote_port == f.key.dst_port) return r;
  return {};
}

}  // namespace machnet::bench
