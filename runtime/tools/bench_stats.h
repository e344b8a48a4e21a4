// Summary statistics of benchmark latencies for `kiln bench`: mean, standard deviation and
// percentiles of a list of samples (milliseconds, but any unit works).
//
// Percentiles use linear interpolation between the closest ranks (numpy's default, "type 7"):
// for p in [0, 100] and n sorted samples x[0..n), h = (n - 1) * p / 100 and the result is
// x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)]). So p0 is the minimum, p100
// the maximum and p50 the median (the mean of the two middle samples for an even count).
// The standard deviation is the sample one (divisor n - 1, Bessel's correction); 0 for n = 1.
#pragma once

#include <vector>

namespace kiln::tools {

struct LatencyStats {
  int count = 0;
  double mean = 0, std = 0, min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
};

// The p-th percentile (p in [0, 100], clamped) of `sorted` (ascending) by linear interpolation;
// 0 for an empty list.
double percentile_sorted(const std::vector<double>& sorted, double p);

// Statistics of `samples` (any order). All fields are 0 for an empty list.
LatencyStats summarize(std::vector<double> samples);

}  // namespace kiln::tools
