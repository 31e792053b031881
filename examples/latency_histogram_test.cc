// LatencyHistogram's promise: every reported percentile is within 1 % of the exact
// percentile of the recorded samples (nearest-rank definition), on distributions shaped like
// real latencies, plus the bucket arithmetic it rests on.
#include "latency_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace {

using machnet::bench::LatencyHistogram;

// The nearest-rank percentile of sorted samples: the definition the histogram implements.
uint64_t exact_percentile(const std::vector<uint64_t>& sorted, double q) {
  const double wanted = std::ceil(q / 100.0 * static_cast<double>(sorted.size()));
  const size_t rank = std::clamp<size_t>(static_cast<size_t>(wanted), 1, sorted.size());
  return sorted[rank - 1];
}

void expect_within_one_percent(std::vector<uint64_t> samples) {
  LatencyHistogram h;
  for (uint64_t v : samples) h.record(v);
  std::sort(samples.begin(), samples.end());
  ASSERT_EQ(h.count(), samples.size());
  EXPECT_EQ(h.min(), samples.front());
  EXPECT_EQ(h.max(), samples.back());
  for (double q : {1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const double exact = static_cast<double>(exact_percentile(samples, q));
    const double got = static_cast<double>(h.percentile(q));
    EXPECT_LE(std::abs(got - exact), 0.01 * exact) << "q=" << q << " exact=" << exact << " got=" << got;
  }
}

TEST(LatencyHistogram, BucketsTileTheRangeWithBoundedWidth) {
  // Consecutive buckets touch, and no bucket is wider than 1/128 of its lower bound.
  for (size_t i = 1; i < LatencyHistogram::kBuckets; ++i) {
    EXPECT_EQ(LatencyHistogram::bucket_lowest(i),
              LatencyHistogram::bucket_lowest(i - 1) + LatencyHistogram::bucket_width(i - 1))
        << i;
    if (i >= 2 * LatencyHistogram::kSubCount) {
      EXPECT_LE(LatencyHistogram::bucket_width(i) * LatencyHistogram::kSubCount, LatencyHistogram::bucket_lowest(i));
    }
  }
  EXPECT_EQ(LatencyHistogram::bucket_index(UINT64_MAX), LatencyHistogram::kBuckets - 1);
  for (uint64_t v : {0ull, 1ull, 255ull, 256ull, 257ull, 1000ull, 123456789ull, 1ull << 40}) {
    const size_t i = LatencyHistogram::bucket_index(v);
    EXPECT_LE(LatencyHistogram::bucket_lowest(i), v);
    EXPECT_LT(v - LatencyHistogram::bucket_lowest(i), LatencyHistogram::bucket_width(i));
  }
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 200; ++v) h.record(v);
  EXPECT_EQ(h.percentile(50), 100u);
  EXPECT_EQ(h.percentile(99), 198u);
  EXPECT_EQ(h.percentile(100), 200u);
  EXPECT_DOUBLE_EQ(h.mean(), 100.5);
}

TEST(LatencyHistogram, UniformWithinOnePercent) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<uint64_t> d(1'000, 2'000'000);
  std::vector<uint64_t> s(200'000);
  for (auto& v : s) v = d(rng);
  expect_within_one_percent(std::move(s));
}

TEST(LatencyHistogram, ExponentialTailWithinOnePercent) {
  // A 5 µs floor plus an exponential tail of mean 20 µs: the shape of an RTT distribution.
  std::mt19937_64 rng(2);
  std::exponential_distribution<double> d(1.0 / 20'000.0);
  std::vector<uint64_t> s(200'000);
  for (auto& v : s) v = 5'000 + static_cast<uint64_t>(d(rng));
  expect_within_one_percent(std::move(s));
}

TEST(LatencyHistogram, LogNormalSpanningDecadesWithinOnePercent) {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> d(std::log(50'000.0), 2.0);
  std::vector<uint64_t> s(200'000);
  for (auto& v : s) v = static_cast<uint64_t>(d(rng));
  expect_within_one_percent(std::move(s));
}

TEST(LatencyHistogram, MergeEqualsRecordingEverything) {
  LatencyHistogram a, b, all;
  for (uint64_t v = 0; v < 10'000; ++v) {
    (v % 3 ? a : b).record(v * 37);
    all.record(v * 37);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  for (double q : {50.0, 99.0, 99.9}) EXPECT_EQ(a.percentile(q), all.percentile(q));
  a.reset();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.percentile(50), 0u);
}

}  // namespace
