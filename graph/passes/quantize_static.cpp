// Static INT8 quantization (quantize.h): calibration of activation ranges by running the float
// model on the CPU reference executor over input sets, and the QDQ rewrite with those ranges
// (the rewrite itself is quantize_dynamic.cpp's, given the ranges).
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "graph/passes/quantize.h"
#include "runtime/cpu/executor.h"

namespace kiln::passes {

namespace detail {
Status quantize_graph(ir::Graph& g, const QuantizeOptions& o,
                      const std::map<std::string, TensorRange>* ranges, QuantizeReport* report);
std::string candidate(const ir::Node* n, const QuantizeOptions& o, ir::Value** x);
}  // namespace detail

namespace {

// Values of one activation over all runs: min / max, and the values themselves for percentiles.
struct Stats {
  bool seen = false;
  float min = 0, max = 0;
  std::vector<float> values;
};

// The most values kept per tensor for percentiles; beyond that every k-th value is kept.
constexpr int64_t kMaxKept = int64_t{1} << 22;

void observe(const Tensor& t, bool keep_values, Stats* s) {
  if (t.dtype() != DType::kFloat32) return;
  const float* d = t.data<float>();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    const float v = d[i];
    if (!std::isfinite(v)) continue;
    if (!s->seen) {
      s->min = s->max = v;
      s->seen = true;
    }
    s->min = std::min(s->min, v);
    s->max = std::max(s->max, v);
  }
  if (!keep_values) return;
  const int64_t step = std::max<int64_t>(1, n / kMaxKept);
  for (int64_t i = 0; i < n; i += step)
    if (std::isfinite(d[i])) s->values.push_back(d[i]);
}

// The p-th percentile (0..100) of v (nearest rank on the sorted values; v is reordered).
float percentile_of(std::vector<float>& v, double p) {
  if (v.empty()) return 0;
  const double pos = p / 100.0 * static_cast<double>(v.size() - 1);
  const size_t k = static_cast<size_t>(std::llround(pos));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

Expected<std::map<std::string, TensorRange>> calibrate(
    const ir::Graph& g, const QuantizeOptions& options,
    const std::vector<std::map<std::string, Tensor>>& input_sets, CalibrationMethod method,
    double percentile, int threads) {
  if (input_sets.empty()) return invalid_argument("calibration needs at least one input set");
  if (method == CalibrationMethod::kPercentile && !(percentile > 50 && percentile <= 100))
    return invalid_argument("the calibration percentile must be in (50, 100], got " +
                            std::to_string(percentile));
  // The activations to observe.
  std::set<std::string> wanted;
  for (ir::Node* n : g.nodes()) {
    ir::Value* x = nullptr;
    if (detail::candidate(n, options, &x).empty() && x) wanted.insert(x->name());
  }
  std::map<std::string, Stats> stats;
  const bool keep = method == CalibrationMethod::kPercentile;
  cpu::Executor ex(g, threads);
  KILN_RETURN_IF_ERROR(ex.prepare());
  for (size_t i = 0; i < input_sets.size(); ++i) {
    for (const auto& [name, t] : input_sets[i])
      if (wanted.count(name)) observe(t, keep, &stats[name]);
    auto out = ex.run(input_sets[i], [&](const ir::Node& n, const std::vector<Tensor>& outs) {
      for (size_t k = 0; k < outs.size() && k < n.outputs().size(); ++k) {
        const ir::Value* v = n.outputs()[k];
        if (v && outs[k].defined() && wanted.count(v->name()))
          observe(outs[k], keep, &stats[v->name()]);
      }
    });
    if (!out) return out.status().with_context("calibration input set " + std::to_string(i));
  }
  std::map<std::string, TensorRange> ranges;
  for (auto& [name, s] : stats) {
    if (!s.seen) continue;
    TensorRange r{s.min, s.max};
    if (keep) {
      r.max = percentile_of(s.values, percentile);
      r.min = percentile_of(s.values, 100.0 - percentile);
    }
    ranges[name] = r;
  }
  return ranges;
}

Status quantize_static(ir::Graph& g, const QuantizeOptions& options,
                       const std::map<std::string, TensorRange>& ranges, QuantizeReport* report) {
  QuantizeOptions o = options;
  o.format = QuantFormat::kQDQ;
  return detail::quantize_graph(g, o, &ranges, report);
}

}  // namespace kiln::passes
