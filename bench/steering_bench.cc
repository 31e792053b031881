// The cost of handing a frame from one engine to another through a steering ring
// (engine/steering.h): one burst of 32 in, one burst out, per frame. Two variants: both
// ends on one thread (the ring operations alone) and producer and consumer on two threads
// (adds the cache-line transfers a real hand-over pays). Frames are never dereferenced.
#include <benchmark/benchmark.h>

#include <atomic>
#include <thread>

#include "engine/steering.h"

namespace {

using machnet::engine::Steering;

rte_mbuf* fake(uintptr_t n) { return reinterpret_cast<rte_mbuf*>((n + 1) << 6); }

void BM_SteerBurstOneThread(benchmark::State& state) {
  auto s = Steering::create(2).value();
  rte_mbuf* in[32];
  rte_mbuf* out[32];
  for (int i = 0; i < 32; ++i) in[i] = fake(i);
  for (auto _ : state) {
    s->send(0, 1, in, 32);
    benchmark::DoNotOptimize(s->receive(1, out, 32));
  }
  state.SetItemsProcessed(state.iterations() * 32);
}
BENCHMARK(BM_SteerBurstOneThread);

void BM_SteerBurstTwoThreads(benchmark::State& state) {
  auto s = Steering::create(2).value();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> received{0};
  std::thread consumer([&] {
    rte_mbuf* out[32];
    uint64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) n += s->receive(1, out, 32);
    received = n;
  });
  rte_mbuf* in[32];
  for (int i = 0; i < 32; ++i) in[i] = fake(i);
  uint64_t sent = 0;
  for (auto _ : state) {
    uint32_t k = 0;
    while (k < 32) k += s->send(0, 1, in + k, 32 - k);
    sent += 32;
  }
  stop = true;
  consumer.join();
  rte_mbuf* rest[32];
  while (s->receive(1, rest, 32) > 0) {
  }  // the fakes must not reach rte_pktmbuf_free in ~Steering
  state.SetItemsProcessed(static_cast<int64_t>(sent));
}
BENCHMARK(BM_SteerBurstTwoThreads)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
