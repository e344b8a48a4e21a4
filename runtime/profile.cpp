// Per-node profiles: work estimates, per-kernel summaries and Chrome traces (see profile.h).
#include "runtime/profile.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

namespace kiln {

namespace {

double numel_d(const Shape& s) {
  double n = 1;
  for (int64_t d : s) n *= static_cast<double>(d);
  return n;
}

int64_t int_attr(const ir::Node& n, const char* name, int64_t def) {
  const ir::Attribute* a = n.attr(name);
  return a && a->type == ir::AttrType::kInt ? a->i : def;
}

}  // namespace

double node_flops(const ir::Node& node, const std::vector<Shape>& in,
                  const std::vector<Shape>& out) {
  const std::string& op = node.op_type();
  if (out.empty()) return 0;
  const double out_n = numel_d(out[0]);
  if ((op == "MatMul" || op == "FusedMatMul" || op == "MatMulInteger" ||
       op == "MatMulIntegerToFloat" || op == "DynamicQuantizeMatMul" || op == "QLinearMatMul") &&
      !in.empty() && !in[0].empty()) {
    // out = [..., M, N], K from A's last dim (transA is rare enough to ignore here).
    const double k = static_cast<double>(in[0].back());
    return 2.0 * out_n * k;
  }
  if (op == "Gemm" && !in.empty() && in[0].size() == 2) {
    const double k = static_cast<double>(int_attr(node, "transA", 0) ? in[0][0] : in[0][1]);
    return 2.0 * out_n * k;
  }
  if ((op == "Conv" || op == "ConvInteger" || op == "QLinearConv" || op == "FusedConv") &&
      in.size() >= 2) {
    const Shape& w = in[op == "QLinearConv" ? 3 : 1];
    if (w.size() < 2) return 0;
    double per_out = 1;  // Cin/group * kernel spatial size
    for (size_t i = 1; i < w.size(); ++i) per_out *= static_cast<double>(w[i]);
    return 2.0 * out_n * per_out;
  }
  if (op == "ConvTranspose" && in.size() >= 2 && in[1].size() >= 2) {
    double per_in = 1;  // Cout/group * kernel spatial size, per input element
    for (size_t i = 1; i < in[1].size(); ++i) per_in *= static_cast<double>(in[1][i]);
    return 2.0 * numel_d(in[0]) * per_in;
  }
  if ((op == "Attention" || op == "MultiHeadAttention") && !in.empty() && in[0].size() == 3) {
    // Q·Kᵀ and P·V over the sequence (projections counted for Attention's packed weights).
    const double b = static_cast<double>(in[0][0]), s = static_cast<double>(in[0][1]);
    const double h = static_cast<double>(out[0].back());
    double f = 4.0 * b * s * s * h;
    if (op == "Attention" && in.size() >= 2 && in[1].size() == 2)
      f += 2.0 * b * s * static_cast<double>(in[1][0]) * static_cast<double>(in[1][1]);
    return f;
  }
  static const std::map<std::string, double> per_element = {{"Add", 1},
                                                            {"Sub", 1},
                                                            {"Mul", 1},
                                                            {"Div", 1},
                                                            {"Relu", 1},
                                                            {"Sigmoid", 4},
                                                            {"Tanh", 4},
                                                            {"Erf", 8},
                                                            {"Gelu", 10},
                                                            {"FastGelu", 10},
                                                            {"BiasGelu", 11},
                                                            {"Exp", 4},
                                                            {"Softmax", 5},
                                                            {"LogSoftmax", 5},
                                                            {"LayerNormalization", 8},
                                                            {"SkipLayerNormalization", 9},
                                                            {"SimplifiedLayerNormalization", 5},
                                                            {"Pow", 4},
                                                            {"Sqrt", 1},
                                                            {"Where", 1},
                                                            {"Clip", 2},
                                                            {"BatchNormalization", 2},
                                                            {"HardSwish", 4},
                                                            {"HardSigmoid", 3}};
  auto it = per_element.find(op);
  if (it != per_element.end()) return it->second * out_n;
  if (op.rfind("Reduce", 0) == 0 && !in.empty()) return numel_d(in[0]);
  if ((op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool") && !in.empty())
    return numel_d(in[0]);
  return 0;
}

ProfileEvent make_event(const ir::Node& node, const std::vector<const Tensor*>& inputs,
                        const std::vector<const Tensor*>& outputs, double start_us, double dur_us) {
  ProfileEvent e;
  e.node = node.name();
  e.op = node.domain().empty() ? node.op_type() : node.domain() + ":" + node.op_type();
  e.kernel = "cpu";
  e.track = "cpu";
  e.start_us = start_us;
  e.dur_us = dur_us;
  std::vector<Shape> in, out;
  for (const Tensor* t : inputs) {
    in.push_back(t ? t->shape() : Shape{});
    if (t) e.bytes += static_cast<double>(t->nbytes());
  }
  for (const Tensor* t : outputs) {
    out.push_back(t ? t->shape() : Shape{});
    if (t) e.bytes += static_cast<double>(t->nbytes());
  }
  e.flops = node_flops(node, in, out);
  return e;
}

std::vector<KernelSummary> summarize_kernels(const std::vector<RunProfile>& runs) {
  std::map<std::string, KernelSummary> by_name;
  std::map<std::string, std::pair<double, double>> work;  // flops, bytes
  double total = 0;
  for (const RunProfile& r : runs) {
    for (const ProfileEvent& e : r.events) {
      const std::string key = e.kernel == "cpu" ? "cpu:" + e.op : e.kernel;
      KernelSummary& k = by_name[key];
      if (k.calls == 0) {
        k.name = key;
        k.op = e.op;
        k.track = e.track;
      }
      ++k.calls;
      k.total_ms += e.dur_us / 1000.0;
      work[key].first += e.flops;
      work[key].second += e.bytes;
      total += e.dur_us / 1000.0;
    }
  }
  std::vector<KernelSummary> out;
  for (auto& [key, k] : by_name) {
    k.mean_ms = k.calls ? k.total_ms / static_cast<double>(k.calls) : 0;
    k.share = total > 0 ? k.total_ms / total : 0;
    const double s = k.total_ms / 1000.0;
    k.gflops = s > 0 ? work[key].first / s / 1e9 : 0;
    k.gbytes_s = s > 0 ? work[key].second / s / 1e9 : 0;
    out.push_back(k);
  }
  std::stable_sort(out.begin(), out.end(), [](const KernelSummary& a, const KernelSummary& b) {
    return a.total_ms > b.total_ms;
  });
  return out;
}

Status write_chrome_trace(const std::string& path, const std::vector<RunProfile>& runs) {
  nlohmann::json events = nlohmann::json::array();
  std::map<std::string, int> tids;
  auto tid_of = [&](const std::string& track) {
    auto it = tids.find(track);
    if (it != tids.end()) return it->second;
    const int id = static_cast<int>(tids.size()) + 1;
    tids[track] = id;
    events.push_back({{"name", "thread_name"},
                      {"ph", "M"},
                      {"pid", 1},
                      {"tid", id},
                      {"args", {{"name", track}}}});
    return id;
  };
  events.push_back({{"name", "process_name"},
                    {"ph", "M"},
                    {"pid", 1},
                    {"tid", 0},
                    {"args", {{"name", "kiln"}}}});
  double base = 0;
  int run_index = 0;
  for (const RunProfile& r : runs) {
    const int run_tid = tid_of("runs");
    events.push_back({{"name", "run " + std::to_string(run_index)},
                      {"cat", "run"},
                      {"ph", "X"},
                      {"pid", 1},
                      {"tid", run_tid},
                      {"ts", base},
                      {"dur", r.run_us}});
    for (const ProfileEvent& e : r.events) {
      nlohmann::json args = {{"op", e.op}, {"kernel", e.kernel}};
      if (e.flops > 0) args["gflops"] = e.dur_us > 0 ? e.flops / (e.dur_us * 1e3) : 0.0;
      events.push_back({{"name", e.node.empty() ? e.op : e.node},
                        {"cat", e.op},
                        {"ph", "X"},
                        {"pid", 1},
                        {"tid", tid_of(e.track)},
                        {"ts", base + e.start_us},
                        {"dur", e.dur_us},
                        {"args", args}});
    }
    base += r.run_us + 10.0;  // a small gap between runs
    ++run_index;
  }
  nlohmann::json doc = {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return io_error("cannot write the trace file '" + path + "'");
  f << doc.dump();
  f.close();
  if (!f) return io_error("error writing the trace file '" + path + "'");
  return Status::ok();
}

}  // namespace kiln
