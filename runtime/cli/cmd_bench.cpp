// kiln bench MODEL: loads a model through kiln::Session, reports the cold start (load time, first
// run with its kernel builds and memory plan, whether the OpenCL program cache on disk was hit),
// then times warm runs and prints latency statistics (runtime/tools/bench_stats.h) and throughput.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "onnx/onnx_pb.h"
#include "runtime/cli/args.h"
#include "runtime/cli/cli_util.h"
#include "runtime/cli/commands.h"
#include "runtime/cpu/executor.h"
#include "runtime/cpu/fast/peak_loops.h"
#include "runtime/device/hybrid_executor.h"
#include "runtime/io/tensor_io.h"
#include "runtime/opencl/cl_context.h"
#include "runtime/opencl/gemm_tuning.h"
#include "runtime/opencl/opencl_backend.h"
#include "runtime/profile.h"
#include "runtime/session.h"
#include "runtime/tools/bench_stats.h"
#include "runtime/tools/inputs.h"
#include "runtime/tools/op_model.h"
#include "runtime/vulkan/vulkan_backend.h"

namespace kiln::cli {

namespace {

namespace fs = std::filesystem;

const char* kHelp =
    "usage: kiln bench MODEL [options]\n"
    "       kiln bench --op OP --shape S [--dtype float32|float16|int8] [options]\n"
    "       kiln bench --op peak --device D [--remeasure] [--threads N] [--json FILE]\n"
    "       kiln bench --op gemm --shape M,N,K --device opencl[:N] --tune [--tune-save]\n"
    "Times a model on a device: the load and the first (cold) run separately, then warm-up runs\n"
    "(not timed) and timed runs, and prints latency statistics and throughput.\n"
    "\n"
    "  --device D          auto (default), cpu, opencl[:N], vulkan[:N]\n"
    "  --warmup N          untimed runs before the timed ones (default 5)\n"
    "  --runs N            timed runs (default 50, at least 1)\n"
    "  --threads N         CPU threads (default: one per hardware thread)\n"
    "  --level N           graph optimization level: 0 none, 1 basic (default), 2 extended,\n"
    "                      99 all (the ONNX Runtime meanings)\n"
    "  --precision P       fp32 (default) or fp16: float16 weights and activations\n"
    "  --inputs DIR        feed each input from DIR/NAME.npy or DIR/NAME.pb; inputs not found\n"
    "                      there are made at random as `kiln run --random` makes them\n"
    "  --dim NAME=VALUE    value of a symbolic dimension for random inputs (repeatable)\n"
    "  --seed N            seed for random inputs (default 0)\n"
    "  --profile FILE      write a Chrome trace (chrome://tracing, Perfetto) of the profiled runs\n"
    "  --profile-runs N    runs profiled after the timed ones for the per-kernel table\n"
    "                      (default: min(--runs, 10); 0: no table)\n"
    "  --json FILE         write the results as JSON\n"
    "  --no-roofline       leave the roofline column out (no peak measurement)\n"
    "\n"
    "Kernel micro-benchmarks: --op writes a one-op model with random constant weights and\n"
    "benchmarks it like a model, adding GFLOP/s and GB/s at the median:\n"
    "%s"
    "  --peak-each-run (float32 --op, --device cpu --threads 1): times the FMA loop of --op peak\n"
    "  for about a millisecond after each timed run and reports the median of the per-run\n"
    "  shares rate / loop rate, so a shared machine's slow moments hit both alike.\n"
    "  --op gemm --dtype int8: a MatMulInteger (uint8 input A, constant int8 B, zero points\n"
    "  128 / 0, int32 output) reported in GOP/s, then the float32 MatMul of the same shape timed\n"
    "  the same way and the int8 / fp32 ratio.\n"
    "\n"
    "Latency: mean, sample standard deviation (divisor n-1), min, max, and the 50th, 90th and\n"
    "99th percentiles by linear interpolation between the closest ranks (numpy's default).\n"
    "Throughput: runs/s = 1000 / mean latency in ms; inferences/s = batch * runs/s when the\n"
    "first input's dimension 0 is symbolic and named like a batch ('batch...', 'N').\n"
    "OpenCL program cache: 'hit' when the first run compiled no program (every binary came\n"
    "from the disk cache), 'miss' when it compiled and wrote some; 'off' with KILN_CACHE_DIR=off.\n"
    "In file names, the characters '/', '\\' and ':' of tensor names are replaced by '_'.\n"
    "Per-kernel table: the profiled runs time every node (device nodes one at a time, waiting\n"
    "for each; a CPU node's time includes downloading its inputs), so they are kept apart from\n"
    "the timed runs. Per kernel: calls, total ms, share of the summed node time, GFLOP/s\n"
    "(MatMul, Gemm, Conv, attention and common elementwise ops) and GB/s (input + output bytes).\n"
    "Roofline (the 'roof' column): the share of the device's roofline each kernel reached, the\n"
    "roofline's time for its work (max of flops / peak GFLOP/s and bytes / peak GB/s at the\n"
    "kernel's working set) over the time it took. The peaks are measured once per device and\n"
    "driver (CPU: an FMA loop and memcpy; OpenCL, Vulkan: a 512^3 MatMul and Add kernels through\n"
    "the backend, on OpenCL also an FMA kernel and buffer copies; a device that is the host CPU\n"
    "gets at least the CPU's figures) and cached in <cache dir>/peaks.json; `--op peak --device\n"
    "D` prints them and `--remeasure` measures again (keeping the higher figures); with\n"
    "--device cpu it also runs the FMA loop now and prints that figure (JSON gflops_now).\n"
    "GEMM tuning: `--op gemm --shape M,N,K --device opencl --tune` times the gemm_nn and\n"
    "transposed gemm_nt paths, a few tile shapes and work-group sizes on the device clock,\n"
    "prints the table and the entry for runtime/opencl/gemm_tuning.cpp; --tune-save stores it in\n"
    "<cache dir>/gemm_tuning.json, used by later sessions on the same device and driver.\n"
    "Progress: once a phase has taken a second (KILN_PROGRESS_AFTER_MS), a bar on stderr when\n"
    "stderr is a terminal, else a plain line on stderr about every tenth of the runs.\n"
    "Exit status: 0 success, 1 failure, 2 usage error.\n";

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int fail(const Failure& f) {
  return report_failure("bench", f);
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// ---- --op gemm --dtype int8 --------------------------------------------------------------------

// The int8 GEMM of `--op gemm --dtype int8`: a MatMulInteger node, uint8 input A [B,]M x K,
// constant random int8 B K x N, scalar zero points (uint8 128, int8 0), int32 output. `fp32` is
// the float32 MatMul model of the same shape (written by make_op_model, which also checks the
// shape), timed after it for the comparison.
Expected<tools::OpModel> make_int8_gemm_model(const tools::OpModel& fp32, const std::string& shape,
                                              const std::string& dir) {
  std::vector<int64_t> d;
  for (size_t pos = 0; pos <= shape.size();) {
    size_t end = shape.find_first_of(",x", pos);
    if (end == std::string::npos) end = shape.size();
    d.push_back(std::stoll(shape.substr(pos, end - pos)));  // checked by make_op_model
    pos = end + 1;
  }
  const int64_t batch = d.size() == 4 ? d[0] : 1;
  const int64_t M = d[d.size() - 3], N = d[d.size() - 2], K = d[d.size() - 1];
  std::vector<int64_t> a = {M, K}, y = {M, N};
  if (d.size() == 4) {
    a.insert(a.begin(), batch);
    y.insert(y.begin(), batch);
  }
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("kiln bench --op");
  auto* imp = model.add_opset_import();
  imp->set_domain("");
  imp->set_version(20);
  onnx::GraphProto* g = model.mutable_graph();
  g->set_name("op");
  auto value_info = [](onnx::ValueInfoProto* v, const std::string& name, int elem,
                       const std::vector<int64_t>& dims) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem);
    for (int64_t x : dims) tt->mutable_shape()->add_dim()->set_dim_value(x);
  };
  auto initializer = [&](const std::string& name, int elem, const std::vector<int64_t>& dims,
                         std::string raw) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(elem);
    for (int64_t x : dims) t->add_dims(x);
    t->set_raw_data(std::move(raw));
  };
  value_info(g->add_input(), "A", onnx::TensorProto::UINT8, a);
  std::string wb(static_cast<size_t>(K * N), '\0');
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> dist(-128, 127);
  for (char& c : wb) c = static_cast<char>(static_cast<int8_t>(dist(rng)));
  initializer("B", onnx::TensorProto::INT8, {K, N}, std::move(wb));
  initializer("a_zero_point", onnx::TensorProto::UINT8, {}, std::string(1, '\x80'));
  initializer("b_zero_point", onnx::TensorProto::INT8, {}, std::string(1, '\0'));
  auto* n = g->add_node();
  n->set_op_type("MatMulInteger");
  n->set_name("MatMulInteger_1");
  for (const char* i : {"A", "B", "a_zero_point", "b_zero_point"}) n->add_input(i);
  n->add_output("Y");
  value_info(g->add_output(), "Y", onnx::TensorProto::INT32, y);
  tools::OpModel m;
  m.path = dir + "/gemm_int8.onnx";
  m.flops = fp32.flops;  // integer operations: a multiply and an add per (m, n, k)
  auto prod = [](const std::vector<int64_t>& v) {
    double p = 1;
    for (int64_t x : v) p *= static_cast<double>(x);
    return p;
  };
  m.bytes = prod(a) + static_cast<double>(K) * N + 4.0 * prod(y);
  auto shape_str = [](const std::vector<int64_t>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
    return out + "]";
  };
  m.description = "MatMulInteger " + shape_str(a) + " uint8 x " + shape_str({K, N}) +
                  " int8 -> int32 (zero points 128 / 0)";
  std::ofstream f(m.path, std::ios::binary | std::ios::trunc);
  if (!f || !model.SerializeToOstream(&f)) return io_error("cannot write '" + m.path + "'");
  return m;
}

// The median latency (ms) of the model at `path` over `runs` runs after `warmup`, with random
// inputs as for the main measurement.
Expected<double> time_model_p50(const std::string& path, const SessionOptions& so,
                                const tools::InputSpec& spec, long long warmup, long long runs) {
  KILN_ASSIGN_OR_RETURN(auto session, Session::load(path, so));
  bool usage_error = false;
  KILN_ASSIGN_OR_RETURN(auto gathered, tools::gather_inputs(*session, spec, &usage_error));
  for (long long i = 0; i < warmup + 1; ++i) {
    auto out = session->run(gathered.feeds);
    if (!out) return out.status();
  }
  std::vector<double> samples;
  for (long long i = 0; i < runs; ++i) {
    auto r0 = std::chrono::steady_clock::now();
    auto out = session->run(gathered.feeds);
    if (!out) return out.status();
    samples.push_back(ms_since(r0));
  }
  return tools::summarize(samples).p50;
}

std::string dims_to_string(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

// The compiled OpenCL programs in the disk cache, with their modification times: a program the
// first run compiles appears as a new or rewritten file (it is written by an atomic rename).
using CacheListing = std::map<std::string, fs::file_time_type>;
CacheListing list_program_cache(const std::string& dir) {
  CacheListing out;
  if (dir.empty()) return out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("opencl-", 0) != 0 || name.size() < 4 ||
        name.compare(name.size() - 4, 4, ".bin") != 0)
      continue;
    std::error_code tec;
    auto t = it->last_write_time(tec);
    if (!tec) out[name] = t;
  }
  return out;
}

int count_new_programs(const CacheListing& before, const CacheListing& after) {
  int n = 0;
  for (const auto& [name, t] : after) {
    auto it = before.find(name);
    if (it == before.end() || it->second != t) ++n;
  }
  return n;
}

// Progress of long runs on stderr, once a phase has gone on for KILN_PROGRESS_AFTER_MS (default
// 1000): a bar rewritten in place when stderr is a terminal, else a plain line about every tenth
// of the runs. Never on stdout (the results) nor in --json.
class Progress {
 public:
  explicit Progress(bool tty) : tty_(tty) {
    if (const char* e = std::getenv("KILN_PROGRESS_AFTER_MS"); e && *e)
      after_ = std::chrono::milliseconds(std::max(0L, std::strtol(e, nullptr, 10)));
  }
  void update(const char* phase, long long done, long long total, double last_ms) {
    auto now = std::chrono::steady_clock::now();
    if (!shown_ && now - start_ < after_) return;
    if (tty_) {
      if (shown_ && done != total && now - last_ < std::chrono::milliseconds(100)) return;
      last_ = now;
      constexpr int kWidth = 30;
      const int filled =
          total > 0 ? static_cast<int>(static_cast<double>(done) * kWidth / total) : kWidth;
      std::string bar(static_cast<size_t>(filled), '#');
      bar.resize(kWidth, '.');
      std::fprintf(stderr, "\r%-8s [%s] %lld/%lld  last %.3f ms\033[K", phase, bar.c_str(), done,
                   total, last_ms);
    } else {
      const long long step = std::max<long long>(1, total / 10);
      if (shown_ && done % step != 0 && done != total) return;
      std::fprintf(stderr, "%s %lld/%lld  last %.3f ms\n", phase, done, total, last_ms);
    }
    std::fflush(stderr);
    shown_ = true;
  }
  // Ends a phase: clears the bar on a terminal so that what follows starts at column 0.
  void clear() {
    if (tty_ && shown_) {
      std::fprintf(stderr, "\r\033[K");
      std::fflush(stderr);
    }
    shown_ = false;
    start_ = std::chrono::steady_clock::now();
  }

 private:
  bool tty_;
  bool shown_ = false;
  std::chrono::milliseconds after_{1000};
  std::chrono::steady_clock::time_point last_{};
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

std::string cpu_model_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      size_t c = line.find(':');
      if (c != std::string::npos) return line.substr(line.find_first_not_of(" \t", c + 1));
    }
  }
  return "unknown CPU";
}

// The backend for a device spec ("opencl:0", "vulkan"), for measurements outside the session.
Expected<std::unique_ptr<device::Backend>> open_backend(const std::string& spec) {
  if (spec.rfind("opencl", 0) == 0) {
    KILN_ASSIGN_OR_RETURN(auto b, opencl::OpenClBackend::create(spec));
    return std::unique_ptr<device::Backend>(std::move(b));
  }
  if (spec.rfind("vulkan", 0) == 0) {
    KILN_ASSIGN_OR_RETURN(auto b, vulkan::VulkanBackend::create(spec));
    return std::unique_ptr<device::Backend>(std::move(b));
  }
  return invalid_argument("no device backend for '" + spec + "'");
}

// The peaks of one profile track ("cpu" or a device's name), from the cache or measured. The
// cache key names the CPU model and thread count, or the device with its driver.
Expected<DevicePeaks> peaks_for_track(const std::string& track, int threads, bool remeasure) {
  if (track == "cpu") {
    const int n =
        threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const std::string key = "cpu: " + cpu_model_name() + ", " + std::to_string(n) + " threads";
    return cached_peaks(
        key, [n]() -> Expected<DevicePeaks> { return measure_cpu_peaks(n); }, remeasure);
  }
  const std::string spec = track.substr(0, track.find(' '));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<device::Backend> b, open_backend(spec));
  std::string key = b->name();
  // A device that is the host CPU (PoCL, lavapipe) has the CPU's roof: its peaks are at least
  // the CPU's FMA loop and memcpy figures, whatever the device's own kernels reach.
  bool on_cpu = false;
  if (auto* cl = dynamic_cast<opencl::OpenClBackend*>(b.get())) {
    key += ", driver " + cl->context().info().driver_version;
    on_cpu = cl->context().info().type.find("CPU") != std::string::npos;
  } else if (auto* vk = dynamic_cast<vulkan::VulkanBackend*>(b.get())) {
    const auto& info = vk->context().info();
    key += ", driver " + info.driver_name + " " + info.driver_version;
    on_cpu = info.type == "CPU";
  }
  device::Backend* raw = b.get();
  return cached_peaks(
      key,
      [raw, on_cpu]() -> Expected<DevicePeaks> {
        KILN_ASSIGN_OR_RETURN(DevicePeaks p, measure_backend_peaks(*raw));
        if (auto* cl = dynamic_cast<opencl::OpenClBackend*>(raw)) {
          auto own = opencl::measure_opencl_peaks(*cl);
          if (own)
            p = max_of_peaks(*own, p);
          else
            spdlog::warn("OpenCL peak kernels: {}", own.status().message());
        }
        if (on_cpu) {
          DevicePeaks host = measure_cpu_peaks(0);
          host.method = "the device is the host CPU: " + host.method;
          p = max_of_peaks(p, host);
        }
        return p;
      },
      remeasure);
}

std::string bytes_label(double b) {
  char buf[32];
  if (b >= 1024.0 * 1024.0)
    std::snprintf(buf, sizeof buf, "%.0f MiB", b / (1024.0 * 1024.0));
  else
    std::snprintf(buf, sizeof buf, "%.0f KiB", b / 1024.0);
  return buf;
}

void print_peaks(const std::string& where, const DevicePeaks& p) {
  std::printf("peaks of %s: %.1f GFLOP/s FP32, %.1f GB/s (%s; %s)\n", where.c_str(), p.gflops,
              p.gbytes_s, p.method.c_str(), p.from_cache ? "cached" : "measured now");
}

nlohmann::json peaks_json(const DevicePeaks& p) {
  nlohmann::json bw = nlohmann::json::array();
  for (const auto& [size, gbs] : p.bandwidth) bw.push_back({{"bytes", size}, {"gbytes_s", gbs}});
  return {{"key", p.key},    {"gflops", p.gflops}, {"gbytes_s", p.gbytes_s},
          {"bandwidth", bw}, {"method", p.method}, {"cached", p.from_cache}};
}

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

// Parses "M,N,K" for --tune.
bool parse_mnk(const std::string& shape, int64_t* m, int64_t* n, int64_t* k) {
  long long a = 0, b = 0, c = 0;
  char tail = 0;
  if (std::sscanf(shape.c_str(), "%lld,%lld,%lld%c", &a, &b, &c, &tail) != 3) return false;
  if (a < 1 || b < 1 || c < 1 || a > 16384 || b > 16384 || c > 16384) return false;
  *m = a;
  *n = b;
  *k = c;
  return true;
}

Status write_json(const std::string& path, const nlohmann::json& j) {
  std::ofstream f(path);
  f << j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  f.close();
  return f ? Status::ok() : io_error("cannot write the JSON file '" + path + "'");
}

// kiln bench --op peak --device D [--remeasure] [--threads N] [--json FILE]
int bench_peak(Args& args) {
  if (!args.positional().empty())
    return fail({kExitUsage, "--op peak replaces MODEL: give one or the other"});
  if (args.has("shape") || args.has("dtype") || args.flag("tune"))
    return fail({kExitUsage, "--op peak takes no --shape, --dtype or --tune"});
  const std::string device = args.get("device", "");
  if (device.empty() || device == "auto" || !valid_device(device))
    return fail({kExitUsage, "--op peak needs --device cpu, opencl[:N] or vulkan[:N]"});
  long long threads = 0;
  if (!args.get_int("threads", 0, &threads)) return fail({kExitUsage, args.error()});
  if (threads < 0 || threads > 4096)
    return fail({kExitUsage, "--threads must be between 0 and 4096"});
  std::string track = "cpu";
  if (device != "cpu") {
    auto b = open_backend(device);
    if (!b) return fail({kExitFailure, b.status().message()});
    track = (*b)->name();
  }
  auto p = peaks_for_track(track, static_cast<int>(threads), args.flag("remeasure"));
  if (!p) return fail({kExitFailure, "measuring the peaks: " + p.status().message()});
  std::printf("device: %s\n", track.c_str());
  std::printf("key: %s\n", p->key.c_str());
  std::printf("peak FP32: %.1f GFLOP/s\n", p->gflops);
  std::printf("peak bandwidth: %.1f GB/s (read + write, the best working set)\n", p->gbytes_s);
  for (const auto& [size, gbs] : p->bandwidth)
    std::printf("  working set %8s: %8.1f GB/s\n", bytes_label(size).c_str(), gbs);
  std::printf("measured with: %s (%s)\n", p->method.c_str(),
              p->from_cache ? "cached; --remeasure measures again" : "measured now, cached");
  // The host CPU's int8 peak (AVX512-VNNI vpdpbusd loop on as many threads), measured now (about
  // 0.2 s, not cached): what the int8 GEMM is held against (issue 9).
  using cpu::fast::PeakLoop;
  const int vnni_threads =
      threads > 0 ? static_cast<int>(threads)
                  : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const auto v0 = std::chrono::steady_clock::now();
  const double int8_gops = cpu::fast::peak_gops(PeakLoop::kAvx512Vnni, vnni_threads, 20'000'000, 5,
                                                [&] { return ms_since(v0) / 1000.0; });
  // The FMA loop measured now as well (the cached figure above is the best ever measured): a
  // benchmark that runs it right next to a kernel compares the two under the same conditions.
  double fma_now = 0;
  std::string fma_now_loop;
  if (track == "cpu") {
    for (PeakLoop loop : {PeakLoop::kAvx512Fma, PeakLoop::kAvx2Fma}) {
      if (!cpu::fast::peak_loop_supported(loop)) continue;
      const auto f0 = std::chrono::steady_clock::now();
      fma_now = cpu::fast::peak_gops(loop, vnni_threads, 20'000'000, 5,
                                     [&] { return ms_since(f0) / 1000.0; });
      fma_now_loop = loop == PeakLoop::kAvx512Fma ? "AVX-512 FMA loop" : "AVX2 FMA loop";
      break;
    }
    if (fma_now > 0)
      std::printf("peak FP32 measured now (%s, %d thread(s)): %.1f GFLOP/s\n", fma_now_loop.c_str(),
                  vnni_threads, fma_now);
  }
  if (int8_gops > 0)
    std::printf("peak int8 (host CPU, AVX512-VNNI loop, %d thread(s)): %.1f GOP/s\n", vnni_threads,
                int8_gops);
  else
    std::printf("peak int8: no AVX512-VNNI on this CPU\n");
  if (args.has("json")) {
    nlohmann::json j = peaks_json(*p);
    j["device"] = track;
    j["int8_gops"] = int8_gops > 0 ? nlohmann::json(int8_gops) : nlohmann::json(nullptr);
    j["gflops_now"] = fma_now > 0 ? nlohmann::json(fma_now) : nlohmann::json(nullptr);
    j["gflops_now_method"] =
        fma_now > 0 ? nlohmann::json(fma_now_loop + ", measured now") : nlohmann::json(nullptr);
    j["int8_method"] = int8_gops > 0 ? nlohmann::json("AVX512-VNNI loop, host CPU, measured now")
                                     : nlohmann::json(nullptr);
    if (Status st = write_json(args.get("json"), j); !st.is_ok())
      return fail({kExitFailure, st.message()});
  }
  return kExitOk;
}

// kiln bench --op gemm --shape M,N,K --device opencl[:N] --tune [--tune-save] [--json FILE]
int bench_tune(Args& args) {
  if (args.get("op") != "gemm")
    return fail({kExitUsage, "--tune goes with --op gemm --shape M,N,K"});
  if (!args.positional().empty())
    return fail({kExitUsage, "--op replaces MODEL: give one or the other"});
  int64_t m = 0, n = 0, k = 0;
  if (!parse_mnk(args.get("shape"), &m, &n, &k))
    return fail({kExitUsage, "--tune needs --shape M,N,K (integers from 1 to 16384)"});
  if (args.has("dtype") && args.get("dtype") != "float32")
    return fail({kExitUsage, "--tune tunes the float32 GEMM only"});
  const std::string device = args.get("device", "");
  if (device.empty() || device == "auto" || !valid_device(device))
    return fail({kExitUsage, "--tune needs --device opencl[:N] (or vulkan, cpu: nothing to tune)"});
  if (device == "cpu" || device.rfind("vulkan", 0) == 0) {
    std::printf("device: %s\nno tunable parameters: the %s GEMM has no per-device tile table\n",
                device.c_str(), device == "cpu" ? "CPU" : "Vulkan");
    if (args.has("json"))
      if (Status st = write_json(args.get("json"), {{"device", device}, {"tunable", false}});
          !st.is_ok())
        return fail({kExitFailure, st.message()});
    return kExitOk;
  }
  auto b = opencl::OpenClBackend::create(device);
  if (!b) return fail({kExitFailure, b.status().message()});
  opencl::OpenClBackend& cl = **b;
  const opencl::OpenClDeviceInfo& info = cl.context().info();
  std::printf("device: %s\n", cl.name().c_str());
  std::printf("tuning MatMul [%lld, %lld] x [%lld, %lld] float32\n", static_cast<long long>(m),
              static_cast<long long>(k), static_cast<long long>(k), static_cast<long long>(n));
  std::printf("today: %s\n\n", opencl::gemm_tuning_for(info).to_string().c_str());
  std::printf("  %-10s %-30s %-26s %10s %9s\n", "stage", "kernel", "parameters", "ms", "GFLOP/s");
  std::fflush(stdout);
  auto params = [](const opencl::GemmTuning& t, const std::string& kernel) {
    char buf[96];
    if (kernel.find("gemm_nt") != std::string::npos)
      std::snprintf(buf, sizeof buf, "nt %dx%d/%d wg %dx%d", t.nt_tm, t.nt_tn, t.nt_vw, t.nt_lx,
                    t.nt_ly);
    else
      std::snprintf(buf, sizeof buf, "nn %dx%d*%d wg %dx%d", t.nn_tm, t.nn_nv, t.nn_vw, t.nn_lx,
                    t.nn_ly);
    return std::string(buf);
  };
  auto r = opencl::tune_gemm(cl, m, n, k, [&](const opencl::GemmTuneRow& row) {
    if (row.error.empty())
      std::printf("  %-10s %-30s %-26s %10.3f %9.1f\n", row.stage.c_str(), row.kernel.c_str(),
                  params(row.tuning, row.kernel).c_str(), row.ms, row.gflops);
    else
      std::printf("  %-10s %-30s %-26s failed: %s\n", row.stage.c_str(), row.kernel.c_str(),
                  params(row.tuning, row.kernel).c_str(), row.error.c_str());
    std::fflush(stdout);
  });
  if (!r)
    return fail({r.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure,
                 r.status().message()});
  const double flops =
      2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  std::printf("\nbest: %.3f ms (%.1f GFLOP/s), today %.3f ms (%.1f GFLOP/s): %.2fx\n", r->best_ms,
              flops / (r->best_ms * 1e-3) * 1e-9, r->base_ms,
              r->base_ms > 0 ? flops / (r->base_ms * 1e-3) * 1e-9 : 0.0,
              r->best_ms > 0 ? r->base_ms / r->best_ms : 0.0);
  std::printf("entry for the table in runtime/opencl/gemm_tuning.cpp:\n%s",
              opencl::gemm_tuning_table_entry(r->best, info).c_str());
  std::string saved;
  if (args.flag("tune-save")) {
    char note[160];
    std::snprintf(note, sizeof note, "kiln bench --tune at %lldx%lldx%lld: %.1f GFLOP/s",
                  static_cast<long long>(m), static_cast<long long>(n), static_cast<long long>(k),
                  flops / (r->best_ms * 1e-3) * 1e-9);
    Status st = opencl::save_gemm_tuning(info, r->best, note);
    if (!st.is_ok()) return fail({kExitFailure, st.message()});
    saved = opencl::gemm_tuning_file();
    std::printf("saved for this device and driver in %s (later sessions use it)\n", saved.c_str());
  } else {
    std::printf("not saved (--tune-save stores it in %s for later sessions)\n",
                opencl::gemm_tuning_file().c_str());
  }
  if (args.has("json")) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& row : r->rows)
      rows.push_back({{"stage", row.stage},
                      {"kernel", row.kernel},
                      {"parameters", params(row.tuning, row.kernel)},
                      {"ms", row.ms},
                      {"gflops", row.gflops},
                      {"error", row.error}});
    nlohmann::json j = {{"device", cl.name()},
                        {"shape", {m, n, k}},
                        {"candidates", rows},
                        {"today", r->base.to_string()},
                        {"today_ms", r->base_ms},
                        {"best", r->best.to_string()},
                        {"best_ms", r->best_ms},
                        {"entry", opencl::gemm_tuning_table_entry(r->best, info)},
                        {"saved", saved.empty() ? nlohmann::json(nullptr) : nlohmann::json(saved)}};
    if (Status st = write_json(args.get("json"), j); !st.is_ok())
      return fail({kExitFailure, st.message()});
  }
  return kExitOk;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  Args args({"device", "level", "precision", "warmup", "runs", "threads", "dim", "inputs", "seed",
             "json", "profile", "profile-runs", "op", "shape", "dtype"},
            {"help", "remeasure", "no-roofline", "tune", "tune-save", "peak-each-run"});
  if (!args.parse(argc, argv, 2)) return fail({kExitUsage, args.error()});
  if (args.flag("help")) {
    std::printf(kHelp, tools::op_model_help());
    return kExitOk;
  }
  if (args.get("op") == "peak") return bench_peak(args);
  if (args.flag("tune") || args.flag("tune-save")) return bench_tune(args);
  if (args.flag("remeasure"))
    return fail({kExitUsage, "--remeasure goes with --op peak (kiln bench --op peak --device D)"});
  std::string model_path, device;
  // --op: a one-op model written to a temporary folder stands in for MODEL.
  std::optional<tools::OpModel> op_model;
  std::optional<TempDir> op_dir;
  bool int8_gemm = false;                    // --op gemm --dtype int8: MatMulInteger
  std::optional<tools::OpModel> fp32_model;  // ... and the float32 MatMul it is compared with
  if (args.has("op")) {
    if (!args.positional().empty())
      return fail({kExitUsage, "--op replaces MODEL: give one or the other"});
    if (!args.has("shape")) return fail({kExitUsage, "--op needs --shape"});
    op_dir.emplace("kiln-bench");
    if (op_dir->path().empty()) return fail({kExitFailure, "cannot create a temporary folder"});
    const std::string op_name = args.get("op");
    int8_gemm = args.get("dtype") == "int8" && (op_name == "gemm" || op_name == "matmul");
    if (args.get("dtype") == "int8" && !int8_gemm)
      return fail({kExitUsage, "--dtype int8 goes with --op gemm"});
    auto m = tools::make_op_model(op_name, args.get("shape"),
                                  int8_gemm ? "float32" : args.get("dtype", "float32"),
                                  op_dir->path().string());
    if (!m)
      return fail({m.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure,
                   m.status().message()});
    if (int8_gemm) {
      fp32_model = *m;
      m = make_int8_gemm_model(*m, args.get("shape"), op_dir->path().string());
      if (!m) return fail({kExitFailure, m.status().message()});
    }
    op_model = *m;
    model_path = m->path;
    device = args.get("device", "auto");
    if (!valid_device(device))
      return fail({kExitUsage, "unknown device '" + device +
                                   "' (expected auto, cpu, opencl[:N] or vulkan[:N])"});
  } else {
    if (args.has("shape") || args.has("dtype"))
      return fail({kExitUsage, "--shape and --dtype go with --op"});
    if (auto f = model_and_device(args, &model_path, &device)) return fail(*f);
  }
  long long seed = 0, threads = 0, warmup = 5, runs = 50;
  if (!args.get_int("seed", 0, &seed) || !args.get_int("threads", 0, &threads) ||
      !args.get_int("warmup", 5, &warmup) || !args.get_int("runs", 50, &runs))
    return fail({kExitUsage, args.error()});
  long long profile_runs = 0;
  if (!args.get_int("profile-runs", std::min<long long>(runs, 10), &profile_runs))
    return fail({kExitUsage, args.error()});
  if (profile_runs < 0 || profile_runs > 100000)
    return fail({kExitUsage, "--profile-runs must be between 0 and 100000"});
  constexpr long long kMaxRuns = 100000000;
  if (threads < 0 || threads > 4096)
    return fail({kExitUsage, "--threads must be between 0 and 4096"});
  if (runs < 1 || runs > kMaxRuns)
    return fail({kExitUsage, "--runs must be between 1 and " + std::to_string(kMaxRuns)});
  if (warmup < 0 || warmup > kMaxRuns)
    return fail({kExitUsage, "--warmup must be between 0 and " + std::to_string(kMaxRuns)});
  // --peak-each-run: the FMA loop timed right after every timed run of a float32 --op on one
  // CPU thread, so each run's rate is held against the peak of the same moment.
  const bool peak_each_run = args.flag("peak-each-run");
  cpu::fast::PeakLoop each_loop = cpu::fast::PeakLoop::kScalarFma;
  if (peak_each_run) {
    if (!args.has("op") || int8_gemm || args.get("dtype", "float32") != "float32" ||
        args.get("device", "auto") != "cpu" || threads != 1)
      return fail(
          {kExitUsage, "--peak-each-run goes with a float32 --op on --device cpu --threads 1"});
    each_loop = cpu::fast::peak_loop_supported(cpu::fast::PeakLoop::kAvx512Fma)
                    ? cpu::fast::PeakLoop::kAvx512Fma
                : cpu::fast::peak_loop_supported(cpu::fast::PeakLoop::kAvx2Fma)
                    ? cpu::fast::PeakLoop::kAvx2Fma
                    : cpu::fast::PeakLoop::kScalarFma;
  }
  tools::InputSpec input_spec;
  if (Status st = tools::parse_input_args({}, args.all("dim"), &input_spec); !st.is_ok())
    return fail({kExitUsage, st.message()});
  const std::string inputs_dir = args.get("inputs");
  if (auto f = check_inputs_folder(inputs_dir)) return fail(*f);
  const bool tty = ::isatty(::fileno(stderr)) != 0;

  // Load (the OpenCL cache listing is taken first: programs may be built while loading).
  const std::string cache_dir = opencl::kernel_cache_dir();
  const CacheListing cache_before = list_program_cache(cache_dir);
  SessionOptions so;
  so.device = device;
  so.threads = static_cast<int>(threads);
  if (auto f = optimization_level(args, &so.optimization_level)) return fail(*f);
  if (auto f = precision(args, &so.precision)) return fail(*f);
  auto t0 = std::chrono::steady_clock::now();
  auto session = Session::load(model_path, so);
  if (!session) return fail({kExitFailure, session.status().message()});
  const double load_ms = ms_since(t0);
  Session& s = **session;

  // Feeds: files from --inputs first (their shapes fix symbolic dimensions), then random ones,
  // exactly as `kiln run --inputs DIR --random` makes them.
  input_spec.dir = inputs_dir;
  input_spec.random = true;
  input_spec.seed = static_cast<uint64_t>(seed);
  bool usage_error = false;
  auto gathered = tools::gather_inputs(s, input_spec, &usage_error);
  if (!gathered)
    return fail({usage_error ? kExitUsage : kExitFailure, gathered.status().message()});
  std::map<std::string, Tensor>& feeds = gathered->feeds;
  std::map<std::string, std::string>& sources = gathered->sources;

  // Batch: dimension 0 of the first input when it is symbolic and named like a batch.
  int64_t batch = -1;
  std::string batch_from;
  if (!s.inputs().empty()) {
    const IoInfo& first = s.inputs().front();
    const Tensor& t = feeds[first.name];
    if (first.info.has_shape && !first.info.dims.empty() && t.rank() >= 1 &&
        !first.info.dims[0].known()) {
      const std::string p = lower(first.info.dims[0].param);
      if (p.find("batch") != std::string::npos || p == "n") {
        batch = t.shape()[0];
        batch_from = first.name;
      }
    }
  }

  if (op_model)
    std::printf("op: %s (%.3f %s, %.3f MB per run)\n", op_model->description.c_str(),
                op_model->flops / 1e9, int8_gemm ? "GOP" : "GFLOP", op_model->bytes / 1e6);
  else
    std::printf("model: %s\n", model_path.c_str());
  std::printf("device: %s\n", s.device().c_str());
  for (const auto& in : s.inputs()) {
    const Tensor& t = feeds[in.name];
    std::printf("input %s: %s %s (%s)\n", in.name.c_str(), dtype_name(t.dtype()),
                dims_to_string(t.shape()).c_str(), sources[in.name].c_str());
  }
  std::printf("load: %.3f ms\n", load_ms);
  std::fflush(stdout);

  // Cold first run: kernel builds (or disk-cache loads) and the memory plan happen here.
  t0 = std::chrono::steady_clock::now();
  auto first = s.run(feeds);
  const double first_run_ms = ms_since(t0);
  if (!first) return fail({kExitFailure, "first run: " + first.status().message()});
  first->clear();

  const bool on_opencl = s.device().rfind("opencl", 0) == 0;
  std::string cache_state;  // "" when not on OpenCL
  int programs_compiled = 0;
  size_t kernels_prepared = 0;
  if (const device::HybridExecutor* hx = s.device_executor())
    kernels_prepared = hx->kernels_prepared();
  if (on_opencl) {
    if (cache_dir.empty()) {
      cache_state = "off";
    } else {
      programs_compiled = count_new_programs(cache_before, list_program_cache(cache_dir));
      cache_state = programs_compiled > 0 ? "miss" : "hit";
    }
  }
  std::printf("first run: %.3f ms", first_run_ms);
  if (on_opencl) {
    std::printf(" (%zu device kernels prepared; OpenCL program cache: %s", kernels_prepared,
                cache_state.c_str());
    if (cache_state == "miss") std::printf(", %d programs compiled", programs_compiled);
    std::printf(")");
  }
  std::printf("\n");
  std::fflush(stdout);

  // Warm-up (not timed), then the timed runs.
  Progress progress(tty);
  for (long long i = 0; i < warmup; ++i) {
    auto w0 = std::chrono::steady_clock::now();
    auto out = s.run(feeds);
    if (!out) {
      progress.clear();
      return fail(
          {kExitFailure, "warm-up run " + std::to_string(i + 1) + ": " + out.status().message()});
    }
    progress.update("warm-up", i + 1, warmup, ms_since(w0));
  }
  progress.clear();
  std::printf("warm-up: %lld runs (not timed)\n", warmup);
  std::fflush(stdout);
  std::vector<double> samples, each_peak, each_share;
  samples.reserve(static_cast<size_t>(runs));
  float sink = 0;
  for (long long i = 0; i < runs; ++i) {
    auto r0 = std::chrono::steady_clock::now();
    auto out = s.run(feeds);
    const double ms = ms_since(r0);
    if (!out) {
      progress.clear();
      return fail({kExitFailure, "run " + std::to_string(i + 1) + " of " + std::to_string(runs) +
                                     ": " + out.status().message()});
    }
    samples.push_back(ms);
    if (peak_each_run && ms > 0) {
      // About a millisecond of the FMA loop (the same loop as --op peak).
      const auto p0 = std::chrono::steady_clock::now();
      const double ops = cpu::fast::run_peak_loop(each_loop, 600'000, &sink);
      const double peak = ops / (ms_since(p0) / 1000.0) / 1e9;
      each_peak.push_back(peak);
      each_share.push_back(op_model->flops / (ms / 1000.0) / 1e9 / peak);
    }
    progress.update("run", i + 1, runs, ms);
  }
  progress.clear();
  if (sink == 12345.0f) std::printf(" ");  // keeps the loop's result alive

  const tools::LatencyStats st = tools::summarize(samples);
  const double runs_per_s = st.mean > 0 ? 1000.0 / st.mean : 0.0;
  std::printf(
      "latency (ms) over %d runs: mean %.3f  std %.3f  min %.3f  p50 %.3f  p90 %.3f  p99 %.3f  "
      "max %.3f\n",
      st.count, st.mean, st.std, st.min, st.p50, st.p90, st.p99, st.max);
  std::printf("throughput: %.2f runs/s", runs_per_s);
  if (batch >= 0)
    std::printf(", %.2f inferences/s (batch %lld from dim 0 of '%s')",
                static_cast<double>(batch) * runs_per_s, static_cast<long long>(batch),
                batch_from.c_str());
  std::printf("\n");
  double op_gflops = 0, op_gbs = 0;
  if (op_model && st.p50 > 0) {
    op_gflops = op_model->flops / (st.p50 / 1000.0) / 1e9;
    op_gbs = op_model->bytes / (st.p50 / 1000.0) / 1e9;
    std::printf("at p50: %.2f %s, %.2f GB/s\n", op_gflops, int8_gemm ? "GOP/s (int8)" : "GFLOP/s",
                op_gbs);
  }
  double each_peak_p50 = 0, each_share_p50 = 0;
  if (!each_share.empty()) {
    each_peak_p50 = tools::summarize(each_peak).p50;
    each_share_p50 = tools::summarize(each_share).p50;
    std::printf(
        "against the FMA loop timed after each run: loop p50 %.1f GFLOP/s, share p50 %.1f %% "
        "(per run: this run's rate / the loop's rate just after it)\n",
        each_peak_p50, 100.0 * each_share_p50);
  }
  // int8: the float32 MatMul of the same shape, timed the same way, beside it.
  double fp32_gflops = 0;
  if (fp32_model && st.p50 > 0) {
    tools::InputSpec fspec = input_spec;
    fspec.dir.clear();
    auto p50 = time_model_p50(fp32_model->path, so, fspec, warmup, runs);
    if (!p50) return fail({kExitFailure, "float32 MatMul: " + p50.status().message()});
    fp32_gflops = *p50 > 0 ? fp32_model->flops / (*p50 / 1000.0) / 1e9 : 0;
    std::printf("fp32 %s at p50: %.3f ms, %.2f GFLOP/s; int8 / fp32: %.2fx\n",
                fp32_model->description.c_str(), *p50, fp32_gflops,
                fp32_gflops > 0 ? op_gflops / fp32_gflops : 0.0);
  }

  // Profiled runs: the per-kernel table and the trace.
  std::vector<RunProfile> profiles;
  if (profile_runs == 0 && args.has("profile")) profile_runs = 1;
  if (profile_runs > 0) {
    s.set_profiling(true);
    for (long long i = 0; i < profile_runs; ++i) {
      auto p0 = std::chrono::steady_clock::now();
      auto out = s.run(feeds);
      if (!out) {
        progress.clear();
        return fail({kExitFailure,
                     "profiled run " + std::to_string(i + 1) + ": " + out.status().message()});
      }
      profiles.push_back(s.last_profile());
      progress.update("profiled", i + 1, profile_runs, ms_since(p0));
    }
    progress.clear();
    s.set_profiling(false);
  }
  // Roofline peaks for every track the profiles used (cached on disk after the first time).
  std::map<std::string, DevicePeaks> peaks;
  if (!profiles.empty() && !args.flag("no-roofline")) {
    std::set<std::string> tracks;
    for (const RunProfile& p : profiles)
      for (const ProfileEvent& e : p.events) tracks.insert(e.track);
    for (const std::string& t : tracks) {
      auto p = peaks_for_track(t, static_cast<int>(threads), false);
      if (p)
        peaks[t] = *p;
      else
        std::printf("roofline: no peaks for %s: %s\n", t.c_str(), p.status().message().c_str());
    }
  }
  const std::vector<KernelSummary> kernels = summarize_kernels(profiles, peaks);
  if (!kernels.empty()) {
    double run_ms = 0;
    for (const RunProfile& p : profiles) run_ms += p.run_us / 1000.0;
    std::printf("\nper kernel over %zu profiled runs (%.3f ms per run):\n", profiles.size(),
                profiles.empty() ? 0.0 : run_ms / static_cast<double>(profiles.size()));
    std::printf("  %-34s %-14s %7s %10s %9s %6s %9s %8s %6s\n", "kernel", "where", "calls",
                "total ms", "mean ms", "share", "GFLOP/s", "GB/s", "roof");
    double worst = 0;
    std::string worst_track;
    for (const KernelSummary& k : kernels) {
      const std::string where = k.track == "cpu" ? "cpu" : k.track.substr(0, k.track.find(' '));
      char roof[16] = "     -";
      if (k.roofline >= 0) std::snprintf(roof, sizeof roof, "%5.1f%%", 100.0 * k.roofline);
      std::printf("  %-34s %-14s %7lld %10.3f %9.4f %5.1f%% %9.2f %8.2f %s\n", k.name.c_str(),
                  where.c_str(), k.calls, k.total_ms, k.mean_ms, 100.0 * k.share, k.gflops,
                  k.gbytes_s, roof);
      if (k.roofline > worst) {
        worst = k.roofline;
        worst_track = k.track;
      }
    }
    for (const auto& [track, p] : peaks) print_peaks(track, p);
    if (!peaks.empty())
      std::printf(
          "roof: share of the roofline, min(peak GFLOP/s, intensity x GB/s at the kernel's "
          "working set)\n");
    if (worst > 1.05)
      std::printf(
          "note: a kernel on %s reached %.0f%% of the cached peaks, which look low (measured on a "
          "busy machine?): kiln bench --op peak --device %s --remeasure\n",
          worst_track.c_str(), 100.0 * worst,
          worst_track == "cpu" ? "cpu" : worst_track.substr(0, worst_track.find(' ')).c_str());
  }
  if (args.has("profile")) {
    Status st = write_chrome_trace(args.get("profile"), profiles);
    if (!st.is_ok()) return fail({kExitFailure, st.message()});
    std::printf("trace: %s (%zu runs)\n", args.get("profile").c_str(), profiles.size());
  }

  if (args.has("json")) {
    nlohmann::json j;
    j["model"] = model_path;
    j["device"] = s.device();
    j["runs"] = st.count;
    j["warmup"] = warmup;
    j["load_ms"] = load_ms;
    j["first_run_ms"] = first_run_ms;
    j["latency_ms"] = {{"mean", number_or_null(st.mean)}, {"std", number_or_null(st.std)},
                       {"min", number_or_null(st.min)},   {"p50", number_or_null(st.p50)},
                       {"p90", number_or_null(st.p90)},   {"p99", number_or_null(st.p99)},
                       {"max", number_or_null(st.max)}};
    j["percentile_method"] = "linear";
    j["throughput_per_s"] = number_or_null(runs_per_s);
    j["batch"] = batch >= 0 ? nlohmann::json(batch) : nlohmann::json(nullptr);
    j["inferences_per_s"] = batch >= 0 ? number_or_null(static_cast<double>(batch) * runs_per_s)
                                       : nlohmann::json(nullptr);
    j["threads"] = threads;
    j["inputs"] = nlohmann::json::array();
    for (const auto& in : s.inputs()) {
      const Tensor& t = feeds[in.name];
      j["inputs"].push_back({{"name", in.name},
                             {"shape", t.shape()},
                             {"dtype", dtype_name(t.dtype())},
                             {"source", sources[in.name]}});
    }
    j["level"] = so.optimization_level;
    if (op_model) {
      j["op"] = {{"name", args.get("op")},
                 {"shape", args.get("shape")},
                 {"dtype", args.get("dtype", "float32")},
                 {"description", op_model->description},
                 {"flops", op_model->flops},
                 {"bytes", op_model->bytes},
                 {"gflops_p50", op_gflops},
                 {"gbytes_per_s_p50", op_gbs}};
      if (!each_share.empty())
        j["op"]["peak_each_run"] = {{"gflops_p50", each_peak_p50},
                                    {"share_p50", each_share_p50},
                                    {"gflops", each_peak},
                                    {"shares", each_share}};
      if (fp32_model) {
        j["op"]["gops_p50"] = op_gflops;
        j["op"]["fp32_gflops_p50"] = fp32_gflops;
        j["op"]["int8_over_fp32"] = fp32_gflops > 0 ? op_gflops / fp32_gflops : 0.0;
      }
      j["model"] = nullptr;
    }
    j["profiled_runs"] = profiles.size();
    j["kernels"] = nlohmann::json::array();
    for (const KernelSummary& k : kernels)
      j["kernels"].push_back(
          {{"name", k.name},
           {"op", k.op},
           {"device", k.track},
           {"calls", k.calls},
           {"total_ms", k.total_ms},
           {"mean_ms", k.mean_ms},
           {"share", k.share},
           {"gflops", k.gflops},
           {"gbytes_per_s", k.gbytes_s},
           {"roofline", k.roofline >= 0 ? nlohmann::json(k.roofline) : nlohmann::json(nullptr)}});
    j["peaks"] = nlohmann::json::object();
    for (const auto& [track, p] : peaks) j["peaks"][track] = peaks_json(p);
    if (on_opencl) {
      j["kernels_prepared"] = kernels_prepared;
      j["opencl_program_cache"] = cache_state;
      j["programs_compiled"] = programs_compiled;
    }
    std::ofstream f(args.get("json"));
    f << j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    f.close();
    if (!f) return fail({kExitFailure, "cannot write the JSON file '" + args.get("json") + "'"});
  }
  return kExitOk;
}

}  // namespace kiln::cli
