// Per-node profiles: work estimates, per-kernel summaries and Chrome traces (see profile.h).
#include "runtime/profile.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "runtime/cpu/fast/peak_loops.h"

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
  // Bytes moved: inputs read plus outputs written, except what is never touched: Shape and Size
  // read only their input's shape, and a view op's output that aliases its input (a zero-copy
  // Reshape) moves neither.
  const std::string& op = node.op_type();
  const bool metadata_only = node.domain().empty() && (op == "Shape" || op == "Size");
  // Only view ops count as zero-copy when aliased: an elementwise op writing in place over its
  // input still reads and writes every byte.
  const bool view_op =
      node.domain().empty() && (op == "Reshape" || op == "Flatten" || op == "Squeeze" ||
                                op == "Unsqueeze" || op == "Identity");
  std::vector<bool> aliased(inputs.size(), false);
  std::vector<Shape> in, out;
  for (const Tensor* t : outputs) {
    out.push_back(t ? t->shape() : Shape{});
    if (!t) continue;
    bool alias = false;
    for (size_t i = 0; view_op && i < inputs.size() && !alias; ++i) {
      const Tensor* x = inputs[i];
      if (x && t->nbytes() > 0 && x->nbytes() == t->nbytes() && x->raw_data() == t->raw_data())
        alias = aliased[i] = true;
    }
    if (!alias) e.bytes += static_cast<double>(t->nbytes());
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor* t = inputs[i];
    in.push_back(t ? t->shape() : Shape{});
    if (t && !metadata_only && !aliased[i]) e.bytes += static_cast<double>(t->nbytes());
  }
  e.flops = node_flops(node, in, out);
  return e;
}

double DevicePeaks::bandwidth_for(double bytes) const {
  if (bandwidth.empty()) return gbytes_s;
  double best = 0;
  for (const auto& [size, gbs] : bandwidth)
    if (size >= bytes / 2) best = std::max(best, gbs);
  return best > 0 ? best : bandwidth.back().second;
}

DevicePeaks max_of_peaks(const DevicePeaks& a, const DevicePeaks& b) {
  DevicePeaks out = a;
  out.gflops = std::max(a.gflops, b.gflops);
  out.gbytes_s = std::max(a.gbytes_s, b.gbytes_s);
  std::map<double, double> bw;
  for (const auto& [size, gbs] : a.bandwidth) bw[size] = std::max(bw[size], gbs);
  for (const auto& [size, gbs] : b.bandwidth) bw[size] = std::max(bw[size], gbs);
  out.bandwidth.assign(bw.begin(), bw.end());
  if (out.method.empty())
    out.method = b.method;
  else if (!b.method.empty() && b.method != a.method)
    out.method += "; " + b.method;
  return out;
}

std::vector<KernelSummary> summarize_kernels(const std::vector<RunProfile>& runs,
                                             const std::map<std::string, DevicePeaks>& peaks) {
  std::map<std::string, KernelSummary> by_name;
  std::map<std::string, std::pair<double, double>> work;  // flops, bytes
  std::map<std::string, double> roof_s;                   // the roofline's time for the work
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
      auto p = peaks.find(e.track);
      if (p != peaks.end() && p->second.valid()) {
        const double bw = p->second.bandwidth_for(e.bytes);
        const double t_flops = e.flops / (p->second.gflops * 1e9);
        const double t_bytes = bw > 0 ? e.bytes / (bw * 1e9) : 0;
        roof_s[key] += std::max(t_flops, t_bytes);
      }
    }
  }
  std::vector<KernelSummary> out;
  for (auto& [key, k] : by_name) {
    k.mean_ms = k.calls ? k.total_ms / static_cast<double>(k.calls) : 0;
    k.share = total > 0 ? k.total_ms / total : 0;
    const double s = k.total_ms / 1000.0;
    k.gflops = s > 0 ? work[key].first / s / 1e9 : 0;
    k.gbytes_s = s > 0 ? work[key].second / s / 1e9 : 0;
    auto roof = roof_s.find(key);
    if (roof != roof_s.end()) k.roofline = s > 0 ? roof->second / s : 0;
    out.push_back(k);
  }
  std::stable_sort(out.begin(), out.end(), [](const KernelSummary& a, const KernelSummary& b) {
    return a.total_ms > b.total_ms;
  });
  return out;
}

// ---- Peaks ---------------------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// GFLOP/s of `threads` copies of the FMA loop at once (best of 3).
double cpu_fma_gflops(int threads, std::string* how) {
  using cpu::fast::PeakLoop;
  PeakLoop loop = PeakLoop::kScalarFma;
  if (cpu::fast::peak_loop_supported(PeakLoop::kAvx2Fma)) loop = PeakLoop::kAvx2Fma;
  if (loop == PeakLoop::kAvx2Fma && cpu::fast::peak_loop_supported(PeakLoop::kAvx512Fma))
    loop = PeakLoop::kAvx512Fma;
  *how = loop == PeakLoop::kAvx512Fma ? "AVX-512 FMA loop"
         : loop == PeakLoop::kAvx2Fma ? "AVX2 FMA loop"
                                      : "scalar FMA loop";
  const int64_t iters = loop == PeakLoop::kScalarFma ? 20'000'000 : 4'000'000;
  const auto t0 = Clock::now();
  return cpu::fast::peak_gops(loop, threads, iters, 3, [&] { return seconds_since(t0); });
}

// GB/s (bytes read + written) of `threads` threads each copying its share of a `set`-byte
// working set (half source, half destination) over and over (best of 3).
double cpu_copy_gbytes_s(int threads, size_t set) {
  const size_t per = std::max<size_t>(set / 2 / static_cast<size_t>(threads), 4096);
  std::vector<std::vector<char>> src(static_cast<size_t>(threads)),
      dst(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    src[t].assign(per, static_cast<char>(t + 1));
    dst[t].assign(per, 0);
  }
  // About 10 ms per pass at 20 GB/s.
  const int iters =
      static_cast<int>(std::clamp<size_t>(200'000'000 / (2 * per * threads), 2, 20000));
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<std::thread> ts;
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        ready.fetch_add(1);
        while (!go.load()) std::this_thread::yield();
        for (int i = 0; i < iters; ++i) {
          std::memcpy(dst[t].data(), src[t].data(), per);
          src[t][static_cast<size_t>(i) % per] = dst[t][0];  // keep the copies alive
        }
      });
    while (ready.load() < threads) std::this_thread::yield();
    const auto t0 = Clock::now();
    go.store(true);
    for (auto& t : ts) t.join();
    const double s = seconds_since(t0);
    if (s > 0) best = std::max(best, 2.0 * static_cast<double>(per) * threads * iters / s * 1e-9);
  }
  return best;
}

std::string peaks_cache_file() {
  std::string dir;
  if (const char* d = std::getenv("KILN_CACHE_DIR")) {
    dir = d;
    if (dir == "off") return "";
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    dir = std::string(x) + "/kiln";
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    dir = std::string(h) + "/.cache/kiln";
  }
  return dir.empty() ? "" : dir + "/peaks.json";
}

nlohmann::json peaks_to_json(const DevicePeaks& p) {
  nlohmann::json bw = nlohmann::json::array();
  for (const auto& [size, gbs] : p.bandwidth) bw.push_back({size, gbs});
  return {{"gflops", p.gflops}, {"gbytes_s", p.gbytes_s}, {"bandwidth", bw}, {"method", p.method}};
}

bool peaks_from_json(const nlohmann::json& j, DevicePeaks* p) {
  if (!j.is_object() || !j.contains("gflops") || !j["gflops"].is_number() ||
      !j.contains("gbytes_s") || !j["gbytes_s"].is_number())
    return false;
  p->gflops = j["gflops"].get<double>();
  p->gbytes_s = j["gbytes_s"].get<double>();
  p->bandwidth.clear();
  if (j.contains("bandwidth") && j["bandwidth"].is_array())
    for (const auto& e : j["bandwidth"])
      if (e.is_array() && e.size() == 2 && e[0].is_number() && e[1].is_number())
        p->bandwidth.emplace_back(e[0].get<double>(), e[1].get<double>());
  std::sort(p->bandwidth.begin(), p->bandwidth.end());
  if (j.contains("method") && j["method"].is_string()) p->method = j["method"].get<std::string>();
  return p->valid();
}

// One kernel prepared on a backend with its device tensors, inputs filled with `fill`.
struct BackendOp {
  ir::Graph graph;
  std::unique_ptr<device::DeviceKernel> kernel;
  std::vector<device::DeviceTensor> ins, outs;
};

Status prepare_op(device::Backend& b, const std::string& op, const std::vector<Shape>& in_shapes,
                  BackendOp* out) {
  std::vector<ir::Value*> ins;
  std::vector<device::InputInfo> infos;
  for (size_t i = 0; i < in_shapes.size(); ++i) {
    KILN_ASSIGN_OR_RETURN(ir::Value * v, out->graph.add_value("in" + std::to_string(i)));
    ins.push_back(v);
    device::InputInfo info;
    info.desc = {DType::kFloat32, in_shapes[i]};
    infos.push_back(info);
  }
  KILN_ASSIGN_OR_RETURN(ir::Value * y, out->graph.add_value("out"));
  KILN_ASSIGN_OR_RETURN(ir::Node * n, out->graph.add_node(op, "", ins, {y}, "peak_" + op));
  device::Support sup = b.supports(*n, infos);
  if (!sup.ok) return unsupported(b.name() + " cannot run " + op + ": " + sup.reason);
  KILN_ASSIGN_OR_RETURN(out->kernel, b.prepare(*n, infos));
  for (const device::InputInfo& info : infos) {
    KILN_ASSIGN_OR_RETURN(auto buf, b.allocate(info.desc.nbytes()));
    device::DeviceTensor t{info.desc, buf, 0};
    KILN_ASSIGN_OR_RETURN(Tensor h, Tensor::create(DType::kFloat32, info.desc.shape));
    float* d = h.data<float>();
    for (int64_t i = 0; i < h.numel(); ++i) d[i] = 0.5f + static_cast<float>(i % 7) * 0.01f;
    KILN_RETURN_IF_ERROR(b.upload(h, t));
    out->ins.push_back(t);
  }
  for (const device::TensorDesc& d : out->kernel->output_descs()) {
    KILN_ASSIGN_OR_RETURN(auto buf, b.allocate(d.nbytes()));
    out->outs.push_back({d, buf, 0});
  }
  return Status::ok();
}

// Best seconds per launch of `op` over `reps` launches (after one untimed launch).
Expected<double> time_op(device::Backend& b, BackendOp& op, int reps) {
  KILN_RETURN_IF_ERROR(op.kernel->enqueue(op.ins, op.outs));
  KILN_RETURN_IF_ERROR(b.finish());
  double best = 1e30;
  if (b.supports_timing()) {
    KILN_RETURN_IF_ERROR(b.set_timing(true));
    for (int r = 0; r < reps; ++r) {
      b.mark_begin(r);
      Status st = op.kernel->enqueue(op.ins, op.outs);
      b.mark_end(r);
      if (!st.is_ok()) {
        (void)b.set_timing(false);
        return st;
      }
    }
    Status st = b.finish();
    auto timings = b.take_timings();
    (void)b.set_timing(false);
    KILN_RETURN_IF_ERROR(st);
    if (!timings) return timings.status();
    for (const device::DeviceTiming& t : *timings)
      if (t.end_ns > t.start_ns)
        best = std::min(best, static_cast<double>(t.end_ns - t.start_ns) * 1e-9);
    if (best < 1e30) return best;
  }
  // Host clock around batches of launches: the launch overhead is shared by the batch.
  const int batch = std::max(1, reps / 3);
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = Clock::now();
    for (int r = 0; r < batch; ++r) KILN_RETURN_IF_ERROR(op.kernel->enqueue(op.ins, op.outs));
    KILN_RETURN_IF_ERROR(b.finish());
    best = std::min(best, seconds_since(t0) / batch);
  }
  return best;
}

}  // namespace

DevicePeaks measure_cpu_peaks(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  DevicePeaks p;
  std::string how;
  p.gflops = cpu_fma_gflops(threads, &how);
  for (size_t set : {size_t{192} << 10, size_t{768} << 10, size_t{3} << 20, size_t{12} << 20,
                     size_t{48} << 20}) {
    const double gbs = cpu_copy_gbytes_s(threads, set);
    p.bandwidth.emplace_back(static_cast<double>(set), gbs);
    p.gbytes_s = std::max(p.gbytes_s, gbs);
  }
  p.method = how + " and memcpy, " + std::to_string(threads) + " thread(s)";
  return p;
}

Expected<double> time_device_op(device::Backend& b, const std::string& op,
                                const std::vector<Shape>& input_shapes, int reps,
                                std::string* kernel_name) {
  BackendOp k;
  KILN_RETURN_IF_ERROR(prepare_op(b, op, input_shapes, &k));
  if (kernel_name) *kernel_name = k.kernel->name();
  return time_op(b, k, std::max(reps, 1));
}

Expected<DevicePeaks> measure_backend_peaks(device::Backend& b) {
  DevicePeaks p;
  {
    KILN_ASSIGN_OR_RETURN(double s, time_device_op(b, "MatMul", {{512, 512}, {512, 512}}, 5));
    p.gflops = 2.0 * 512 * 512 * 512 / s * 1e-9;
  }
  for (int64_t n : {int64_t{16} << 10, int64_t{64} << 10, int64_t{256} << 10, int64_t{1} << 20,
                    int64_t{4} << 20}) {
    const double bytes = 3.0 * static_cast<double>(n) * sizeof(float);
    const int reps = static_cast<int>(std::clamp(4e8 / bytes, 6.0, 300.0));
    KILN_ASSIGN_OR_RETURN(double s, time_device_op(b, "Add", {{n}, {n}}, reps));
    const double gbs = bytes / s * 1e-9;
    p.bandwidth.emplace_back(bytes, gbs);
    p.gbytes_s = std::max(p.gbytes_s, gbs);
  }
  p.method = std::string("512^3 MatMul and Add kernels, ") +
             (b.supports_timing() ? "device clock" : "host clock around batches");
  return p;
}

Expected<DevicePeaks> cached_peaks(const std::string& key,
                                   const std::function<Expected<DevicePeaks>()>& measure,
                                   bool refresh) {
  namespace fs = std::filesystem;
  const std::string file = peaks_cache_file();
  nlohmann::json all = nlohmann::json::object();
  if (!file.empty()) {
    std::ifstream f(file);
    if (f) {
      all = nlohmann::json::parse(f, nullptr, false);
      if (!all.is_object()) {
        spdlog::warn("ignoring the unreadable peaks cache {}", file);
        all = nlohmann::json::object();
      }
    }
    DevicePeaks p;
    if (!refresh && all.contains(key) && peaks_from_json(all[key], &p)) {
      p.key = key;
      p.from_cache = true;
      return p;
    }
  }
  KILN_ASSIGN_OR_RETURN(DevicePeaks p, measure());
  p.key = key;
  p.from_cache = false;
  if (!file.empty() && p.valid()) {
    // A peak can only be under-measured (a busy machine), so remeasuring keeps the higher figure.
    DevicePeaks old;
    if (all.contains(key) && peaks_from_json(all[key], &old)) {
      const std::string method = p.method;
      p = max_of_peaks(p, old);
      p.method = method;
    }
    all[key] = peaks_to_json(p);
    std::error_code ec;
    fs::create_directories(fs::path(file).parent_path(), ec);
    const std::string tmp = file + ".tmp" + std::to_string(::getpid());
    std::ofstream o(tmp);
    o << all.dump(1) << "\n";
    o.close();
    if (o) fs::rename(tmp, file, ec);
    if (!o || ec) {
      fs::remove(tmp, ec);
      spdlog::warn("could not write the peaks cache {}", file);
    }
  }
  return p;
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
      nlohmann::json args = {
          {"op", e.op}, {"kernel", e.kernel}, {"clock", e.device_clock ? "device" : "host"}};
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
