// kiln::tools::summarize / percentile_sorted (the statistics `kiln bench` prints) on small lists
// whose mean, sample standard deviation and interpolated percentiles are computed by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "runtime/tools/bench_stats.h"

namespace kiln::tools {
namespace {

TEST(BenchStats, EmptyIsAllZero) {
  LatencyStats s = summarize({});
  EXPECT_EQ(s.count, 0);
  EXPECT_EQ(s.mean, 0);
  EXPECT_EQ(s.std, 0);
  EXPECT_EQ(s.min, 0);
  EXPECT_EQ(s.max, 0);
  EXPECT_EQ(s.p99, 0);
  EXPECT_EQ(percentile_sorted({}, 50), 0);
}

TEST(BenchStats, OneSample) {
  LatencyStats s = summarize({7.25});
  EXPECT_EQ(s.count, 1);
  EXPECT_DOUBLE_EQ(s.mean, 7.25);
  EXPECT_DOUBLE_EQ(s.std, 0);  // sample std of one value: defined as 0, not NaN
  EXPECT_DOUBLE_EQ(s.min, 7.25);
  EXPECT_DOUBLE_EQ(s.p50, 7.25);
  EXPECT_DOUBLE_EQ(s.p90, 7.25);
  EXPECT_DOUBLE_EQ(s.p99, 7.25);
  EXPECT_DOUBLE_EQ(s.max, 7.25);
}

TEST(BenchStats, OddCountUnsorted) {
  // Sorted: 1 3 5. mean 3; sample std sqrt((4 + 0 + 4) / 2) = 2.
  // p50: h = 1 -> 3; p90: h = 1.8 -> 3 + 0.8 * 2 = 4.6; p99: h = 1.98 -> 4.96.
  LatencyStats s = summarize({5, 1, 3});
  EXPECT_EQ(s.count, 3);
  EXPECT_DOUBLE_EQ(s.mean, 3);
  EXPECT_DOUBLE_EQ(s.std, 2);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.p50, 3);
  EXPECT_DOUBLE_EQ(s.p90, 4.6);
  EXPECT_DOUBLE_EQ(s.p99, 4.96);
  EXPECT_DOUBLE_EQ(s.max, 5);
}

TEST(BenchStats, EvenCountMedianIsMeanOfMiddlePair) {
  // 1 2 3 4: mean 2.5; sample std sqrt((2.25 + 0.25 + 0.25 + 2.25) / 3) = sqrt(5/3).
  // p50: h = 1.5 -> 2.5; p90: h = 2.7 -> 3.7; p99: h = 2.97 -> 3.97.
  LatencyStats s = summarize({4, 2, 1, 3});
  EXPECT_EQ(s.count, 4);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_NEAR(s.std, std::sqrt(5.0 / 3.0), 1e-12);
  EXPECT_DOUBLE_EQ(s.p50, 2.5);
  EXPECT_NEAR(s.p90, 3.7, 1e-12);
  EXPECT_NEAR(s.p99, 3.97, 1e-12);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 4);
}

TEST(BenchStats, TwoSamples) {
  // 10 20: mean 15, std sqrt(50) (sample), p50 15, p90 19, p99 19.9.
  LatencyStats s = summarize({20, 10});
  EXPECT_DOUBLE_EQ(s.mean, 15);
  EXPECT_NEAR(s.std, std::sqrt(50.0), 1e-12);
  EXPECT_DOUBLE_EQ(s.p50, 15);
  EXPECT_NEAR(s.p90, 19, 1e-12);
  EXPECT_NEAR(s.p99, 19.9, 1e-12);
}

TEST(BenchStats, OneToHundred) {
  // 1..100: h = 99 p / 100. p50: h = 49.5 -> 50.5; p90: h = 89.1 -> 90.1; p99: h = 98.01 -> 99.01.
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);
  LatencyStats s = summarize(v);
  EXPECT_EQ(s.count, 100);
  EXPECT_DOUBLE_EQ(s.mean, 50.5);
  // Sample variance of 1..n is n (n + 1) / 12 = 841.666...
  EXPECT_NEAR(s.std, std::sqrt(100.0 * 101.0 / 12.0), 1e-9);
  EXPECT_NEAR(s.p50, 50.5, 1e-12);
  EXPECT_NEAR(s.p90, 90.1, 1e-12);
  EXPECT_NEAR(s.p99, 99.01, 1e-12);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 100);
}

TEST(BenchStats, PercentileEndsAndClamping) {
  const std::vector<double> v = {10, 20, 30, 40, 50};
  EXPECT_DOUBLE_EQ(percentile_sorted(v, 0), 10);
  EXPECT_DOUBLE_EQ(percentile_sorted(v, 100), 50);
  EXPECT_DOUBLE_EQ(percentile_sorted(v, 25), 20);    // h = 1 exactly
  EXPECT_DOUBLE_EQ(percentile_sorted(v, 37.5), 25);  // h = 1.5
  EXPECT_DOUBLE_EQ(percentile_sorted(v, -5), 10);
  EXPECT_DOUBLE_EQ(percentile_sorted(v, 250), 50);
  EXPECT_DOUBLE_EQ(percentile_sorted(v, std::numeric_limits<double>::quiet_NaN()), 10);
}

TEST(BenchStats, EqualSamplesAndOrdering) {
  LatencyStats s = summarize({0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1});
  EXPECT_TRUE(std::isfinite(s.std));
  EXPECT_LT(s.std, 1e-15);
  EXPECT_GE(s.mean, s.min);  // never outside [min, max] through rounding
  EXPECT_LE(s.mean, s.max);
  EXPECT_DOUBLE_EQ(s.p99, 0.1);

  // Skewed data: one outlier pulls p99 and max but not p50.
  LatencyStats t = summarize({1, 1, 1, 1, 1, 1, 1, 1, 1, 101});
  EXPECT_DOUBLE_EQ(t.p50, 1);
  EXPECT_DOUBLE_EQ(t.mean, 11);
  EXPECT_NEAR(t.p90, 11, 1e-9);  // h = 8.1 -> 1 + 0.1 * 100
  EXPECT_NEAR(t.p99, 92, 1e-9);  // h = 8.91 -> 1 + 0.91 * 100
  EXPECT_LE(t.min, t.p50);
  EXPECT_LE(t.p50, t.p90);
  EXPECT_LE(t.p90, t.p99);
  EXPECT_LE(t.p99, t.max);
}

}  // namespace
}  // namespace kiln::tools
