// Summary statistics of benchmark latencies: see bench_stats.h for the definitions.
#include "runtime/tools/bench_stats.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace kiln::tools {

double percentile_sorted(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  if (!(p > 0)) return sorted.front();  // also NaN
  if (p >= 100) return sorted.back();
  const double h = static_cast<double>(sorted.size() - 1) * p / 100.0;
  const auto lo = static_cast<size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  const double frac = h - static_cast<double>(lo);
  return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

LatencyStats summarize(std::vector<double> samples) {
  LatencyStats s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  s.count = static_cast<int>(n);
  s.min = samples.front();
  s.max = samples.back();
  double sum = 0;
  for (double v : samples) sum += v;
  s.mean = sum / static_cast<double>(n);
  // Rounding can put the mean of nearly equal samples a hair outside [min, max].
  s.mean = std::clamp(s.mean, s.min, s.max);
  if (n > 1) {
    double ss = 0;  // two-pass: no cancellation from sum-of-squares
    for (double v : samples) ss += (v - s.mean) * (v - s.mean);
    s.std = std::sqrt(ss / static_cast<double>(n - 1));
  }
  s.p50 = percentile_sorted(samples, 50);
  s.p90 = percentile_sorted(samples, 90);
  s.p99 = percentile_sorted(samples, 99);
  return s;
}

}  // namespace kiln::tools
