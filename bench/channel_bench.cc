// Google Benchmark for the channel path:
//  - BM_RingBurst: enqueue + dequeue of a burst on one SPSC ring (one thread: the ring's own
//    cost, no cache-line transfer between cores);
//  - BM_RingTwoThreads: a producer thread and the benchmark thread as consumer, items/s;
//  - BM_LocalPingPong: request-reply through a running machnetd (MACHNET_SOCKET), two
//    channels in this process, one message each way per iteration; skipped without a daemon.
// Results and the exact commands: docs/PERFORMANCE.md.
#include <benchmark/benchmark.h>
#include <machnet.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "channel/spsc_ring.h"

namespace ch = machnet::channel;

namespace {

struct RingMemory {
  explicit RingMemory(uint32_t slots) : bytes(ch::ring_bytes(slots) + ch::kCacheLine) {
    base = reinterpret_cast<uint8_t*>(ch::align_up(reinterpret_cast<uintptr_t>(bytes.data()), ch::kCacheLine));
    ch::ring_format(base);
  }
  std::vector<uint8_t> bytes;
  uint8_t* base;
};

void BM_RingBurst(benchmark::State& state) {
  const uint32_t burst = static_cast<uint32_t>(state.range(0));
  RingMemory m(1024);
  ch::RingProducer p(m.base, 1024, 0);
  ch::RingConsumer c(m.base, 1024, 0);
  std::vector<uint32_t> in(burst, 7), out(burst);
  for (auto _ : state) {
    p.enqueue_burst(in.data(), burst);
    benchmark::DoNotOptimize(c.dequeue_burst(out.data(), burst));
  }
  state.SetItemsProcessed(state.iterations() * burst);
}
BENCHMARK(BM_RingBurst)->Arg(1)->Arg(8)->Arg(32)->Arg(128);

void BM_RingTwoThreads(benchmark::State& state) {
  const uint32_t burst = static_cast<uint32_t>(state.range(0));
  RingMemory m(1024);
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    ch::RingProducer p(m.base, 1024, 0);
    std::vector<uint32_t> in(burst, 1);
    while (!stop.load(std::memory_order_relaxed)) p.enqueue_burst(in.data(), burst);
  });
  ch::RingConsumer c(m.base, 1024, 0);
  std::vector<uint32_t> out(burst);
  // One iteration = `burst` items moved from the other thread to this one.
  for (auto _ : state) {
    for (uint32_t got = 0; got < burst;) got += c.dequeue_burst(out.data() + got, burst - got);
  }
  stop = true;
  producer.join();
  state.SetItemsProcessed(state.iterations() * burst);
}
BENCHMARK(BM_RingTwoThreads)->Arg(1)->Arg(32)->UseRealTime();

void BM_LocalPingPong(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  if (machnet_init() != 0) {
    state.SkipWithError("no machnetd (set MACHNET_SOCKET)");
    return;
  }
  void* server = machnet_attach();
  void* client = machnet_attach();
  const uint16_t port = 9000;
  MachnetFlow_t flow;
  if (!server || !client || machnet_listen(server, "127.0.0.1", port) != 0 ||
      machnet_connect(client, "127.0.0.1", "127.0.0.1", port, &flow) != 0) {
    state.SkipWithError(machnet_last_error());
    return;
  }
  std::vector<char> buf(size, 'x'), rx(size + 16);
  for (auto _ : state) {
    while (machnet_send(client, flow, buf.data(), size) != 0) {
    }
    MachnetFlow_t got;
    while (machnet_recv(server, rx.data(), rx.size(), &got) <= 0) {
    }
    const MachnetFlow_t reply{got.dst_ip, got.src_ip, got.dst_port, got.src_port};
    while (machnet_send(server, reply, rx.data(), size) != 0) {
    }
    while (machnet_recv(client, rx.data(), rx.size(), &got) <= 0) {
    }
  }
  state.SetItemsProcessed(state.iterations());  // round trips
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(size) * 2);
  machnet_detach(client);
  machnet_detach(server);
}
BENCHMARK(BM_LocalPingPong)->Arg(64)->Arg(4096)->Arg(65536)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
